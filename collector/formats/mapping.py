"""A custom column mapping: import any CSV by saying which column holds which field.

Analysts receive exports from tools smearwatch does not know (Junkipedia, a newsroom's own
spreadsheet). Rather than a new reader per tool, they name the columns, on the command line
(`--map post_id=id --map text=body --platform telegram`) or once in the config
(`[import.mappings.NAME]`), and `MappedCsvReader` does the rest with the same per-line,
per-field error messages as every other reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from typing import Any

from collector.formats.base import CsvRows, ImportFormatError, RowReader
from collector.formats.fields import cell, listed, make_post, time_of
from collector.post import Post, RecordError

__all__ = ["TARGET_FIELDS", "ColumnMapping", "MappedCsvReader", "parse_zone"]

#: Fields a column can be mapped to (the smearwatch record, author fields flattened).
TARGET_FIELDS = (
    "platform", "post_id", "created_at", "author_id", "author_handle", "author_display_name",
    "author_created_at", "text", "url", "lang", "links", "hashtags", "mentions", "reply_to",
    "repost_of", "quote_of",
)  # fmt: skip
REQUIRED_TARGETS = ("post_id", "created_at", "author_id")
LIST_TARGETS = ("links", "hashtags", "mentions")
_ZONE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_zone(value: str) -> timezone:
    """'UTC', 'Z' or an offset like '+05:00' (Almaty) → a fixed time zone."""
    text = value.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    match = _ZONE.match(text)
    if not match:
        raise ValueError(f"time zone {value!r}: use 'UTC' or an offset like '+05:00'")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column feeds which smearwatch field.

    `columns` maps a target field to a column name. `platform` is used when no column is
    mapped to `platform`. `timezone` is applied to times written without a zone (many
    spreadsheets drop it); without it such times are refused rather than guessed. A missing
    `text` column means empty texts (e.g. a list of reposts).
    """

    name: str
    columns: Mapping[str, str]
    platform: str | None = None
    timezone: timezone | None = None
    list_separator: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(TARGET_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown target field(s) {', '.join(unknown)} (known: {', '.join(TARGET_FIELDS)})"
            )
        missing = [t for t in REQUIRED_TARGETS if t not in self.columns]
        if missing:
            raise ValueError(
                f"no column mapped to required field(s) {', '.join(missing)} "
                f"(e.g. --map {missing[0]}=COLUMN)"
            )
        if "platform" not in self.columns and not self.platform:
            raise ValueError("say which platform the posts are from (--platform NAME)")
        for target, column in self.columns.items():
            if not isinstance(column, str) or not column.strip():
                raise ValueError(f"field {target!r}: expected a column name")

    @classmethod
    def from_pairs(
        cls,
        name: str,
        pairs: Iterable[str],
        *,
        platform: str | None = None,
        zone: str | None = None,
    ) -> ColumnMapping:
        """`["post_id=id", "text=body"]` as given with `--map`."""
        columns: dict[str, str] = {}
        for pair in pairs:
            target, sep, column = pair.partition("=")
            if not sep or not target.strip() or not column.strip():
                raise ValueError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. post_id=id")
            columns[target.strip()] = column.strip()
        return cls(
            name,
            columns,
            platform=platform.strip().lower() if platform else None,
            timezone=parse_zone(zone) if zone else None,
        )

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> ColumnMapping:
        """An `[import.mappings.NAME]` table: `columns = {post_id = "id", ...}`, `platform`,
        `timezone`, `list_separator`."""
        allowed = {"columns", "platform", "timezone", "list_separator"}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
            )
        columns = table.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise ValueError('expected a table "columns" of FIELD = "COLUMN" pairs')
        platform = table.get("platform")
        zone = table.get("timezone")
        separator = table.get("list_separator")
        for key, value in (
            ("platform", platform),
            ("timezone", zone),
            ("list_separator", separator),
        ):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key}: expected a string")
        return cls(
            name,
            dict(columns),
            platform=platform.strip().lower() if platform else None,
            timezone=parse_zone(zone) if zone else None,
            list_separator=separator or None,
        )


class MappedCsvReader(RowReader):
    """Any CSV, through a `ColumnMapping` (`--map FIELD=COLUMN`, `[import.mappings.NAME]`)."""

    name = "custom"
    description = "any CSV with a column mapping (--map FIELD=COLUMN ... or --mapping NAME)"

    def __init__(self, mapping: ColumnMapping | None = None, **options: Any) -> None:
        super().__init__(mapping=mapping, **options)
        self.mapping = mapping

    def configure(self, **options: Any) -> MappedCsvReader:
        merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
        return MappedCsvReader(**merged)

    def sniff(self, head: str, filename: str) -> bool:
        return False  # never guessed: the analyst names the mapping

    def check_header(self, rows: CsvRows) -> None:
        if self.mapping is None:
            raise ImportFormatError(
                rows.path, "the custom format needs a mapping: --map FIELD=COLUMN or --mapping NAME"
            )
        rows.require(
            tuple(dict.fromkeys(self.mapping.columns.values())),
            f"the mapping {self.mapping.name!r}",
        )

    def posts(self, row: Any) -> list[Post]:
        mapping = self.mapping
        assert mapping is not None
        columns = mapping.columns

        def value(target: str) -> str | None:
            column = columns.get(target)
            return cell(row, column) if column else None

        def required(target: str) -> str:
            found = value(target)
            if found is None:
                raise RecordError(columns[target], f"required value ({target}) is missing")
            return found

        def when(target: str) -> str | None:
            text = value(target)
            if text is None:
                return None
            return time_of(text, columns[target], mapping.timezone).isoformat()

        def items(target: str) -> list[str]:
            column = columns.get(target)
            if not column:
                return []
            return listed(cell(row, column), column, separator=mapping.list_separator)

        platform = value("platform") or mapping.platform
        if not platform:
            raise RecordError(columns.get("platform", "platform"), "no platform")
        text_column = columns.get("text")
        record = {
            "platform": platform.lower(),
            "post_id": required("post_id"),
            "url": value("url"),
            "created_at": when("created_at") or required("created_at"),
            "author": {
                "id": required("author_id"),
                "handle": value("author_handle"),
                "display_name": value("author_display_name"),
                "created_at": when("author_created_at"),
            },
            "text": (row.get(text_column) or "") if text_column else "",
            "lang": value("lang"),
            "links": items("links"),
            "hashtags": items("hashtags"),
            "mentions": items("mentions"),
            "reply_to": value("reply_to"),
            "repost_of": value("repost_of"),
            "quote_of": value("quote_of"),
        }
        return [make_post(record, row, mapping=mapping.name)]
