"""Videos rendered + scored per second: the synthetic backbone and the offline rewards.

What the evolution loop pays per candidate on this CPU machine, split by component, and
what the render-and-score cache saves (a second identical request, served from disk),
reported side by side in one run as videos/s and as ratios.

    python benchmarks/render_score.py --prompts 32 --repeats 3

PF (prompt fidelity) needs the `all-minilm-l6-v2` asset; it is left out when missing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def _prompts(n: int) -> list[str]:
    subjects = ["a dog", "a red car", "a woman", "two horses", "a sailboat", "a robot", "an old man", "a cat"]
    actions = ["running on the beach", "driving through the rain at night", "dancing in a neon-lit street",
               "walking in a snowy forest, static camera", "sailing at sunset, cinematic, detailed"]
    return [f"{subjects[i % len(subjects)]} {actions[i % len(actions)]} #{i}" for i in range(n)]


def _time(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32, help="videos per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per row (median reported)")
    parser.add_argument("--preset", default="long-cinematic", help="synthetic preset")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="height = width")
    args = parser.parse_args()

    import torch

    from prompt_a_video import assets
    from prompt_a_video.cache import CachedGenerator, CachedReward, RenderCache
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.rewards import offline

    generator = SyntheticGenerator(preset=args.preset, num_frames=args.frames, height=args.size, width=args.size)
    rewards = [offline.VisualQualityReward(), offline.TemporalConsistencyReward(),
               offline.DynamicDegreeReward(), offline.SceneAlignmentReward()]
    if assets.is_installed("all-minilm-l6-v2"):
        rewards.append(offline.PromptFidelityReward())
    prompts = _prompts(args.prompts)
    videos = generator.generate(prompts, seed=0)
    for reward in rewards:  # load models, warm caches
        reward.score(videos[:2], prompts[:2])

    n = len(prompts)
    rows = [("render (synthetic)", _time(lambda: generator.generate(prompts, seed=0), args.repeats))]
    for reward in rewards:
        rows.append((f"score {type(reward).__name__}", _time(lambda r=reward: r.score(videos, prompts), args.repeats)))
    total = sum(seconds for _, seconds in rows)

    with tempfile.TemporaryDirectory() as root:
        cache = RenderCache(root)
        cached_gen = CachedGenerator(generator, cache)
        cached = [CachedReward(r, cache) for r in rewards]

        def render_and_score():
            vids = cached_gen.generate(prompts, seed=0)
            for r in cached:
                r.score(vids, prompts)

        render_and_score()  # fill the cache
        hit = _time(render_and_score, args.repeats)

    print(f"{n} videos of {args.frames}x{args.size}x{args.size}, preset {args.preset}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats}\n")
    print(f"{'component':<36}{'s / batch':>10}{'videos/s':>10}{'share':>8}")
    for name, seconds in rows:
        print(f"{name:<36}{seconds:>10.3f}{n / seconds:>10.1f}{seconds / total:>8.1%}")
    print(f"{'render + all rewards (uncached)':<36}{total:>10.3f}{n / total:>10.1f}")
    print(f"{'render + all rewards (cache hits)':<36}{hit:>10.3f}{n / hit:>10.1f}")
    print(f"\ncache hit vs uncached: {total / hit:.1f}x faster")


if __name__ == "__main__":
    main()
