"""Mastodon collector against a fake instance that pages like Mastodon (min_id/max_id, Link)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext
from collector.errors import AuthFailed, PartialFailure, SettingsError
from collector.mastodon import TOKEN_ENV, MastodonCollector, snowflake_at

from .conftest import NOW, fixture_text

SINCE = NOW - timedelta(days=7)
TAG = "грантоед"
TAG_PATH = f"/api/v1/timelines/tag/{TAG}"
TOKEN = "masto-token-0123456789"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, content_type="application/json", headers=headers)


def paginate(statuses: list[dict[str, Any]], args: Any, url: str) -> Response:
    """Mastodon's paginate_by_id: min_id → the page just above it; otherwise newest first."""
    ordered = sorted(statuses, key=lambda s: int(s["id"]))
    limit = min(int(args.get("limit", 20)), 40)
    if "min_id" in args:
        chosen = [s for s in ordered if int(s["id"]) > int(args["min_id"])][:limit][::-1]
    else:
        newest = ordered[::-1]
        if "max_id" in args:
            newest = [s for s in newest if int(s["id"]) < int(args["max_id"])]
        chosen = newest[:limit]
    headers = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "297",
        "X-RateLimit-Reset": "2026-03-03T12:05:00.000000Z",
    }
    if chosen:
        headers["Link"] = (
            f'<{url}?max_id={chosen[-1]["id"]}>; rel="next", <{url}?min_id={chosen[0]["id"]}>; '
            'rel="prev"'
        )
    return _json(chosen, headers=headers)


