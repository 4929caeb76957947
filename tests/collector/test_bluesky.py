"""Bluesky collector against a fake PDS/AppView on 127.0.0.1 serving recorded-style payloads."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext, SearchTerms, example_toml
from collector.bluesky import PASSWORD_ENV, BlueskyCollector, reset_caches
from collector.errors import AuthFailed, PartialFailure, SettingsError

from .conftest import NOW, fixture_text, hits

PASSWORD = "abcd-efgh-ijkl-mnop"
SINCE = NOW - timedelta(days=7)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, content_type="application/json", headers=headers)


class FakeBluesky:
    """A PDS + AppView that checks tokens the way Bluesky does and pages by cursor."""

    def __init__(self, server: HTTPServer) -> None:
        self.valid: set[str] = set()
        self.refresh_valid: set[str] = set()
        self.logins = 0
        self.refreshes = 0
        self.search_params: list[dict[str, str]] = []
        self.feed_params: list[dict[str, str]] = []
        self.profile_requests: list[list[str]] = []
        self.search_pages = {None: "searchPosts_page1.json", "3": "searchPosts_page2.json"}
        self.rate_limit_next_search = False
        self.forbid_actor: str | None = None
        server.expect_request(
            "/xrpc/com.atproto.server.createSession", method="POST"
        ).respond_with_handler(self.create_session)
        server.expect_request(
            "/xrpc/com.atproto.server.refreshSession", method="POST"
        ).respond_with_handler(self.refresh_session)
        server.expect_request("/xrpc/app.bsky.feed.searchPosts").respond_with_handler(self.search)
        server.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_handler(self.feed)
        server.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(
            self.profiles
        )

    def expire_access(self) -> None:
        self.valid.clear()

    def create_session(self, request: Request) -> Response:
        body = request.get_json()
        if body != {"identifier": "research-account.example", "password": PASSWORD}:
            return _json(fixture_text("bluesky", "auth_required.json"), 401)
        self.logins += 1
        access, refresh = f"access-{self.logins}", f"refresh-{self.logins}"
        self.valid.add(access)
        self.refresh_valid.add(refresh)
        return _json(fixture_text("bluesky", "createSession.json", access=access, refresh=refresh))

    def refresh_session(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.refresh_valid:
            return _json(fixture_text("bluesky", "expired_token.json"), 400)
        self.refreshes += 1
        self.refresh_valid.discard(token)
        access, refresh = f"access-r{self.refreshes}", f"refresh-r{self.refreshes}"
        self.valid.add(access)
        self.refresh_valid.add(refresh)
        return _json(fixture_text("bluesky", "refreshSession.json", access=access, refresh=refresh))

    def search(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            return _json(
                {"error": "AuthenticationRequired", "message": "Authentication Required"}, 401
            )
        if token not in self.valid:
            return _json(fixture_text("bluesky", "expired_token.json"), 400)
        if self.rate_limit_next_search:
            self.rate_limit_next_search = False
            return _json(
                fixture_text("bluesky", "rate_limited.json"),
                429,
                {
                    "RateLimit-Limit": "3000",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(time.time())),
                    "RateLimit-Policy": "3000;w=300",
                },
            )
        self.search_params.append(dict(request.args))
        name = self.search_pages.get(request.args.get("cursor"))
        if name is None:
            return _json({"error": "InvalidRequest", "message": "invalid cursor"}, 400)
        return _json(
            fixture_text("bluesky", name),
            headers={
                "RateLimit-Limit": "3000",
                "RateLimit-Remaining": "2990",
                "RateLimit-Reset": str(int(time.time()) + 300),
                "RateLimit-Policy": "3000;w=300",
            },
        )

    def feed(self, request: Request) -> Response:
        if "Authorization" in request.headers:
            return _json({"error": "InvalidToken"}, 400)  # the public AppView takes no auth
        actor = request.args["actor"]
        if actor == self.forbid_actor:
            return Response(
                fixture_text("bluesky", "403_forbidden.html"), status=403, content_type="text/html"
            )
        self.feed_params.append(dict(request.args))
        pages = {
            None: "getAuthorFeed_page1.json",
            "2026-03-02T12:00:00.000Z": "getAuthorFeed_page2.json",
        }
        name = pages.get(request.args.get("cursor"))
        if name is None:
            return _json({"feed": []})
        return _json(fixture_text("bluesky", name))

    def profiles(self, request: Request) -> Response:
        actors = request.args.getlist("actors")
        self.profile_requests.append(actors)
        data = json.loads(fixture_text("bluesky", "getProfiles.json"))
        data["profiles"] = [p for p in data["profiles"] if p["did"] in actors]
        return _json(data)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def fake(server: HTTPServer) -> FakeBluesky:
    return FakeBluesky(server)


@pytest.fixture
def bsky_context(context: CollectorContext) -> CollectorContext:
    return CollectorContext(
        http=context.http,
        defenders=context.defenders,
        env={PASSWORD_ENV: PASSWORD},
        now=context.now,
    )


def make(base: str, context: CollectorContext, **overrides: Any) -> BlueskyCollector:
    table = {
        "name": "bluesky-test",
        "platform": "bluesky",
        "base_url": base,
        "appview_url": base,
        "identifier": "research-account.example",
        "queries": ["Орманова"],
        "authors": [],
    }
    table.update(overrides)
    return BlueskyCollector(table, context)


def test_search_walks_pages_and_maps_posts(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context)
    pages = list(collector.fetch(None, since=SINCE))
    assert len(pages) == 2
    first, second = pages
    # while the walk is in progress the high-water mark must not move
    assert first.cursor["search"]["Орманова"] == {
        "hwm": None,
        "walk": {
            "next": "3",
            "top": "2026-03-03T09:00:00.123000Z",
            "floor": "2026-02-24T12:00:00.000000Z",
        },
    }
    assert second.cursor["search"]["Орманова"] == {
        "hwm": "2026-03-03T09:00:00.123000Z",
        "walk": None,
    }
    assert first.status == 200 and "searchPosts" in first.request_url
    assert fake.search_params[0]["since"] == "2026-02-24T12:00:00.000Z"
    assert fake.search_params[0]["sort"] == "latest"
    assert fake.search_params[1]["cursor"] == "3"
    # the first-run backfill limit drops the post from 2026-02-20 (the recording ignores since)
    ids = [p.post_id for page in pages for p in page.posts]
    assert len(ids) == 4 and not any("3m1wwwwwwww2e" in i for i in ids)

    p1, p2, p3 = first.posts
    assert p1.post_id == "at://did:plc:fakeattacker00000000000001/app.bsky.feed.post/3m2aaaaaaaa3x"
    assert p1.url == (
        "https://bsky.app/profile/did:plc:fakeattacker00000000000001/post/3m2aaaaaaaa3x"
    )
    assert p1.created_at == datetime(2026, 3, 3, 9, 0, 0, 123000, tzinfo=UTC)
    assert p1.mentions == ("bakhyt-ormanova.bsky.social",)  # sliced by UTF-8 byte offsets
    assert p1.extra["mention_dids"] == ("did:plc:fakedefender000000000000001",)
    assert p1.hashtags == ("грантоед",)
    assert p1.links == ("https://example.kz/a1", "https://example.kz/a1?utm_source=bsky")
    assert p1.lang == "ru"
    assert p1.author.handle == "pravda-kz-news.bsky.social"
    assert p1.author.created_at == datetime(2026, 3, 1, 9, 12, 44, tzinfo=UTC)
    assert p1.collected_at == NOW
    assert p1.extra["source"] == "bluesky-test" and p1.extra["collector"] == "bluesky/1"
    assert json.loads(p1.raw)["cid"].startswith("bafyrei")
    assert p2.reply_to == p1.post_id and p2.lang == "kk" and p2.hashtags == ("грантоед",)
    # authors without createdAt in the view get it from getProfiles
    assert p2.author.created_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert (
        p3.quote_of == "at://did:plc:fakedefender000000000000001/app.bsky.feed.post/3m1zzzzzzzz2a"
    )
    assert p3.hashtags == ("foreignagents",)
    assert p3.author.created_at == datetime(2026, 2, 28, 11, 0, tzinfo=UTC)


def test_session_is_cached_across_queries_and_runs(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context, queries=["Орманова", '"Bakhyt Ormanova"'])
    cursor = None
    for _ in range(2):
        for page in collector.fetch(cursor, since=SINCE):
            cursor = page.cursor
    make(base, bsky_context).fetch(cursor, since=SINCE).__next__()  # a new instance too
    assert fake.logins == 1
    assert len(fake.search_params) >= 5


def test_expired_access_token_is_refreshed_once(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context)
    list(collector.fetch(None, since=SINCE))
    fake.expire_access()
    pages = list(collector.fetch(None, since=SINCE))
    assert len(pages) == 2
    assert fake.logins == 1 and fake.refreshes == 1


def test_dead_refresh_token_logs_in_again(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context)
    list(collector.fetch(None, since=SINCE))
    fake.expire_access()
    fake.refresh_valid.clear()
    list(collector.fetch(None, since=SINCE))
    assert fake.logins == 2 and fake.refreshes == 0


def test_wrong_password_is_auth_failed_without_secret(
    base: str, fake: FakeBluesky, context: CollectorContext
) -> None:
    ctx = CollectorContext(
        http=context.http, env={PASSWORD_ENV: "wrong-pass-9999"}, now=context.now
    )
    with pytest.raises(AuthFailed) as info:
        list(make(base, ctx).fetch(None, since=SINCE))
    assert "wrong-pass" not in str(info.value)
    assert PASSWORD_ENV in str(info.value)


def test_search_without_credentials_is_a_settings_error(
    base: str, context: CollectorContext
) -> None:
    with pytest.raises(SettingsError, match=PASSWORD_ENV):
        make(base, context)
    make(base, context, queries=[], authors=["someone.bsky.social"])  # feeds need no login


def test_resumes_an_interrupted_walk(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context)
    first = next(collector.fetch(None, since=SINCE))  # crash after the first page's commit
    pages = list(collector.fetch(first.cursor, since=NOW))  # a later run, shorter horizon
    assert fake.search_params[-1]["cursor"] == "3"
    # the resumed walk keeps its original floor, not the new horizon
    assert fake.search_params[-1]["since"] == "2026-02-24T12:00:00.000Z"
    assert pages[-1].cursor["search"]["Орманова"]["hwm"] == "2026-03-03T09:00:00.123000Z"


def test_incremental_run_uses_high_water_mark_minus_overlap(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    cursor = {"search": {"Орманова": {"hwm": "2026-03-03T09:00:00.123000Z", "walk": None}}}
    pages = list(make(base, bsky_context).fetch(cursor, since=SINCE))
    assert fake.search_params[0]["since"] == "2026-03-03T08:50:00.123Z"
    # page 1 reaches below the floor, so the walk ends there; the mark stays
    assert len(pages) == 1
    assert [p.post_id.rsplit("/", 1)[1] for p in pages[0].posts] == ["3m2aaaaaaaa3x"]
    assert pages[0].cursor["search"]["Орманова"] == {
        "hwm": "2026-03-03T09:00:00.123000Z",
        "walk": None,
    }


def test_refused_cursor_restarts_the_walk(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    cursor = {
        "search": {
            "Орманова": {
                "hwm": None,
                "walk": {
                    "next": "stale",
                    "top": "2026-03-03T09:00:00.123000Z",
                    "floor": "2026-02-24T12:00:00.000000Z",
                },
            }
        }
    }
    pages = list(make(base, bsky_context).fetch(cursor, since=SINCE))
    assert fake.search_params[0]["cursor"] == "stale"
    assert "cursor" not in fake.search_params[1]
    assert pages[-1].cursor["search"]["Орманова"]["hwm"] == "2026-03-03T09:00:00.123000Z"


def test_rate_limit_headers_are_honoured(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    fake.rate_limit_next_search = True
    pages = list(make(base, bsky_context).fetch(None, since=SINCE))
    assert len(pages) == 2


def test_author_feed_reposts_and_backfill_limit(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    collector = make(base, bsky_context, queries=[], authors=["user8812734.bsky.social"])
    pages = list(collector.fetch(None, since=SINCE))
    assert len(pages) == 2  # page 2 reaches below the horizon; no third request
    assert len(fake.feed_params) == 2
    posts = [p for page in pages for p in page.posts]
    repost, original, own1, own2 = posts
    assert repost.post_id.endswith("app.bsky.feed.repost/3m2abcrepost2a")
    assert repost.text == "" and repost.repost_of == original.post_id
    assert repost.author.id == "did:plc:fakeamplifier0000000000001"
    assert repost.created_at == datetime(2026, 3, 3, 9, 5, tzinfo=UTC)
    assert original.author.handle == "pravda-kz-news.bsky.social"
    assert own1.hashtags == ("грантоед",)
    assert own2.text.startswith("Kesler")
    assert not any(p.text == "Первый пост" for p in posts)  # older than the horizon
    assert pages[-1].cursor["authors"]["user8812734.bsky.social"] == {
        "hwm": "2026-03-03T09:05:00.000000Z",
        "walk": None,
    }
    assert fake.logins == 0  # public AppView, no session


def test_profiles_are_cached(base: str, fake: FakeBluesky, bsky_context: CollectorContext) -> None:
    collector = make(base, bsky_context)
    list(collector.fetch(None, since=SINCE))
    list(collector.fetch(None, since=SINCE))
    requested = [did for batch in fake.profile_requests for did in batch]
    assert sorted(requested) == [
        "did:plc:fakeamplifier0000000000001",
        "did:plc:fakeamplifier0000000000002",
    ]


def test_one_forbidden_author_does_not_stop_the_others(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext, server: HTTPServer
) -> None:
    fake.forbid_actor = "blocked.bsky.social"
    collector = make(
        base, bsky_context, queries=[], authors=["blocked.bsky.social", "user8812734.bsky.social"]
    )
    pages = []
    with pytest.raises(PartialFailure) as info:
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert len(pages) == 2
    assert "access refused" in str(info.value) and "blocked.bsky.social" in str(info.value)
    assert hits(server, "/xrpc/app.bsky.feed.getAuthorFeed") == 3


def test_default_queries_from_defenders(base: str, bsky_context: CollectorContext) -> None:
    collector = make(base, bsky_context, queries=None)
    assert collector.queries == (
        '"Bakhyt Ormanova"',
        '"Бахыт Орманова"',
        "Орманова",
        '"Ерлан Темирханов"',
        '"Yerlan Temirkhanov"',
        "Темирханов",
        "mentions:bakhyt-ormanova.bsky.social",  # the mention facet, not the text
    )


def test_settings_validation_and_example(base: str, bsky_context: CollectorContext) -> None:
    with pytest.raises(SettingsError, match="source 'bluesky-test': unknown key.*qeuries"):
        make(base, bsky_context, qeuries=["x"])
    with pytest.raises(SettingsError, match="must not be written in the config file"):
        make(base, bsky_context, password="oops")
    with pytest.raises(SettingsError, match="'every'"):
        make(base, bsky_context, every="soon")
    text = example_toml(BlueskyCollector)
    assert 'platform = "bluesky"' in text and PASSWORD_ENV in text
    assert '# every = "15m"' in text and '# backfill = "7d"' in text


def test_changed_response_shape_is_reported_as_such(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    """The API renames its result list: a clear error naming what was expected, not a crash
    deep inside the mapping, and the source's other streams still run."""
    fake.search_pages = {None: "searchPosts_changed_shape.json"}
    with pytest.raises(PartialFailure, match="expected a JSON object with a 'posts' list"):
        list(make(base, bsky_context).fetch(None, since=SINCE))


