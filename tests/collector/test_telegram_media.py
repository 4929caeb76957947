"""Telegram media posts (photo, video, album captions), forwards, the edited marker and the
double-escaped `&amp;` in t.me hrefs, against a page of the real widget's shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from collector.base import CollectorContext
from collector.post import Post, normalize_url
from collector.telegram import TelegramCollector, decode_href

from .conftest import NOW, fixture_text

CH = "qazaq_vesti_example"


@pytest.fixture
def posts(server: HTTPServer, base: str, context: CollectorContext) -> dict[int, Post]:
    server.expect_request(f"/s/{CH}").respond_with_response(
        Response(
            fixture_text("telegram", "channel_media.html"),
            content_type="text/html; charset=utf-8",
        )
    )
    table = {"name": "tg-media", "platform": "telegram", "base_url": base, "channels": [CH]}
    cursor = {"channels": {CH: {"hwm": 200, "walk": None}}}
    pages = list(TelegramCollector(table, context).fetch(cursor, since=NOW - timedelta(days=7)))
    return {int(p.post_id.rpartition("/")[2]): p for page in pages for p in page.posts}


def test_photo_caption_is_the_text(posts: dict[int, Post]) -> None:
    photo = posts[201]
    assert photo.text.startswith("Бахыт Орманова на «закрытой встрече» с донорами 📷 #грантоед")
    assert "Толығырақ: news.example.kz/2026/03/ormanova-donors" in photo.text
    assert photo.hashtags == ("грантоед", "қазақстан")
    assert photo.mentions == ("dala_insider_example",)
    assert photo.extra["media"] == ["photo"]
    assert "edited" not in photo.extra


def test_video_and_album_captions(posts: dict[int, Post]) -> None:
    video, album = posts[202], posts[203]
    assert video.text == (
        "Видео: Ерлан Темирханов объясняет, откуда деньги у «правозащитников» 🎥\n"
        "Смотрите до конца #грантоед"
    )
    assert video.hashtags == ("грантоед",)
    assert video.created_at == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)  # not the 0:42 duration
    assert video.extra["media"] == ["video"]
    assert album.text == "Фотоотчёт: пикет у здания суда, среди участников Орманова и Темирханов"
    assert album.extra["media"] == ["album"]
    assert album.links == ()  # the members' `?single` links are not outside links


def test_media_without_caption_and_reply_to_a_photo(posts: dict[int, Post]) -> None:
    assert posts[209].text == "" and posts[209].extra["media"] == ["photo"]
    reply = posts[208]
    assert reply.text == "Ещё один кадр с той встречи. Орманова делает вид, что не видит камеру"
    assert reply.reply_to == f"{CH}/201"
    assert "Photo" not in reply.text


def test_double_escaped_ampersands_are_decoded_once(posts: dict[int, Post]) -> None:
    photo = posts[201]
    assert photo.links == (
        "https://news.example.kz/2026/03/ormanova-donors?id=512&utm_source=telegram"
        "&utm_medium=social",
    )
    assert normalize_url(photo.links[0]) == "https://news.example.kz/2026/03/ormanova-donors?id=512"
    # the same link in the text and in the preview is one link once decoded
    assert posts[207].links == ("https://example.kz/kesler?page=2&utm_campaign=spring&s=1",)
    assert normalize_url(posts[207].links[0]) == "https://example.kz/kesler?page=2&s=1"
    assert all("&amp;" not in link for p in posts.values() for link in p.links)


def test_decode_href_decodes_once_and_only_ampersands() -> None:
    assert decode_href("https://a.example/?x=1&amp;y=2") == "https://a.example/?x=1&y=2"
    assert (
        decode_href("https://a.example/?x=1&#38;y=2&#x26;z=3") == "https://a.example/?x=1&y=2&z=3"
    )
    assert decode_href("https://a.example/?q=a&amp;amp;b") == "https://a.example/?q=a&amp;b"
    assert decode_href("https://a.example/?a=1&copy=2") == "https://a.example/?a=1&copy=2"
    assert decode_href(None) == ""


def test_forwarded_media_post_keeps_the_original_and_its_source(posts: dict[int, Post]) -> None:
    fwd = posts[206]
    assert fwd.text == "Документы фонда Ормановой: docs.example.org/fund/report.pdf #грантоед"
    assert fwd.links == ("https://docs.example.org/fund/report.pdf?ref=tg&fbclid=IwAR0fictional",)
    assert normalize_url(fwd.links[0]) == "https://docs.example.org/fund/report.pdf?ref=tg"
    assert fwd.repost_of == "dala_insider_example/88"
    assert fwd.extra["forwarded_from"] == "Dala Insider"
    assert fwd.extra["forwarded_from_url"] == "https://t.me/dala_insider_example/88"
    assert fwd.extra["forwarded_from_author"] == "Марат С."
    assert fwd.author.id == CH


def test_forward_from_a_hidden_user(posts: dict[int, Post]) -> None:
    fwd = posts[207]
    assert fwd.text.startswith("Кто платит Anna Kesler?")
    assert fwd.repost_of is None  # a person's hidden account has no post to point at
    assert fwd.extra["forwarded_from"] == "Aigerim Example"
    assert "forwarded_from_url" not in fwd.extra


def test_edited_marker(posts: dict[int, Post]) -> None:
    assert posts[202].extra["edited"] is True
    assert posts[208].extra["edited"] is True
    assert [i for i, p in sorted(posts.items()) if p.extra.get("edited")] == [202, 208]
