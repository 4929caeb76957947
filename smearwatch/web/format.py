"""Jinja filters: how times, numbers and stored JSON read on the pages.

They return plain strings; autoescape escapes them like any other value, so none of them may
return markup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["FILTERS", "pretty_json"]


def when(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(pattern) + " UTC"


def day(value: Any) -> str:
    return value.strftime("%a %d %b") if value is not None else "—"


def number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def age_days(created: datetime | None, at: datetime | None = None) -> str:
    """Account age in days at `at` (default now): how new an account was when it acted."""
    if created is None:
        return "unknown"
    days = ((at or datetime.now(UTC)) - created).total_seconds() / 86400
    return f"{days:,.0f} d"


def pretty_json(value: Any) -> str:
    """Stored JSON (a dict, a list or a JSON string) indented for reading; other text as is."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def signal(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return str(value)


def notable(signals: dict[str, Any] | None) -> list[str]:
    """An account's signals in a few words: set flags by name, numbers with their value;
    false flags and the creation time (shown as the age) are left out."""
    words = []
    for key, value in sorted((signals or {}).items()):
        if key == "created_at" or value is None or value is False:
            continue
        name = key.replace("_", " ")
        if value is True:
            words.append(name)
        elif isinstance(value, (int, float)):
            words.append(f"{name} {value:.2f}" if isinstance(value, float) else f"{name} {value}")
        elif isinstance(value, str):
            words.append(f"{name}: {value}")
    return words


def seconds(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def web_url(value: str | None) -> str | None:
    """The URL if it is http(s), else None: a stored `javascript:` URL never becomes a link."""
    if value and value.lower().startswith(("https://", "http://")):
        return value
    return None


FILTERS = {
    "web_url": web_url,
    "when": when,
    "day": day,
    "number": number,
    "percent": percent,
    "age_days": age_days,
    "pretty_json": pretty_json,
    "signal": signal,
    "seconds": seconds,
    "notable": notable,
}
