"""Run the server: load a refiner, batch its requests, answer over HTTP until stopped.

One process, two threads that matter: uvicorn's event loop (HTTP, parsing, checks) in
the main thread and the batcher's worker, which alone runs the model. SIGTERM and
Ctrl+C stop the listening socket, let every request already received finish (queued
ones included), and return normally: `pav serve` then exits 0, as a server asked to
stop should (uvicorn's own runner re-raises the signal after draining, which would end
the process with 143).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prompt_a_video.serving.protocol import Answer, Defaults

__all__ = ["RefinerBackend", "bind", "serve_refiner"]

log = logging.getLogger("prompt_a_video.serving")


class RefinerBackend:
    """One group of requests -> one ``Refiner.refine`` call, with token counts.

    Args:
        refiner: a :class:`~prompt_a_video.refiner.Refiner` (loaded on the first call).
        guard: whether ``refine`` guards its rewrites (falls back to the prompt).
        guard_samples: samples the guard chooses from per prompt; None: refine's default.
    """

    def __init__(self, refiner: Any, *, guard: bool = True, guard_samples: int | None = None) -> None:
        self.refiner = refiner
        self.guard = guard
        self.guard_samples = guard_samples

    def __call__(self, prompts: list[str], options: dict[str, Any]) -> list[Answer]:
        from prompt_a_video.refiner.generation import encode_prompts

        extra = {"guard_samples": self.guard_samples} if self.guard and self.guard_samples else {}
        texts = self.refiner.refine(list(prompts), guard=self.guard, **options, **extra)
        _, tokenizer, backbone = self.refiner.load()
        read = [len(row) for row in encode_prompts(tokenizer, backbone, list(prompts))]
        return [Answer(list(rewrites), tokens,
                       sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in rewrites))
                for rewrites, tokens in zip(texts, read)]


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), or a one-line SystemExit.

    Bound before the model loads, so a taken port fails at once; not listening until the
    server runs (asyncio's ``create_server`` calls ``listen``), so a client probing
    ``/health`` while the model loads is refused rather than left waiting.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise SystemExit(f"pav serve: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _make_server(config: Any) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn's server, whose signal handling drains and then returns (no re-raise)."""

        stopped_by: str | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def handle(signum: int, frame: Any) -> None:
                self.stopped_by = signal.Signals(signum).name
                self.handle_exit(signum, frame)

            previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return _Server(config)


def serve_refiner(refiner: Any, *, model_id: str | Sequence[str], host: str = "127.0.0.1", port: int = 8000,
                  sock: socket.socket | None = None, max_batch_size: int = 8, batch_timeout: float = 0.05,
                  defaults: Defaults = Defaults(),
                  guard: bool = True, guard_samples: int | None = None, api_key: str | None = None,
                  max_body_bytes: int = 1 << 20, drain_timeout: float = 30.0, log_level: str = "info",
                  announce: Sequence[Any] = (sys.stdout,)) -> dict[str, int]:
    """Serve ``refiner`` until SIGTERM or Ctrl+C; returns the batcher's counts.

    ``sock`` (from :func:`bind`) is used if given, else ``host:port`` is bound. The model
    is loaded before the socket listens (so ``/health`` answers only once requests can be
    served), then a line ``pav serve: serving 'MODEL_ID' at http://HOST:PORT/v1 ...`` goes to
    each stream of ``announce``: with ``port=0`` it names the port picked. ``model_id``: the
    id clients send, or several (aliases, for clients that hard-code a model name).
    """
    import uvicorn

    from prompt_a_video.serving.app import build_app
    from prompt_a_video.serving.batcher import MicroBatcher

    sock = sock if sock is not None else bind(host, port)
    refiner.load()
    bound_host, bound_port = sock.getsockname()[:2]
    backend = RefinerBackend(refiner, guard=guard, guard_samples=guard_samples)
    batcher = MicroBatcher(backend, max_batch_size=max_batch_size, batch_timeout=batch_timeout).start()
    app = build_app(batcher, model_id, defaults=defaults, api_key=api_key, max_body_bytes=max_body_bytes,
                    on_shutdown=lambda: batcher.close(timeout=drain_timeout))
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=drain_timeout, lifespan="on",
                            timeout_keep_alive=5)
    server = _make_server(config)
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    names = " or ".join(repr(name) for name in ([model_id] if isinstance(model_id, str) else model_id))
    for stream in announce:
        print(f"pav serve: serving {names} at http://{shown}:{bound_port}/v1 (max_batch_size {max_batch_size}, "
              f"batch_timeout {batch_timeout} s, guard {'on' if guard else 'off'}); SIGTERM or Ctrl+C drains "
              "and stops", file=stream, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        batcher.close(timeout=drain_timeout)
        sock.close()
    if server.stopped_by:
        counts = batcher.stats
        print(f"pav serve: stopped by {server.stopped_by} after answering {counts['requests']} requests in "
              f"{counts['batches']} batches ({counts['refine_calls']} refine calls)", file=sys.stderr, flush=True)
    return dict(batcher.stats)


def api_key_from_env(given: str | None) -> str | None:
    """``--api_key``, else ``$PAV_SERVE_API_KEY`` (a key on the command line shows in ``ps``)."""
    return given if given else (os.environ.get("PAV_SERVE_API_KEY") or None)
