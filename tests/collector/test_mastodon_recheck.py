"""Mastodon recheck: `GET /api/v1/statuses/:id` per stored status against a local server
answering as Mastodon does (200 with `edited_at`, 404 `Record not found`), with faults."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext, RecheckResult, StoredPost
from collector.errors import PartialFailure, RateLimited, UpstreamUnavailable
from collector.mastodon import RECHECK_BATCH, MastodonCollector
from collector.post import canonical_json

from .conftest import fixture_json, fixture_text, hits

STATUSES = {s["id"]: s for s in fixture_json("mastodon", "tag_statuses.json")}
EDITED = fixture_json("mastodon", "status_edited.json")
ORIGINAL_ID = EDITED["id"]  # patriot_kz's status, edited after it was stored
GONE_ID = "116147434291200000"
PLAIN_ID = "116164185292800000"
REPLY_ID = "116159074205696000"
BOOST_ID = "116159230771200000"


def stored(*ids: str) -> list[StoredPost]:
    items = []
    for status_id in ids:
        status = STATUSES[status_id]
        parent = "https://social.example/parent/1" if status.get("in_reply_to_id") else None
        items.append(
            StoredPost(
                status["uri"],
                datetime.fromisoformat(status["created_at"].replace("Z", "+00:00")),
                status["url"],
                canonical_json(status),
                parent,
            )
        )
    return items


class FakeStatuses:
    def __init__(self, server: HTTPServer) -> None:
        self.answers: dict[str, Any] = dict(STATUSES)
        self.answers[ORIGINAL_ID] = EDITED
        self.answers.pop(GONE_ID)
        self.faults: dict[str, list[int | str]] = {}
        for status_id in STATUSES:
            server.expect_request(f"/api/v1/statuses/{status_id}").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        status_id = request.path.rsplit("/", 1)[1]
        faults = self.faults.get(status_id) or []
        if faults:
            fault = faults.pop(0)
            if fault == "slow":
                time.sleep(1.5)
            elif fault == "garbage":
                return Response("<html>oops</html>", content_type="application/json")
            else:
                headers = {"Retry-After": "0.01"} if fault == 429 else {}
                return Response('{"error":"busy"}', status=int(fault), headers=headers)
        answer = self.answers.get(status_id)
        if answer is None:
            return Response(
                fixture_text("mastodon", "not_found.json"),
                status=404,
                content_type="application/json",
            )
        return Response(json.dumps(answer), content_type="application/json; charset=utf-8")


@pytest.fixture
def fake(server: HTTPServer) -> FakeStatuses:
    return FakeStatuses(server)


def make(base: str, context: CollectorContext, **more: Any) -> MastodonCollector:
    table = {
        "name": "masto-recheck",
        "platform": "mastodon",
        "base_url": base,
        "hashtags": ["грантоед"],
        **more,
    }
    return MastodonCollector(table, context)


def flatten(results: list[RecheckResult]) -> tuple[dict[str, Any], list[str]]:
    return {p.post_id: p for r in results for p in r.posts}, [d for r in results for d in r.deleted]


def test_edits_and_deletions(base: str, fake: FakeStatuses, context: CollectorContext) -> None:
    results = list(make(base, context).recheck(stored(ORIGINAL_ID, GONE_ID, PLAIN_ID, REPLY_ID)))
    posts, deleted = flatten(results)
    assert deleted == [STATUSES[GONE_ID]["uri"]]
    # only the status whose edited_at moved comes back; unedited ones are left as stored
    assert list(posts) == [EDITED["uri"]]
    edited = posts[EDITED["uri"]]
    assert edited.text.startswith("Орманова — иностранный агент? Мы лишь задаём вопросы.")
    assert edited.extra["edited_at"] == "2026-03-03T09:12:40.517000+00:00"
    assert edited.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert len(results) == 1 and results[0].status in (200, 404)


def test_edited_at_is_read_in_the_ordinary_pass(base: str, context: CollectorContext) -> None:
    collector = make(base, context)
    post = collector._status_post(EDITED, datetime(2026, 3, 3, tzinfo=UTC), {})
    assert post.extra["edited_at"] == "2026-03-03T09:12:40.517000+00:00"
    plain = collector._status_post(STATUSES[PLAIN_ID], datetime(2026, 3, 3, tzinfo=UTC), {})
    assert "edited_at" not in plain.extra


def test_an_edited_reply_keeps_its_stored_parent(
    base: str, fake: FakeStatuses, context: CollectorContext
) -> None:
    reply = dict(STATUSES[REPLY_ID], edited_at="2026-03-03T08:00:00.000Z")
    fake.answers[REPLY_ID] = reply
    posts, _ = flatten(list(make(base, context).recheck(stored(REPLY_ID))))
    assert posts[reply["uri"]].reply_to == "https://social.example/parent/1"


def test_results_come_in_batches(base: str, server: HTTPServer, context: CollectorContext) -> None:
    template = STATUSES[PLAIN_ID]
    items = []
    for n in range(RECHECK_BATCH + 5):
        status_id = str(116164185292800000 + n + 1)
        status = dict(template, id=status_id, uri=f"https://news.example/statuses/{status_id}")
        items.append(
            StoredPost(
                status["uri"], datetime(2026, 3, 2, tzinfo=UTC), None, canonical_json(status)
            )
        )
        server.expect_request(f"/api/v1/statuses/{status_id}").respond_with_json(
            {"error": "Record not found"}, status=404
        )
    results = list(make(base, context).recheck(items))
    assert [len(r.deleted) for r in results] == [RECHECK_BATCH, 5]
    assert all(r.status == 404 for r in results)


def test_429_and_5xx_are_retried(
    base: str, server: HTTPServer, fake: FakeStatuses, context: CollectorContext
) -> None:
    fake.faults[ORIGINAL_ID] = [429, 502]
    posts, deleted = flatten(list(make(base, context).recheck(stored(ORIGINAL_ID, GONE_ID))))
    assert list(posts) == [EDITED["uri"]] and deleted == [STATUSES[GONE_ID]["uri"]]
    assert hits(server, f"/api/v1/statuses/{ORIGINAL_ID}") == 3


def test_outage_and_rate_limit_stop_the_recheck_without_marking_anything(
    base: str, fake: FakeStatuses, context: CollectorContext
) -> None:
    fake.faults[ORIGINAL_ID] = [503] * 10
    results: list[RecheckResult] = []
    with pytest.raises(UpstreamUnavailable):
        for result in make(base, context).recheck(stored(ORIGINAL_ID, GONE_ID)):
            results.append(result)
    assert results == []
    fake.faults[ORIGINAL_ID] = [429] * 10
    with pytest.raises(RateLimited):
        list(make(base, context).recheck(stored(ORIGINAL_ID)))


def test_timeout_is_retried(base: str, fake: FakeStatuses, context: CollectorContext) -> None:
    fake.faults[ORIGINAL_ID] = ["slow"]
    posts, _ = flatten(list(make(base, context).recheck(stored(ORIGINAL_ID))))
    assert list(posts) == [EDITED["uri"]]


def test_malformed_answer_fails_that_status_only(
    base: str, fake: FakeStatuses, context: CollectorContext
) -> None:
    fake.faults[ORIGINAL_ID] = ["garbage"]
    fake.answers[PLAIN_ID] = {"unexpected": True}
    results: list[RecheckResult] = []
    with pytest.raises(PartialFailure) as raised:
        for result in make(base, context).recheck(stored(ORIGINAL_ID, PLAIN_ID, GONE_ID)):
            results.append(result)
    assert (
        EDITED["uri"] in raised.value.message and STATUSES[PLAIN_ID]["uri"] in raised.value.message
    )
    assert flatten(results) == ({}, [STATUSES[GONE_ID]["uri"]])


def test_a_boost_and_a_status_made_private(
    base: str, fake: FakeStatuses, context: CollectorContext
) -> None:
    fake.answers[PLAIN_ID] = dict(
        STATUSES[PLAIN_ID], visibility="private", edited_at="2026-03-03T08:00:00.000Z"
    )
    posts, deleted = flatten(list(make(base, context).recheck(stored(BOOST_ID, PLAIN_ID))))
    assert posts == {} and deleted == []  # nothing changed the boost; a private post is undecided


def test_a_bare_404_page_is_no_evidence_of_deletion(
    base: str, server: HTTPServer, context: CollectorContext
) -> None:
    """A proxy or a wrong base_url answers 404 with an HTML page, not Mastodon's JSON error."""
    server.expect_request(f"/api/v1/statuses/{GONE_ID}").respond_with_response(
        Response("<html><body><h1>404 Not Found</h1></body></html>", status=404)
    )
    results: list[RecheckResult] = []
    with pytest.raises(PartialFailure, match="recheck"):
        for result in make(base, context).recheck(stored(GONE_ID)):
            results.append(result)
    assert results == []
