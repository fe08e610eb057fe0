"""Requests per second of `pav serve` under concurrent clients: batched vs one at a time.

N clients (threads, each with the real `openai` client) send a fixed number of chat
requests, one after another each, to `pav serve` on loopback: first with
``--max_batch_size 8`` (concurrent requests refined in one call), then with
``--max_batch_size 1`` (one request at a time), each side a fresh server of the same
model and settings in one run. Per side: requests/s (requests over the wall time from the
first send to the last answer) and p50/p95 latency; the last line is
``batched_vs_sequential=<ratio of requests/s>``.

    python benchmarks/serve_load.py --requests 32 --clients 8
    python benchmarks/serve_load.py --model runs/sft/export --requests 64

Default model: the SmolLM2-135M-Instruct offline asset (`pav assets install`). Requests
carry no seed (a seeded request is refined alone) and the server's default guard, so
every prompt draws 4 samples for the guard unless --no-guard.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _prompts() -> list[str]:
    from prompt_a_video.data import load_prompts

    return [item.prompt for item in load_prompts("pav:eval")]


class _Server:
    """`pav serve` in a subprocess on a free loopback port."""

    def __init__(self, model: str, max_batch_size: int, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", "prompt_a_video.cli", "serve", "--model", model, "--port", "0",
                   "--served_model_name", "bench", "--max_batch_size", str(max_batch_size),
                   "--batch_timeout", str(args.batch_timeout), "--max_tokens", str(args.max_tokens),
                   "--log_level", "warning", "--guard", "false" if args.no_guard else "true"]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.errors: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: [self.errors.append(x) for x in self.proc.stderr], daemon=True).start()
        try:
            first = lines.get(timeout=300)
        except queue.Empty:
            self.proc.kill()
            raise SystemExit("serve_load: pav serve did not start: " + "".join(self.errors)[-1500:]) from None
        self.port = int(first.split("127.0.0.1:")[1].split("/")[0])
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("serve_load: /health never answered: " + "".join(self.errors)[-1500:])

    def stats(self) -> dict:
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as reply:
            return json.load(reply)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def _load(port: int, prompts: list[str], clients: int, requests: int) -> tuple[float, list[float]]:
    """Wall seconds for ``requests`` chat requests from ``clients`` threads, and each latency."""
    import openai

    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[BaseException] = []

    def client_loop() -> None:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=600)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = time.perf_counter()
            try:
                reply = client.chat.completions.create(model="bench", messages=[
                    {"role": "user", "content": prompts[i % len(prompts)]}])
                assert reply.choices[0].message.content
            except BaseException as exc:  # reported after the run
                failures.append(exc)
                return
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise SystemExit(f"serve_load: {len(failures)} request(s) failed, e.g. {failures[0]!r}")
    return wall, latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="what `pav serve --model` gets: an export folder, HF folder or asset name")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=32, help="requests per side, over all clients")
    parser.add_argument("--max-tokens", type=int, default=48, help="the server's default max_tokens")
    parser.add_argument("--batch-size", type=int, default=8, help="the batched side's --max_batch_size")
    parser.add_argument("--batch-timeout", type=float, default=0.2,
                        help="both sides' --batch_timeout: closed-loop clients fill a batch only if it exceeds "
                             "their turnaround (answer to next request), which a loaded machine stretches")
    parser.add_argument("--no-guard", action="store_true", help="serve with --guard false (1 sample a prompt)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the server (0: inherit)")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1:
        raise SystemExit("serve_load: --clients and --requests must be >= 1")

    import openai
    import torch
    import transformers

    prompts = _prompts()
    print(f"model {args.model}; {args.clients} clients, {args.requests} requests a side, max_tokens "
          f"{args.max_tokens}, guard {'off' if args.no_guard else 'on'}, batch_timeout {args.batch_timeout} s, "
          f"server OMP_NUM_THREADS {args.threads or os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, openai {openai.__version__}", flush=True)
    rates = {}
    for label, size in (("batched", args.batch_size), ("sequential", 1)):
        server = _Server(args.model, size, args)
        try:
            _load(server.port, prompts[-args.clients:], args.clients, args.clients)  # warm-up, not timed
            before = server.stats()
            wall, latencies = _load(server.port, prompts, args.clients, args.requests)
            after = server.stats()
        finally:
            status = server.stop()
        batches = after["batches"] - before["batches"]
        rates[label] = len(latencies) / wall
        print(f"{label} (max_batch_size {size}): {rates[label]:.3f} requests/s, latency p50 "
              f"{statistics.median(latencies):.2f} s, p95 {_percentile(latencies, 0.95):.2f} s; "
              f"{args.requests / max(batches, 1):.1f} requests a batch over {batches} batches; "
              f"{wall:.1f} s wall; server exit {status}", flush=True)
    print(f"batched_vs_sequential={rates['batched'] / rates['sequential']:.3f}")


if __name__ == "__main__":
    main()