class FakeMastodon:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base = server.url_for("/").rstrip("/")
        self.tag_statuses = json.loads(fixture_text("mastodon", "tag_statuses.json"))
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lookups = 0
        self.require_token = False
        self.rate_limit_once = False
        server.expect_request(TAG_PATH).respond_with_handler(self.tag)
        server.expect_request("/api/v1/accounts/lookup").respond_with_handler(self.lookup)
        server.expect_request("/api/v1/accounts/109876543210/statuses").respond_with_handler(
            self.account_statuses
        )
        server.expect_request("/api/v2/search").respond_with_handler(self.search)

    def tag(self, request: Request) -> Response:
        if self.require_token and "Authorization" not in request.headers:
            return _json(fixture_text("mastodon", "auth_required.json"), 401)
        if self.rate_limit_once:
            self.rate_limit_once = False
            reset = (datetime.now(UTC) + timedelta(milliseconds=50)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
            return _json(
                fixture_text("mastodon", "too_many_requests.json"),
                429,
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                },
            )
        self.requests.append((request.path, dict(request.args)))
        return paginate(
            self.tag_statuses, request.args, f"{self.base}/api/v1/timelines/tag/{quote(TAG)}"
        )

    def lookup(self, request: Request) -> Response:
        self.lookups += 1
        if request.args.get("acct") != "kz_watch@mastodon.example":
            return _json(fixture_text("mastodon", "not_found.json"), 404)
        return _json(fixture_text("mastodon", "account_lookup.json"))

    def account_statuses(self, request: Request) -> Response:
        self.requests.append((request.path, dict(request.args)))
        statuses = json.loads(fixture_text("mastodon", "account_statuses.json"))
        return paginate(
            statuses, request.args, f"{self.base}/api/v1/accounts/109876543210/statuses"
        )

    def search(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json(fixture_text("mastodon", "auth_required.json"), 401)
        self.requests.append((request.path, dict(request.args)))
        data = json.loads(fixture_text("mastodon", "search_statuses.json"))
        statuses = data["statuses"]
        if "max_id" in request.args:
            statuses = [s for s in statuses if int(s["id"]) < int(request.args["max_id"])]
        data["statuses"] = statuses[: int(request.args.get("limit", 20))]
        return _json(data)


@pytest.fixture
def fake(server: HTTPServer) -> FakeMastodon:
    return FakeMastodon(server)


def make(base: str, context: CollectorContext, **overrides: Any) -> MastodonCollector:
    table = {
        "name": "masto-test",
        "platform": "mastodon",
        "base_url": base,
        "hashtags": [TAG],
        "page_size": 2,
    }
    table.update(overrides)
    return MastodonCollector(table, context)


def with_token(context: CollectorContext) -> CollectorContext:
    return CollectorContext(
        http=context.http, defenders=context.defenders, env={TOKEN_ENV: TOKEN}, now=context.now
    )


def test_first_run_walks_forward_from_the_horizon(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    pages = list(make(base, context).fetch(None, since=SINCE))
    first_params = fake.requests[0][1]
    assert first_params["min_id"] == snowflake_at(SINCE)
    # 5 statuses after the horizon, 2 per page → 3 pages; the oldest status is never read
    assert len(pages) == 3
    cursors = [p.cursor["tags"][TAG]["min_id"] for p in pages]
    assert cursors == sorted(cursors, key=int) and len(set(cursors)) == 3
    assert cursors[-1] == "116164185292800000"
    posts = [p for page in pages for p in page.posts]
    assert not any("Старый" in p.text for p in posts)
    # the boost yields the boosted status and the boost itself
    assert len(posts) == 6
    assert all(p.platform == "mastodon" for p in posts)


def test_status_mapping(base: str, fake: FakeMastodon, context: CollectorContext) -> None:
    posts = {
        p.post_id: p for page in make(base, context).fetch(None, since=SINCE) for p in page.posts
    }
    s1 = posts["https://mastodon.example/users/kz_watch/statuses/116147434291200000"]
    assert s1.text == "Снова атакуют @ormanova #грантоед https://example.kz/a1?utm_source=masto"
    assert s1.links == ("https://example.kz/a1?utm_source=masto", "https://example.kz/a1")
    assert s1.mentions == ("ormanova@social.example",)
    assert s1.hashtags == ("грантоед",)
    assert s1.author.id == "https://mastodon.example/users/kz_watch"
    assert s1.author.handle == "kz_watch@mastodon.example"
    assert s1.author.created_at == datetime(2026, 2, 27, tzinfo=UTC)
    assert s1.url == "https://mastodon.example/@kz_watch/116147434291200000"
    assert s1.extra["source"] == "masto-test" and s1.extra["hashtag"] == TAG
    assert json.loads(s1.raw)["id"] == "116147434291200000"

    s2 = posts["https://social.example/users/patriot_kz/statuses/116153332531200000"]
    assert s2.text == (
        "Орманова — иностранный агент.\nКто платит? #грантоед\n\n"
        "Подробнее: https://pravda-kz.example/x/1"
    )
    assert s2.links == ("https://pravda-kz.example/x/1",)
    assert s2.author.handle == "patriot_kz@social.example"

    reply = posts["https://mastodon.example/users/kz_watch/statuses/116159074205696000"]
    assert reply.reply_to == s2.post_id  # parent seen earlier in the walk
    assert reply.extra["in_reply_to_id"] == "116153332531200000"
    assert reply.lang == "kk"

    boost = posts["https://news.example/users/truth_news/statuses/116159230771200000"]
    assert boost.text == "" and boost.repost_of == s2.post_id

    cw = posts["https://news.example/users/truth_news/statuses/116164185292800000"]
    assert cw.text.startswith("politics\n\nAnna Kesler and Bakhyt Ormanova")
    assert cw.quote_of == s1.post_id


def test_resumes_from_min_id(base: str, fake: FakeMastodon, context: CollectorContext) -> None:
    collector = make(base, context)
    first = next(collector.fetch(None, since=SINCE))  # crash after one committed page
    pages = list(make(base, context).fetch(first.cursor, since=NOW))
    assert fake.requests[-len(pages)][1]["min_id"] == first.cursor["tags"][TAG]["min_id"]
    seen_first = {p.post_id for p in first.posts}
    later = [p.post_id for page in pages for p in page.posts]
    # only the boosted status comes again (inside the boost, which yields it); nothing is lost
    assert seen_first & set(later) == {
        "https://social.example/users/patriot_kz/statuses/116153332531200000"
    }
    assert len(seen_first | set(later)) == 5
    # nothing new: one request, cursor unchanged
    again = list(make(base, context).fetch(pages[-1].cursor, since=NOW))
    assert len(again) == 1 and again[0].posts == ()
    assert again[0].cursor == pages[-1].cursor


def test_watched_account_lookup_is_cached_in_the_cursor(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    collector = make(base, context, hashtags=[], accounts=["kz_watch@mastodon.example"])
    pages = list(collector.fetch(None, since=SINCE))
    sub = pages[-1].cursor["accounts"]["kz_watch@mastodon.example"]
    assert sub["id"] == "109876543210"
    texts = [p.text for page in pages for p in page.posts]
    assert texts[0].startswith("Ерлан Темирханов")
    list(
        make(base, context, hashtags=[], accounts=["kz_watch@mastodon.example"]).fetch(
            pages[-1].cursor, since=SINCE
        )
    )
    assert fake.lookups == 1


def test_unknown_account_is_a_partial_failure(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    collector = make(base, context, accounts=["ghost@mastodon.example"])
    pages = []
    with pytest.raises(PartialFailure, match="@ghost@mastodon.example: not found"):
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert len(pages) == 3  # the hashtag stream was collected


def test_rate_limit_iso_reset_is_honoured(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.rate_limit_once = True
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert len(pages) == 3


def test_instance_requiring_auth_fails_the_source(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.require_token = True
    with pytest.raises(AuthFailed, match="HTTP 401"):
        list(make(base, context).fetch(None, since=SINCE))
    pages = list(make(base, with_token(context), queries=[]).fetch(None, since=SINCE))
    assert len(pages) == 3


def test_search_needs_a_token(base: str, context: CollectorContext) -> None:
    with pytest.raises(SettingsError, match=TOKEN_ENV):
        make(base, context, queries=["Орманова"])
    assert make(base, context).queries == ()  # no token: no default search


def test_search_walks_back_to_the_high_water_mark(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    collector = make(base, with_token(context), hashtags=[], queries=["Орманова"])
    pages = list(collector.fetch(None, since=SINCE))
    assert [r[1].get("max_id") for r in fake.requests] == [None, "116159074205696000"]
    assert len(pages) == 2
    sub = pages[-1].cursor["search"]["Орманова"]
    assert sub["walk"] is None and sub["hwm"] == "00116164185292800000"
    assert pages[0].cursor["search"]["Орманова"]["hwm"] is None  # not before the walk ends
    assert sum(len(p.posts) for p in pages) == 3
    fake.requests.clear()
    again = list(collector.fetch(pages[-1].cursor, since=SINCE))
    assert len(again) == 1 and len(again[0].posts) == 1  # only the item at the mark again


def test_default_hashtags_from_defenders(base: str, context: CollectorContext) -> None:
    collector = make(base, context, hashtags=None)
    assert collector.hashtags[:3] == ("BakhytOrmanova", "БахытОрманова", "Орманова")
