"""Reading export files that analysts already have: smearwatch JSONL (plain or gzip) and CSV.

Readers stream: one line (or CSV record) at a time, so memory does not grow with the file.
Each record comes out as a `ParsedRecord` that carries either a `Post` or a `LineError` naming
the line and the field, so the importer can refuse the whole file or set bad lines aside.
Problems with the file as a whole (empty, binary, not UTF-8, unknown layout) raise
`ImportFormatError` with a message an analyst can act on.

Formats register in `FORMATS`; `detect_format` asks each in order (the tools' formats before
the generic smearwatch ones), so adding a tool's export format is one reader class (in
`collector/formats/`) and one entry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from collector.formats.base import (
    HEAD_BYTES,
    MAX_RECORD_BYTES,
    CsvRows,
    ExportFile,
    ExportReader,
    ImportFormatError,
    LineError,
    ParsedRecord,
    _csv_list,
    json_line_error,
    open_export,
    physical_line_batches,
)
from collector.formats.fourcat import FourcatCsvReader, FourcatNdjsonReader
from collector.formats.mapping import MappedCsvReader
from collector.formats.meta import (
    CrowdTangleFacebookReader,
    CrowdTangleInstagramReader,
    MetaContentLibraryReader,
)
from collector.formats.telegram_desktop import TelegramDesktopReader
from collector.formats.twarc import TwarcCsvReader, TwarcJsonlReader
from collector.post import RecordError, canonical_json, post_from_record

__all__ = [
    "FORMATS",
    "ExportFile",
    "ImportFormatError",
    "LineError",
    "ParsedRecord",
    "detect_format",
    "open_export",
    "reader_for",
]

IMPORTER_VERSION = "files/1"
KNOWN_BATCH = 1000

# Given (index, platform, post_id, SHA-256 of the line) for a batch of lines, the indices of
# the lines stored before exactly as they are now: those need no parsing into a Post.
KnownLines = Callable[[list[tuple[int, str, str, str]]], set[int]]
CSV_LIST_FIELDS = ("links", "hashtags", "mentions")
CSV_COLUMNS = (
    "platform", "post_id", "url", "created_at", "collected_at", "author_id", "author_handle",
    "author_display_name", "author_created_at", "text", "lang", "links", "hashtags", "mentions",
    "reply_to", "repost_of", "quote_of", "raw",
)  # fmt: skip
CSV_REQUIRED = ("platform", "post_id", "created_at", "author_id", "text")


# A top-level "platform" and "post_id" as the smearwatch export writes them (first, plain
# strings). Only a hint for recognising lines stored before (see JsonlReader._known_lines).
_PLATFORM_FIELD = re.compile(rb'"platform"\s*:\s*"([^"\\]{1,64})"')
_POST_ID_FIELD = re.compile(rb'"post_id"\s*:\s*(?:"([^"\\]{1,512})"|(-?\d{1,30})[,}\s])')
_UNPARSED = object()


def _key_fields(data: bytes) -> tuple[str, str] | None:
    platform = _PLATFORM_FIELD.search(data)
    post_id = _POST_ID_FIELD.search(data)
    if platform is None or post_id is None:
        return None
    try:
        return (
            platform.group(1).decode("utf-8").lower(),
            (post_id.group(1) or post_id.group(2)).decode("utf-8"),
        )
    except UnicodeDecodeError:
        return None


def _too_long(line_no: int, length: int) -> LineError:
    message = (
        f"line is {length:,} bytes long; one post may take at most "
        f"{MAX_RECORD_BYTES:,} bytes (is this really one JSON object per line?)"
    )
    return LineError(line_no, "(line)", message)


def _loads(data: bytes) -> Any:
    """The line's JSON value, or the JSONDecodeError that says why it is none."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return exc


