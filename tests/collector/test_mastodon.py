"""Mastodon collector against a fake instance that pages like Mastodon (min_id/max_id, Link)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext
from collector.errors import AuthFailed, PartialFailure, SettingsError
from collector.mastodon import TOKEN_ENV, MastodonCollector, snowflake_at

from .conftest import FAST, NOW, fixture_text

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


def _rate_limited() -> Response:
    reset = (datetime.now(UTC) + timedelta(milliseconds=50)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _json(
        fixture_text("mastodon", "too_many_requests.json"),
        429,
        {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )


def _second_of(status_id: int) -> int:
    """`Mastodon::Snowflake.to_time`: the id's time in whole seconds."""
    return (status_id >> 16) // 1000


class FakeMastodon:
    """A Mastodon instance on 127.0.0.1 that pages, searches and fails as Mastodon does.

    Search follows `StatusesSearchService` (Mastodon >= 4.2): hits ranked by id, newest
    first; a `max_id` becomes `before:"<its time in whole seconds>"`; `offset` and `limit`
    are applied to the index hits, and the hits of accounts the reader blocks are removed
    from the page *afterwards*. `search_version = "4.3.1"` answers any `max_id`/`min_id`
    with that release's 422 "Invalid date".
    """

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base = server.url_for("/").rstrip("/")
        self.tags: dict[str, list[dict[str, Any]]] = {
            TAG: json.loads(fixture_text("mastodon", "tag_statuses.json"))
        }
        self.login_only_tags: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lookups = 0
        self.require_token = False
        self.rate_limit_once = False
        self.faults: list[str] = []  # served one by one before the real answers: 503, timeout, …
        self.search_hits: list[dict[str, Any]] | None = None
        self.blocked: set[str] = set()  # accts the reader blocks: removed after the limit
        self.search_version = "4.5.1"
        server.expect_request("/api/v1/accounts/lookup").respond_with_handler(self.lookup)
        server.expect_request("/api/v1/accounts/109876543210/statuses").respond_with_handler(
            self.account_statuses
        )
        server.expect_request("/api/v2/search").respond_with_handler(self.search)
        server.expect_request(re.compile(r"^/api/v1/timelines/tag/.+")).respond_with_handler(
            self.tag
        )

    def _fault(self) -> Response | None:
        if not self.faults:
            return None
        kind = self.faults.pop(0)
        if kind == "503":
            return Response("<html><title>503 Service Unavailable</title></html>", status=503)
        if kind == "timeout":
            time.sleep(FAST.timeout + 0.3)
            return _json([])
        if kind == "malformed":
            return Response('[{"id": "1161', status=200, content_type="application/json")
        raise AssertionError(kind)

    def tag(self, request: Request) -> Response:
        name = unquote(request.path.rsplit("/", 1)[1])
        authed = "Authorization" in request.headers
        if (self.require_token or name in self.login_only_tags) and not authed:
            return _json(fixture_text("mastodon", "auth_required.json"), 401)
        if self.rate_limit_once:
            self.rate_limit_once = False
            return _rate_limited()
        fault = self._fault()
        if fault is not None:
            return fault
        self.requests.append((request.path, dict(request.args)))
        url = f"{self.base}/api/v1/timelines/tag/{quote(name)}"
        return paginate(self.tags.get(name, []), request.args, url)

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
        args = request.args
        if self.search_version in ("4.3.0", "4.3.1") and ("max_id" in args or "min_id" in args):
            return _json(fixture_text("mastodon", "invalid_date.json"), 422)
        if self.search_hits is None:
            data = json.loads(fixture_text("mastodon", "search_statuses.json"))
            hits = data["statuses"]
        else:
            data = {"accounts": [], "statuses": [], "hashtags": []}
            hits = self.search_hits
        hits = sorted(hits, key=lambda s: -int(s["id"]))
        if "max_id" in args:
            before = _second_of(int(args["max_id"]))
            hits = [s for s in hits if _second_of(int(s["id"])) < before]
        offset = int(args.get("offset", 0))
        page = hits[offset : offset + min(int(args.get("limit", 20)), 40)]
        data["statuses"] = [s for s in page if s["account"]["acct"] not in self.blocked]
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


