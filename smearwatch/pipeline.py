"""The import job: one export file into the database, all or nothing.

An import is one transaction: a file with a bad line leaves nothing behind unless the analyst
asked for `--skip-invalid`, in which case the bad lines go to a rejects file beside the input
and the rest is committed. Either way the counts and the file's SHA-256 are recorded in
`import_batch`, so every imported post can be traced to the exact bytes it came from.

A large file is read and prepared by worker processes (`smearwatch.import_worker`) while this
process writes; they only read, so the transaction and its all-or-nothing stay here.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson
from sqlalchemy import Engine, insert, update

from collector.files import (
    FORMATS,
    IMPORTER_VERSION,
    ExportFile,
    ExportReader,
    ImportFormatError,
    LineError,
    detect_format,
    open_export,
)
from db import models
from db.store import (
    PostPreparer,
    PostWriter,
    PreparedPost,
    WriteCounts,
    foreign_keys_checked_once,
    holds_posts,
    pages_written_once,
    post_indexes_rebuilt,
)
from smearwatch.import_worker import (
    KNOWN,
    PARALLEL_MIN_BYTES,
    POST,
    InProcessReading,
    WorkerReading,
    worker_count,
)
from smearwatch.matching import MentionStep
from smearwatch.memory import cycle_collector_paused

__all__ = ["ImportRejected", "ImportSummary", "import_file"]

CHUNK_SIZE = 2000
# For guessing how many posts a file holds before reading it: smearwatch JSONL with its raw
# payloads takes about 1 KB a post, so this errs on the side of fewer.
BYTES_PER_POST_AT_MOST = 2000
MAX_REPORTED_ERRORS = 20

ProgressCallback = Callable[[int, int], None]


@dataclass
class ImportSummary:
    path: str
    format: str
    read: int = 0
    inserted: int = 0
    known: int = 0
    updated: int = 0
    rejected: int = 0
    mentions: int = 0
    file_sha256: str = ""
    rejects_path: str | None = None
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.path}: read {self.read:,}, inserted {self.inserted:,}, "
            f"already known {self.known:,}, edited {self.updated:,}, rejected {self.rejected:,}"
        )
        if self.mentions:
            text += f", defender mentions found {self.mentions:,}"
        if self.rejects_path:
            text += f" (rejected lines in {self.rejects_path})"
        return text


class ImportRejected(Exception):
    """The file has invalid records and nothing of it was committed."""

    def __init__(self, summary: ImportSummary, invalid: int) -> None:
        self.summary = summary
        self.invalid = invalid
        shown = "\n".join(f"  {e}" for e in summary.errors)
        more = invalid - len(summary.errors)
        tail = f"\n  ... and {more:,} more" if more > 0 else ""
        super().__init__(
            f"{summary.path}: {invalid:,} invalid record(s); nothing from this file was imported.\n"
            f"{shown}{tail}\n"
            "Fix the file, or run again with --skip-invalid to import the valid records and "
            "write the invalid ones to a rejects file."
        )


class _RejectsFile:
    """Bad records with their line and reason, written only if there are any."""

    def __init__(self, source: Path) -> None:
        self.path = source.with_name(source.name + ".rejects.jsonl")
        self._handle: IO[bytes] | None = None

    def write(self, line: int, field_name: str, message: str, source: bytes) -> None:
        if self._handle is None:
            try:
                self._handle = self.path.open("wb")
            except OSError as exc:
                raise ImportFormatError(
                    str(self.path), f"cannot write the rejects file: {exc.strerror}"
                ) from None
        record = {
            "line": line,
            "field": field_name,
            "error": message,
            "source": source.decode("utf-8", errors="replace"),
        }
        self._handle.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def import_file(
    engine: Engine,
    path: str | Path,
    *,
    fmt: str | ExportReader = "auto",
    skip_invalid: bool = False,
    progress: ProgressCallback | None = None,
    mentions: MentionStep | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import one export file in a single transaction.

    Raises:
        ImportFormatError: the file as a whole is unreadable (empty, binary, unknown layout).
        ImportRejected: invalid records and `skip_invalid` is false; nothing was committed.

    `parallel`: read the file in a worker process (True), here (False), or decide by its
    size (None).
    """
    path = Path(path)
    with open_export(path) as export:
        if not isinstance(fmt, str):  # a configured reader (custom mapping, --platform)
            reader, fmt = fmt, fmt.name
        elif fmt == "auto":
            fmt = detect_format(export)
            reader = FORMATS[fmt]
        elif fmt not in FORMATS:
            raise ImportFormatError(
                str(path), f"unknown format {fmt!r} (known: auto, {', '.join(FORMATS)})"
            )
        else:
            reader = FORMATS[fmt]
        summary = ImportSummary(path=str(path), format=fmt)
        now = datetime.now(UTC)
        provenance = {"method": "import", "file": path.name, "format": fmt}
        preparer = PostPreparer(engine.dialect.name == "sqlite", now, provenance)
        worker = _start_worker(engine, export, reader, preparer, mentions, parallel)
        rejects = _RejectsFile(path) if skip_invalid else None
        invalid = 0
        known_lines = 0
        # A large file into a small database: rebuild the post indexes at the end.
        expected = export.size // BYTES_PER_POST_AT_MOST
        try:
            with (
                cycle_collector_paused(),
                engine.connect() as connection,
                pages_written_once(connection, expected_posts=expected),
                connection.begin(),
            ):
                batch_id = connection.execute(
                    insert(models.ImportBatch.__table__).returning(models.ImportBatch.id),
                    {
                        "file_name": path.name,
                        "file_sha256": "",
                        "file_size": export.size,
                        "format": fmt,
                        "importer_version": IMPORTER_VERSION,
                        "started_at": now,
                        "status": "running",
                        "read": 0,
                        "inserted": 0,
                        "known": 0,
                        "updated": 0,
                        "rejected": 0,
                    },
                ).scalar_one()
                writer = PostWriter(
                    connection,
                    collector=f"import:{fmt}/{IMPORTER_VERSION}",
                    now=now,
                    source_name=f"import:{path.name}",
                    import_batch_id=batch_id,
                    provenance=provenance,
                )
                source = worker or InProcessReading(export, reader, preparer, writer.known_lines)
                counts = WriteCounts()
                chunk: list[PreparedPost] = []

                def flush() -> None:
                    if chunk and (skip_invalid or invalid == 0):
                        counts.add(writer.write_prepared(chunk))
                        if mentions is not None:
                            summary.mentions += mentions.store(
                                connection, writer.last_stored, replaced=writer.last_edited_ids
                            )
                    chunk.clear()
                    if progress is not None:
                        progress(source.bytes_read, export.size)

                with (
                    post_indexes_rebuilt(connection, expected_posts=expected),
                    foreign_keys_checked_once(connection),
                ):
                    for items in source:
                        for item in items:
                            summary.read += 1
                            kind = item[0]
                            if kind == POST:
                                if not invalid or skip_invalid:
                                    chunk.append(item[2])
                            elif kind == KNOWN:
                                known_lines += 1
                            else:
                                _, line, field_name, message, source_bytes = item
                                invalid += 1
                                if len(summary.errors) < MAX_REPORTED_ERRORS:
                                    summary.errors.append(
                                        LineError(line, field_name, message).describe(str(path))
                                    )
                                if rejects is not None:
                                    rejects.write(line, field_name, message, source_bytes)
                        # Without --skip-invalid the reading goes on only to report every bad
                        # line at once; nothing more is written.
                        if len(chunk) >= CHUNK_SIZE or (invalid and not skip_invalid):
                            flush()
                    flush()
                    writer.finish()
                    summary.inserted, summary.known, summary.updated = (
                        counts.inserted,
                        counts.known + known_lines,
                        counts.updated,
                    )
                    summary.rejected = invalid
                    summary.file_sha256 = source.finish_sha256()
                    if invalid and not skip_invalid:
                        raise ImportRejected(summary, invalid)
                connection.execute(
                    update(models.ImportBatch.__table__)
                    .where(models.ImportBatch.id == batch_id)
                    .values(
                        file_sha256=summary.file_sha256,
                        finished_at=datetime.now(UTC),
                        status="ok",
                        read=summary.read,
                        inserted=summary.inserted,
                        known=summary.known,
                        updated=summary.updated,
                        rejected=summary.rejected,
                    )
                )
        finally:
            if worker is not None:
                worker.close()
            if rejects is not None:
                rejects.close()
        if rejects is not None and invalid:
            summary.rejects_path = str(rejects.path)
        return summary


