"""Analysts' accounts and the login: Argon2 hashes, a signed session cookie.

Accounts are created from the command line (`smearwatch user add NAME`) and never from the
web, so an attacker who reaches the login page cannot make one. Failed logins take as long as
good ones (a hash is always checked), so the page does not tell which names exist.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, insert, select, update

from db import models

__all__ = [
    "MIN_PASSWORD",
    "UserError",
    "add_user",
    "authenticate",
    "list_users",
    "remove_user",
    "user_exists",
]

MIN_PASSWORD = 10
_USER = models.WebUser.__table__
_HASHER = PasswordHasher()
# Checked when the name is unknown, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class UserError(ValueError):
    """An account cannot be created or changed; the message says why."""


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 128 or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError("a user name is 1-128 printable characters without spaces")
    return name


def add_user(engine: Engine, name: str, password: str, *, replace: bool = False) -> None:
    """Create (or with `replace`, re-password) an account; only the Argon2 hash is stored."""
    name = _valid_name(name)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    hashed = _HASHER.hash(password)
    with engine.begin() as connection:
        exists = connection.execute(select(_USER.c.id).where(_USER.c.name == name)).first()
        if exists and not replace:
            raise UserError(f"user {name!r} exists (use --replace to set a new password)")
        if exists:
            connection.execute(
                update(_USER).where(_USER.c.name == name).values(password_hash=hashed)
            )
        else:
            connection.execute(
                insert(_USER),
                {"name": name, "password_hash": hashed, "created_at": datetime.now(UTC)},
            )


def remove_user(engine: Engine, name: str) -> bool:
    with engine.begin() as connection:
        return connection.execute(delete(_USER).where(_USER.c.name == name)).rowcount > 0


def list_users(engine: Engine) -> list[tuple[str, datetime, datetime | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(_USER.c.name, _USER.c.created_at, _USER.c.last_login_at).order_by(_USER.c.name)
        ).all()
    return [(r.name, r.created_at, r.last_login_at) for r in rows]


def user_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(select(_USER.c.id).where(_USER.c.name == name)).first() is not None
        )


def authenticate(engine: Engine, name: str, password: str) -> bool:
    """Whether the name and password match an account; records the login time."""
    with engine.connect() as connection:
        row = connection.execute(
            select(_USER.c.id, _USER.c.password_hash).where(_USER.c.name == name.strip())
        ).first()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if row is None:
        return False
    values: dict[str, object] = {"last_login_at": datetime.now(UTC)}
    if _HASHER.check_needs_rehash(row.password_hash):
        values["password_hash"] = _HASHER.hash(password)
    with engine.begin() as connection:
        connection.execute(update(_USER).where(_USER.c.id == row.id).values(**values))
    return True


class LoginThrottle:
    """At most `attempts` failed logins per name and per client address in `window` seconds.

    Argon2 makes each guess slow; this bounds how many guesses one address, or all addresses
    together against one name, get. Kept in memory: a restart forgets it, which is acceptable
    for a single analyst server.
    """

    def __init__(self, attempts: int = 5, window: float = 900.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, name: str, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(
                len(self._recent(key, now)) >= self.attempts
                for key in (f"name:{name.strip()}", f"addr:{address}")
            )

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"name:{name.strip()}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"name:{name.strip()}", None)
