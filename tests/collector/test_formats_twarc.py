"""twarc2 JSONL pages as `twarc2 search` writes them (large, `__twarc` last) and twarc-csv.

The page is built here in the shape of a real one (DocNow/twarc `_write` is `json.dumps` with
its defaults: ASCII escapes, ", " and ": " separators; a search page has up to 100 tweets and
`includes.users`, `includes.tweets`, `includes.media`, then `meta`, then `__twarc`).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson

from collector.files import detect_format, open_export, reader_for
from collector.formats.base import HEAD_BYTES
from collector.post import Post

from .conftest import FIXTURES

SEARCH_URL = (
    "https://api.x.com/2/tweets/search/recent?expansions=author_id%2Creferenced_tweets.id"
    "%2Creferenced_tweets.id.author_id%2Centities.mentions.username%2Cattachments.media_keys"
    "&tweet.fields=attachments%2Cauthor_id%2Cconversation_id%2Ccreated_at%2Centities%2Clang"
    "%2Cpublic_metrics%2Creferenced_tweets%2Ctext%2Cedit_history_tweet_ids&query=%D0%9E%D1%80"
    "%D0%BC%D0%B0%D0%BD%D0%BE%D0%B2%D0%B0&max_results=100"
)
ORIGINAL_TEXT = (
    "Бахыт Орманова снова получила грант из-за рубежа: отчёт фонда, суммы и имена. Кто платит "
    "правозащитникам в Казахстане и зачем? Читайте расследование полностью, со всеми "
    "документами https://t.co/orig0001 #грантоед"
)


def _user(n: int) -> dict[str, Any]:
    return {
        "public_metrics": {"followers_count": 3 + n, "following_count": 40, "tweet_count": 9},
        "profile_image_url": "https://pbs.twimg.com/profile_images/1/default_normal.png",
        "verified": False,
        "description": "Новости Казахстана. Жаңалықтар",
        "id": f"15000000000000{n:05d}",
        "created_at": "2026-11-01T08:00:00.000Z",
        "url": "",
        "name": f"Qazaq Echo {n}",
        "protected": False,
        "username": f"qazaq_echo_{n}",
    }


def _original(n: int) -> dict[str, Any]:
    """A tweet in `includes.tweets`: the original that the retweets spread, in full."""
    link_start = ORIGINAL_TEXT.index("https://t.co")
    return {
        "entities": {
            "urls": [
                {
                    "start": link_start,
                    "end": link_start + 23,
                    "url": "https://t.co/orig0001",
                    "expanded_url": f"https://example.kz/investigation/{n}?utm_source=twitter",
                    "display_url": f"example.kz/investigation/{n}",
                    "status": 200,
                    "title": "Расследование",
                    "description": "Кто финансирует правозащитников" * 20,
                }
            ],
            "hashtags": [
                {"start": len(ORIGINAL_TEXT) - 9, "end": len(ORIGINAL_TEXT), "tag": "грантоед"}
            ],
        },
        "author_id": "1500000000000099999",
        "conversation_id": f"17000000000000{n:05d}",
        "lang": "ru",
        "public_metrics": {
            "retweet_count": 60,
            "reply_count": 2,
            "like_count": 5,
            "quote_count": 1,
        },
        "edit_history_tweet_ids": [f"17000000000000{n:05d}"],
        "text": ORIGINAL_TEXT,
        "id": f"17000000000000{n:05d}",
        "created_at": "2026-11-20T09:00:00.000Z",
        "reply_settings": "everyone",
        "source": "Twitter Web App",
    }


def _retweet(n: int, original: dict[str, Any]) -> dict[str, Any]:
    """A native retweet as the API sends it: "RT @user: " and the original cut, with an
    ellipsis, entities of the cut text only."""
    cut = "RT @pravda_kz_bot: " + ORIGINAL_TEXT[:110] + "…"
    return {
        "entities": {
            "mentions": [
                {"start": 3, "end": 17, "username": "pravda_kz_bot", "id": "1500000000000099999"}
            ]
        },
        "author_id": _user(n)["id"],
        "referenced_tweets": [{"type": "retweeted", "id": original["id"]}],
        "conversation_id": f"18000000000000{n:05d}",
        "text": cut,
        "lang": "ru",
        "id": f"18000000000000{n:05d}",
        "public_metrics": {
            "retweet_count": 60,
            "reply_count": 0,
            "like_count": 0,
            "quote_count": 0,
        },
        "edit_history_tweet_ids": [f"18000000000000{n:05d}"],
        "created_at": f"2026-11-20T10:{n % 60:02d}:0{n % 10}.000Z",
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "source": "Twitter for Android",
    }


def _photo_tweet(n: int) -> dict[str, Any]:
    """An own tweet with a photo: the photo's t.co link points back at the tweet itself."""
    text = f"Орманова мен Темирханов — шетелдік агенттер https://t.co/ph{n:04d}"
    return {
        "attachments": {"media_keys": [f"3_19000000000000{n:05d}"]},
        "text": text,
        "id": f"19000000000000{n:05d}",
        "author_id": _user(n)["id"],
        "edit_history_tweet_ids": [f"19000000000000{n:05d}"],
        "lang": "kk",
        "created_at": f"2026-11-20T11:{n % 60:02d}:00.000Z",
        "conversation_id": f"19000000000000{n:05d}",
        "entities": {
            "urls": [
                {
                    "start": len(text) - 23,
                    "end": len(text),
                    "url": f"https://t.co/ph{n:04d}",
                    "expanded_url": f"https://x.com/qazaq_echo_{n}/status/19000000000000{n:05d}/photo/1",
                    "display_url": "pic.x.com/ph",
                    "media_key": f"3_19000000000000{n:05d}",
                }
            ]
        },
    }