def _database_holds_posts(engine: Engine) -> bool:
    with engine.connect() as connection:
        return holds_posts(connection)


def _start_worker(
    engine: Engine,
    export: ExportFile,
    reader: ExportReader,
    preparer: PostPreparer,
    mentions: MentionStep | None,
    parallel: bool | None,
) -> WorkerReading | None:
    """A worker process for a large file (or when asked), else None: read it here."""
    if parallel is None:
        parallel = export.size >= PARALLEL_MIN_BYTES
    if not parallel:
        return None
    url: str | None = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        url = None  # a second process cannot see a database in memory: no re-import skipping
    elif not _database_holds_posts(engine):
        # Nothing to recognise (a first import): the workers need no connection, and none
        # of theirs stands in the way of `pages_written_once`. Posts another writer commits
        # before the import takes its lock are then parsed and found unchanged by the
        # writer: slower, not wrong.
        url = None
    try:
        pickle.dumps((reader, preparer, mentions))
    except (pickle.PicklingError, TypeError, AttributeError):
        return None  # a reader configured with something that cannot travel: read here
    try:
        return WorkerReading(
            export.path,
            reader,
            preparer,
            matcher=mentions,
            database_url=url,
            workers=worker_count(reader),
        )
    except OSError:
        return None  # no interpreter to start (an embedded Python): read here