def test_login_only_hashtag_fails_that_stream_only(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """An instance that shows one topic feed to logged-in users only: the other hashtag and
    the watched account are still collected, and the error names the failed stream."""
    fake.tags["закрытый"] = fake.tags[TAG]
    fake.login_only_tags.add("закрытый")
    collector = make(
        base, context, hashtags=["закрытый", TAG], accounts=["kz_watch@mastodon.example"]
    )
    pages = []
    with pytest.raises(PartialFailure) as caught:
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert list(caught.value.errors) == ["#закрытый"]
    assert "HTTP 401" in caught.value.message and TOKEN_ENV in caught.value.message
    assert "This method requires an authenticated user" in caught.value.message
    assert not caught.value.transient
    cursor = pages[-1].cursor
    assert set(cursor["tags"]) == {TAG} and "kz_watch@mastodon.example" in cursor["accounts"]
    assert sum(len(p.posts) for p in pages) == 6 + 2


def test_refused_token_fails_the_source(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.require_token = True
    pages = list(make(base, with_token(context), queries=[]).fetch(None, since=SINCE))
    assert len(pages) == 3  # with the token the login-only instance serves the feed
    env = {TOKEN_ENV: "revoked-token"}
    refused = CollectorContext(http=context.http, defenders=(), env=env, now=context.now)
    fake.search_hits = []
    with pytest.raises(AuthFailed, match="HTTP 401"):
        list(make(base, refused, hashtags=[], queries=["Орманова"]).fetch(None, since=SINCE))


def test_search_needs_a_token(base: str, context: CollectorContext) -> None:
    with pytest.raises(SettingsError, match=TOKEN_ENV):
        make(base, context, queries=["Орманова"])
    assert make(base, context).queries == ()  # no token: no default search


def test_search_walks_back_to_the_high_water_mark(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    collector = make(base, with_token(context), hashtags=[], queries=["Орманова"])
    pages = list(collector.fetch(None, since=SINCE))
    # each max_id is the start of the second after the page's oldest hit (Mastodon compares
    # whole seconds), a short page goes on, and the walk ends at the empty page
    assert [r[1].get("max_id") for r in fake.requests] == [
        None,
        "116159074271232000",  # 2026-03-02T10:20:12Z
        "116147434356736000",  # 2026-02-28T09:00:01Z
        "116147434291200000",  # that second read out: 09:00:00Z
    ]
    assert len(pages) == 4
    sub = pages[-1].cursor["search"]["Орманова"]
    assert sub["walk"] is None and sub["hwm"] == "00116164185292800000"
    assert pages[0].cursor["search"]["Орманова"]["hwm"] is None  # not before the walk ends
    assert sum(len(p.posts) for p in pages) == 3
    fake.requests.clear()
    again = list(collector.fetch(pages[-1].cursor, since=SINCE))
    # the overlap below the mark is read again, but what was yielded is not yielded again
    assert len(again) == 1 and again[0].posts == ()


def test_default_hashtags_from_defenders(base: str, context: CollectorContext) -> None:
    collector = make(base, context, hashtags=None)
    assert collector.hashtags[:3] == ("BakhytOrmanova", "БахытОрманова", "Орманова")


class Clock:
    """A clock the test moves: runs happen at chosen instants."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def clocked(context: CollectorContext, clock: Clock, token: bool = False) -> CollectorContext:
    env = {TOKEN_ENV: TOKEN} if token else {}
    return CollectorContext(http=context.http, defenders=context.defenders, env=env, now=clock)


LATE = json.loads(fixture_text("mastodon", "tag_late_status.json"))
LATE_URI = "https://kz.social.example/users/steppe_voice/statuses/114002"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_late_post_below_the_cursor_is_collected(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """A remote post published 07:30 reaches the instance at 08:20, after the 08:05 run read
    up to the 08:00 status: its id (from its publish time) is below the cursor."""
    clock = Clock(at("2026-03-03T08:05:00"))
    ctx = clocked(context, clock)
    first = list(make(base, ctx).fetch(None, since=SINCE))
    cursor = first[-1].cursor
    assert cursor["tags"][TAG]["min_id"] == "116164185292800000"  # 08:00
    assert int(LATE[0]["id"]) < int(cursor["tags"][TAG]["min_id"])

    fake.tags[TAG].append(LATE[0])
    clock.at = at("2026-03-03T08:30:00")
    fake.requests.clear()
    second = list(make(base, ctx).fetch(cursor, since=SINCE))
    # the walk starts `overlap` (2 h) below the start of the previous walk
    assert fake.requests[0][1]["min_id"] == snowflake_at(at("2026-03-03T06:05:00"))
    posts = [p for page in second for p in page.posts]
    assert [p.post_id for p in posts] == [LATE_URI]  # re-read statuses are not yielded again
    late = posts[0]
    assert late.author.handle == "steppe_voice@kz.social.example"
    assert late.links == (
        "https://zhala.example/kz/44?fbclid=IwAR0x",
        "https://zhala.example/kz/44",
    )
    assert late.mentions == ("ormanova@social.example",) and late.lang == "kk"

    clock.at = at("2026-03-03T09:00:00")
    third = list(make(base, ctx).fetch(second[-1].cursor, since=SINCE))
    assert [p for page in third for p in page.posts] == []
    sub = third[-1].cursor["tags"][TAG]
    assert sub["read_at"] == "2026-03-03T09:00:00.000000Z" and "walk" not in sub
    floor = int(snowflake_at(at("2026-03-03T07:00:00")))
    assert sub["seen"] and all(int(i) > floor for i in sub["seen"])


def test_without_overlap_the_late_post_is_lost(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """The control: reading only above the cursor (the old behaviour) never sees it."""
    clock = Clock(at("2026-03-03T08:05:00"))
    ctx = clocked(context, clock)
    cursor = list(make(base, ctx, overlap="0s").fetch(None, since=SINCE))[-1].cursor
    fake.tags[TAG].append(LATE[0])
    clock.at = at("2026-03-03T08:30:00")
    second = list(make(base, ctx, overlap="0s").fetch(cursor, since=SINCE))
    assert [p for page in second for p in page.posts] == []


def test_cursor_of_the_previous_version_gets_the_overlap(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.tags[TAG].append(LATE[0])
    old = {"tags": {TAG: {"min_id": "116164185292800000"}}}  # 08:00, no read_at yet
    pages = list(make(base, context).fetch(old, since=SINCE))
    assert fake.requests[0][1]["min_id"] == snowflake_at(at("2026-03-03T06:00:00"))
    assert LATE_URI in {p.post_id for page in pages for p in page.posts}


def test_interrupted_walk_resumes_and_keeps_its_start(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    clock = Clock(at("2026-03-03T08:05:00"))
    ctx = clocked(context, clock)
    first = list(make(base, ctx, max_pages=1).fetch(None, since=SINCE))
    sub = first[-1].cursor["tags"][TAG]
    assert sub["walk"] == {"pos": "116153332531200000", "started": "2026-03-03T08:05:00.000000Z"}
    clock.at = at("2026-03-03T08:30:00")
    fake.requests.clear()
    rest = list(make(base, ctx).fetch(first[-1].cursor, since=SINCE))
    assert fake.requests[0][1]["min_id"] == "116153332531200000"
    sub = rest[-1].cursor["tags"][TAG]
    assert sub["read_at"] == "2026-03-03T08:05:00.000000Z" and "walk" not in sub
    ids = [p.post_id for page in first + rest for p in page.posts]
    assert len(set(ids)) == 5


SEARCH_HITS = json.loads(fixture_text("mastodon", "search_walk.json"))["statuses"]
TROLL = "grant_hunter@troll.example"
VISIBLE = {s["uri"] for s in SEARCH_HITS if s["account"]["acct"] != TROLL}


def _search(base: str, ctx: CollectorContext, **more: Any) -> MastodonCollector:
    return make(base, ctx, hashtags=[], queries=["Орманова"], **more)


def test_search_short_page_is_not_the_end(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """The reader blocks an account: its hits are removed after the limit, so the first page
    holds 3 of 5; the walk goes on until an empty page."""
    fake.search_hits, fake.blocked = SEARCH_HITS, {TROLL}
    pages = list(_search(base, with_token(context), page_size=5).fetch(None, since=SINCE))
    assert [len(p.posts) for p in pages][:2] == [3, 4]
    ids = [p.post_id for page in pages for p in page.posts]
    assert len(ids) == len(set(ids)) and set(ids) == VISIBLE and len(VISIBLE) == 8
    assert all("offset" not in r[1] for r in fake.requests)
    assert pages[-1].posts == () and pages[-1].cursor["search"]["Орманова"]["walk"] is None


def test_search_second_fuller_than_a_page_pages_by_offset(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """Four hits share 09:05:17; with pages of 3, `before:` cannot get past that second."""
    fake.search_hits, fake.blocked = SEARCH_HITS, {TROLL}
    pages = list(_search(base, with_token(context), page_size=3).fetch(None, since=SINCE))
    ids = [p.post_id for page in pages for p in page.posts]
    assert len(ids) == len(set(ids)) and set(ids) == VISIBLE
    offsets = [r[1].get("offset") for r in fake.requests if "offset" in r[1]]
    assert offsets == ["0", "3", "6", "9", "12"]


def test_search_invalid_date_falls_back_to_offset(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    """Mastodon 4.3.0/4.3.1 answer every search max_id with 422 "Invalid date"."""
    fake.search_hits, fake.blocked, fake.search_version = SEARCH_HITS, {TROLL}, "4.3.1"
    pages = list(_search(base, with_token(context), page_size=4).fetch(None, since=SINCE))
    ids = [p.post_id for page in pages for p in page.posts]
    assert len(ids) == len(set(ids)) and set(ids) == VISIBLE
    sent = [r[1] for r in fake.requests]
    assert "max_id" in sent[1] and [s.get("offset") for s in sent[2:]] == ["0", "4", "8", "12"]
    sub = pages[-1].cursor["search"]["Орманова"]
    assert sub["walk"] is None and sub["hwm"] == f"{int(SEARCH_HITS[0]['id']):020d}"
    # the next run reaches the mark on its first page and yields nothing twice
    fake.requests.clear()
    again = list(
        _search(base, with_token(context), page_size=4).fetch(pages[-1].cursor, since=SINCE)
    )
    assert len(again) == 1 and again[0].posts == ()


def test_search_late_indexed_post_is_found(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    clock = Clock(at("2026-03-03T09:45:00"))
    ctx = clocked(context, clock, token=True)
    fake.search_hits, fake.blocked = list(SEARCH_HITS), {TROLL}
    first = list(_search(base, ctx, page_size=5).fetch(None, since=SINCE))
    late = dict(LATE[0], id=str(int(snowflake_at(at("2026-03-03T09:35:00"))) + 4242))
    late["uri"] = late["uri"].replace("114002", "114077")
    fake.search_hits.append(late)
    clock.at = at("2026-03-03T10:00:00")
    second = list(_search(base, ctx, page_size=5).fetch(first[-1].cursor, since=SINCE))
    assert [p.post_id for page in second for p in page.posts] == [late["uri"]]


def test_transient_faults_are_retried(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.faults = ["503", "timeout"]
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert len(pages) == 3 and sum(len(p.posts) for p in pages) == 6


def test_malformed_body_fails_that_stream(
    base: str, fake: FakeMastodon, context: CollectorContext
) -> None:
    fake.tags["второй"] = fake.tags[TAG]
    fake.faults = ["malformed"]
    pages = []
    with pytest.raises(PartialFailure) as caught:
        for page in make(base, context, hashtags=["второй", TAG]).fetch(None, since=SINCE):
            pages.append(page)
    assert list(caught.value.errors) == ["#второй"]
    assert "malformed JSON" in caught.value.message
    assert sum(len(p.posts) for p in pages) == 6


def test_seen_ids_are_capped(base: str, fake: FakeMastodon, context: CollectorContext) -> None:
    """A busy hashtag: 2,100 statuses inside the overlap. The cursor keeps the newest 2,000
    ids; the next run re-yields only the 100 it forgot (duplicates the store absorbs)."""
    clock = Clock(at("2026-03-03T08:05:00"))
    ctx = clocked(context, clock)
    start = int(snowflake_at(at("2026-03-03T07:00:00")))
    template = fake.tags[TAG][2]
    busy = []
    for n in range(2_100):
        status_id = str(start + n * (1500 << 16))  # one every 1.5 s
        uri = f"https://social.example/users/patriot_kz/statuses/{status_id}"
        busy.append(dict(template, id=status_id, uri=uri, url=uri))
    fake.tags[TAG] = busy
    first = list(make(base, ctx, page_size=40, max_pages=60).fetch(None, since=SINCE))
    assert sum(len(p.posts) for p in first) == 2_100
    seen = first[-1].cursor["tags"][TAG]["seen"]
    assert seen == [s["id"] for s in busy[-2_000:]]
    clock.at = at("2026-03-03T08:20:00")
    second = list(make(base, ctx, page_size=40, max_pages=60).fetch(first[-1].cursor, since=SINCE))
    assert [p.post_id for page in second for p in page.posts] == [s["uri"] for s in busy[:100]]
