"""Stopping on SIGTERM and SIGINT: what SLURM, Kubernetes and Ctrl+C send before a kill.

A stopped command must not look finished to a scheduler: it exits with ``128 + signal``
(143 for SIGTERM, 130 for SIGINT), closes its MLflow run as KILLED and keeps what it
wrote, so rerunning the same command continues.

Two ways a signal is taken:

- :func:`raise_on_signals` (every `pav` command, around the whole command): the signal
  raises :class:`Interrupted` where the main thread is. Stages whose outputs are written
  record by record (render, evolve, pairs, evaluate) lose at most the item in flight.
- :class:`DeferredSignals` (a fit, while it trains): the signal is only recorded, and
  :class:`~prompt_a_video.callbacks.stop_on_signal.StopOnSignal` stops at the next
  optimizer step boundary, after saving a checkpoint. A second Ctrl+C stops at once.

:class:`Interrupted` derives from ``BaseException``, like ``KeyboardInterrupt``, so the
failure isolation that keeps one bad item from ending a stage (``except Exception``)
never swallows it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

#: The signals a `pav` command stops on.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The process got a stop signal.

    Args:
        signum: the signal's number.
        checkpoint: the checkpoint a fit saved before stopping, if any.
        step: the fit's optimizer step when it stopped, if a fit stopped.
    """

    def __init__(self, signum: int, checkpoint: str | None = None, step: int | None = None) -> None:
        self.signum = int(signum)
        self.checkpoint = checkpoint
        self.step = step
        super().__init__(self.signal_name)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by this signal (143 SIGTERM, 130 SIGINT)."""
        return 128 + self.signum


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def raise_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT raise :class:`Interrupted`; the previous handlers
    come back on exit. Outside the main thread (where Python cannot set handlers), a no-op."""
    try:
        previous = {signum: signal.signal(signum, _raise_interrupted) for signum in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class DeferredSignals:
    """While entered, SIGTERM and SIGINT are recorded in :attr:`received` instead of
    raising; the code that entered checks it at a point where stopping is safe. A
    second SIGINT (Ctrl+C twice) raises :class:`Interrupted` at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._interrupts = 0  # Ctrl+C presses seen
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "DeferredSignals":
        try:
            self._previous = {signum: signal.signal(signum, self._record) for signum in STOP_SIGNALS}
        except ValueError:  # not the main thread: signals stay as they are
            self._previous = {}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts > 1:
                raise Interrupted(signum)
        if self.received is None:  # the first signal decides the exit status
            self.received = signum
        print(f"pav: got {signal.Signals(signum).name}: stopping at the next step boundary "
              "(checkpoint first)" + ("; Ctrl+C again to stop now" if signum == signal.SIGINT else ""), flush=True)
