"""What every export reader shares: opening a file, records with line numbers, row iteration.

Kept apart from the registry in `collector.files` so each tool's reader can live in a module
of its own (`collector/formats/<tool>.py`) without import cycles: readers import this module,
the registry imports the readers.
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
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from collector.post import Post, RecordError

MAX_RECORD_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


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
    value: Any = None
    """Read with `build=False`: the line's JSON object, whose `Post` is not built yet (`post`
    and `error` are None); the reader's `build` builds it or says why it cannot."""
    digest: str = ""
    """With `value`: the SHA-256 of the line."""


class _HashingReader(io.RawIOBase):
    """Hashes every byte it hands on, so the file's SHA-256 comes from the same single pass."""

    def __init__(self, raw: IO[bytes], *, hashing: bool = True) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256() if hashing else None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self.sha256 is not None:
            self.sha256.update(data)
        self.bytes_read += n
        return n

    def finish(self) -> str | None:
        while True:
            data = self._raw.read(1 << 20)
            if not data:
                break
            if self.sha256 is not None:
                self.sha256.update(data)
            self.bytes_read += len(data)
        return self.sha256.hexdigest() if self.sha256 is not None else None


class _CheckedGzip(gzip.GzipFile):
    """A gzip stream that reports a damaged or cut-off file as an import error.

    Left alone, a truncated download raises EOFError somewhere in the middle of reading,
    which the command line takes for Ctrl-D and answers with a bare "Aborted!".
    """

    def __init__(self, name: str, fileobj: IO[bytes]) -> None:
        super().__init__(fileobj=fileobj, mode="rb")
        self._display_name = name

    def _damaged(self, exc: Exception) -> ImportFormatError:
        return ImportFormatError(
            self._display_name,
            f"the compressed file is damaged or cut off ({exc}); nothing of it was imported",
        )

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._damaged(exc) from None

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._damaged(exc) from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return super().readline(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._damaged(exc) from None


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
        digest = self._hasher.finish()
        if digest is None:
            raise RuntimeError("this export file was opened with hashing=False")
        return digest

    def finish_reading(self) -> None:
        """Read to the end without hashing (a file opened with hashing=False)."""
        self._hasher.finish()

    def close(self) -> None:
        self.stream.close()
        self._file.close()

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_export(path: str | Path, *, hashing: bool = True) -> ExportFile:
    """Open an export file for streaming, refusing empty and binary files up front.

    `hashing=False` for a second reader of the same file (an import's other worker), which
    needs not compute the file's SHA-256 once more.

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
    hasher = _HashingReader(handle, hashing=hashing)
    buffered = io.BufferedReader(hasher, buffer_size=1 << 20)
    magic = buffered.peek(2)[:2]
    compressed = magic == GZIP_MAGIC
    stream: IO[bytes] = _CheckedGzip(name, buffered) if compressed else buffered
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


# -- shared machinery of the tools' readers --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One source record (a CSV row or a JSON object) with its line, or why it is unreadable."""

    line: int
    value: Any
    error: LineError | None
    source: bytes


def _delimiter(header_line: str) -> str:
    """Comma, or the semicolon/tab a spreadsheet in another locale wrote instead."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvRows:
    """The header and then the rows of a CSV export as dicts, each with its first line number.

    Raises `ImportFormatError` when the header cannot be read; a row that cannot be parsed or
    has the wrong number of cells comes out as a `Row` with an error, and reading goes on.
    """

    def __init__(self, export: ExportFile) -> None:
        self.path = str(export.path)
        head = export.head.decode("utf-8", errors="replace").lstrip("\ufeff")
        csv.field_size_limit(MAX_RECORD_BYTES)
        self._reader = csv.reader(
            _decoded_lines(export.stream, self.path), delimiter=_delimiter(head.split("\n", 1)[0])
        )
        try:
            header = next(self._reader)
        except StopIteration:
            raise ImportFormatError(self.path, "no CSV header", line=1) from None
        except csv.Error as exc:
            raise ImportFormatError(
                self.path, f"cannot read the CSV header: {exc}", line=1
            ) from None
        self.header = [h.strip() for h in header]

    def require(self, columns: tuple[str, ...], what: str) -> None:
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise ImportFormatError(
                self.path,
                f"the CSV header lacks column(s) {', '.join(missing)} of {what}",
                line=1,
                field=missing[0],
            )

    def __iter__(self) -> Iterator[Row]:
        previous_end = self._reader.line_num
        width = len(self.header)
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line_no = previous_end + 1
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a field is longer than {MAX_RECORD_BYTES:,} bytes"
                yield Row(line_no, None, LineError(line_no, "(csv)", message), b"")
                previous_end = self._reader.line_num
                continue
            line_no = previous_end + 1
            previous_end = self._reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            source = _csv_source(cells)
            if len(cells) != width:
                error = LineError(
                    line_no, "(csv)", f"has {len(cells)} columns, the header has {width}"
                )
                yield Row(line_no, None, error, source)
                continue
            yield Row(line_no, dict(zip(self.header, cells, strict=True)), None, source)


def physical_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
    """(line number, bytes without the line end, 0) per non-blank line of a JSON-lines file.

    A line longer than MAX_RECORD_BYTES comes out as (number, its first KiB, its length) and
    the rest of it is skipped without being held in memory. A leading BOM is dropped.
    """
    line_no = 0
    while True:
        data = stream.readline(MAX_RECORD_BYTES + 1)
        if not data:
            return
        line_no += 1
        if len(data) > MAX_RECORD_BYTES and not data.endswith(b"\n"):
            yield line_no, data[:1024], len(data) + _skip_rest_of_line(stream)
            continue
        if line_no == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        if not data.isspace():  # strip() would copy every line to find the blank ones
            yield line_no, data.rstrip(b"\r\n"), 0


def physical_line_batches(
    stream: IO[bytes], size: int, wanted: Callable[[int], bool]
) -> Iterator[list[tuple[int, bytes, int]]]:
    """`physical_lines` in batches of `size`, numbered from 0; only those `wanted` says.

    Several workers share a file by each taking every n-th batch: each passes over the whole
    file, which is how it knows the line numbers of its own batches.
    """
    lines = physical_lines(stream)
    number = 0
    while batch := list(islice(lines, size)):
        if wanted(number):
            yield batch
        number += 1


def json_line_error(line_no: int, source: bytes, exc: orjson.JSONDecodeError) -> LineError:
    """Why a line is not JSON: another encoding than UTF-8, or broken JSON."""
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as decode_exc:
        return _decode_error(line_no, source, decode_exc)
    return LineError(line_no, "(json)", f"not valid JSON: {exc}")


def json_lines(export: ExportFile) -> Iterator[Row]:
    """The JSON values of a JSON-lines export, one per non-blank line."""
    for line_no, source, too_long in physical_lines(export.stream):
        if too_long:
            message = f"line is {too_long:,} bytes long; one record may take at most "
            message += f"{MAX_RECORD_BYTES:,} bytes"
            yield Row(line_no, None, LineError(line_no, "(line)", message), source)
            continue
        try:
            value = orjson.loads(source)
        except orjson.JSONDecodeError as exc:
            yield Row(line_no, None, json_line_error(line_no, source, exc), source)
            continue
        yield Row(line_no, value, None, source)


def first_json_line(head: str) -> Any:
    """The first line of the head as JSON, or None (also when it was cut off by the head)."""
    first = next((line for line in head.lstrip("\ufeff").splitlines() if line.strip()), "")
    if not first.lstrip().startswith("{"):
        return None
    try:
        return orjson.loads(first)
    except orjson.JSONDecodeError:
        return None


def csv_header(head: str) -> set[str]:
    first = head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    try:
        cells = next(csv.reader([first], delimiter=_delimiter(first)))
    except (csv.Error, StopIteration):
        return set()
    return {c.strip() for c in cells}


class RowReader:
    """A tool's export whose records map one by one (or one to several) onto posts.

    Subclasses set `name`, `description`, `kind` ("csv" or "jsonl") and implement `sniff` and
    `posts(value)`, which raises `RecordError` naming the field. The raw payload of each post is
    the source record as canonical JSON, unless `posts` sets it.
    """

    name: str = ""
    description: str = ""
    kind: str = "csv"
    required: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        self.options = options

    def configure(self, **options: Any) -> RowReader:
        """A copy with reader options (e.g. `platform`, `timezone`) set from the command line."""
        merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
        return type(self)(**merged)

    def sniff(self, head: str, filename: str) -> bool:
        return False

    def posts(self, value: Any) -> list[Post]:
        raise NotImplementedError

    def check_header(self, rows: CsvRows) -> None:
        if self.required:
            rows.require(self.required, f"a {self.description}")

    def read(self, export: ExportFile) -> Iterator[ParsedRecord]:
        if self.kind == "csv":
            rows: Any = CsvRows(export)
            self.check_header(rows)
        else:
            rows = json_lines(export)
        for row in rows:
            if row.error is not None:
                yield ParsedRecord(row.line, None, row.error, row.source)
                continue
            try:
                posts = self.posts(row.value)
            except RecordError as exc:
                error = LineError(row.line, exc.field, exc.message)
                yield ParsedRecord(row.line, None, error, row.source)
                continue
            for post in posts:
                yield ParsedRecord(row.line, post, None, row.source)
