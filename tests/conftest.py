"""Shared fixtures: a database URL per backend, each test on an empty database.

PostgreSQL tests run against the real server (127.0.0.1:5432, database `test`, or
`SMEARWATCH_TEST_PG_URL`), each in a schema of its own that is dropped afterwards. Locally an
unreachable server skips them with the reason; under CI (`CI` set) it fails them, so a broken
PostgreSQL can never make CI green by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Under CI the property tests draw the same examples every run, so a submission cannot fail
# on a lucky draw; locally they keep exploring new examples (and replay stored failures).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pg_base_url() -> str:
    return os.environ.get("SMEARWATCH_TEST_PG_URL", DEFAULT_PG_URL)


@cache
def pg_unavailable_reason() -> str | None:
    try:
        engine = create_engine(pg_base_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {pg_base_url()} is not reachable: {exc.__class__.__name__}: {exc}"
    return None


def require_postgres() -> None:
    reason = pg_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    require_postgres()
    schema = "sw_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(pg_base_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'smearwatch.db'}"
    return request.getfixturevalue("pg_url")
