"""How the synthetic world scores degenerate text: padding, repetition, lost subjects, leaks.

For a few plain prompts (``--prompt``, or the first 6 of a prompt set, default
``pav:eval``) this builds degenerate variants of each one (a quality phrase; a word repeated
6 and 20 times, also after the phrase; a quality word repeated 20 times; a bare list of
quality adjectives without the subject, and that list appended; the refiner's system
prompt appended, or alone; chat markup around the prompt), renders every variant with
``SyntheticGenerator(preset=...)`` for each seed and scores it against the ORIGINAL plain
prompt with the offline composite reward (``CompositeReward.offline()``:
``VQ + TC + 0.5*DD + 1.3*TVA``, floors ``PF > 0.35``, ``TVA > 0.5``). It prints one
Markdown table: per variant, the mean reward, the mean paired difference to the plain
prompt, the per-dimension means and the share of (prompt, seed) items that pass the floors::

    OMP_NUM_THREADS=1 python scripts/degenerate_text_probe.py --preset long-cinematic --seeds 0 1 2

``PF`` needs the MiniLM asset (``pav assets install --names all-minilm-l6-v2``).
docs/synthetic-backbone.md ("How this world scores degenerate text") has the results.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

PHRASE = "fine detail"
ADJECTIVES = "high quality, detailed, sharp, 4k, cinematic"
DIMS = ("VQ", "TC", "DD", "PF", "TVA")


def variants(prompt: str, system_prompt: str) -> dict[str, str]:
    """The rendered text of each variant of one plain prompt, in table order."""
    return {
        "plain": prompt,
        "+one phrase": f"{prompt}, {PHRASE}",
        "repeated x6": prompt + ", detail" * 6,
        "repeated x20": prompt + ", detail" * 20,
        "+phrase, repeated x20": f"{prompt}, {PHRASE}" + ", detail" * 20,
        "quality word x20": prompt + ", detailed" * 20,
        "bare adjective list": ADJECTIVES,
        "adjectives appended": f"{prompt}, {ADJECTIVES}",
        "leaked instruction": f"{prompt} {system_prompt}",
        "instruction only": system_prompt,
        "chat markup": f"assistant\n{prompt}\n<|im_end|>",
    }


def probe(prompts: list[str], preset: str, seeds: list[int], generator=None, reward=None,
          system_prompt: str | None = None) -> dict:
    """Render and score every variant of every prompt for every seed.

    Returns ``{"preset", "seeds", "prompts", "variants": {name: {"reward", "diff",
    "passes_floors", dim...: mean}}, "items": [per (prompt, variant, seed) record]}``.
    ``diff`` is the mean over (prompt, seed) of the variant's reward minus the plain
    prompt's reward (same prompt, same seed).
    """
    if generator is None:
        from prompt_a_video.generators.synthetic import SyntheticGenerator

        generator = SyntheticGenerator(preset=preset)
    if reward is None:
        from prompt_a_video.rewards.composite import CompositeReward

        reward = CompositeReward.offline()
    if system_prompt is None:
        from prompt_a_video.modules.backbone import DEFAULT_SYSTEM_PROMPT

        system_prompt = DEFAULT_SYSTEM_PROMPT
    table = [(p, name, text) for p in prompts for name, text in variants(p, system_prompt).items()]
    items = []
    for seed in seeds:
        videos = generator.generate([text for _, _, text in table], seed)
        for video, (_, _, text) in zip(videos, table):
            assert video.meta.get("prompt") == text, "PF reads the rendered text from Video.meta['prompt']"
        scores = reward.score(videos, [original for original, _, _ in table])
        if scores.failures:
            raise RuntimeError(f"scoring failed: {next(iter(scores.failures.values()))}")
        for i, (original, name, text) in enumerate(table):
            row = scores.item(i)
            items.append({"prompt": original, "variant": name, "seed": seed, "text": text,
                          **{k: float(v) for k, v in row.items()}})
    plain = {(r["prompt"], r["seed"]): r["reward"] for r in items if r["variant"] == "plain"}
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    keys = [d for d in DIMS if d in items[0]] + ["reward", "passes_floors"]
    for r in items:
        for k in keys:
            sums[r["variant"]][k].append(r[k])
        sums[r["variant"]]["diff"].append(r["reward"] - plain[(r["prompt"], r["seed"])])
    order = list(variants(prompts[0], system_prompt))
    summary = {name: {k: sum(v) / len(v) for k, v in sums[name].items()} for name in order}
    for name in order:  # standard error of the paired difference: how much is re-rolled noise
        d, m = sums[name]["diff"], summary[name]["diff"]
        summary[name]["diff_se"] = (math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
                                    if len(d) > 1 else float("nan"))
    return {"preset": preset, "seeds": list(seeds), "prompts": list(prompts), "variants": summary, "items": items}


def markdown(result: dict) -> str:
    dims = [d for d in DIMS if d in next(iter(result["variants"].values()))]
    head = ["variant", "reward", "diff to plain (± s.e.)", *dims, "passes floors"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, v in result["variants"].items():
        cells = [name, f"{v['reward']:.3f}", f"{v['diff']:+.3f} ± {v['diff_se']:.3f}", *(f"{v[d]:.3f}" for d in dims),
                 f"{v['passes_floors']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from prompt_a_video.generators.synthetic.presets import PRESETS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Variants: " + "; ".join(f"{k!r}" for k in variants("PROMPT", "SYSTEM")) +
               f". Quality phrase {PHRASE!r}; adjective list {ADJECTIVES!r}; the instruction is "
               "prompt_a_video.modules.backbone.DEFAULT_SYSTEM_PROMPT. Every variant is scored "
               "against the plain prompt; 'diff to plain' is paired per (prompt, seed).",
    )
    parser.add_argument("--preset", default="long-cinematic", choices=sorted(PRESETS),
                        help="synthetic backbone preset; default %(default)s")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="render seeds (default 0 1 2)")
    parser.add_argument("--prompts", default="pav:eval",
                        help="prompt set to take the plain prompts from (default %(default)s)")
    parser.add_argument("--limit", type=int, default=6, help="how many plain prompts, first N of the set (default 6)")
    parser.add_argument("--prompt", action="append", default=None, metavar="TEXT",
                        help="a plain prompt to probe (repeatable); replaces --prompts/--limit")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the summary and every scored item to this JSON file")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be >= 1")

    from prompt_a_video.data import load_prompts

    if args.prompt:
        prompts = list(args.prompt)
    else:
        prompts = [item.prompt for item in load_prompts(args.prompts)[: args.limit]]
    result = probe(prompts, args.preset, args.seeds)
    n = len(prompts) * len(args.seeds)
    print(f"preset {args.preset}, {len(prompts)} prompts x seeds {' '.join(map(str, args.seeds))} "
          f"(n = {n} per variant), scored against the plain prompt with CompositeReward.offline()\n")
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, allow_nan=True) + "\n", encoding="utf-8")
        print(f"\n-> {args.json}")
    if any(math.isnan(v["reward"]) for v in result["variants"].values()):
        raise SystemExit("some variant has a NaN reward")


if __name__ == "__main__":
    main()
