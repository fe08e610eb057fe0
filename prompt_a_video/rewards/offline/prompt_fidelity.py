"""PromptFidelityReward (``PF``): does the rendered prompt still mean what the user asked?"""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.offline._frames import settings_string
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.video import Video



class PromptFidelityReward(Reward):
    """Prompt fidelity (``PF``): the text-side, FC-like check that a refined prompt kept
    the user's meaning (the refiner must not change *what* is asked for).

    ``PF = max(0, cos(e(original), e(rendered)))``, with ``e`` a sentence embedding: the
    mean of the encoder's last hidden states over real tokens (attention mask), L2
    normalised, as all-MiniLM-L6-v2 was trained. ``original`` is the prompt passed to
    :meth:`score` (the user's); ``rendered`` is ``video.meta["prompt"]``, the text the
    generator actually rendered (generators record it there). An item whose meta lacks it
    fails with that reason.

    Scale: ``[0, 1]``, higher is better; 1 when the rendered prompt is the original
    (unrefined), ~0.6-0.9 for faithful rewrites with MiniLM, near 0 for unrelated text
    (negative cosines, which carry no extra meaning, are clamped to 0).

    ``model``: an offline asset name (default ``all-minilm-l6-v2``, see ``pav assets``) or
    a local folder that ``transformers.AutoModel``/``AutoTokenizer`` load; loaded on the
    first :meth:`score`. Texts longer than ``max_length`` tokens are truncated.
    """

    VERSION = 1

    def __init__(
        self, model: str = "all-minilm-l6-v2", max_length: int = 256, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        if max_length < 2 or batch_size < 1:
            raise ValueError("PromptFidelityReward: max_length must be >= 2 and batch_size >= 1")
        self.model = str(model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.dimensions = ("PF",)
        self._encoder = None
        self._tokenizer = None

    @property
    def fingerprint(self) -> str:
        from prompt_a_video.assets import ASSETS

        # An asset is named with its pinned package version, a folder by its path.
        spec = ASSETS.get(self.model)
        model = f"{spec.name}@{spec.package}=={spec.version}" if spec else self.model
        return f"PromptFidelityReward/v{self.VERSION}({settings_string(model=model, max_length=self.max_length)})"

    def _load(self) -> None:
        if self._encoder is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        from prompt_a_video.assets import resolve_model

        path = resolve_model(self.model)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._encoder = AutoModel.from_pretrained(path).to(self.device).eval()

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings ``[len(texts), hidden]``, L2-normalised (mean pooling over the mask)."""
        self._load()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(
                texts[start : start + self.batch_size], padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            ).to(self.device)
            hidden = self._encoder(**batch).last_hidden_state  # [b, L, hidden]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu())
        return torch.cat(out)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        rendered = rendered_prompts(videos)
        # One pass over originals + rendered; identical texts embed identically.
        e = self.embed(list(prompts) + rendered)
        n = len(videos)
        cos = (e[:n] * e[n:]).sum(-1)
        return {"PF": cos.clamp(0.0, 1.0)}
