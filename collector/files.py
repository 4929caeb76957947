"""Reading export files that analysts already have: smearwatch JSONL (plain or gzip) and CSV.

Readers stream: one line (or CSV record) at a time, so memory does not grow with the file.
Each record comes out as a `ParsedRecord` that carries either a `Post` or a `LineError` naming
the line and the field, so the importer can refuse the whole file or set bad lines aside.
Problems with the file as a whole (empty, binary, not UTF-8, unknown layout) raise
`ImportFormatError` with a message an analyst can act on.

Formats register in `FORMATS`; `detect_format` asks each in order, so adding a tool's export
format is one reader class and one entry.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from collector.post import Post, RecordError, canonical_json, post_from_record

__all__ = [
    "FORMATS",
    "ExportFile",
    "ImportFormatError",
    "LineError",
    "ParsedRecord",
    "detect_format",
    "open_export",
]

IMPORTER_VERSION = "files/1"
KNOWN_BATCH = 1000
_TOO_LONG = object()

# Given (index, platform, post_id, SHA-256 of the line) for a batch of lines, the indices of
# the lines stored before exactly as they are now: those need no parsing into a Post.
KnownLines = Callable[[list[tuple[int, str, str, str]]], set[int]]
MAX_RECORD_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"

CSV_LIST_FIELDS = ("links", "hashtags", "mentions")
CSV_COLUMNS = (
    "platform", "post_id", "url", "created_at", "collected_at", "author_id", "author_handle",
    "author_display_name", "author_created_at", "text", "lang", "links", "hashtags", "mentions",
    "reply_to", "repost_of", "quote_of", "raw",
)  # fmt: skip
CSV_REQUIRED = ("platform", "post_id", "created_at", "author_id", "text")


class ImportFormatError(Exception):
    """The file as a whole cannot be read; `line` and `field` are set when they are known."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        where = path if line is None else f"{path}, line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str
    message: str

    def describe(self, path: str) -> str:
        return f"{path}, line {self.line}, field '{self.field}': {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """One record of an export file: a post, or the reason it is not one, plus its source text."""

    line: int
    post: Post | None
    error: LineError | None
    source: bytes
    known: bool = False
    """Already stored exactly as this line says (re-import fast path); no `Post` was built."""


class _HashingReader(io.RawIOBase):
    """Hashes every byte it hands on, so the file's SHA-256 comes from the same single pass."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.bytes_read += n
        return n

    def finish(self) -> str:
        while True:
            data = self._raw.read(1 << 20)
            if not data:
                break
            self.sha256.update(data)
            self.bytes_read += len(data)
        return self.sha256.hexdigest()


