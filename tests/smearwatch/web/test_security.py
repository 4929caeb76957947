"""Security of the web interface: escaping, CSRF, login, headers, nothing fetched from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from db import models
from smearwatch.cli import cli
from smearwatch.web.app import HERE
from smearwatch.web.auth import remove_user
from tests.smearwatch.web.conftest import (
    IMG_HANDLE,
    PASSWORD,
    SCRIPT_TEXT,
    WebWorld,
    csrf_from,
    login,
    make_user,
)


class _Elements(HTMLParser):
    """Every element and its attributes, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def _pages(web: WebWorld) -> list[str]:
    return [
        "/week/2026-W47",
        "/clusters",
        "/clusters/C1",
        "/posts",
        "/posts?q=script",
        f"/posts?account={IMG_HANDLE}",
        f"/posts/{web.hostile_evidence}",
    ]


def test_hostile_markup_in_posts_and_handles_is_escaped_everywhere(web: WebWorld) -> None:
    client = web.client()
    for path in _pages(web):
        page = client.get(path)
        assert page.status_code == 200, path
        tags = _elements(page.text)
        assert not [t for t, _ in tags if t in ("script", "iframe")], path
        assert not [a for t, a in tags if t == "img" and "onerror" in a], path
        assert not [a for _, a in tags if any(k.startswith("on") for k in a)], path
        assert "<script>alert" not in page.text and "onerror=alert" not in page.text.replace(
            "&#34;&gt;&lt;img src=x onerror=alert", ""
        ).replace("&lt;img src=x onerror=alert", ""), path
    post = client.get(f"/posts/{web.hostile_evidence}").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in post
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in post
    assert "&lt;b&gt;bold&lt;/b&gt; name" in post
    # a javascript: URL stored with the post is shown, never made a link
    assert not [a for t, a in _elements(post) if t == "a" and "javascript" in (a.get("href") or "")]
    cluster = client.get("/clusters/C1").text
    assert "patriot01kz&#34;&gt;&lt;img src=x onerror=alert(4)&gt;" in cluster
    assert SCRIPT_TEXT not in post


def test_pages_load_nothing_from_outside_the_machine(web: WebWorld) -> None:
    client = web.client()
    for path in _pages(web):
        page = client.get(path)
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "http" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        for tag, attrs in _elements(page.text):
            for name in ("src", "href", "action", "srcset", "poster", "data"):
                value = attrs.get(name)
                if value is None:
                    continue
                local = value.startswith(("/", "#", "?")) and not value.startswith("//")
                outward = tag == "a" and "noreferrer" in (attrs.get("rel") or "")
                assert local or outward, f"{path}: <{tag} {name}={value!r}>"
    css = (HERE / "static" / "style.css").read_text(encoding="utf-8")
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    assert not re.search(r"@import", css)
    font = client.get("/static/fonts/DejaVuSans.ttf")
    assert font.status_code == 200 and len(font.content) > 100_000


def test_every_form_needs_the_csrf_token(web: WebWorld) -> None:
    client = web.client()
    client.get("/clusters/C1")
    posts = [
        ("/clusters/C1/review", {"verdict": "confirmed", "note": "x"}),
        (f"/posts/{web.hostile_evidence}/verify", {}),
        ("/logout", {}),
        ("/login", {"name": "amina", "password": PASSWORD}),
    ]
    for path, data in posts:
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "forged" * 8}).status_code == 403
    token = csrf_from(client.get("/clusters/C1").text)
    foreign = client.post(
        "/clusters/C1/review",
        data={"csrf_token": token, "verdict": "confirmed"},
        headers={"origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    other = web.client()  # another browser: its own session, so the token above is not valid
    other.get("/clusters/C1")
    assert (
        other.post(
            "/clusters/C1/review", data={"csrf_token": token, "verdict": "confirmed"}
        ).status_code
        == 403
    )
    with web.engine.connect() as connection:
        assert connection.execute(select(models.Review.__table__)).all() == []


def test_login_is_required_and_works(sqlite_web: WebWorld) -> None:
    make_user(sqlite_web)
    client = sqlite_web.client(require_login=True)
    for path in _pages(sqlite_web) + ["/week/2026-W47/report.pdf", "/posts.csv", "/clusters.csv"]:
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next="), path
    assert client.get("/static/style.css").status_code == 200
    wrong = login(client, password="not the password")
    assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
    assert login(client, name="nobody").status_code == 401
    ok = login(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/clusters"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/clusters/C1")
    assert page.status_code == 200 and "amina" in page.text
    token = csrf_from(page.text)
    client.post(
        "/clusters/C1/review",
        data={"csrf_token": token, "verdict": "confirmed", "reviewer": "spoofed"},
    )
    with sqlite_web.engine.connect() as connection:
        reviewer = connection.execute(select(models.Review.reviewer)).scalar_one()
    assert reviewer == "amina"  # the logged-in name, not a form field
    remove_user(sqlite_web.engine, "amina")
    assert client.get("/clusters", follow_redirects=False).status_code == 303


def test_login_redirects_only_to_local_paths(sqlite_web: WebWorld) -> None:
    make_user(sqlite_web)
    client = sqlite_web.client(require_login=True)
    token = csrf_from(client.get("/login").text)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        sent = client.post(
            "/login",
            data={"name": "amina", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert sent.headers["location"] == "/", target
        client.cookies.clear()
        token = csrf_from(client.get("/login").text)


def test_user_command_stores_only_an_argon2_hash(sqlite_web: WebWorld) -> None:
    config = str(sqlite_web.world.config_path)
    runner = CliRunner()
    added = runner.invoke(
        cli, ["--config", config, "user", "add", "dana", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        cli, ["--config", config, "user", "add", "dana", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert again.exit_code == 1 and "exists" in again.output
    short = runner.invoke(
        cli, ["--config", config, "user", "add", "eve", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least" in short.output
    with sqlite_web.engine.connect() as connection:
        stored = connection.execute(select(models.WebUser.password_hash)).scalars().all()
    assert len(stored) == 1 and stored[0].startswith("$argon2id$") and PASSWORD not in stored[0]
    listed = runner.invoke(cli, ["--config", config, "user", "list"])
    assert "dana" in listed.output and "never" in listed.output
    client = sqlite_web.client(require_login=True)
    assert login(client, name="dana").status_code == 303
    removed = runner.invoke(cli, ["--config", config, "user", "remove", "dana"])
    assert removed.exit_code == 0
    assert runner.invoke(cli, ["--config", config, "user", "remove", "dana"]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--host", "0.0.0.0"], "no user exists"),
        (["serve", "--host", "0.0.0.0", "--no-login"], "only allowed on localhost"),
        (["serve", "--login"], "no user exists"),
    ],
)
def test_serve_refuses_to_run_open(sqlite_web: WebWorld, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--config", str(sqlite_web.world.config_path), *args])
    assert result.exit_code == 1
    assert message in result.output


def test_repeated_failed_logins_are_refused_for_a_while(sqlite_web: WebWorld) -> None:
    make_user(sqlite_web)
    client = sqlite_web.client(require_login=True)
    for _ in range(5):
        assert login(client, password="guess " * 3).status_code == 401
    blocked = login(client)  # even the right password, while the name is blocked
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    other = sqlite_web.client(require_login=True)  # a new app: the throttle is per server
    assert login(other).status_code == 303
