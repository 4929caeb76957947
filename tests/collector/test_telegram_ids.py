"""One Telegram message is one post whichever way it arrives: the web preview, a Telegram
Desktop export, a 4CAT export. Usernames are case-insensitive and each source spells them its
own way, so all of them go through `collector.post.telegram_post_id`."""

from __future__ import annotations

from datetime import timedelta

from pytest_httpserver import HTTPServer
from werkzeug import Response

from collector.base import CollectorContext
from collector.files import open_export, reader_for
from collector.post import Post, telegram_channel, telegram_post_id
from collector.telegram import TelegramCollector

from .conftest import FIXTURES, NOW, fixture_text


def test_the_canonical_spelling() -> None:
    assert telegram_channel("@Pravda_KZ_Example ") == "pravda_kz_example"
    assert telegram_post_id("Pravda_KZ_Example", 101) == "pravda_kz_example/101"


def _web_posts(server: HTTPServer, base: str, context: CollectorContext) -> list[Post]:
    # t.me writes the username as its owner set it, whatever the spelling in the request
    page = fixture_text("telegram", "channel_page1.html").replace(
        "pravda_kz_example/", "Pravda_KZ_Example/"
    )
    server.expect_request("/s/pravda_kz_example").respond_with_response(
        Response(page, content_type="text/html; charset=utf-8")
    )
    table = {
        "name": "tg",
        "platform": "telegram",
        "base_url": base,
        "channels": ["pravda_kz_example"],
        "max_pages": 1,
    }
    collector = TelegramCollector(table, context)
    pages = list(collector.fetch(None, since=NOW - timedelta(days=30)))
    return [post for page in pages for post in page.posts]


def _desktop_posts(channel: str) -> list[Post]:
    path = FIXTURES / "telegram_desktop/pravda_kz_example_result.json"
    with open_export(path) as export:
        records = list(reader_for("telegram-desktop", channel=channel).read(export))
    assert [r.error for r in records if r.error] == []
    return [r.post for r in records if r.post]


def test_desktop_export_and_web_collector_give_the_same_posts(
    server: HTTPServer, base: str, context: CollectorContext
) -> None:
    web = {p.post_id: p for p in _web_posts(server, base, context)}
    desktop = {p.post_id: p for p in _desktop_posts("@pravda_KZ_example")}
    assert {("telegram", i) for i in web} == {("telegram", i) for i in desktop}
    assert sorted(web) == [
        "pravda_kz_example/101",
        "pravda_kz_example/102",
        "pravda_kz_example/103",
    ]
    for post_id, from_web in web.items():
        from_export = desktop[post_id]
        assert from_export.author.id == from_web.author.id == "pravda_kz_example"
        assert from_export.created_at == from_web.created_at
        assert from_export.text == from_web.text
        assert from_export.links == from_web.links  # own-post links left out by both
        assert from_export.hashtags == from_web.hashtags
        assert from_export.mentions == from_web.mentions
        assert from_export.reply_to == from_web.reply_to
    assert web["pravda_kz_example/101"].reply_to == "pravda_kz_example/99"
    forwarded = desktop["pravda_kz_example/101"].extra["provenance"]
    assert forwarded["forwarded_from"] == "Other Source"
    assert forwarded["forwarded_from_id"] == "channel1009876543"


def test_4cat_exports_give_the_web_collectors_posts(
    server: HTTPServer, base: str, context: CollectorContext
) -> None:
    web = {p.post_id: p for p in _web_posts(server, base, context)}
    for name in ("telegram.ndjson", "telegram.csv"):
        with open_export(FIXTURES / "4cat" / name) as export:
            fmt = "4cat-ndjson" if name.endswith("ndjson") else "4cat-csv"
            fourcat = {r.post.post_id: r.post for r in reader_for(fmt).read(export) if r.post}
        assert set(web) <= set(fourcat), name
        for post_id, from_web in web.items():
            item = fourcat[post_id]
            assert (item.author.id, item.created_at, item.text) == (
                from_web.author.id,
                from_web.created_at,
                from_web.text,
            )
            assert (item.links, item.mentions, item.reply_to) == (
                from_web.links,
                from_web.mentions,
                from_web.reply_to,
            )
        if fmt == "4cat-ndjson":
            assert (
                fourcat["pravda_kz_example/101"].repost_of == web["pravda_kz_example/101"].repost_of
            )
