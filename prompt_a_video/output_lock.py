"""One `pav` process per output: an OS file lock beside the output folder or file.

Two runs writing one folder interleave their records (two `pav render --out SAME` once
left 32 records for 16 (prompt, seed) pairs). A command takes the lock of its output
before it writes anything; a second command on the same output is refused at once, with
the holder's PID. The lock is ``flock``: the OS releases it when the holder exits, by any
means (kill -9 included), so a crash never leaves a folder locked.

The lock file is ``.<name>.lock`` in the output's parent folder (``runs/.quickstart.lock``
for ``--workdir runs/quickstart``), so it never appears among a stage's outputs; it holds
the holder's PID and command line and is removed on release. (This is plain ``fcntl``
rather than the ``filelock`` package because that one truncates the file when it tries
the lock, which loses the holder's PID a refusal must name.)

The other processes of one distributed job (ranks > 0, started by rank 0 or by the
scheduler) write the same output by design: rank 0 holds the lock for the job.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID")


class OutputInUseError(FileExistsError):
    """Another process holds the lock of an output (a user error: one line, exit 2)."""


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output folder or file: ``.<name>.lock`` beside it."""
    path = Path(output).absolute()
    return path.with_name(f".{path.name}.lock")


def _is_secondary_rank() -> bool:
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return True
    return False


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, what: str = "output", holder: str | None = None
                ) -> Iterator[Path | None]:
    """Hold the lock of ``output`` while inside; refuse at once if another process holds it.

    Args:
        output: the output folder or file the command writes.
        what: how the refusal names the output (``--out``, ``--workdir``).
        holder: what the lock file says holds it (default: this process's command line).

    Yields the lock file (None on a secondary rank of a distributed job, which takes no lock).

    Raises:
        OutputInUseError: another process holds it; the message names its PID and command.
    """
    if _is_secondary_rank():
        yield None
        return
    import fcntl

    path = lock_path(output)
    made = _missing_folders(path.parent)
    descriptor = _acquire(path, fcntl, what, output)
    try:
        os.ftruncate(descriptor, 0)
        holder = holder or " ".join(["pav", *sys.argv[1:]])
        os.write(descriptor, f"{os.getpid()} {holder}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before the unlock: a process that opened the old file re-checks (_acquire)
        os.close(descriptor)
        # A command refused for a bad value leaves no trace: the folders made only to hold
        # the lock go again, unless the command wrote something into them.
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()


def _missing_folders(folder: Path) -> list[Path]:
    """The folders up to ``folder`` that do not exist yet, innermost first (made by :func:`_acquire`)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _acquire(path: Path, fcntl, what: str, output) -> int:
    """An open descriptor of ``path`` holding its exclusive lock."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)  # again after a holder removed it on release
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(descriptor)
            os.close(descriptor)
            pid, _, command = holder.partition(" ")
            raise OutputInUseError(
                f"{output}: in use by another pav process (PID {pid or '?'}: {command or 'unknown command'}); "
                f"wait for it to end, or give another {what} (lock: {path})") from None
        # The holder removes the file before it unlocks: a file we locked that is no longer
        # the one at `path` was released that way, so try again on the current one.
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)


def _read(descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, 4096).decode("utf-8", "replace").strip()
