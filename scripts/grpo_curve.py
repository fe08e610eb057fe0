"""The reward curve of a GRPO fit, from its MLflow run, as a Markdown table.

::

    python scripts/grpo_curve.py --tracking-uri sqlite:///mlruns.db --run-name "fit grpo" --every 5

One row per ``--every`` optimizer steps: the mean of each metric over those steps
(``train/reward``, ``train/reward_std``, ``train/kl``, ``train/degenerate_rate``,
``train/completion_tokens``, ``train/entropy``; whichever the run logged). The run is the
newest of that name (a pipeline names its GRPO stage's run ``fit grpo``), or ``--run-id``.
"""

from __future__ import annotations

import argparse
import sys

METRICS = ("train/reward", "train/reward_std", "train/kl", "train/degenerate_rate", "train/completion_tokens",
           "train/entropy")


def find_run(client, run_name: str | None, run_id: str | None) -> str:
    """The run id: ``run_id``, else the newest run named ``run_name`` in any experiment."""
    if run_id:
        return run_id
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"attributes.run_name = '{run_name}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise SystemExit(f"grpo_curve: no MLflow run named {run_name!r} in {client.tracking_uri}")
    return runs[0].info.run_id


def curve(client, run_id: str, every: int) -> list[dict[str, float]]:
    """Per ``every`` steps, the mean of each metric in :data:`METRICS` the run has."""
    rows: dict[int, dict[str, list[float]]] = {}
    for name in METRICS:
        for point in client.get_metric_history(run_id, name):
            rows.setdefault(point.step // every, {}).setdefault(name, []).append(point.value)
    return [{"steps": f"{b * every}-{b * every + every - 1}",
             **{k: sum(v) / len(v) for k, v in metrics.items()}} for b, metrics in sorted(rows.items())]


def markdown(rows: list[dict]) -> str:
    names = [m for m in METRICS if any(m in r for r in rows)]
    lines = ["| steps | " + " | ".join(n.removeprefix("train/") for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for r in rows:
        lines.append(f"| {r['steps']} | " + " | ".join(f"{r[n]:.4g}" if n in r else "" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default="sqlite:///mlruns.db")
    parser.add_argument("--run-name", default="fit grpo")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--every", type=int, default=5, help="steps per row (>= 1)")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be >= 1")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=args.tracking_uri)
    run_id = find_run(client, args.run_name, args.run_id)
    rows = curve(client, run_id, args.every)
    if not rows:
        raise SystemExit(f"grpo_curve: run {run_id} logged none of {', '.join(METRICS)}")
    print(f"run {run_id}, {args.every} steps a row (means)\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
