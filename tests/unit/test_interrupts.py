"""How a `pav` process takes SIGTERM and SIGINT: at once around a command, deferred to a
safe point inside a fit, and a second Ctrl+C stops at once."""

import os
import signal

import pytest

from prompt_a_video.interrupts import DeferredSignals, Interrupted, raise_on_signals


def test_a_signal_raises_interrupted_with_the_shells_status_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stop:
        with raise_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
    assert stop.value.signal_name == "SIGTERM" and stop.value.exit_status == 143
    assert signal.getsignal(signal.SIGTERM) is before
    assert not isinstance(stop.value, Exception)  # `except Exception` recovery code lets it through


def test_deferred_signals_are_recorded_and_a_second_ctrl_c_stops_at_once(capsys):
    with raise_on_signals():
        with DeferredSignals() as deferred:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl+C: still deferred
            assert deferred.received == signal.SIGTERM  # the first signal decides the status
            with pytest.raises(Interrupted) as stop:
                os.kill(os.getpid(), signal.SIGINT)
        assert stop.value.exit_status == 130
        assert signal.getsignal(signal.SIGINT).__name__ == "_raise_interrupted"  # the command's handler again
    assert "stopping at the next step boundary" in capsys.readouterr().out
