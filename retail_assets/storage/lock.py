"""One writer per lakehouse: an exclusive OS lock on a file in the lakehouse folder.

``flock`` belongs to the open file, so the kernel releases it when the holding process dies,
however it dies (SIGKILL included): a crashed writer never blocks the next one. The file also
names its holder (pid, host, command, since when), so a refused writer can say who holds it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
from pathlib import Path

LOCK_FILE = "_lakehouse.lock"


class LakehouseBusyError(RuntimeError):
    """Another process is writing this lakehouse."""


class WriterLock:
    """Re-entrant within one process (any thread), exclusive between processes."""

    def __init__(self, root: Path):
        self.path = root / LOCK_FILE
        self._descriptor: int | None = None
        self._depth = 0
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> bool:
        """Take the lock (or one more level of it); True when this call took it first."""
        with self._guard:
            if self._descriptor is not None:
                self._depth += 1
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                raise LakehouseBusyError(
                    f"lakehouse {self.path.parent} is being written by {holder}: one writer at a time. Wait for "
                    "that run to finish, or stop it; the lock is released the moment its process exits."
                ) from None
            os.ftruncate(descriptor, 0)
            os.write(descriptor, json.dumps(_holder()).encode())
            self._descriptor, self._depth = descriptor, 1
            return True

    def release(self) -> None:
        with self._guard:
            self._depth -= 1
            if self._depth == 0 and self._descriptor is not None:
                os.ftruncate(self._descriptor, 0)
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
                os.close(self._descriptor)
                self._descriptor = None


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv)[:300],
        "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _read_holder(descriptor: int) -> str:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        return (f"process {holder['pid']} on {holder['host']} (`{holder['command']}`, since "
                f"{holder['since']})")
    except (ValueError, KeyError):
        return "another process (it has not written its name yet)"
