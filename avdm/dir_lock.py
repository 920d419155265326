"""One run at a time per directory: a lock file naming the owner's pid, host and start time.

A second run in a locked directory is refused while the owner lives; a lock whose owner is gone
(killed with -9, machine rebooted) is taken over with a warning.  The start time guards against
a recycled pid; a lock from another host cannot be checked and is refused (remove it by hand).
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Iterator, Optional

logger = logging.getLogger(__name__)

LOCK_NAME = ".avdm.lock"


class DirLockedError(RuntimeError):
    """The directory is in use by another live run (the message names it)."""


def _start_time(pid: int) -> str:
    try:  # field 22 of /proc/<pid>/stat, after the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _alive(pid: int, host: str, start: str) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell: assume it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == "?" or _start_time(pid) in (start, "?")


def acquire(directory, pid: Optional[int] = None) -> Path:
    """Lock ``directory`` for process ``pid`` (default: this one); raise :class:`DirLockedError`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    pid = pid or os.getpid()
    me = f"{pid} {socket.gethostname()} {_start_time(pid)}\n"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            try:
                owner = path.read_text().split()
            except FileNotFoundError:
                continue  # released in between: try again
            o_pid, o_host, o_start = (owner + ["0", "?", "?"])[:3] if owner else ("0", "?", "?")
            if o_pid.isdigit() and int(o_pid) == pid:
                return path  # ours already
            if o_pid.isdigit() and _alive(int(o_pid), o_host, o_start):
                raise DirLockedError(
                    f"{directory} is in use by another run (pid {o_pid} on {o_host}, lock file {path}); "
                    "wait for it to finish or stop it; remove the lock file only if that run is gone")
            logger.warning("%s: taking over the lock of a run that is gone (pid %s on %s)", directory, o_pid, o_host)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return path
    raise DirLockedError(f"{directory}: could not take the lock {path} (another run keeps taking it)")


def release(directory, pid: Optional[int] = None) -> None:
    """Remove the lock of ``directory`` if ``pid`` (default: this process) holds it."""
    path = Path(directory) / LOCK_NAME
    pid = pid or os.getpid()
    with contextlib.suppress(FileNotFoundError, IndexError):
        if path.read_text().split()[0] == str(pid):
            path.unlink()


@contextlib.contextmanager
def locked(directory) -> Iterator[Path]:
    path = acquire(directory)
    try:
        yield path
    finally:
        release(directory)
