from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from collector.post import (
    RecordError,
    canonical_json,
    canonical_json_bytes,
    normalize_hashtag,
    normalize_url,
    parse_time,
    post_from_record,
    record_raw,
    record_raw_hashed,
    sha256_text,
)
from tests.factories import record


def test_record_becomes_post_with_normalised_fields() -> None:
    post = post_from_record(record(3))
    assert post.platform == "bluesky"
    assert post.created_at == datetime(2026, 11, 13, 3, 15, 3, tzinfo=UTC)
    assert post.hashtags == ("грантоед",)
    assert post.mentions == ("other.bsky.social",)
    assert post.raw == canonical_json(record(3)["raw"])
    assert len(post.raw_sha256) == 64
    assert post.evidence_id.startswith("E-") and len(post.evidence_id) == 18


def test_record_without_raw_keeps_the_whole_record_as_raw() -> None:
    data = record(1)
    del data["raw"]
    post = post_from_record(data)
    assert post.raw == canonical_json(data)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("platform"), "platform"),
        (lambda r: r.pop("post_id"), "post_id"),
        (lambda r: r.pop("created_at"), "created_at"),
        (lambda r: r["author"].pop("id"), "author.id"),
        (lambda r: r.pop("author"), "author.id"),
        (lambda r: r.pop("text"), "text"),
        (lambda r: r.update(text=5), "text"),
        (lambda r: r.update(created_at="yesterday"), "created_at"),
        (lambda r: r.update(created_at="2026-11-20T10:15:03"), "created_at"),
        (lambda r: r.update(links=7), "links"),
        (lambda r: r["author"].update(created_at="not a time"), "author.created_at"),
    ],
)
def test_invalid_records_name_the_field(mutate, field) -> None:
    data = record(1)
    mutate(data)
    with pytest.raises(RecordError) as info:
        post_from_record(data)
    assert info.value.field == field


def test_empty_text_is_allowed_for_reposts() -> None:
    assert post_from_record(record(1, text="", repost_of="at://x")).text == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T10:15:03Z", datetime(2026, 11, 20, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-20T15:15:03+05:00", datetime(2026, 11, 20, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-20T10:15:03.123456789Z", datetime(2026, 11, 20, 10, 15, 3, 123456, tzinfo=UTC)),
        ("2026-11-20 10:15:03+00:00", datetime(2026, 11, 20, 10, 15, 3, tzinfo=UTC)),
        (1795169703, datetime(2026, 11, 20, 10, 15, 3, tzinfo=UTC)),
    ],
)
def test_parse_time(value, expected) -> None:
    assert parse_time(value, "created_at") == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-11-20 10:15", "has no time zone (add 'Z'"),
        ("2026-11-20T10:15:03", "has no time zone (add 'Z'"),
        # not a time at all: saying "add a time zone" would send the analyst the wrong way
        ("yesterday", "unparsable time 'yesterday' (expected ISO 8601"),
        ("20.11.2026 10:15", "unparsable time"),
        ("2026-13-45T00:00:00Z", "unparsable time"),
    ],
)
def test_parse_time_says_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(RecordError, match=re.escape(says)):
        parse_time(value, "created_at")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.ORG/Path?utm_source=x&id=1#top", "https://example.org/Path?id=1"),
        ("http://example.org:80/a?fbclid=abc&gclid=1", "http://example.org/a"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("https://новости.example/статья?b=2&a=1", "https://новости.example/статья?b=2&a=1"),
        ("not a url", "not a url"),
    ],
)
def test_normalize_url(url, expected) -> None:
    assert normalize_url(url) == expected


def test_normalize_hashtag() -> None:
    assert normalize_hashtag("#ГрантОед") == "грантоед"
    assert normalize_hashtag("Қазақстан") == "қазақстан"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_canonical_json_is_stable(value) -> None:
    import json

    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


_JSON_WITH_ODD_PARTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**64, -(2**70)])  # beyond what orjson takes
    | st.text(st.characters(categories=["Cs", "Ll", "Lo"])),  # lone surrogates too
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


@given(_JSON_WITH_ODD_PARTS)
@example({"text": "half a pair \ud83d", "n": 2**64})
def test_hashing_the_canonical_bytes_is_hashing_the_canonical_text(value) -> None:
    assert canonical_json_bytes(value).decode("utf-8", "surrogatepass") == canonical_json(value)
    raw = {"platform": "bluesky", "post_id": "1", "raw": value}
    text, digest = record_raw_hashed(raw)
    assert text == record_raw(raw)
    assert digest == sha256_text(text)


@given(
    st.sampled_from(["http", "https", "HTTPS", "Http"]),
    st.from_regex(r"[a-zA-Z0-9-]{1,8}(\.[a-zA-Z0-9-]{1,8}){0,3}\.?", fullmatch=True),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.from_regex(r"(/[a-zA-Zа-я0-9%._~-]{0,6}){0,3}/?", fullmatch=True),
    st.sampled_from(["", "?utm_source=x", "?id=1&fbclid=2", "?a=1#top", "#frag"])
    | st.from_regex(
        r"(\?([a-zA-Z_]{0,4}|utm_[a-z]{0,3}|FBCLID|gclid)(=[a-zA-Z0-9~._=-]{0,4})?)"
        r"(&{1,2}(utm_x|id|[a-z]{0,3})(=[a-z0-9%+;]{0,3})?){0,3}&?(#[a-z#?]{0,3})?",
        fullmatch=True,
    ),
)
def test_fast_path_agrees_with_the_general_normalisation(scheme, host, port, path, tail) -> None:
    import collector.post as module

    url = f"{scheme}://{host}{port}{path}{tail}"
    general = module.normalize_link.__wrapped__
    original = module._SIMPLE_URL
    try:
        module._SIMPLE_URL = __import__("re").compile(r"(?!)")  # never matches: general path only
        expected = general(url)
    finally:
        module._SIMPLE_URL = original
    assert general(url) == expected
    assert expected[1] == module.url_domain(expected[0])
