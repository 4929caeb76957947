"""The import's direct path (`PostPreparer.prepare_record`) stores what the careful one stores.

The direct path builds a record's rows without a `Post`; for anything not in the plain shape it
must decline (None) so that `post_from_record` decides. These tests hold the two to the same
result on arbitrary records, and check that plain records do take the direct path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.post import RecordError, post_from_record
from db.store import PostPreparer, PreparedPost
from smearwatch.config import Defender
from smearwatch.matching import MentionStep
from tests.factories import record

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROVENANCE = {"method": "import", "file": "posts.jsonl", "format": "jsonl"}
DIGEST = "ab" * 32
STEP = MentionStep(
    (Defender("ormanova", "Bakhyt Ormanova", ("Бахыт Орманова", "Ormanova", "@ormanova")),)
)

TIMES = st.one_of(
    st.sampled_from(
        [
            "2026-10-01T00:00:02Z",
            "2026-10-01T00:00:02+05:00",
            "2026-10-01T00:00:02.123456Z",
            "2026-10-01T00:00:02.1234567Z",
            "2026-10-01 00:00:02Z",
            "2026-10-01T00:00:02z",
            "2026-10-01T00:00:02",
            "2026-W40-1T00:00:02Z",
            "20261001T000002Z",
            "2026-10-01T24:00:00Z",
            "1700000000",
            "1700000000.5",
            "yesterday",
            "",
            " 2026-10-01T00:00:02Z ",
        ]
    ),
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
    ).map(lambda moment: moment.isoformat()),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
)
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["Ormanova грантоед", "Бахыт Орманова", "a\x00b", " @ormanova "]),
)
SCALARS = st.one_of(st.none(), TEXTS, st.integers(-3, 10**20), st.booleans(), st.just(["x"]))
LISTS = st.one_of(
    st.none(),
    st.just(""),
    TEXTS,
    st.lists(st.one_of(TEXTS, st.sampled_from(["#Грантоед", "#freeKZ", "@ormanova"])), max_size=4),
    st.lists(
        st.sampled_from(
            [
                "https://Example.org/a/1?utm_source=tg&id=1#frag",
                "https://news1.example/article/2",
                "http://www.ex.kz:80/x?fbclid=1",
                "not a link",
            ]
        ),
        max_size=3,
    ),
    st.lists(st.one_of(st.integers(), st.none()), min_size=1, max_size=2),
    st.integers(),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), TEXTS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
GOOD_TIMES = st.one_of(
    st.sampled_from(["2026-10-01T00:00:02Z", "2026-10-01T00:00:02.250+05:00"]),
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
    ).map(lambda moment: moment.isoformat()),
)
OPTIONAL_TEXT = st.one_of(st.none(), TEXTS)
PLAIN_LISTS = st.lists(
    st.one_of(
        TEXTS,
        st.sampled_from(
            ["#Грантоед", "#freeKZ", "@ormanova", "https://Example.org/a/1?utm_source=tg#f"]
        ),
    ),
    max_size=3,
)
# Records as exports write them...
PLAIN = st.fixed_dictionaries(
    {
        "platform": st.sampled_from(["bluesky", "Telegram", "MASTODON"]),
        "post_id": st.one_of(st.sampled_from(["at://x/1", "77", " "]), st.integers(0, 10**6)),
        "created_at": GOOD_TIMES,
        "author": st.fixed_dictionaries(
            {"id": st.sampled_from(["did:plc:a", "42"])},
            optional={
                "handle": OPTIONAL_TEXT,
                "display_name": OPTIONAL_TEXT,
                "created_at": st.one_of(GOOD_TIMES, st.just(""), st.none()),
            },
        ),
        "text": TEXTS,
    },
    optional={
        "collected_at": st.one_of(GOOD_TIMES, st.just(""), st.none()),
        "url": OPTIONAL_TEXT,
        "lang": OPTIONAL_TEXT,
        "reply_to": OPTIONAL_TEXT,
        "repost_of": OPTIONAL_TEXT,
        "quote_of": OPTIONAL_TEXT,
        "links": PLAIN_LISTS,
        "hashtags": PLAIN_LISTS,
        "mentions": PLAIN_LISTS,
        "raw": st.one_of(JSON, st.just({}), st.just([]), st.just("")),
    },
)
FIELDS = [
    "platform", "post_id", "created_at", "collected_at", "author", "text", "url", "lang",
    "reply_to", "repost_of", "quote_of", "links", "hashtags", "mentions", "raw",
]  # fmt: skip
AUTHORS = st.one_of(
    st.fixed_dictionaries(
        {"id": st.one_of(st.sampled_from(["did:plc:a", "42"]), SCALARS)},
        optional={"handle": SCALARS, "display_name": SCALARS, "created_at": TIMES},
    ),
    SCALARS,
)
ODD = st.one_of(SCALARS, TIMES, LISTS, AUTHORS, JSON)


def _combine(parts: tuple[dict[str, Any], dict[str, Any], list[str]]) -> dict[str, Any]:
    plain, odd, dropped = parts
    value = {**plain, **odd}
    for key in dropped:
        value.pop(key, None)
    return value


# ...and with up to two fields of any JSON value, or missing.
RECORDS = st.tuples(
    PLAIN,
    st.dictionaries(st.sampled_from(FIELDS), ODD, max_size=2),
    st.lists(st.sampled_from(FIELDS), max_size=1),
).map(_combine)


def _careful(preparer: PostPreparer, value: Any, *, matching: bool) -> PreparedPost | None:
    try:
        post = post_from_record(value, source_sha256=DIGEST)
    except RecordError:
        return None
    found = tuple(STEP.find_in_post(post)) if matching else None
    return preparer.prepare(post, keep_post=False, mentions=found)


@settings(max_examples=600, deadline=None)
@given(value=RECORDS, sqlite=st.booleans(), matching=st.booleans())
def test_the_direct_path_gives_what_the_careful_one_gives_or_declines(
    value: dict[str, Any], sqlite: bool, matching: bool
) -> None:
    preparer = PostPreparer(sqlite, NOW, PROVENANCE)
    direct = preparer.prepare_record(value, DIGEST, STEP.find if matching else None)
    if direct is not None:
        assert direct == _careful(preparer, value, matching=matching)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 10**6),
    created=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
    ),
    sqlite=st.booleans(),
)
def test_plain_records_take_the_direct_path(n: int, created: datetime, sqlite: bool) -> None:
    preparer = PostPreparer(sqlite, NOW, PROVENANCE)
    for value in (
        record(n),
        record(n, created_at=created.isoformat(), collected_at="2026-11-20T10:00:00.5+05:00"),
        record(n, post_id=n, raw=None, links=[], hashtags=None, text="Ormanova\x00"),
    ):
        direct = preparer.prepare_record(value, DIGEST, STEP.find)
        assert direct is not None
        assert direct == _careful(preparer, value, matching=True)


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": "2026-11-20 10:00"},  # no zone: refused by the careful path
        {"created_at": 1700000000},  # epoch seconds: the careful path reads them
        {"post_id": True},
        {"hashtags": [1]},
        {"author": {"id": "a", "handle": 5}},
    ],
)
def test_anything_unusual_is_left_to_the_careful_path(change: dict[str, Any]) -> None:
    assert PostPreparer(True, NOW, PROVENANCE).prepare_record(record(1, **change), DIGEST) is None