@dataclass
class ExportFile:
    """An open export file: a decompressed byte stream plus what we learnt from its head."""

    path: Path
    size: int
    compressed: bool
    head: bytes
    stream: IO[bytes]
    _hasher: _HashingReader
    _file: IO[bytes]

    @property
    def bytes_read(self) -> int:
        return self._hasher.bytes_read

    def finish_sha256(self) -> str:
        """The SHA-256 of the file as it lies on disk (compressed bytes for a .gz)."""
        return self._hasher.finish()

    def close(self) -> None:
        self.stream.close()
        self._file.close()

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_export(path: str | Path) -> ExportFile:
    """Open an export file for streaming, refusing empty and binary files up front.

    Raises:
        ImportFormatError: missing, unreadable, empty, binary or corrupt compressed file.
    """
    path = Path(path)
    name = str(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ImportFormatError(name, "no such file") from None
    except IsADirectoryError:
        raise ImportFormatError(name, "is a folder, not a file") from None
    except OSError as exc:
        raise ImportFormatError(name, f"cannot be read: {exc.strerror}") from None
    size = path.stat().st_size
    hasher = _HashingReader(handle)
    buffered = io.BufferedReader(hasher, buffer_size=1 << 20)
    magic = buffered.peek(2)[:2]
    compressed = magic == GZIP_MAGIC
    stream: IO[bytes] = gzip.GzipFile(fileobj=buffered, mode="rb") if compressed else buffered
    try:
        head = stream.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(stream, "peek") else b""
    except (OSError, EOFError, zlib.error) as exc:
        handle.close()
        raise ImportFormatError(
            name, f"looks gzip-compressed but cannot be decompressed ({exc})"
        ) from None
    if not head.strip():
        handle.close()
        what = "is empty" if size == 0 else "contains no data (only white space)"
        raise ImportFormatError(name, f"{what}: nothing to import")
    if b"\x00" in head:
        handle.close()
        raise ImportFormatError(
            name,
            "is a binary file, not a text export (expected smearwatch JSONL, gzip-compressed "
            "JSONL or CSV)",
        )
    return ExportFile(path, size, compressed, head, stream, hasher, handle)


class ExportReader(Protocol):
    """A format of export file. `sniff` sees the decoded head; `read` streams records."""

    name: str
    description: str

    def sniff(self, head: str, filename: str) -> bool: ...

    def read(self, export: ExportFile) -> Iterator[ParsedRecord]: ...


def _decode_error(line_no: int, data: bytes, exc: UnicodeDecodeError) -> LineError:
    return LineError(
        line_no,
        "(encoding)",
        f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); smearwatch "
        "reads UTF-8 only: convert the file first, e.g. iconv -f cp1251 -t utf-8",
    )


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
        batch: list[tuple[int, bytes, int]] = []
        for line in self._lines(export.stream):
            batch.append(line)
            if len(batch) >= KNOWN_BATCH:
                yield from self._parse_batch(batch, known)
                batch = []
        yield from self._parse_batch(batch, known)

    def _lines(self, stream: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
        """(line number, bytes, 0) per non-blank line; (number, start, length) for one too long."""
        line_no = 0
        while True:
            data = stream.readline(MAX_RECORD_BYTES + 1)
            if not data:
                return
            line_no += 1
            if len(data) > MAX_RECORD_BYTES and not data.endswith(b"\n"):
                # Too long to be one post: skip the rest without keeping it in memory.
                yield line_no, data[:1024], len(data) + _skip_rest_of_line(stream)
                continue
            if line_no == 1 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
            if data.strip():
                yield line_no, data.rstrip(b"\r\n"), 0

    def _parse_batch(
        self, batch: list[tuple[int, bytes, int]], known: KnownLines | None
    ) -> Iterator[ParsedRecord]:
        parsed: list[tuple[int, bytes, Any, str]] = []
        for line_no, data, too_long in batch:
            if too_long:
                parsed.append((line_no, data, _TOO_LONG, str(too_long)))
                continue
            try:
                record: Any = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                record = exc
            parsed.append((line_no, data, record, hashlib.sha256(data).hexdigest()))
        skip: set[int] = set()
        if known is not None:
            keys = []
            for index, (_, _, record, digest) in enumerate(parsed):
                if isinstance(record, dict):
                    platform, post_id = record.get("platform"), record.get("post_id")
                    if isinstance(platform, str) and isinstance(post_id, str | int):
                        keys.append((index, platform.lower(), str(post_id), digest))
            if keys:
                skip = known(keys)
        for index, (line_no, data, record, digest) in enumerate(parsed):
            if index in skip:
                yield ParsedRecord(line_no, None, None, data, known=True)
            elif record is _TOO_LONG:
                yield ParsedRecord(
                    line_no,
                    None,
                    LineError(
                        line_no,
                        "(line)",
                        f"line is {int(digest):,} bytes long; one post may take at most "
                        f"{MAX_RECORD_BYTES:,} bytes (is this really one JSON object per line?)",
                    ),
                    data,
                )
            else:
                yield self._parse(line_no, data, record, digest)

    @staticmethod
    def _parse(line_no: int, source: bytes, record: Any, digest: str) -> ParsedRecord:
        if isinstance(record, orjson.JSONDecodeError):
            try:
                source.decode("utf-8")
            except UnicodeDecodeError as decode_exc:
                return ParsedRecord(
                    line_no, None, _decode_error(line_no, source, decode_exc), source
                )
            return ParsedRecord(
                line_no, None, LineError(line_no, "(json)", f"not valid JSON: {record}"), source
            )
        try:
            post = post_from_record(record, source_sha256=digest)
        except RecordError as exc:
            return ParsedRecord(line_no, None, LineError(line_no, exc.field, exc.message), source)
        return ParsedRecord(line_no, post, None, source)


def _skip_rest_of_line(stream: IO[bytes]) -> int:
    skipped = 0
    while True:
        chunk = stream.readline(1 << 20)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _csv_list(value: str, column: str) -> list[str]:
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            items = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise RecordError(column, f"not a valid JSON list: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise RecordError(column, "expected a JSON list of strings")
        return items
    return value.split()


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
        path = str(export.path)
        reader = csv.reader(_decoded_lines(export.stream, path))
        csv.field_size_limit(MAX_RECORD_BYTES)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise ImportFormatError(path, f"cannot read the CSV header: {exc}", line=1) from None
        header = [h.strip() for h in header]
        missing = [c for c in CSV_REQUIRED if c not in header]
        if missing:
            raise ImportFormatError(
                path,
                f"the CSV header lacks required column(s) {', '.join(missing)}; expected the "
                f"smearwatch columns {', '.join(CSV_COLUMNS)} (or pass --format for another "
                "tool's export)",
                line=1,
                field=missing[0],
            )
        previous_end = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line_no = previous_end + 1
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a field is longer than {MAX_RECORD_BYTES:,} bytes"
                yield ParsedRecord(line_no, None, LineError(line_no, "(csv)", message), b"")
                previous_end = reader.line_num
                continue
            line_no = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            source = _csv_source(row)
            if len(row) != len(header):
                yield ParsedRecord(
                    line_no,
                    None,
                    LineError(
                        line_no, "(csv)", f"has {len(row)} columns, the header has {len(header)}"
                    ),
                    source,
                )
                continue
            yield self._parse(line_no, dict(zip(header, row, strict=True)), source)

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


def _decoded_lines(stream: IO[bytes], path: str) -> Iterator[str]:
    """Physical lines as text, so a decoding error can name its line (a CSV record may span
    several). A file in another encoding cannot be resynchronised, so the error is fatal."""
    line_no = 0
    while True:
        data = stream.readline(MAX_RECORD_BYTES + 1)
        if not data:
            return
        line_no += 1
        if line_no == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        if len(data) > MAX_RECORD_BYTES and not data.endswith(b"\n"):
            raise ImportFormatError(
                path, f"line is longer than {MAX_RECORD_BYTES:,} bytes", line=line_no
            )
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(
                path, _decode_error(line_no, data, exc).message, line=line_no, field="(encoding)"
            ) from None


def _csv_source(row: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue().encode("utf-8")


FORMATS: dict[str, ExportReader] = {
    "jsonl": JsonlReader(),
    "csv": CsvReader(),
}


def detect_format(export: ExportFile) -> str:
    """Name of the first registered format that recognises the file.

    Raises:
        ImportFormatError: no format recognises it; the message lists the known ones.
    """
    head = export.head.decode("utf-8", errors="replace")
    for name, reader in FORMATS.items():
        if reader.sniff(head, export.path.name):
            return name
    known = "; ".join(f"{n}: {r.description}" for n, r in FORMATS.items())
    raise ImportFormatError(
        str(export.path),
        f"unrecognised file layout. Known formats: {known}. Pass --format to choose one.",
    )
