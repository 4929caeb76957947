"""Shared helpers: a real threaded HTTP server on 127.0.0.1 and fixture loading.

Collectors are tested through their real httpx transport against this server, which replays
recorded-style responses from `tests/fixtures/<platform>/`. Waits are shrunk through
`HttpPolicy`, not by patching the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from collector.base import CollectorContext
from collector.http import HttpClient, HttpPolicy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

FAST = HttpPolicy(
    timeout=1.0,
    connect_timeout=1.0,
    max_attempts=4,
    backoff_base=0.01,
    backoff_cap=0.05,
    max_wait=2.0,
    per_host_limit=2,
    min_interval=0.0,
    user_agent="smearwatch-tests/1 (+tests)",
)


def fixture_text(platform: str, name: str, **subs: str) -> str:
    """A fixture file with `__KEY__` placeholders replaced (e.g. `__BASE__` = server URL)."""
    text = (FIXTURES / platform / name).read_text(encoding="utf-8")
    for key, value in subs.items():
        text = text.replace(f"__{key.upper()}__", value)
    return text


def fixture_json(platform: str, name: str, **subs: str) -> Any:
    return json.loads(fixture_text(platform, name, **subs))


@pytest.fixture(scope="session")
def _session_server() -> Iterator[HTTPServer]:
    """A threaded server, so a handler that sleeps past a timeout does not block retries."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.clear()
        if srv.is_running():
            srv.stop()


@pytest.fixture
def server(_session_server: HTTPServer) -> Iterator[HTTPServer]:
    """The session's server with a clean slate of handlers and log for each test."""
    _session_server.clear()
    yield _session_server
    _session_server.clear()


@pytest.fixture
def base(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


@pytest.fixture
def http() -> Iterator[HttpClient]:
    client = HttpClient(FAST)
    try:
        yield client
    finally:
        client.close()


@dataclass
class Defender:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    handles: dict[str, tuple[str, ...]] = field(default_factory=dict)


DEFENDERS = (
    Defender(
        "ormanova",
        "Bakhyt Ormanova",
        ("Bakhyt Ormanova", "Бахыт Орманова", "Орманова"),
        {"bluesky": ("bakhyt-ormanova.bsky.social",), "telegram": ("ormanova_kz",)},
    ),
    Defender("temirkhanov", "Ерлан Темирханов", ("Yerlan Temirkhanov", "Темирханов"), {}),
)

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def context(http: HttpClient) -> CollectorContext:
    return CollectorContext(http=http, defenders=DEFENDERS, env={}, now=lambda: NOW)


def drain(pages: Iterator[Any]) -> list[Any]:
    return list(pages)


def hits(server: HTTPServer, path: str) -> int:
    """Requests the server answered for `path` (a late reply from a timed-out handler of an
    earlier test may still land in the shared log, so tests count their own path only)."""
    return sum(1 for request, _ in server.log if request.path == path)
