"""Telegram web-preview collector against recorded-style `t.me/s/<channel>` pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext
from collector.errors import PartialFailure, UpstreamUnavailable
from collector.telegram import TelegramCollector, parse_channel_page, parse_count

from .conftest import NOW, fixture_text, hits

CH = "pravda_kz_example"
SINCE = NOW - timedelta(days=7)  # 2026-02-24 12:00 UTC


def _html(name: str, status: int = 200) -> Response:
    return Response(
        fixture_text("telegram", name), status=status, content_type="text/html; charset=utf-8"
    )


class FakeTelegram:
    def __init__(self, server: HTTPServer) -> None:
        self.befores: list[str | None] = []
        self.newest = "channel_page1.html"
        self.fail_next: list[int] = []
        server.expect_request(f"/s/{CH}").respond_with_handler(self.channel)
        server.expect_request("/s/private_example").respond_with_response(
            Response("", status=302, headers={"Location": "/private_example"})
        )
        server.expect_request("/private_example").respond_with_handler(
            lambda request: _html("no_preview.html")
        )
        server.expect_request("/s/empty_example").respond_with_handler(
            lambda request: _html("empty_channel.html")
        )

    def channel(self, request: Request) -> Response:
        if self.fail_next:
            status = self.fail_next.pop(0)
            headers = {"Retry-After": "0.01"} if status == 429 else {}
            return Response("Too Many Requests", status=status, headers=headers)
        before = request.args.get("before")
        self.befores.append(before)
        pages = {
            None: self.newest,
            "101": "channel_before_101.html",
            "95": "channel_before_95.html",
        }
        return _html(pages.get(before, "empty_channel.html"))


@pytest.fixture
def fake(server: HTTPServer) -> FakeTelegram:
    return FakeTelegram(server)


def make(base: str, context: CollectorContext, **overrides: Any) -> TelegramCollector:
    table = {"name": "tg-test", "platform": "telegram", "base_url": base, "channels": [CH]}
    table.update(overrides)
    return TelegramCollector(table, context)


def test_first_run_walks_back_to_the_horizon(
    base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert fake.befores == [None, "101", "95"]
    assert [[p.post_id for p in page.posts] for page in pages] == [
        [f"{CH}/101", f"{CH}/102", f"{CH}/103"],
        [f"{CH}/95", f"{CH}/99", f"{CH}/100"],
        [],  # message 90 is older than the horizon, message 1 is a service message
    ]
    first = pages[0].cursor["channels"][CH]
    assert first["hwm"] is None
    assert first["walk"] == {"next": 101, "top": 103, "floor": None}
    assert first["horizon"] == "2026-02-24T12:00:00.000000Z"
    last = pages[-1].cursor["channels"][CH]
    assert last == {"hwm": 103, "walk": None, "created_at": "2026-02-20T08:00:00+00:00"}


def test_message_mapping(base: str, fake: FakeTelegram, context: CollectorContext) -> None:
    page = next(make(base, context).fetch(None, since=SINCE))
    m101, m102, m103 = page.posts
    assert m101.text == "Кто стоит за Бахыт Орманова (Bakhyt Ormanova)? #грантоед\nexample.kz/a1"
    assert "NOT the post text" not in m101.text
    assert m101.created_at == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert m101.url == f"https://t.me/{CH}/101"
    assert m101.author.id == CH and m101.author.display_name == "Правда KZ"
    assert m101.repost_of == "other_source_example/12"
    assert m101.reply_to == f"{CH}/99"
    assert m101.hashtags == ("грантоед",)
    assert m101.links == ("https://example.kz/a1",)
    assert m101.extra["views"] == 1200
    assert m101.extra["forwarded_from"] == "Other Source"
    assert m101.raw.startswith('<div class="tgme_widget_message_wrap')
    assert m101.raw.endswith("</div>") and f'data-post="{CH}/101"' in m101.raw
    assert fixture_text("telegram", "channel_page1.html").count(m101.raw) == 1  # verbatim
    assert m102.mentions == ("kz_patriot_77",)
    assert m102.links == ()
    assert m103.links == ()  # the channel's own post link is not an outside link
    assert m103.extra["views"] == 1_100_000


def test_signature_emoji_and_line_breaks(
    base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    pages = list(make(base, context).fetch(None, since=SINCE))
    m95, m99, m100 = pages[1].posts
    assert m99.text == "Анна Кеслер снова выступила в Женеве.\n\nПодробности по ссылке"
    assert m99.links == ("https://example.kz/geneva?utm_source=tg",)
    assert m99.extra["signature"] == "Редактор Асан"
    assert m100.text == "Ерлан Темирханов и его «фонд» 👀 #грантоед"
    assert m95.extra["views"] == 845


def test_incremental_run_reads_only_new_messages(
    base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    cursor = {
        "channels": {CH: {"hwm": 103, "walk": None, "created_at": "2026-02-20T08:00:00+00:00"}}
    }
    fake.newest = "channel_page1_new.html"
    pages = list(make(base, context).fetch(cursor, since=SINCE))
    assert fake.befores == [None]
    assert [p.post_id for p in pages[0].posts] == [f"{CH}/104"]
    assert pages[0].posts[0].author.created_at == datetime(2026, 2, 20, 8, tzinfo=UTC)
    assert pages[0].cursor["channels"][CH]["hwm"] == 104


def test_interrupted_walk_resumes(base: str, fake: FakeTelegram, context: CollectorContext) -> None:
    first = next(make(base, context).fetch(None, since=SINCE))
    fake.befores.clear()
    # a later run with a later horizon still finishes the first walk to its own horizon
    pages = list(make(base, context).fetch(first.cursor, since=NOW))
    assert fake.befores == ["101", "95"]
    assert [p.post_id for p in pages[0].posts] == [f"{CH}/95", f"{CH}/99", f"{CH}/100"]
    assert pages[-1].cursor["channels"][CH]["hwm"] == 103


def test_channel_without_preview_does_not_stop_the_others(
    base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    collector = make(base, context, channels=["private_example", f"https://t.me/s/{CH}"])
    pages = []
    with pytest.raises(PartialFailure, match="private_example.*no public web preview"):
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert len(pages) == 3


def test_empty_channel(base: str, fake: FakeTelegram, context: CollectorContext) -> None:
    pages = list(make(base, context, channels=["empty_example"]).fetch(None, since=SINCE))
    assert len(pages) == 1 and pages[0].posts == ()
    assert pages[0].cursor["channels"]["empty_example"]["walk"] is None


def test_429_and_5xx_are_retried(
    base: str, fake: FakeTelegram, server: HTTPServer, context: CollectorContext
) -> None:
    fake.fail_next = [429, 502]
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert len(pages) == 3
    assert hits(server, f"/s/{CH}") == 5


def test_persistent_outage_fails_the_source(
    base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    fake.fail_next = [503] * 10
    with pytest.raises(UpstreamUnavailable):
        list(make(base, context, channels=[CH, "empty_example"]).fetch(None, since=SINCE))


def test_parse_count() -> None:
    assert parse_count("1.2K") == 1200
    assert parse_count("12.3M") == 12_300_000
    assert parse_count("987") == 987
    assert parse_count("") is None


def test_parse_page_more_link() -> None:
    page = parse_channel_page(fixture_text("telegram", "channel_page1.html"))
    assert page.before == 101 and page.title == "Правда KZ"
    assert [m.message_id for m in page.messages] == [101, 102, 103]


def test_changed_page_layout_is_reported_as_such(
    server: HTTPServer, base: str, fake: FakeTelegram, context: CollectorContext
) -> None:
    """Telegram redesigns its preview: a clear "not a channel preview page" for that channel,
    and the healthy channel is still collected."""
    redesigned = (
        "<html><body><div class='tg-feed-v2'><article data-id='7'>Бахыт Орманова</article>"
        "</div></body></html>"
    )
    server.expect_request("/s/redesigned_example").respond_with_response(
        Response(redesigned, status=200, content_type="text/html; charset=utf-8")
    )
    collector = make(base, context, channels=["redesigned_example", CH])
    pages = []
    with pytest.raises(PartialFailure, match="redesigned_example.*not a channel preview page"):
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert pages and all(p.posts[0].post_id.startswith(CH) for p in pages if p.posts)
