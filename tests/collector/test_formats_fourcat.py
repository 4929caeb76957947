"""4CAT exports as 4CAT writes them.

The NDJSON fixtures hold the items as 4CAT stores them (digitalmethodsinitiative/4cat:
`datasources/telegram/search_telegram.py` serialize_obj of a Telethon message,
`datasources/bsky/search_bsky.py` `model_dump()` of an atproto postView, `4CAT_metadata`
last); the CSV fixtures are the same items through each datasource's `map_item`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.files import detect_format, open_export, reader_for
from collector.formats.fourcat import as_lexicon, hashtags_in_text, urls_in_text
from collector.post import Post

from .conftest import FIXTURES

BSKY_ROOT = "at://did:plc:fakeattacker00000000000001/app.bsky.feed.post/3lbench0000001"
BSKY_ECHO = "at://did:plc:fakeamplifier0000000000001/app.bsky.feed.post/3lbench0000002"


def read(path: Path, fmt: str | None = None) -> tuple[str, dict[str, Post], list[Any]]:
    with open_export(path) as export:
        fmt = fmt or detect_format(export)
        records = list(reader_for(fmt).read(export))
    posts = {r.post.post_id: r.post for r in records if r.post}
    return fmt, posts, [r.error for r in records if r.error]


@pytest.mark.parametrize("name", ["telegram.ndjson", "telegram.csv"])
def test_4cat_telegram(name: str) -> None:
    fmt, posts, errors = read(FIXTURES / "4cat" / name)
    assert errors == [] and fmt == ("4cat-ndjson" if name.endswith("ndjson") else "4cat-csv")
    assert sorted(posts) == [f"pravda_kz_example/{n}" for n in range(101, 106)]
    first = posts["pravda_kz_example/101"]
    assert first.author.id == "pravda_kz_example" and first.author.handle == "Pravda_KZ_Example"
    assert first.url == "https://t.me/Pravda_KZ_Example/101"
    assert first.created_at.isoformat() == "2026-03-02T10:15:00+00:00"  # not the server's time
    assert first.reply_to == "pravda_kz_example/99"
    assert first.links == ("https://example.kz/a1",)
    assert posts["pravda_kz_example/102"].mentions == ("kz_patriot_77",)
    photo = posts["pravda_kz_example/104"]  # a photo's caption is the message text
    assert photo.text.startswith("📸 Орманова на встрече с донорами")
    assert photo.links == ("https://example.org/report?utm_source=tg&id=7",)
    # t.me links: the channel's own post is navigation; entities_linked are names, not links
    linking = posts["pravda_kz_example/105"]
    assert linking.links == ("https://t.me/qazaq_echo_example",)
    assert posts["pravda_kz_example/103"].links == ()
    assert first.hashtags == ("грантоед",) and photo.hashtags == ("грантоед",)
    if name.endswith("ndjson"):
        # the forward's source, from the forward header: the post the web collector links to
        assert first.repost_of == "other_source_example/12"
        assert first.author.display_name == "Правда KZ"
        assert first.extra["provenance"]["forwarded_from_id"] == 1009876543
        assert orjson.loads(first.raw)["4CAT_metadata"]["query"] == "pravda_kz_example"
    else:
        assert linking.extra["provenance"]["linked_channels"] == [
            "qazaq_echo_example",
            "Pravda_KZ_Example",
        ]
        assert first.extra["provenance"]["forwarded_from_username"] == "other_source_example"


def test_4cat_telegram_ndjson_and_csv_agree() -> None:
    _, items, _ = read(FIXTURES / "4cat/telegram.ndjson")
    _, rows, _ = read(FIXTURES / "4cat/telegram.csv")
    for post_id, item in items.items():
        row = rows[post_id]
        assert (row.author.id, row.created_at, row.text) == (
            item.author.id,
            item.created_at,
            item.text,
        )
        assert (row.links, row.mentions, row.reply_to) == (item.links, item.mentions, item.reply_to)
        assert row.hashtags == item.hashtags


def test_4cat_bluesky_csv() -> None:
    _, posts, errors = read(FIXTURES / "4cat/bluesky.csv")
    assert errors == []
    root = posts[BSKY_ROOT]
    assert root.author.id == "did:plc:fakeattacker00000000000001"
    assert root.created_at.isoformat() == "2026-11-20T10:15:03.412000+00:00"
    assert root.author.created_at is not None and root.lang == "ru"
    assert root.links == ("https://example.kz/a1?utm_source=bsky",) and root.hashtags == (
        "грантоед",
    )
    echo = posts[BSKY_ECHO]
    assert echo.reply_to == BSKY_ROOT  # the web link of the thread's root, back to its URI
    assert echo.lang == "ru"
    deleted = posts["at://did:plc:fakeamplifier0000000000002/app.bsky.feed.post/3lbench0000003"]
    assert deleted.quote_of is None and deleted.lang is None  # "DELETED", "N/A"
    assert deleted.extra["provenance"]["quoted_post"] == "DELETED"
    # a reply to someone whose DID the CSV does not give keeps the web link
    assert deleted.reply_to == "https://bsky.app/profile/echo-1.bsky.social/post/3lbench0000002"
    own = posts["at://did:plc:fakeattacker00000000000001/app.bsky.feed.post/3lbench0000004"]
    assert own.reply_to == BSKY_ROOT  # the author's own post: the row's DID
    assert own.quote_of == "https://bsky.app/profile/echo-1.bsky.social/post/3lbench0000002"


def test_4cat_bluesky_ndjson_items_read_as_the_collector_reads_them() -> None:
    fmt, posts, errors = read(FIXTURES / "4cat/bluesky.ndjson")
    assert fmt == "4cat-ndjson" and errors == []
    root = posts[BSKY_ROOT]
    assert (
        root.url
        == "https://bsky.app/profile/did:plc:fakeattacker00000000000001/post/3lbench0000001"
    )
    assert root.links == ("https://example.kz/a1?utm_source=bsky",)
    assert root.author.display_name == "Правда KZ" and root.author.created_at is not None
    echo = posts[BSKY_ECHO]
    assert echo.reply_to == BSKY_ROOT and echo.mentions == ("pravda-kz-news.bsky.social",)
    deleted = posts["at://did:plc:fakeamplifier0000000000002/app.bsky.feed.post/3lbench0000003"]
    assert deleted.reply_to == BSKY_ECHO  # the item has the URI the CSV lost
    assert (
        deleted.quote_of
        == "at://did:plc:fakedeleted00000000000001/app.bsky.feed.post/3lgone00000001"
    )
    assert deleted.lang is None
    assert orjson.loads(root.raw)["4CAT_metadata"]["rank"] == 1  # stored as 4CAT had it
    _, rows, _ = read(FIXTURES / "4cat/bluesky.csv")
    for post_id, post in posts.items():
        assert (rows[post_id].text, rows[post_id].created_at) == (post.text, post.created_at)
        assert (rows[post_id].url, rows[post_id].links) == (post.url, post.links)


def test_a_long_item_is_recognised_from_its_first_keys(tmp_path: Path) -> None:
    line = (FIXTURES / "4cat/telegram.ndjson").read_text(encoding="utf-8").splitlines()[0]
    item = json.loads(line)
    item["_chat"]["about"] = "Новости " * 20_000  # a resolved channel's long description
    path = tmp_path / "dataset.ndjson"
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    fmt, posts, errors = read(path)
    assert fmt == "4cat-ndjson" and errors == [] and list(posts) == ["pravda_kz_example/101"]


def test_an_unknown_item_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dataset.ndjson"
    lines = (FIXTURES / "4cat/bluesky.ndjson").read_text(encoding="utf-8").splitlines()
    lines.insert(1, json.dumps({"video_id": "x1", "4CAT_metadata": {}}))
    broken = json.loads(lines[2])
    del broken["author"]["did"]
    lines[2] = json.dumps(broken)
    odd = json.loads(lines[3])
    odd["record"]["facets"] = {"features": "not a list"}
    lines[3] = json.dumps(odd)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, posts, errors = read(path, "4cat-ndjson")
    assert len(posts) == 2
    assert [(e.line, e.field) for e in errors] == [
        (2, "(record)"),
        (3, "author.did"),
        (4, "record"),
    ]


def test_helpers() -> None:
    assert urls_in_text("см. https://example.kz/a1, и www.example.org/b.") == [
        "https://example.kz/a1",
        "https://www.example.org/b",
    ]
    assert hashtags_in_text("#грантоед и #Qazaq_2026, не https://x.kz/#frag, не #2026") == [
        "грантоед",
        "Qazaq_2026",
    ]
    dumped = {
        "indexed_at": "t",
        "py_type": "x#y",
        "record": {"created_at": "t"},
        "4CAT_metadata": 1,
    }
    assert as_lexicon(dumped) == {
        "indexedAt": "t",
        "$type": "x#y",
        "record": {"createdAt": "t"},
        "4CAT_metadata": 1,
    }


def test_a_forward_with_resolved_references(tmp_path: Path) -> None:
    """4CAT's "resolve references" puts the channel's full info where the peer was."""
    item = json.loads(
        (FIXTURES / "4cat/telegram.ndjson").read_text(encoding="utf-8").split("\n")[0]
    )
    source = item["_forward"]["_chat"]
    full = {"full_chat": {"id": source["id"], "about": "Другие новости", "_type": "ChannelFull"}}
    resolved = {**full, "chats": [source], "users": [], "_type": "ChatFull"}
    item["fwd_from"]["from_id"] = {**resolved, "channel_id": source["id"]}
    item["peer_id"] = {**resolved, "chats": [item["_chat"]], "channel_id": item["_chat"]["id"]}
    item["_forward"] = None
    path = tmp_path / "resolved.ndjson"
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    _, posts, errors = read(path)
    assert errors == []
    assert posts["pravda_kz_example/101"].repost_of == "other_source_example/12"


def test_a_bad_csv_cell_names_line_and_field(tmp_path: Path) -> None:
    text = (FIXTURES / "4cat/telegram.csv").read_text(encoding="utf-8")
    path = tmp_path / "telegram.csv"
    path.write_text(text.replace(",1772524800,", ",вчера,", 1), encoding="utf-8")
    _, posts, errors = read(path)
    assert len(posts) == 4
    # the row of message 102 starts on line 5: message 101's text spans lines 2-4
    assert [(e.line, e.field) for e in errors] == [(5, "unix_timestamp")]