class JsonlReader:
    """smearwatch JSONL: one post per line (DESIGN.md); blank lines are skipped."""

    name = "jsonl"
    description = "smearwatch JSONL (plain or gzip-compressed)"

    def sniff(self, head: str, filename: str) -> bool:
        lower = filename.lower().removesuffix(".gz")
        if lower.endswith((".jsonl", ".ndjson")):
            return True
        first = next((line for line in head.splitlines() if line.strip()), "")
        if not first.lstrip().startswith("{"):
            return False
        try:
            record = orjson.loads(first)
        except orjson.JSONDecodeError:
            # A first line cut off by the head limit: trust the opening brace.
            return len(first) >= HEAD_BYTES // 2
        return isinstance(record, dict) and "post_id" in record and "platform" in record

    def read(self, export: ExportFile) -> Iterator[ParsedRecord]:
        return self.read_skipping(export, None)

    def read_skipping(self, export: ExportFile, known: KnownLines | None) -> Iterator[ParsedRecord]:
        """Records of the file; lines `known` recognises come out as `known=True` without a
        `Post`, so re-importing a file does not rebuild what is already stored."""
        for batch in physical_line_batches(export.stream, KNOWN_BATCH, lambda _: True):
            yield from self._parse_batch(batch, known)

    def read_part(
        self,
        export: ExportFile,
        known: KnownLines | None,
        part: int,
        parts: int,
        *,
        build: bool = True,
    ) -> Iterator[Iterator[ParsedRecord]]:
        """The records of every `parts`-th batch of lines from batch `part` on, an iterator
        per batch: several processes each take a part of one file and their batches
        interleave back into file order.

        `build=False` leaves each JSON object as it was read (`ParsedRecord.value`): an
        import's worker builds the stored rows from it directly and calls `build` only for
        the records that are not in the plain shape.
        """
        for batch in physical_line_batches(
            export.stream, KNOWN_BATCH, lambda number: number % parts == part
        ):
            yield self._parse_batch(batch, known, build)

    def build(self, record: ParsedRecord) -> ParsedRecord:
        """The `Post` of a record read with `build=False`, or the error naming its field."""
        return self._parse(record.line, record.source, record.value, record.digest)

    def _parse_batch(
        self, batch: list[tuple[int, bytes, int]], known: KnownLines | None, build: bool = True
    ) -> Iterator[ParsedRecord]:
        if known is None:
            # Each line is parsed as its record is taken: the consumer (an import's worker)
            # builds the stored rows from the JSON object while it is still in the CPU's
            # cache. One worker's half of 200,000 posts (read, parse, build, marshal), five
            # runs each, alternating: 10.5-13.3 s of CPU when the whole batch was parsed
            # first, 8.2-10.0 s this way.
            for line_no, data, too_long in batch:
                if too_long:
                    yield ParsedRecord(line_no, None, _too_long(line_no, too_long), data)
                else:
                    digest = hashlib.sha256(data).hexdigest()
                    yield self._record(line_no, data, digest, _loads(data), build)
            return
        # Per line: its number, bytes, SHA-256 and, once parsed, its JSON value (or the
        # JSONDecodeError, or a LineError for a line too long).
        lines: list[list[Any]] = []
        for line_no, data, too_long in batch:
            if too_long:
                lines.append([line_no, data, "", _too_long(line_no, too_long)])
            else:
                lines.append([line_no, data, hashlib.sha256(data).hexdigest(), _UNPARSED])
        skip = self._known_lines(lines, known)
        for index, (line_no, data, digest, record) in enumerate(lines):
            if index in skip:
                yield ParsedRecord(line_no, None, None, data, known=True)
                continue
            if record is _UNPARSED:
                record = _loads(data)
            yield self._record(line_no, data, digest, record, build)

    def _record(
        self, line_no: int, data: bytes, digest: str, record: Any, build: bool
    ) -> ParsedRecord:
        """A line's record from its JSON value (or why it has none)."""
        if isinstance(record, LineError):
            return ParsedRecord(line_no, None, record, data)
        if not build and type(record) is dict:
            return ParsedRecord(line_no, None, None, data, value=record, digest=digest)
        return self._parse(line_no, data, record, digest)

    @staticmethod
    def _known_lines(lines: list[list[Any]], known: KnownLines) -> set[int]:
        """Indices of the lines stored before from identical bytes.

        A line's platform and post id are read off its text (`_key_fields`) so that a
        re-import need not parse the lines it skips; a line where that finds nothing is
        parsed. A wrong reading cannot make a line count as known: a stored post must have
        the key read *and* have been imported from a line with the same SHA-256.
        """
        keys = []
        for index, line in enumerate(lines):
            _, data, digest, record = line
            if not digest:
                continue  # too long to be a post
            key = _key_fields(data)
            if key is None:
                record = line[3] = _loads(data)
                if isinstance(record, dict):
                    platform, post_id = record.get("platform"), record.get("post_id")
                    if isinstance(platform, str) and isinstance(post_id, str | int):
                        key = (platform.lower(), str(post_id))
            if key is not None:
                keys.append((index, key[0], key[1], digest))
        return known(keys) if keys else set()

    @staticmethod
    def _parse(line_no: int, source: bytes, record: Any, digest: str) -> ParsedRecord:
        if isinstance(record, orjson.JSONDecodeError):
            return ParsedRecord(line_no, None, json_line_error(line_no, source, record), source)
        try:
            post = post_from_record(record, source_sha256=digest)
        except RecordError as exc:
            return ParsedRecord(line_no, None, LineError(line_no, exc.field, exc.message), source)
        return ParsedRecord(line_no, post, None, source)


