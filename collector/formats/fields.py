"""Small converters the tools' readers share: cells, times, lists, and building the post."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import orjson

from collector.post import Post, RecordError, canonical_json, parse_time, post_from_record

__all__ = ["cell", "listed", "make_post", "need", "time_of"]

# Abbreviations CrowdTangle and spreadsheets write after a time. Ambiguous ones (IST, CST
# elsewhere than the US) are not guessed: the analyst passes --timezone instead.
_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "ALMT": 5, "ALMST": 6,
}  # fmt: skip
_TRAILING_ABBREVIATION = re.compile(r"^(.*\d)\s+([A-Z]{1,5})$")


def cell(row: Mapping[str, Any], column: str) -> str | None:
    """A cell's text, or None when the column is absent or blank."""
    value = row.get(column)
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    return value or None


def need(row: Mapping[str, Any], column: str) -> str:
    value = cell(row, column)
    if value is None:
        raise RecordError(column, "required value is missing")
    return value


def time_of(value: Any, column: str, zone: tzinfo | None = None) -> datetime:
    """A time from ISO 8601, epoch seconds (or milliseconds), or 'YYYY-MM-DD HH:MM:SS ZONE'.

    A time without a zone is read in `zone` when the reader knows it (4CAT writes UTC) or the
    analyst gave one (--timezone); otherwise it is refused, as everywhere in smearwatch.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_time(value / 1000 if value > 10**11 else value, column)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(column, "missing time")
    text = value.strip()
    if re.fullmatch(r"\d{12,14}", text):
        return parse_time(int(text) / 1000, column)
    match = _TRAILING_ABBREVIATION.match(text)
    if match and match.group(2) in _ABBREVIATIONS:
        hours = _ABBREVIATIONS[match.group(2)]
        return _naive(match.group(1), column, timezone(timedelta(hours=hours)))
    try:
        return parse_time(text, column)
    except RecordError:
        if zone is None:
            raise
    return _naive(text, column, zone)


def _naive(text: str, column: str, zone: tzinfo) -> datetime:
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", text.strip().replace(" ", "T", 1))
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise RecordError(column, f"unparsable time {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def listed(value: Any, column: str, *, separator: str | None = ",") -> list[str]:
    """A list cell: a JSON array (of strings, or of objects with a tag/username/url), or
    items joined by `separator` (None: white space)."""
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    else:
        text = str(value).strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                items = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise RecordError(column, f"not a valid JSON list: {exc}") from None
            if not isinstance(items, list):
                raise RecordError(column, "expected a JSON list")
        else:
            return [part.strip() for part in text.split(separator) if part.strip()]
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            for key in ("expanded_url", "unwound_url", "url", "tag", "username", "name"):
                if isinstance(item.get(key), str) and item[key]:
                    out.append(item[key])
                    break
        elif item is not None:
            raise RecordError(column, f"unexpected list item of type {type(item).__name__}")
    return [o.strip() for o in out if o.strip()]


def make_post(record: dict[str, Any], raw_value: Any, **extra: Any) -> Post:
    """`post_from_record` with the source record (canonical JSON) as the raw payload."""
    post = post_from_record(record, raw=canonical_json(raw_value))
    if extra:
        provenance = {k: v for k, v in extra.items() if v not in (None, "", [], {})}
        if provenance:
            return _with_extra(post, provenance)
    return post


def _with_extra(post: Post, provenance: dict[str, Any]) -> Post:
    return dataclasses.replace(post, extra={"provenance": provenance})
