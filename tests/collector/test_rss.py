"""RSS/Atom collector: conditional GET against a local server, feedparser for parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.base import CollectorContext
from collector.errors import MalformedResponse, PartialFailure
from collector.rss import RssCollector

from .conftest import NOW, fixture_text, hits

SINCE = NOW - timedelta(days=7)
ETAG = '"a1b2c3"'
LAST_MODIFIED = "Mon, 02 Mar 2026 10:20:00 GMT"


class FakeFeeds:
    def __init__(self, server: HTTPServer) -> None:
        self.conditional: list[dict[str, str | None]] = []
        self.honour_validators = True
        self.fail_next: list[int] = []
        server.expect_request("/feed.xml").respond_with_handler(self.news)
        server.expect_request("/atom.xml").respond_with_handler(
            lambda r: Response(fixture_text("rss", "atom.xml"), content_type="application/atom+xml")
        )
        server.expect_request("/broken.xml").respond_with_handler(
            lambda r: Response(fixture_text("rss", "broken.xml"), content_type="text/xml")
        )

    def news(self, request: Request) -> Response:
        if self.fail_next:
            return Response("busy", status=self.fail_next.pop(0), headers={"Retry-After": "0"})
        self.conditional.append(
            {
                "etag": request.headers.get("If-None-Match"),
                "since": request.headers.get("If-Modified-Since"),
            }
        )
        if self.honour_validators and request.headers.get("If-None-Match") == ETAG:
            return Response(status=304, headers={"ETag": ETAG})
        return Response(
            fixture_text("rss", "news.xml"),
            content_type="application/rss+xml; charset=utf-8",
            headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED},
        )


@pytest.fixture
def fake(server: HTTPServer) -> FakeFeeds:
    return FakeFeeds(server)


def make(base: str, context: CollectorContext, **overrides: Any) -> RssCollector:
    table = {"name": "news", "platform": "rss", "feeds": [f"{base}/feed.xml"]}
    table.update(overrides)
    return RssCollector(table, context)


def test_first_poll_maps_entries_and_stores_validators(
    base: str, fake: FakeFeeds, context: CollectorContext
) -> None:
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert len(pages) == 1
    page = pages[0]
    assert page.status == 200
    feed = f"{base}/feed.xml"
    assert page.cursor["feeds"][feed] == {
        "etag": ETAG,
        "last_modified": LAST_MODIFIED,
        "hwm": "2026-03-02T10:00:00.000000Z",
    }
    a1, a2 = page.posts  # the entry from February 10 is older than the horizon
    assert a1.post_id == f"{feed}#example-kz-a1"  # a feed-local guid is namespaced
    assert a1.created_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # +0500 → UTC
    assert a1.text == (
        "«Грантоеды» среди нас\n\nПравозащитница Бахыт Орманова (Bakhyt Ormanova)"
        " снова получила грант.\n\nЧитайте полный текст."
    )
    assert a1.links == ("https://example.kz/a1?utm_source=rss", "https://example.kz/a1/full")
    assert a1.lang == "ru"
    assert a1.author.id == feed and a1.author.display_name == "Example KZ News"
    assert a1.extra["byline"] == "Редакция" and a1.extra["categories"] == ("общество",)
    assert a1.raw.startswith("<item>") and a1.raw.endswith("</item>")
    assert a1.raw in fixture_text("rss", "news.xml")  # verbatim
    assert a2.post_id == "https://example.kz/a2"
    assert a2.text == "Темирханов: кто платит?\n\nЕрлан Темирханов & «иностранные агенты»"
    assert a2.links == ("https://example.kz/a2", "https://example.kz/media/a2.mp3")


def test_second_poll_is_conditional_and_304_keeps_the_cursor(
    base: str, fake: FakeFeeds, context: CollectorContext
) -> None:
    collector = make(base, context)
    first = list(collector.fetch(None, since=SINCE))[-1]
    second = list(collector.fetch(first.cursor, since=SINCE))
    assert fake.conditional[-1] == {"etag": ETAG, "since": LAST_MODIFIED}
    assert len(second) == 1
    assert second[0].status == 304 and second[0].posts == ()
    assert second[0].cursor == first.cursor


def test_server_ignoring_validators_yields_every_entry_again(
    base: str, fake: FakeFeeds, context: CollectorContext
) -> None:
    fake.honour_validators = False
    collector = make(base, context)
    first = list(collector.fetch(None, since=SINCE))[-1]
    again = list(collector.fetch(first.cursor, since=SINCE))[-1]
    # after the first poll nothing is filtered by date: the store deduplicates
    assert len(again.posts) == 3


def test_atom_feed(base: str, fake: FakeFeeds, context: CollectorContext) -> None:
    page = next(make(base, context, feeds=[f"{base}/atom.xml"]).fetch(None, since=SINCE))
    dated, undated = page.posts
    assert dated.post_id == "tag:patriot-blog.example,2026:post-17"
    assert dated.created_at == datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    assert dated.text == (
        "Орманова және гранттар\n\nБахыт Орманова шетелдік гранттар алады.\nДереккөз: Правда KZ"
    )
    assert "https://pravda-kz.example/x/1" in dated.links
    assert dated.extra["byline"] == "Асан"
    assert dated.raw.startswith("<entry>")
    assert undated.post_id == f"{base}/post-18"  # feedparser resolves a relative Atom id
    assert undated.created_at == NOW and undated.extra["date_missing"] is True


def test_broken_feed_is_a_partial_failure(
    base: str, fake: FakeFeeds, context: CollectorContext
) -> None:
    collector = make(base, context, feeds=[f"{base}/broken.xml", f"{base}/feed.xml"])
    pages = []
    with pytest.raises(PartialFailure) as info:
        for page in collector.fetch(None, since=SINCE):
            pages.append(page)
    assert len(pages) == 1 and len(pages[0].posts) == 2
    error = info.value.errors[f"{base}/broken.xml"]
    assert isinstance(error, MalformedResponse) and "not a readable RSS/Atom feed" in str(error)


def test_503_is_retried(
    base: str, fake: FakeFeeds, server: HTTPServer, context: CollectorContext
) -> None:
    fake.fail_next = [503]
    pages = list(make(base, context).fetch(None, since=SINCE))
    assert pages[0].status == 200 and hits(server, "/feed.xml") == 2


def test_relative_feeds_resolve_against_base_url(base: str, context: CollectorContext) -> None:
    collector = make(base, context, base_url=base, feeds=["feed.xml", "/atom.xml"])
    assert collector.feeds == (f"{base}/feed.xml", f"{base}/atom.xml")
