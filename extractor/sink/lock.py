"""One run per output folder at a time.

The lock is an advisory `flock` on `OUT/_lock`, so the kernel releases it when the holder dies,
however it dies (kill -9 included): a dead run can never block the next night. The file also holds
who took it (pid, host, start time); a lock file left by a process that is gone is reported as a
recovered stale lock. flock is reliable on local filesystems; on NFS use a local output folder or
one that supports POSIX locks.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from extractor.errors import OutputLocked

log = logging.getLogger(__name__)

LOCK_NAME = "_lock"


class OutputLock:
    """Hold the output folder's lock: `with OutputLock(out): ...`. Raises OutputLocked at once if
    another live run holds it."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.path = Path(out_dir) / LOCK_NAME
        self._fd: int | None = None
        self.recovered_from: dict[str, object] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}" if holder else "?"
            raise OutputLocked(
                f"another run is writing to {self.path.parent} ({who}); try again when it ends"
            ) from None
        previous = _read_holder(fd)
        if previous:  # a holder that released cleanly empties the file; this one died holding it
            self.recovered_from = previous
            log.warning(
                "recovered a stale lock on %s left by pid %s on %s (started %s), which ended without releasing it",
                self.path.parent,
                previous.get("pid"),
                previous.get("host"),
                previous.get("started"),
            )
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, object]:
    raw = os.pread(fd, 4096, 0)
    try:
        holder = json.loads(raw) if raw.strip() else {}
    except ValueError:
        holder = {"pid": "?", "host": "?", "started": "?"}
    return holder if isinstance(holder, dict) else {}
