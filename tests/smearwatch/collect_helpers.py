"""Helpers for the collect tests: a config writer, the CLI as a subprocess, database look-ups."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]

FAST_HTTP = """
[http]
timeout = 2.0
connect_timeout = 2.0
max_attempts = 2
backoff_base = 0.01
backoff_cap = 0.05
max_wait = 2.0
min_interval = 0.0
per_host_limit = 4
user_agent = "smearwatch-tests/1"
"""

DEFENDERS = """
[[defenders]]
id = "ormanova"
name = "Bakhyt Ormanova"
aliases = ["Bakhyt Ormanova", "Бахыт Орманова", "Орманова"]
handles = { bluesky = "bakhyt-ormanova.bsky.social", telegram = "ormanova_kz" }
"""


def write_config(path: Path, sources: str, *, http: str = FAST_HTTP) -> Path:
    path.write_text(DEFENDERS + http + sources, encoding="utf-8")
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEARWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def cli_command(config: Path, db_url: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "smearwatch.cli", "--config", str(config), "--database", db_url,
        *args,
    ]  # fmt: skip


def run_cli(
    config: Path, db_url: str, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(config, db_url, *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def query(db_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def started_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def httpserver_local() -> Iterator[HTTPServer]:
    yield from started_server()


def ids(rows: Sequence[Any]) -> list[str]:
    return [row[0] for row in rows]
