"""Keyed pseudonyms for the shareable report variant.

An attacking account becomes `acct-` plus the first 10 hex digits of HMAC-SHA256(key,
"platform:platform_id"). The same key gives the same pseudonym every week, so readers can
follow an account across reports without a lookup table, and without the key nobody can
confirm a guess of who is behind a pseudonym (which a plain hash of a handle would allow).

The key comes from `SMEARWATCH_REPORT_KEY`, or from a key file (config `[reports] key_file`,
default `report.key` in the database's folder) created with 0600 permissions on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

__all__ = ["KEY_ENV", "Pseudonymiser", "load_or_create_key"]

KEY_ENV = "SMEARWATCH_REPORT_KEY"


def load_or_create_key(key_file: Path) -> bytes:
    """The report key from the environment, else from `key_file` (created if missing).

    Raises:
        OSError: the key file cannot be read or created.
        ValueError: the key file exists but is empty.
    """
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return from_env.encode("utf-8")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            fd = os.open(key_file, flags, stat.S_IRUSR | stat.S_IWUSR)
        except FileExistsError:
            pass  # another process created it between the check and the open
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    key = key_file.read_text(encoding="ascii").strip()
    if not key:
        raise ValueError(f"report key file {key_file} is empty; delete it to create a new key")
    return key.encode("ascii")


class Pseudonymiser:
    """Stable, keyed pseudonyms for accounts."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def account(self, platform: str, platform_id: str) -> str:
        digest = hmac.new(
            self._key, f"{platform}:{platform_id}".encode(), hashlib.sha256
        ).hexdigest()
        return f"acct-{digest[:10]}"
