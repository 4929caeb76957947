"""Telegram recheck: re-reading the pages that cover recently stored messages, against a local
server serving t.me-shaped pages; edits come back as posts, gaps between present neighbours as
deletions, and faults follow the collector's failure rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext, RecheckResult, StoredPost
from collector.errors import PartialFailure, UpstreamUnavailable
from collector.telegram import TelegramCollector

from .conftest import fixture_text, hits

CH = "qazaq_vesti_example"
STORED_IDS = (201, 202, 203, 206, 207, 208, 209)


def stored(*numbers: int, channel: str = CH) -> list[StoredPost]:
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    return [StoredPost(f"{channel}/{n}", when, f"https://t.me/{channel}/{n}") for n in numbers]


class FakeChannel:
    """`/s/<CH>`: the newest page, `?before=203` the one below it; faults on demand."""

    def __init__(self, server: HTTPServer) -> None:
        self.befores: list[str | None] = []
        self.fail_next: list[int | str] = []
        server.expect_request(f"/s/{CH}").respond_with_handler(self.handle)
        server.expect_request("/s/gone_private_example").respond_with_response(
            Response("", status=302, headers={"Location": "/gone_private_example"})
        )
        server.expect_request("/gone_private_example").respond_with_response(
            Response(fixture_text("telegram", "no_preview.html"), content_type="text/html")
        )

    def handle(self, request: Request) -> Response:
        if self.fail_next:
            fault = self.fail_next.pop(0)
            if fault == "slow":
                time.sleep(1.5)  # beyond the client's 1 s timeout
            elif fault == "garbage":
                return Response("<html><body>502 Bad Gateway</body></html>", status=200)
            else:
                headers = {"Retry-After": "0.01"} if fault == 429 else {}
                return Response("busy", status=int(fault), headers=headers)
        before = request.args.get("before")
        self.befores.append(before)
        name = {None: "recheck_newest.html", "203": "recheck_before_203.html"}.get(
            before, "empty_channel.html"
        )
        return Response(fixture_text("telegram", name), content_type="text/html; charset=utf-8")


@pytest.fixture
def fake(server: HTTPServer) -> FakeChannel:
    return FakeChannel(server)


def make(base: str, context: CollectorContext, **overrides: Any) -> TelegramCollector:
    table = {"name": "tg-recheck", "platform": "telegram", "base_url": base, "channels": [CH]}
    table.update(overrides)
    return TelegramCollector(table, context)


def summary(results: list[RecheckResult]) -> tuple[dict[str, Any], list[str]]:
    posts = {p.post_id: p for r in results for p in r.posts}
    deleted = [d for r in results for d in r.deleted]
    return posts, deleted


def test_edits_come_back_and_gaps_between_neighbours_are_deletions(
    base: str, fake: FakeChannel, context: CollectorContext
) -> None:
    results = list(make(base, context).recheck(stored(*STORED_IDS)))
    assert fake.befores == [None, "203"]  # stops once the oldest stored id is covered
    posts, deleted = summary(results)
    assert sorted(deleted) == [f"{CH}/201", f"{CH}/206"]
    assert sorted(posts) == [f"{CH}/{n}" for n in (202, 203, 207, 208, 209)]
    assert posts[f"{CH}/208"].text == "Ещё один кадр с той встречи."
    assert posts[f"{CH}/208"].extra["edited"] is True
    assert f"{CH}/210" not in posts  # a message nobody stored is not the recheck's business
    # 206 is decided on the first page (between album member 205 and 207), 201 on the second
    assert [list(r.deleted) for r in results] == [[f"{CH}/206"], [f"{CH}/201"]]
    assert results[0].request_url.endswith(f"/s/{CH}") and results[0].status == 200


def test_album_members_and_the_newest_message_are_not_taken_for_deletions(
    base: str, fake: FakeChannel, context: CollectorContext
) -> None:
    # 204 and 205 have no widget of their own (album members); 211 is above every message
    # shown, so nothing says whether it is gone or not published yet
    results = list(make(base, context).recheck(stored(203, 204, 205, 211)))
    posts, deleted = summary(results)
    assert deleted == []
    assert list(posts) == [f"{CH}/203"]
    assert fake.befores == [None]


def test_a_walk_cut_short_decides_nothing_below_it(
    base: str, fake: FakeChannel, context: CollectorContext
) -> None:
    results = list(make(base, context, max_pages=1).recheck(stored(*STORED_IDS)))
    posts, deleted = summary(results)
    assert deleted == [f"{CH}/206"]  # 201 and 202 were not reached: undecided, not deleted
    assert f"{CH}/202" not in posts


def test_429_and_5xx_are_retried(
    base: str, server: HTTPServer, fake: FakeChannel, context: CollectorContext
) -> None:
    fake.fail_next = [429, 503]
    results = list(make(base, context).recheck(stored(*STORED_IDS)))
    assert sorted(summary(results)[1]) == [f"{CH}/201", f"{CH}/206"]
    assert hits(server, f"/s/{CH}") == 4


def test_persistent_outage_fails_the_source_and_deletes_nothing(
    base: str, fake: FakeChannel, context: CollectorContext
) -> None:
    fake.fail_next = [502] * 10
    with pytest.raises(UpstreamUnavailable):
        list(make(base, context).recheck(stored(*STORED_IDS)))


def test_timeouts_are_retried(base: str, fake: FakeChannel, context: CollectorContext) -> None:
    fake.fail_next = ["slow"]
    results = list(make(base, context).recheck(stored(*STORED_IDS)))
    assert sorted(summary(results)[1]) == [f"{CH}/201", f"{CH}/206"]


def test_malformed_page_and_lost_preview_fail_their_channel_only(
    base: str, fake: FakeChannel, context: CollectorContext
) -> None:
    collector = make(base, context, channels=["gone_private_example", CH])
    fake.fail_next = ["garbage"]
    results: list[RecheckResult] = []
    items = stored(5, 6, channel="gone_private_example") + stored(*STORED_IDS)
    with pytest.raises(PartialFailure) as raised:
        for result in collector.recheck(items):
            results.append(result)
    message = raised.value.message
    assert "gone_private_example" in message and "no public web preview" in message
    assert f"recheck {CH}" in message and "not a channel preview page" in message
    assert summary(results)[1] == []  # neither failure is evidence of a deletion


def test_recheck_is_a_declared_setting(base: str, context: CollectorContext) -> None:
    from datetime import timedelta

    from collector.base import example_toml
    from collector.errors import SettingsError
    from collector.rss import RssCollector

    assert make(base, context).config["recheck"] == timedelta(hours=48)
    assert make(base, context, recheck="6h").config["recheck"] == timedelta(hours=6)
    assert not make(base, context, recheck="0s").config["recheck"]
    with pytest.raises(SettingsError, match="'recheck'.*unreadable duration"):
        make(base, context, recheck="soon")
    assert '# recheck = "2d"' in example_toml(TelegramCollector)
    assert "recheck" not in example_toml(RssCollector)  # feeds cannot be re-read per post


def test_channels_no_longer_configured_are_not_read(
    base: str, server: HTTPServer, fake: FakeChannel, context: CollectorContext
) -> None:
    results = list(make(base, context).recheck(stored(5, 6, channel="dropped_example")))
    assert results == [] and hits(server, "/s/dropped_example") == 0
