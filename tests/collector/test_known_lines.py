"""Re-import: lines stored before are recognised from their text and hash, without parsing."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson

from collector.files import FORMATS
from collector.formats.base import ParsedRecord, open_export
from tests.factories import record

READER = FORMATS["jsonl"]


def _store(stored: dict[tuple[str, str], bytes]) -> tuple[Any, list[tuple[str, str]]]:
    """A `known` look-up over posts stored from these lines, and the keys it was asked."""
    digests = {key: hashlib.sha256(line).hexdigest() for key, line in stored.items()}
    asked: list[tuple[str, str]] = []

    def known(keys: list[tuple[int, str, str, str]]) -> set[int]:
        asked.extend((platform, post_id) for _, platform, post_id, _ in keys)
        return {i for i, platform, post_id, d in keys if digests.get((platform, post_id)) == d}

    return known, asked


def _read(lines: list[bytes], known: Any) -> list[ParsedRecord]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        with open_export(path) as export:
            return list(READER.read_skipping(export, known))


def test_stored_lines_of_every_layout_are_recognised() -> None:
    layouts = {
        ("bluesky", "at://a/1"): orjson.dumps(record(1, post_id="at://a/1")),
        # spaces after the separators, upper-case platform, a number as post id
        ("telegram", "77"): json.dumps(record(2, platform="Telegram", post_id=77)).encode(),
        # an escaped character: read off the parsed line instead
        ("bluesky", "é/3"): json.dumps(record(3, post_id="é/3"), ensure_ascii=True).encode(),
        # the keys last, after a nested object that has keys of the same name
        ("mastodon", "m/4"): orjson.dumps(
            {"context": {"platform": "x", "post_id": "y"}, **record(4, platform="mastodon")}
            | {"post_id": "m/4"}
        ),
    }
    known, asked = _store(layouts)
    records = _read(list(layouts.values()), known)
    assert [r.known for r in records] == [True, True, True, False]
    assert all(r.post is None for r in records[:3])
    # The nested keys were read first: that line was not recognised, so it is parsed and
    # stored as usual (the writer then finds it unchanged).
    assert ("x", "y") in asked
    assert records[3].post is not None and records[3].post.post_id == "m/4"


def test_a_wrong_reading_never_makes_a_line_known() -> None:
    # The line of post A carries, nested before its own keys, the keys of post B, and B is
    # stored; B's stored line is another line, so A's hash does not match it.
    line_a = orjson.dumps({"context": {"platform": "bluesky", "post_id": "B"}, **record(5)})
    line_b = orjson.dumps(record(6, post_id="B"))
    known, asked = _store({("bluesky", "B"): line_b})
    (parsed,) = _read([line_a], known)
    assert asked == [("bluesky", "B")]
    assert not parsed.known and parsed.post is not None
    assert parsed.post.post_id == record(5)["post_id"]


def test_a_changed_line_and_broken_lines_are_parsed_with_their_errors() -> None:
    stored = orjson.dumps(record(7))
    changed = orjson.dumps(record(7, text="edited"))
    known, _ = _store({("bluesky", record(7)["post_id"]): stored})
    records = _read([changed, b'{"platform": "bluesky", "post_id": "z", broken', stored], known)
    assert [r.known for r in records] == [False, False, True]
    assert records[0].post is not None and records[0].post.text == "edited"
    assert records[1].error is not None and records[1].error.field == "(json)"


def test_reading_without_a_look_up_gives_the_same_records(monkeypatch: Any) -> None:
    """Without `known` each line is parsed as its record is taken; the records (posts,
    errors, line numbers, too-long lines) are those of the path that looks lines up first."""
    from collector.formats import base

    monkeypatch.setattr(base, "MAX_RECORD_BYTES", 1500)
    lines = [
        orjson.dumps(record(1, post_id="p/1")),
        b"not json",
        b"",
        b'{"platform": "bluesky"}',
        b"x" * 2000,
        orjson.dumps(record(2, post_id="p/2")),
        b"[1, 2]",
    ]

    def nothing_known(keys: list[tuple[int, str, str, str]]) -> set[int]:
        return set()

    looked_up = _read(lines, nothing_known)
    streamed = _read(lines, None)
    assert [(r.line, r.error, r.post, r.source) for r in streamed] == [
        (r.line, r.error, r.post, r.source) for r in looked_up
    ]
    assert [r.line for r in streamed] == [1, 2, 4, 5, 6, 7]
    assert [r.error.field if r.error else None for r in streamed] == [
        None, "(json)", "post_id", "(line)", None, "(record)"
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        with open_export(path) as export:
            parts = [list(batch) for batch in READER.read_part(export, None, 0, 1, build=False)]
    values = [r for batch in parts for r in batch]
    assert [r.line for r in values] == [1, 2, 4, 5, 6, 7]
    assert values[0].value == orjson.loads(lines[0]) and values[0].post is None
    assert values[0].digest == hashlib.sha256(lines[0]).hexdigest()