def test_default_queries_come_from_the_wiring_layer(
    base: str, bsky_context: CollectorContext
) -> None:
    """The inflected forms are worked out outside the collector and sent as given; explicit
    `queries` in the config still win."""
    asked: list[str] = []

    def terms(platform: str) -> SearchTerms:
        asked.append(platform)
        return SearchTerms(queries=("Орманова", "Ормановой", "Ормановаға", "Ормановой"))

    context = dataclasses.replace(bsky_context, search_terms=terms)
    assert make(base, context, queries=None).queries == ("Орманова", "Ормановой", "Ормановаға")
    assert asked == ["bluesky"]
    assert make(base, context, queries=["Бахыт"]).queries == ("Бахыт",)


def test_query_budget_keeps_the_head_and_rotates_the_rest(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    """With more queries than `max_queries`, three quarters of the budget go to the head of
    the list every run and the rest rotates, so every query gets its turn and its walk."""
    fake.search_pages = {None: "searchPosts_page2.json"}  # one short page per query
    queries = [f"q{i}" for i in range(10)]
    collector = make(base, bsky_context, queries=queries, max_queries=4)
    cursor = None
    runs = []
    for _ in range(4):
        start = len(fake.search_params)
        pages = list(collector.fetch(cursor, since=SINCE))
        cursor = pages[-1].cursor
        runs.append([p["q"] for p in fake.search_params[start:]])
    assert runs == [
        ["q0", "q1", "q2", "q3"],
        ["q0", "q1", "q2", "q4"],
        ["q0", "q1", "q2", "q5"],
        ["q0", "q1", "q2", "q6"],
    ]
    assert cursor["rotation"] == 4
    assert set(cursor["search"]) == {f"q{i}" for i in range(7)}
    with pytest.raises(SettingsError, match="max_queries"):
        make(base, bsky_context, max_queries=0)


def test_author_feeds_go_to_the_public_appview_without_credentials(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext, server: HTTPServer
) -> None:
    """Search is logged in at the PDS; watched accounts' feeds and profiles are read from the
    public AppView with no Authorization header, so an account that blocks the research
    account is still read in full."""
    seen: list[tuple[str, str | None]] = []

    def appview(request: Request) -> Response:
        seen.append((request.path, request.headers.get("Authorization")))
        if request.path.endswith("getProfiles"):
            return fake.profiles(request)
        return fake.feed(request)

    for method in ("app.bsky.feed.getAuthorFeed", "app.bsky.actor.getProfiles"):
        server.expect_request(f"/appview/xrpc/{method}").respond_with_handler(appview)
    collector = make(
        base,
        bsky_context,
        appview_url=f"{base}/appview",
        queries=["Орманова"],
        authors=["user8812734.bsky.social"],
    )
    posts = [p for page in collector.fetch(None, since=SINCE) for p in page.posts]
    assert fake.logins == 1 and fake.search_params  # search: logged in, at the PDS
    assert any(p.extra.get("author") == "user8812734.bsky.social" for p in posts)
    assert hits(server, "/xrpc/app.bsky.feed.getAuthorFeed") == 0  # never the PDS
    assert {path for path, _ in seen} >= {"/appview/xrpc/app.bsky.feed.getAuthorFeed"}
    assert all(auth is None for _, auth in seen)


def test_a_run_with_nothing_new_stores_no_cursor_per_query(
    base: str, fake: FakeBluesky, bsky_context: CollectorContext
) -> None:
    """Most inflected-form queries find nothing: such a search yields no page once its state
    is stored, so the pipeline does not store the whole cursor again for each of them."""
    fake.search_pages = {None: "searchPosts_empty.json"}
    collector = make(base, bsky_context, queries=["Ормановадай", "Ормановасынан"])
    first = list(collector.fetch(None, since=SINCE))
    assert len(first) == 2
    assert set(first[-1].cursor["search"]) == {"Ормановадай", "Ормановасынан"}
    again = list(collector.fetch(first[-1].cursor, since=SINCE))
    assert len(fake.search_params) == 4  # both queries were searched again
    assert again == []  # nothing new and nothing to remember: no page
    # with a rotation to remember, the first search of the run carries it
    rotating = make(base, bsky_context, queries=["a", "b", "c", "d", "e"], max_queries=4)
    pages = list(rotating.fetch(None, since=SINCE))
    later = list(rotating.fetch(pages[-1].cursor, since=SINCE))
    assert len(later) == 2  # the run's first search (new rotation) and "e" (first turn)
    assert later[0].cursor["rotation"] == 0
    third = list(rotating.fetch(later[-1].cursor, since=SINCE))
    assert len(third) == 1 and third[0].cursor["rotation"] == 1  # only the rotation moved
