"""The tools' export formats: detection, mapping to posts, and errors naming line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from collector.files import FORMATS, ImportFormatError, detect_format, open_export, reader_for
from collector.formats.mapping import ColumnMapping
from collector.post import Post

from .conftest import FIXTURES


def read(path: Path, fmt: str | None = None, **options: object) -> tuple[str, list, list]:
    with open_export(path) as export:
        fmt = fmt or detect_format(export)
        reader = reader_for(fmt, **options)
        records = list(reader.read(export))
    posts = [r.post for r in records if r.post is not None]
    errors = [r.error for r in records if r.error is not None]
    return fmt, posts, errors


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("twarc2/search_pages.jsonl", "twarc2-jsonl"),
        ("twarc2/tweets.csv", "twarc2-csv"),
        ("4cat/bluesky.csv", "4cat-csv"),
        ("4cat/telegram.csv", "4cat-csv"),
        ("4cat/telegram.ndjson", "4cat-ndjson"),
        ("4cat/bluesky.ndjson", "4cat-ndjson"),
        ("telegram_desktop/result.json", "telegram-desktop"),
        ("meta_content_library/facebook_posts.csv", "meta-content-library"),
        ("crowdtangle/facebook.csv", "crowdtangle-facebook"),
        ("crowdtangle/instagram.csv", "crowdtangle-instagram"),
    ],
)
def test_detects_each_format(path: str, fmt: str) -> None:
    with open_export(FIXTURES / path) as export:
        assert detect_format(export) == fmt


def by_id(posts: list[Post]) -> dict[str, Post]:
    return {p.post_id: p for p in posts}


def test_twarc2_jsonl_pages_and_flattened_lines() -> None:
    _, posts, errors = read(FIXTURES / "twarc2/search_pages.jsonl")
    assert errors == []
    found = by_id(posts)
    assert list(found) == ["1861234567890123456", "1861234567890123457", "1861234567890123458"]
    first = found["1861234567890123456"]
    assert first.platform == "x"
    assert first.author.handle == "pravda_kz_bot" and first.author.display_name == "Правда KZ"
    assert first.author.created_at is not None
    assert first.url == "https://x.com/pravda_kz_bot/status/1861234567890123456"
    assert first.hashtags == ("грантоед",)
    assert first.links == ("https://example.kz/news/1?utm_source=x",)
    raw = orjson.loads(first.raw)
    assert raw["author"]["username"] == "pravda_kz_bot" and "__twarc" in raw
    assert found["1861234567890123457"].repost_of == "1861234567890000001"
    assert found["1861234567890123457"].mentions == ("pravda_kz_bot",)
    assert found["1861234567890123458"].reply_to == "1861234567890123456"
    assert found["1861234567890123458"].author.handle == "anna_kesler_fan"


def test_twarc2_csv() -> None:
    _, posts, errors = read(FIXTURES / "twarc2/tweets.csv")
    assert errors == []
    found = by_id(posts)
    assert found["1861234567890123456"].hashtags == ("грантоед",)
    assert found["1861234567890123456"].links == ("https://example.kz/news/1",)
    quote = found["1861234567890123459"]
    assert quote.quote_of == "1861234567890123456" and quote.mentions == ("pravda_kz_bot",)
    assert quote.text == 'Anna Kesler: "this is a smear campaign"'
    assert orjson.loads(quote.raw)["author.username"] == "qazaq_voice_77"


def test_4cat_unknown_datasource_needs_a_platform() -> None:
    _, posts, errors = read(FIXTURES / "4cat/unknown_datasource.csv")
    assert posts == [] and errors[0].line == 2 and "--platform" in errors[0].message
    _, posts, errors = read(FIXTURES / "4cat/unknown_datasource.csv", platform="vk")
    assert errors == [] and posts[0].platform == "vk"


def test_telegram_desktop_export() -> None:
    _, posts, errors = read(FIXTURES / "telegram_desktop/result.json", channel="pravda_kz_example")
    assert errors == []
    assert [p.post_id for p in posts] == ["pravda_kz_example/101", "pravda_kz_example/102"]
    first, second = posts
    assert first.created_at.isoformat() == "2026-11-20T10:15:03+00:00"
    assert first.links == ("https://example.kz/news/7",)
    assert second.text == "Кто платит @ormanova_kz? #грантоед источник, спросите Анну Кеслер"
    assert second.mentions == ("ormanova_kz",) and second.hashtags == ("грантоед",)
    assert second.links == ("https://example.org/leak?utm_source=tg",)
    assert second.reply_to == "pravda_kz_example/101"
    assert second.extra["provenance"]["forwarded_from"] == "Qazaq Echo"
    assert orjson.loads(second.raw)["id"] == 102
    # without the username the channel id keeps the ids stable
    _, posts, _ = read(FIXTURES / "telegram_desktop/result.json")
    assert posts[0].post_id == "c1987654321/101"


def test_telegram_desktop_errors_name_the_line(tmp_path: Path) -> None:
    text = (FIXTURES / "telegram_desktop/result.json").read_text(encoding="utf-8")
    broken = tmp_path / "result.json"
    broken.write_text(text.replace('"date_unixtime": "1795170000",', ""), encoding="utf-8")
    _, posts, errors = read(broken, "telegram-desktop")
    assert len(posts) == 1
    assert errors[0].field == "date_unixtime" and errors[0].line == 29
    truncated = tmp_path / "cut.json"
    truncated.write_text(text[: len(text) // 2 + 40], encoding="utf-8")
    with pytest.raises(ImportFormatError, match="line"):
        read(truncated, "telegram-desktop")


def test_meta_content_library() -> None:
    _, posts, errors = read(FIXTURES / "meta_content_library/facebook_posts.csv")
    assert errors == []
    first, second = posts
    assert first.platform == "facebook" and first.author.id == "112233445566"
    assert first.links == ("https://example.kz/news/7",)
    assert second.repost_of == "998877665544332211" and second.text == ""


def test_crowdtangle_facebook_and_instagram() -> None:
    _, posts, errors = read(FIXTURES / "crowdtangle/facebook.csv")
    assert errors == []
    post = posts[0]
    assert post.post_id == "112233445566_556677889900"
    assert post.created_at.isoformat() == "2024-03-01T21:00:03+00:00"  # EST
    _, posts, errors = read(FIXTURES / "crowdtangle/instagram.csv")
    assert errors == []
    assert posts[0].post_id == "C4bench0001" and posts[0].platform == "instagram"
    assert posts[0].created_at.isoformat() == "2024-03-02T08:30:00+00:00"  # CET


def test_custom_mapping() -> None:
    mapping = ColumnMapping.from_pairs(
        "cli",
        [
            "post_id=post_uid",
            "author_id=channel",
            "created_at=posted",
            "text=content",
            "links=links",
        ],
        platform="telegram",
        zone="+05:00",
    )
    _, posts, errors = read(FIXTURES / "custom/junkipedia_like.csv", "custom", mapping=mapping)
    assert errors == []
    assert posts[0].created_at.isoformat() == "2026-11-20T10:15:03+00:00"
    assert posts[0].links == ("https://example.kz/a", "https://example.kz/b")
    assert posts[1].links == ()


def test_custom_mapping_errors() -> None:
    with pytest.raises(ValueError, match="required field"):
        ColumnMapping.from_pairs("cli", ["text=content"], platform="telegram")
    with pytest.raises(ValueError, match="--platform"):
        ColumnMapping.from_pairs("cli", ["post_id=a", "author_id=b", "created_at=c"])
    mapping = ColumnMapping.from_pairs(
        "cli", ["post_id=post_uid", "author_id=channel", "created_at=posted"], platform="tg"
    )
    _, posts, errors = read(FIXTURES / "custom/junkipedia_like.csv", "custom", mapping=mapping)
    assert posts == [] and errors[0].line == 2 and errors[0].field == "posted"
    assert "time zone" in errors[0].message
    missing = ColumnMapping.from_pairs(
        "cli", ["post_id=nope", "author_id=channel", "created_at=posted"], platform="tg"
    )
    with pytest.raises(ImportFormatError, match="nope"):
        read(FIXTURES / "custom/junkipedia_like.csv", "custom", mapping=missing)


def test_bad_records_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    lines = (FIXTURES / "twarc2/tweets.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("2026-11-20T10:25:00.000Z", "yesterday")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, posts, errors = read(path)
    assert len(posts) == 2
    assert (errors[0].line, errors[0].field) == (3, "created_at")
    ndjson = tmp_path / "x.ndjson"
    shutil.copy(FIXTURES / "4cat/telegram.ndjson", ndjson)
    with ndjson.open("a", encoding="utf-8") as handle:
        handle.write('{"id": 7, "peer_id": {"channel_id": 5, "_type": "PeerChannel"}, ')
        handle.write('"date": "yesterday", "message": "x", "4CAT_metadata": {}}\n')
    _, posts, errors = read(ndjson)
    assert len(posts) == 5 and (errors[0].line, errors[0].field) == (6, "date")


def test_every_format_is_listed_with_a_description() -> None:
    assert {"twarc2-jsonl", "twarc2-csv", "4cat-csv", "4cat-ndjson", "telegram-desktop"} <= set(
        FORMATS
    )
    assert all(reader.description for reader in FORMATS.values())
