"""The ``evaluation:`` section of a pipeline YAML (also read by `pav evaluate`), and the
prompt sets and methods it builds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from prompt_a_video.evaluation.methods import RewriteMethod

log = logging.getLogger(__name__)

BUILTIN_METHODS = ("original", "heuristic", "zero-shot", "sft", "dpo", "grpo")


@dataclass
class EvaluationSettings:
    """How methods are compared.

    Args:
        prompt_sets: name -> prompt set (a .txt/.jsonl file, ``pav:eval`` = the shipped
            in-domain prompts held out from every training stage, ``vbench[:dims]`` = the
            out-of-domain VBench prompts of the offline asset). Each is evaluated into its
            own folder.
        limit: prompts per set (>= 1), spread evenly over the set (VBench is ordered by
            dimension, so the first N would all test one); None = all.
        seeds: render seeds, distinct ints >= 0; each method writes one sample per seed
            for each prompt.
        methods: built-in methods to compare, in table order: ``original``,
            ``heuristic``, ``zero-shot``, ``sft``, ``dpo`` (every DPO round the work
            directory holds), ``grpo``. A trained method missing from the work directory
            is left out with a note.
        zero_shot_model: the instruct LLM of ``zero-shot`` (asset, folder or hub id);
            default: the base model the SFT refiner was trained from.
        extra_methods: more methods by name, each a
            :class:`~prompt_a_video.evaluation.methods.RewriteMethod` by class_path (an API
            model through ``OperatorRewrite``, another refiner through ``RefinerRewrite``).
        temperature: sampling temperature of the LLM methods (>= 0).
        top_p: nucleus sampling mass of the LLM methods, in (0, 1].
        max_new_tokens: longest LLM rewrite, in tokens (>= 1).
        llm_batch_size: prompts per LLM generate call (>= 1).
        llm_device: where the LLM methods run (``cuda``; default CPU).
        batch_size: videos per generate/score call (>= 1).
        fidelity_model: sentence encoder of fidelity and diversity (None: leave them out).
        text_fluency_model: causal LM of the text checks' fluency (``FLU``): an offline
            asset name, used when installed, or a local folder; None, or not installed:
            fluency is skipped (``metrics.json`` ``text_checks.fluency_model`` says which).
        save_videos: write MP4s (the report embeds them).
        use_cache: go through the render-and-score cache.
        cache_root: the cache folder (default ``$PAV_CACHE_DIR/render-cache``).
        rewrite_seed: seeds the methods' sampling.
    """

    prompt_sets: dict[str, str] = field(default_factory=lambda: {"in-domain": "pav:eval",
                                                                 "out-of-domain": "vbench"})
    limit: int | None = 24
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    methods: list[str] = field(default_factory=lambda: list(BUILTIN_METHODS))
    zero_shot_model: str | None = None
    extra_methods: dict[str, RewriteMethod] = field(default_factory=dict)
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 200
    llm_batch_size: int = 8
    llm_device: str | None = None
    batch_size: int = 8
    fidelity_model: str | None = "all-minilm-l6-v2"
    text_fluency_model: str | None = "smollm2-135m-instruct"
    save_videos: bool = True
    use_cache: bool = True
    cache_root: str | None = None
    rewrite_seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in BUILTIN_METHODS]
        if unknown:
            raise ValueError(f"evaluation.methods: unknown {unknown}; built-in methods are {list(BUILTIN_METHODS)} "
                             "(add others under evaluation.extra_methods, or with --refiner NAME=DIR)")
        from prompt_a_video.data.prompts import check_limit, check_seeds
        from prompt_a_video.data.validation import is_count
        from prompt_a_video.refiner.generation import check_sampling

        self.seeds = check_seeds(self.seeds, "evaluation.seeds")
        check_limit(self.limit, "evaluation.limit")
        check_sampling(temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens,
                       prefix="evaluation.")
        for name in ("llm_batch_size", "batch_size"):
            value = getattr(self, name)
            if not is_count(value, 1):
                raise ValueError(f"evaluation.{name} must be an int >= 1, got {value!r}")


def spread(items: list, limit: int | None) -> list:
    """``limit`` items spread evenly over ``items`` (all of them when limit is None or larger)."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[(i * len(items)) // limit] for i in range(limit)]


def load_eval_prompts(spec: str, limit: int | None) -> list[str]:
    """Distinct prompts of a set, spread to ``limit``."""
    from prompt_a_video.data import load_prompts

    prompts = list(dict.fromkeys(item.prompt for item in load_prompts(spec)))
    return spread(prompts, limit)


def parse_refiner_args(values: list[str] | None) -> dict[str, str]:
    """``["NAME=DIR", ...]`` -> ``{NAME: DIR}`` with clear errors."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, folder = value.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ValueError(f"--refiner {value!r}: expected NAME=DIR, e.g. --refiner mine=runs/x/refiner")
        if not Path(folder).exists():
            raise FileNotFoundError(f"--refiner {value!r}: folder {folder} not found")
        out[name.strip()] = folder.strip()
    return out


def build_methods(settings: EvaluationSettings, trained: dict[str, str], extra_refiners: dict[str, str],
                  zero_shot_model: str | None) -> dict[str, RewriteMethod]:
    """The methods of one evaluation, in table order.

    Args:
        settings: the evaluation section.
        trained: refiners the pipeline trained, name -> export folder (``sft``, ``dpo`` or
            ``dpo-r1``, ``dpo-r2``...).
        extra_refiners: ``--refiner NAME=DIR`` refiners.
        zero_shot_model: the zero-shot LLM when the settings name none.
    """
    from prompt_a_video.evaluation.methods import HeuristicRewrite, OriginalPrompt, RefinerRewrite

    def llm(model: str) -> RefinerRewrite:
        return RefinerRewrite(model, temperature=settings.temperature, top_p=settings.top_p,
                              max_new_tokens=settings.max_new_tokens, batch_size=settings.llm_batch_size,
                              device=settings.llm_device)

    methods: dict[str, RewriteMethod] = {}
    asked = list(settings.methods) != list(BUILTIN_METHODS)
    for name in settings.methods:
        if name == "original":
            methods[name] = OriginalPrompt()
        elif name == "heuristic":
            methods[name] = HeuristicRewrite()
        elif name == "zero-shot":
            model = settings.zero_shot_model or zero_shot_model
            if model is None:
                log.warning("evaluate: no zero-shot model (set evaluation.zero_shot_model): zero-shot left out")
                print("evaluate: zero-shot left out: set evaluation.zero_shot_model", flush=True)
            else:
                methods[name] = llm(model)
        else:  # sft, dpo: what the work directory holds
            found = {k: v for k, v in trained.items() if k == name or k.startswith(f"{name}-r")}
            if not found and asked:  # the default list means "whichever were trained": no note
                print(f"evaluate: no trained {name} refiner found: {name} left out", flush=True)
            elif not found:
                log.info("evaluate: no trained %s refiner: %s left out", name, name)
            methods.update({k: llm(v) for k, v in found.items()})
    for name, folder in extra_refiners.items():
        methods[name] = llm(folder)
    for name, method in settings.extra_methods.items():
        if name in methods:
            raise ValueError(f"evaluation.extra_methods: {name!r} is already a method of this evaluation")
        methods[name] = method
    return methods
