"""One daemon per database: a lock that dies with its process.

SQLite: `fcntl.flock` on `<database>.lock` beside the file. PostgreSQL: a session advisory
lock (keyed by the schema) held on a connection of its own. Both are released by the kernel
or the server when the process ends, even by `kill -9`, so a crash never leaves a stale lock
behind that an operator would have to remove by hand.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

__all__ = ["DaemonLock", "LockHeld", "is_locked"]

# Distinct from the bulk writer's transaction lock (db/store.py, 7349211). The second key is
# the schema, so smearwatch databases in different schemas of one server (a test run beside
# production, two NGOs on one server) each get their own daemon.
ADVISORY_KEY = 7349212
_LOCK = "SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"


class LockHeld(RuntimeError):
    """Another daemon holds the lock on this database."""


def _lock_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + ".lock")


class DaemonLock:
    """Acquire with `acquire()`; raises `LockHeld` when another process has it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.path = _lock_path(engine)
        self._fd: int | None = None
        self._connection: Any = None

    def acquire(self) -> None:
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            got = connection.execute(text(_LOCK), {"key": ADVISORY_KEY}).scalar()
            connection.commit()
            if not got:
                connection.close()
                raise LockHeld("another smearwatch daemon holds the lock on this database")
            self._connection = connection
            return
        if self.path is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(
                f"another smearwatch daemon holds {self.path} (one daemon per database)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text(_UNLOCK), {"key": ADVISORY_KEY})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def is_locked(engine: Engine) -> bool | None:
    """Whether a daemon holds the lock now (None when the database has no lock to probe)."""
    lock = DaemonLock(engine)
    if engine.dialect.name != "postgresql" and lock.path is None:
        return None
    if lock.path is not None and not lock.path.exists():
        return False
    try:
        lock.acquire()
    except LockHeld:
        return True
    lock.release()
    return False
