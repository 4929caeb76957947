"""The web interface on the report tests' fictional world, with hostile markup added.

The world is `tests.reports.conftest.build_world` (posts imported the real way, clusters C1-C3
written as the analysis would). On top of it: a post whose text and author's handle are HTML
and script injections, an edited post (so a stored earlier version exists), and one attacker
whose handle is an attribute-breaking payload. Every person is invented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from db import models
from smearwatch.matching import MentionStep
from smearwatch.pipeline import import_file
from smearwatch.web import WebSettings, create_app
from smearwatch.web.auth import add_user
from tests.reports.conftest import ATTACKERS, WEEK_START, World, _post, _time, build_world

SCRIPT_TEXT = 'Орманова <script>alert("pwned")</script> грантоед'
IMG_HANDLE = '"><img src=x onerror=alert(1)>'
ATTR_TEXT = "Орманова '\"><img src=x onerror=alert(2)> <iframe src=//evil.example></iframe>"
EDITED_BEFORE = "Орманова — первый вариант текста"
EDITED_AFTER = "Орманова — исправленный вариант текста, ә ғ қ ң ө ұ ү һ і"
PASSWORD = "correct horse battery staple"


@dataclass
class WebWorld:
    world: World
    hostile_evidence: str  # post with <script> text by an <img onerror> handle
    edited_evidence: str  # post with one earlier version
    hostile_member: str  # attacker handle replaced with markup
    tmp: Path

    @property
    def engine(self) -> Any:
        return self.world.engine

    def client(self, *, require_login: bool = False, reviewer: str | None = None) -> TestClient:
        settings = WebSettings(
            inputs=self.world.inputs, require_login=require_login, reviewer=reviewer
        )
        app = create_app(self.world.engine, settings)
        # The page waits for the report instead of answering "being prepared" (that state
        # has its own tests): a loaded test machine must not turn figures into a reload page.
        app.state.weeks.page_wait = 120
        return TestClient(app, base_url="http://127.0.0.1")


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def build_web_world(world: World) -> WebWorld:
    step = MentionStep(world.config.defenders)
    at = WEEK_START + timedelta(days=2, hours=15)
    hostile = _post(90001, "hostile", at, SCRIPT_TEXT)
    hostile["author"]["handle"] = IMG_HANDLE
    hostile["author"]["display_name"] = "<b>bold</b> name"
    hostile["url"] = "javascript:alert(3)"
    attr = _post(90002, "hostile", at + timedelta(minutes=1), ATTR_TEXT)
    attr["author"]["handle"] = IMG_HANDLE
    edited = _post(90003, "citizen.editor", at + timedelta(minutes=5), EDITED_BEFORE)
    import_file(
        world.engine, _jsonl(world.tmp / "hostile.jsonl", [hostile, attr, edited]), mentions=step
    )
    later = dict(edited, text=EDITED_AFTER, raw={"uri": edited["post_id"], "edited": True})
    later["collected_at"] = _time(at + timedelta(hours=2))
    import_file(world.engine, _jsonl(world.tmp / "edited.jsonl", [later]), mentions=step)
    post = models.Post.__table__
    account = models.Account.__table__
    member = f'{ATTACKERS[0]}"><img src=x onerror=alert(4)>'
    with world.engine.begin() as connection:
        ids = dict(
            connection.execute(
                select(post.c.platform_id, post.c.evidence_id).where(
                    post.c.platform_id.in_([hostile["post_id"], edited["post_id"]])
                )
            ).all()
        )
        connection.execute(
            update(account)
            .where(account.c.id == world.accounts[ATTACKERS[0]])
            .values(handle=member)
        )
    return WebWorld(world, ids[hostile["post_id"]], ids[edited["post_id"]], member, world.tmp)


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[WebWorld]:
    world = build_world(db_url, tmp_path)
    yield build_web_world(world)
    world.engine.dispose()


@pytest.fixture
def sqlite_web(tmp_path: Path) -> Iterator[WebWorld]:
    world = build_world(f"sqlite:///{tmp_path / 'smearwatch.db'}", tmp_path)
    yield build_web_world(world)
    world.engine.dispose()


def login(client: TestClient, name: str = "amina", password: str = PASSWORD) -> Any:
    page = client.get("/login")
    token = csrf_from(page.text)
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token, "next": "/clusters"},
        follow_redirects=False,
    )


def csrf_from(html: str) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def make_user(web: WebWorld, name: str = "amina") -> None:
    add_user(web.engine, name, PASSWORD)