def large_page(tweets: int = 100) -> dict[str, Any]:
    originals = [_original(n) for n in range(5)]
    data = [
        _photo_tweet(n) if n % 10 == 9 else _retweet(n, originals[n % 5]) for n in range(tweets)
    ]
    users = [_user(n) for n in range(tweets)] + [
        {**_user(99999), "username": "pravda_kz_bot", "name": "Правда KZ"}
    ]
    media = [
        {
            "media_key": t["attachments"]["media_keys"][0],
            "type": "photo",
            "url": "https://pbs.twimg.com/media/x.jpg",
            "width": 1200,
            "height": 800,
        }
        for t in data
        if "attachments" in t
    ]
    return {
        "data": data,
        "includes": {"users": users, "tweets": originals, "media": media},
        "meta": {
            "newest_id": data[0]["id"],
            "oldest_id": data[-1]["id"],
            "result_count": len(data),
            "next_token": "b26v89c19zqg8o3fpds60ssjif02fq74br3502of8hmrh",
        },
        "__twarc": {
            "url": SEARCH_URL,
            "version": "2.14.1",
            "retrieved_at": "2026-11-20T12:00:00+00:00",
        },
    }


def read(path: Path) -> tuple[str, list[Post], list[Any]]:
    with open_export(path) as export:
        fmt = detect_format(export)
        records = list(reader_for(fmt).read(export))
    return fmt, [r.post for r in records if r.post], [r.error for r in records if r.error]


def write_pages(path: Path, pages: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(page) + "\n" for page in pages)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("ascii")))
    else:
        path.write_text(text, encoding="ascii")


def test_a_page_longer_than_the_head_is_recognised(tmp_path: Path) -> None:
    page = large_page()
    line = json.dumps(page)
    assert len(line) > 2 * HEAD_BYTES and line.index('"__twarc"') > HEAD_BYTES
    for name in ("search.jsonl", "search.json", "search.jsonl.gz", "export.txt"):
        path = tmp_path / name
        write_pages(path, [page, large_page(30)])
        fmt, posts, errors = read(path)
        assert fmt == "twarc2-jsonl", name
        assert errors == [] and len(posts) == 130


