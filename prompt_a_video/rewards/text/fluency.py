"""Fluency (``FLU``): does the rewrite read as language, under a small reference LM?

``FLU`` = the mean per-token log-likelihood (nats) of the rewrite under a causal LM,
each token conditioned on the ones before it and the first on the tokenizer's BOS (or,
lacking one, its EOS) token: ``FLU = (1/T) * sum_t log p(x_t | x_<t)``, i.e. minus the
log of the text's perplexity. Token soup and invented words score low; plain descriptive
English scores high. Word salad written by the reference LM's own family does NOT score
low (the LM finds its own kind of output likely: docs/results.md), and it does NOT catch
repetition (an LM finds "detail, detail, detail" ever more likely): that is ``REP``'s
job. Range ``(-inf, 0]``, higher is better; on SmolLM2-135M fluent prompts score about
-2 to -4 (docs/rewards.md has the measured distribution).

The default reference LM is the `smollm2-135m-instruct` asset (`pav assets install`);
any local causal-LM folder or offline asset name works (the floor is per model: set it
again when you change it).
"""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.video import Video


class FluencyScorer:
    """Mean token log-likelihood of texts under a causal LM, batched, loaded on first use.

    Args:
        model: an offline asset name or a causal-LM folder (``AutoModelForCausalLM``).
        max_length: tokens scored per text (longer texts: their first ``max_length``).
        batch_size: texts per forward pass.
        device: where the LM runs.
    """

    def __init__(self, model: str = "smollm2-135m-instruct", max_length: int = 256, batch_size: int = 32,
                 device: str = "cpu") -> None:
        if max_length < 2 or batch_size < 1:
            raise ValueError("FluencyScorer: max_length must be >= 2 and batch_size >= 1")
        self.model = str(model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self._lm = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._lm is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from prompt_a_video.assets import resolve_model

        path = resolve_model(self.model)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(self.device).eval()

    def _start_id(self) -> int:
        tok = self._tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise ValueError(f"FluencyScorer: the tokenizer of {self.model} has neither a BOS nor an EOS token")
        return int(start)

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        """``FLU`` of each text, ``float [len(texts)]``; an empty text scores ``-inf``."""
        self._load()
        start = self._start_id()
        rows = [[start] + self._tokenizer(t, add_special_tokens=False)["input_ids"][: self.max_length]
                for t in texts]
        out = torch.full((len(texts),), float("-inf"))
        for lo in range(0, len(rows), self.batch_size):
            batch = rows[lo:lo + self.batch_size]
            width = max(len(r) for r in batch)
            ids = torch.full((len(batch), width), start, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, r in enumerate(batch):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            logits = self._lm(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(self.device))[..., 0]
            valid = mask[:, 1:].to(logp.device).bool()
            count = valid.sum(1)
            mean = (logp * valid).sum(1) / count.clamp_min(1)
            mean[count == 0] = float("-inf")
            out[lo:lo + len(batch)] = mean.cpu()
        return out


class FluencyReward(Reward):
    """``FLU`` of the prompt each video was rendered from (``video.meta["prompt"]``).

    Args:
        model: the reference LM (default: the `smollm2-135m-instruct` asset).
        max_length, batch_size, device: see :class:`FluencyScorer`.
    """

    VERSION = 1
    dimensions = ("FLU",)

    def __init__(self, model: str = "smollm2-135m-instruct", max_length: int = 256, batch_size: int = 32,
                 device: str = "cpu") -> None:
        self.scorer = FluencyScorer(model, max_length=max_length, batch_size=batch_size, device=device)

    @property
    def fingerprint(self) -> str:
        from prompt_a_video.assets import ASSETS

        spec = ASSETS.get(self.scorer.model)
        model = f"{spec.name}@{spec.package}=={spec.version}" if spec else self.scorer.model
        return f"FluencyReward/v{self.VERSION}(model={model},max_length={self.scorer.max_length})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        scores = self.scorer(rendered_prompts(videos))
        # An empty rewrite is not a failed render: it is the least fluent text there is.
        return {"FLU": torch.nan_to_num(scores, neginf=-100.0)}
