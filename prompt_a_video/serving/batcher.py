"""The micro-batcher of `pav serve`: concurrent requests become few ``refine`` calls.

One worker thread owns the model (generation is not thread-safe: seeding is global to
torch). It blocks until a request comes (no polling: an idle server uses no CPU), then
waits up to ``batch_timeout`` for more, up to ``max_batch_size`` prompts, and splits
what it took into groups of equal ``batch_key`` (equal ``refine`` settings), each group
ONE call of the backend with all its prompts. A request that arrives while a batch runs
waits for the next batch, so under load batches fill without any timeout.

A backend failure fails its group only; the other groups of the batch are answered.
:meth:`MicroBatcher.close` refuses new requests and answers every one already taken
before the thread ends (the drain of SIGTERM).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MicroBatcher", "Closed", "Busy"]

log = logging.getLogger("prompt_a_video.serving")

#: ``run(prompts, options) -> one result per prompt``: one ``refine`` call.
Backend = Callable[[list[str], dict[str, Any]], Sequence[Any]]


class Closed(RuntimeError):
    """The batcher is closing (the server is draining): no new requests."""


class Busy(RuntimeError):
    """Too many requests are waiting."""


@dataclass
class _Job:
    prompts: tuple[str, ...]
    options: dict[str, Any]
    key: tuple | None
    future: Future = field(default_factory=Future)


_STOP = object()


class MicroBatcher:
    """Collects requests into batches for one worker thread.

    Args:
        run: the backend: ``run(prompts, options)`` returns one result per prompt (in
            order), for one group of requests with equal options.
        max_batch_size: most prompts in one batch (a request with more runs alone).
            1: every request is its own call.
        batch_timeout: seconds to wait for more requests after the first of a batch.
        max_pending: most requests waiting; more get :class:`Busy`.
    """

    def __init__(self, run: Backend, *, max_batch_size: int = 8, batch_timeout: float = 0.05,
                 max_pending: int = 256) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if not batch_timeout >= 0:
            raise ValueError(f"batch_timeout must be >= 0 seconds, got {batch_timeout}")
        self._run = run
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="pav-serve-batcher", daemon=True)
        #: counts since start: requests answered, batches run, backend calls made (groups).
        self.stats = {"requests": 0, "batches": 0, "refine_calls": 0}
        self._in_flight = 0

    def start(self) -> MicroBatcher:
        self._thread.start()
        return self

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_flight(self) -> int:
        """Requests submitted and not answered yet (queued or running)."""
        return self._in_flight

    def submit(self, prompts: Sequence[str], options: dict[str, Any], key: tuple | None) -> Future:
        """Queue one request; its future gets the backend's results for its prompts.

        Raises:
            Closed: the batcher is closing.
            Busy: ``max_pending`` requests are already waiting.
        """
        job = _Job(tuple(prompts), dict(options), key)
        with self._lock:  # no request may slip in after close()'s stop marker
            if self._closed:
                raise Closed("the server is shutting down")
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise Busy(f"{self._queue.maxsize} requests are waiting already") from None
            self._in_flight += 1
        return job.future

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new requests, answer the queued ones, end the thread; whether it ended
        within ``timeout`` seconds."""
        with self._lock:  # once set, no submit() can queue anything
            first, self._closed = not self._closed, True
        if first:
            # after every job (FIFO); outside the lock: a full queue waits for the worker,
            # which needs the lock to answer
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        carry = None  # a job taken that did not fit the last batch
        while True:
            job = carry if carry is not None else self._queue.get()
            carry = None
            if job is _STOP:
                return
            batch, size, stop = [job], len(job.prompts), False
            deadline = time.monotonic() + self.batch_timeout
            while size < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                if size + len(item.prompts) > self.max_batch_size:
                    carry = item
                    break
                batch.append(item)
                size += len(item.prompts)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list[_Job]) -> None:
        groups: dict[Any, list[_Job]] = {}
        for job in batch:
            groups.setdefault(job.key if job.key is not None else object(), []).append(job)
        self.stats["requests"] += len(batch)
        self.stats["batches"] += 1
        for jobs in groups.values():
            self.stats["refine_calls"] += 1
            prompts = [p for job in jobs for p in job.prompts]
            try:
                results = list(self._run(prompts, jobs[0].options))
                if len(results) != len(prompts):
                    raise RuntimeError(f"the backend answered {len(results)} prompts of {len(prompts)}")
            except Exception as exc:  # this group fails; the server and the other groups go on
                log.warning("refine failed for %d prompt(s): %s: %s", len(prompts), type(exc).__name__, exc)
                for job in jobs:
                    self._settle(job.future, exception=exc)
                continue
            start = 0
            for job in jobs:
                self._settle(job.future, result=results[start:start + len(job.prompts)])
                start += len(job.prompts)

    def _settle(self, future: Future, result: Any = None, exception: BaseException | None = None) -> None:
        """Complete a future, unless its client went away (then it was cancelled)."""
        with self._lock:
            self._in_flight -= 1
        try:
            if exception is not None:
                future.set_exception(exception)
            else:
                future.set_result(result)
        except InvalidStateError:
            pass

