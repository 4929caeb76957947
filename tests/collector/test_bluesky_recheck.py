"""Bluesky recheck: `app.bsky.feed.getPosts` on the public AppView, 25 URIs a call, against a
local server that answers as the AppView does (the posts that exist; the rest left out)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext, RecheckResult, StoredPost
from collector.bluesky import GETPOSTS_BATCH, BlueskyCollector, reset_caches
from collector.errors import PartialFailure, UpstreamUnavailable

from .conftest import fixture_json, hits

SEARCH = fixture_json("bluesky", "searchPosts_page1.json")["posts"]
KEPT_A, DELETED, KEPT_C = (p["uri"] for p in SEARCH)
REPOST = "at://did:plc:fakeamplifier0000000000001/app.bsky.feed.repost/3m2aaaaaab99z"
PATH = "/xrpc/app.bsky.feed.getPosts"


def stored(*uris: str) -> list[StoredPost]:
    return [StoredPost(uri, datetime(2026, 3, 3, 9, tzinfo=UTC)) for uri in uris]


class FakeAppView:
    """Serves the views it knows among the asked URIs, like the AppView's getPosts."""

    def __init__(self, server: HTTPServer) -> None:
        self.views = {v["uri"]: v for v in fixture_json("bluesky", "getPosts.json")["posts"]}
        self.asked: list[list[str]] = []
        self.faults: list[int | str] = []
        server.expect_request(PATH).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "slow":
                time.sleep(1.5)
            elif fault == "garbage":
                return Response('{"feed": []}', content_type="application/json")
            elif fault == 400:
                body = {"error": "InvalidRequest", "message": "Error: uris must be at-uris"}
                return Response(json.dumps(body), status=400, content_type="application/json")
            else:
                headers = {"Retry-After": "0", "ratelimit-remaining": "0"} if fault == 429 else {}
                body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
                return Response(json.dumps(body), status=int(fault), headers=headers)
        uris = request.args.getlist("uris")
        self.asked.append(uris)
        posts = [self.views[u] for u in uris if u in self.views]
        return Response(json.dumps({"posts": posts}), content_type="application/json")


@pytest.fixture
def fake(server: HTTPServer) -> FakeAppView:
    reset_caches()
    return FakeAppView(server)


def make(base: str, context: CollectorContext) -> BlueskyCollector:
    table: dict[str, Any] = {
        "name": "bsky-recheck",
        "platform": "bluesky",
        "base_url": base,
        "appview_url": base,
        "queries": [],  # the recheck needs no login: public AppView only
        "authors": ["pravda-kz-news.bsky.social"],
    }
    return BlueskyCollector(table, context)


def flatten(results: list[RecheckResult]) -> tuple[dict[str, Any], list[str]]:
    return {p.post_id: p for r in results for p in r.posts}, [d for r in results for d in r.deleted]


def test_missing_from_the_answer_is_deleted(
    base: str, fake: FakeAppView, context: CollectorContext
) -> None:
    results = list(make(base, context).recheck(stored(KEPT_A, DELETED, KEPT_C, REPOST)))
    posts, deleted = flatten(results)
    assert deleted == [DELETED]
    assert set(posts) == {KEPT_A, KEPT_C}
    assert posts[KEPT_A].text.startswith("Кто финансирует @bakhyt-ormanova.bsky.social?")
    assert fake.asked == [[KEPT_A, DELETED, KEPT_C]]  # reposts are not getPosts' to answer


def test_a_rewritten_record_comes_back_changed(
    base: str, fake: FakeAppView, context: CollectorContext
) -> None:
    view = fake.views[KEPT_C]
    fake.views[KEPT_C] = {**view, "record": {**view["record"], "text": "Удалено автором."}}
    posts, _ = flatten(list(make(base, context).recheck(stored(KEPT_C))))
    assert posts[KEPT_C].text == "Удалено автором."


def test_25_uris_a_call(base: str, fake: FakeAppView, context: CollectorContext) -> None:
    many = [
        f"at://did:plc:fakeamplifier0000000000009/app.bsky.feed.post/3m{n:011d}" for n in range(60)
    ]
    results = list(make(base, context).recheck(stored(KEPT_A, *many)))
    assert [len(a) for a in fake.asked] == [GETPOSTS_BATCH, GETPOSTS_BATCH, 11]
    assert flatten(results)[1] == many


def test_429_and_5xx_are_retried(
    base: str, server: HTTPServer, fake: FakeAppView, context: CollectorContext
) -> None:
    fake.faults = [429, 502]
    _, deleted = flatten(list(make(base, context).recheck(stored(KEPT_A, DELETED))))
    assert deleted == [DELETED] and hits(server, PATH) == 3


def test_timeout_is_retried(base: str, fake: FakeAppView, context: CollectorContext) -> None:
    fake.faults = ["slow"]
    assert flatten(list(make(base, context).recheck(stored(DELETED))))[1] == [DELETED]


def test_outage_stops_the_recheck_and_marks_nothing(
    base: str, fake: FakeAppView, context: CollectorContext
) -> None:
    fake.faults = [503] * 10
    with pytest.raises(UpstreamUnavailable):
        list(make(base, context).recheck(stored(KEPT_A, DELETED)))


def test_malformed_or_refused_batch_fails_that_batch_only(
    base: str, fake: FakeAppView, context: CollectorContext
) -> None:
    many = [
        f"at://did:plc:fakeamplifier0000000000009/app.bsky.feed.post/3m{n:011d}" for n in range(50)
    ]
    fake.faults = ["garbage", 400]  # a body of another shape, then a 400 InvalidRequest
    results: list[RecheckResult] = []
    with pytest.raises(PartialFailure) as raised:
        for result in make(base, context).recheck(stored(*many, DELETED)):
            results.append(result)
    assert "batch 1" in raised.value.message and "batch 2" in raised.value.message
    assert flatten(results)[1] == [DELETED]  # the third batch; nothing of the failed ones