class CsvReader:
    """CSV with a header row of the flattened smearwatch fields (`author_id`, `author_handle`...).

    List columns (`links`, `hashtags`, `mentions`) hold a JSON array or space-separated items.
    The raw payload is the `raw` column when present (JSON), else the record itself as a
    header-to-value object.
    """

    name = "csv"
    description = (
        "CSV with the smearwatch columns (platform, post_id, created_at, author_id, text, ...)"
    )

    def sniff(self, head: str, filename: str) -> bool:
        first = head.lstrip("\ufeff").split("\n", 1)[0]
        columns = {c.strip().strip('"') for c in first.split(",")}
        return set(CSV_REQUIRED) <= columns or (
            filename.lower().removesuffix(".gz").endswith(".csv") and "post_id" in columns
        )

    def read(self, export: ExportFile) -> Iterator[ParsedRecord]:
        rows = CsvRows(export)
        missing = [c for c in CSV_REQUIRED if c not in rows.header]
        if missing:
            raise ImportFormatError(
                rows.path,
                f"the CSV header lacks required column(s) {', '.join(missing)}; expected the "
                f"smearwatch columns {', '.join(CSV_COLUMNS)} (or pass --format for another "
                "tool's export)",
                line=1,
                field=missing[0],
            )
        for row in rows:
            if row.error is not None:
                yield ParsedRecord(row.line, None, row.error, row.source)
            else:
                yield self._parse(row.line, row.value, row.source)

    @staticmethod
    def _parse(line_no: int, row: dict[str, str], source: bytes) -> ParsedRecord:
        try:
            record: dict[str, Any] = {
                key: (value if value != "" else None)
                for key, value in row.items()
                if key in CSV_COLUMNS and key not in CSV_LIST_FIELDS
            }
            record["text"] = row.get("text", "")
            record["author"] = {
                "id": record.pop("author_id", None),
                "handle": record.pop("author_handle", None),
                "display_name": record.pop("author_display_name", None),
                "created_at": record.pop("author_created_at", None),
            }
            for column in CSV_LIST_FIELDS:
                record[column] = _csv_list(row.get(column, ""), column)
            raw_cell = record.pop("raw", None)
            if raw_cell:
                try:
                    raw = canonical_json(orjson.loads(raw_cell))
                except orjson.JSONDecodeError:
                    raw = raw_cell
            else:
                raw = canonical_json(row)
            post = post_from_record(record, raw=raw)
        except RecordError as exc:
            return ParsedRecord(line_no, None, LineError(line_no, exc.field, exc.message), source)
        return ParsedRecord(line_no, post, None, source)


FORMATS: dict[str, ExportReader] = {
    "jsonl": JsonlReader(),
    "csv": CsvReader(),
    "twarc2-jsonl": TwarcJsonlReader(),
    "twarc2-csv": TwarcCsvReader(),
    "4cat-csv": FourcatCsvReader(),
    "4cat-ndjson": FourcatNdjsonReader(),
    "telegram-desktop": TelegramDesktopReader(),
    "meta-content-library": MetaContentLibraryReader(),
    "crowdtangle-facebook": CrowdTangleFacebookReader(),
    "crowdtangle-instagram": CrowdTangleInstagramReader(),
    "custom": MappedCsvReader(),
}

# Detection asks the tools' formats first: the smearwatch readers accept any .jsonl/.csv name.
_GENERIC = ("jsonl", "csv")


def reader_for(fmt: str, **options: Any) -> ExportReader:
    """The reader of a format, configured with options from the command line or the config
    (`platform`, `timezone`, `channel`, `mapping`) where the format takes them."""
    reader = FORMATS[fmt]
    configure = getattr(reader, "configure", None)
    if configure is not None and any(v is not None for v in options.values()):
        return configure(**options)  # type: ignore[no-any-return]
    return reader


def detect_format(export: ExportFile) -> str:
    """Name of the first registered format that recognises the file.

    Raises:
        ImportFormatError: no format recognises it; the message lists the known ones.
    """
    head = export.head.decode("utf-8", errors="replace")
    ordered = [n for n in FORMATS if n not in _GENERIC] + list(_GENERIC)
    for name in ordered:
        if FORMATS[name].sniff(head, export.path.name):
            return name
    known = "; ".join(f"{n}: {r.description}" for n, r in FORMATS.items())
    raise ImportFormatError(
        str(export.path),
        f"unrecognised file layout. Known formats: {known}. Pass --format to choose one.",
    )