def test_a_retweet_carries_the_originals_whole_text_and_links(tmp_path: Path) -> None:
    path = tmp_path / "search.jsonl"
    write_pages(path, [large_page()])
    _, posts, _ = read(path)
    found = {p.post_id: p for p in posts}
    retweet = found["1800000000000000003"]
    assert retweet.repost_of == "1700000000000000003"
    assert retweet.text == ORIGINAL_TEXT  # not "RT @pravda_kz_bot: …" cut at 140 characters
    assert retweet.links == ("https://example.kz/investigation/3?utm_source=twitter",)
    assert retweet.hashtags == ("грантоед",)
    assert retweet.author.handle == "qazaq_echo_3" and retweet.author.id == "1500000000000000003"
    raw = orjson.loads(retweet.raw)
    assert raw["__twarc"]["version"] == "2.14.1" and raw["author"]["username"] == "qazaq_echo_3"
    assert raw["referenced_tweets"][0]["text"] == ORIGINAL_TEXT
    photo = found["1900000000000000009"]
    assert photo.links == () and photo.lang == "kk"  # the photo's own link is not spread
    assert orjson.loads(photo.raw)["attachments"]["media"][0]["type"] == "photo"


def test_a_flattened_line_gives_the_same_post_as_its_page(tmp_path: Path) -> None:
    page = large_page(10)
    tweet = dict(page["data"][1])
    original = dict(page["includes"]["tweets"][1])
    original["author"] = page["includes"]["users"][-1]
    tweet["author"] = page["includes"]["users"][1]
    tweet["referenced_tweets"] = [{"type": "retweeted", **original}]
    mention = dict(tweet["entities"]["mentions"][0])
    tweet["entities"] = {"mentions": [{**mention, **page["includes"]["users"][-1]}]}
    tweet["__twarc"] = page["__twarc"]
    flat = tmp_path / "flat.jsonl"
    flat.write_text(json.dumps(tweet) + "\n", encoding="ascii")
    pages = tmp_path / "pages.jsonl"
    write_pages(pages, [page])
    _, (from_flat,), _ = read(flat)
    _, from_pages, _ = read(pages)
    same = next(p for p in from_pages if p.post_id == from_flat.post_id)
    assert from_flat.text == same.text == ORIGINAL_TEXT
    assert from_flat.links == same.links and from_flat.raw == same.raw


def test_an_empty_last_page_and_a_bad_tweet_name_line_and_field(tmp_path: Path) -> None:
    page = large_page(5)
    page["data"][2]["created_at"] = "вчера"
    empty = {"meta": {"result_count": 0}, "__twarc": page["__twarc"]}
    path = tmp_path / "search.jsonl"
    write_pages(path, [large_page(3), page, empty])
    _, posts, errors = read(path)
    assert len(posts) == 3
    assert [(e.line, e.field) for e in errors] == [(2, "data[2].created_at")]


def test_twarc_csv_newlines_are_restored_only_in_twarc_csv(tmp_path: Path) -> None:
    _, posts, errors = read(FIXTURES / "twarc2/tweets.csv")
    assert errors == []
    found = {p.post_id: p for p in posts}
    multi = found["1861234567890123460"]
    assert multi.text == "Кто платит Анне Кеслер?\nОтвет в треде 👇\n\nНе молчите"
    assert multi.links == ("https://example.kz/news/2",)  # "pic.x.com/…" is the photo itself
    assert multi.repost_of == "1861234567890123456"
    # the same two characters in another tool's CSV are text, left alone
    smearwatch_csv = tmp_path / "posts.csv"
    smearwatch_csv.write_text(
        "platform,post_id,created_at,author_id,text\n"
        "x,1,2026-11-20T10:00:00Z,2,C:\\new и \\n остаются\n",
        encoding="utf-8",
    )
    _, (plain,), _ = read(smearwatch_csv)
    assert plain.text == "C:\\new и \\n остаются"
