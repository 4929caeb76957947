"""Reading an export file into prepared posts, here or in a worker process.

An import spends about as much time parsing and hashing as the database spends storing. On a
large file a worker process does the reading (decompressing, JSON, validation, hashes, link
normalisation, defender matching) while this process writes, so the two overlap on two
cores. Both ways yield the same batches of items, so the import job has one loop:

    (KNOWN, line)                            stored before from identical bytes, not parsed
    (INVALID, line, field, message, source)  a line that is not a post, and why
    (POST, line, prepared)                   a `PreparedPost` ready for the writer

The worker holds no lock and writes nothing. It may open its own read-only connection to
recognise lines stored before (re-import); one it does not recognise is parsed and written
as usual and the writer finds it unchanged, so that connection only saves time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from collector.files import ExportReader, ImportFormatError, open_export
from collector.formats.base import ExportFile
from db.store import PostPreparer, PreparedPost, known_source_lines

__all__ = [
    "INVALID",
    "KNOWN",
    "POST",
    "PARALLEL_MIN_BYTES",
    "InProcessReading",
    "WorkerReading",
    "WorkerFailed",
    "prepared_items",
]

KNOWN, INVALID, POST = 0, 1, 2
# Below this a worker costs more to start (a fresh interpreter, ~0.5 s) than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
BATCH = 2000

Item = tuple[Any, ...]
KnownLines = Callable[[list[tuple[int, str, str, str]]], set[int]]


class WorkerFailed(RuntimeError):
    """The reading process died or failed; nothing of the file is committed."""


def prepared_items(
    export: ExportFile,
    reader: ExportReader,
    preparer: PostPreparer,
    *,
    matcher: Any = None,
    known: KnownLines | None = None,
    keep_posts: bool = True,
) -> Iterator[list[Item]]:
    """Batches of items of one file, in file order.

    `matcher` (a `MentionStep`) finds defender mentions where the post is prepared, so the
    worker does that work too; `keep_posts` keeps each `Post` on its `PreparedPost` (only
    useful within one process).
    """
    read_skipping = getattr(reader, "read_skipping", None)
    records = read_skipping(export, known) if read_skipping is not None else reader.read(export)
    prepare = preparer.prepare
    batch: list[Item] = []
    for record in records:
        if record.known:
            batch.append((KNOWN, record.line))
        elif record.error is not None:
            error = record.error
            batch.append((INVALID, record.line, error.field, error.message, record.source))
        else:
            post = record.post
            prepared = prepare(post, keep_post=keep_posts)  # type: ignore[arg-type]
            if matcher is not None:
                prepared = prepared._replace(mentions=tuple(matcher.find_in_post(post)))
            batch.append((POST, record.line, prepared))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class InProcessReading:
    """Small files, and databases a second process cannot open (SQLite in memory)."""

    def __init__(
        self,
        export: ExportFile,
        reader: ExportReader,
        preparer: PostPreparer,
        known: KnownLines | None,
    ) -> None:
        self._export = export
        self._batches = prepared_items(export, reader, preparer, known=known)

    def __iter__(self) -> Iterator[list[Item]]:
        return self._batches

    @property
    def bytes_read(self) -> int:
        return self._export.bytes_read

    def finish_sha256(self) -> str:
        return self._export.finish_sha256()

    def close(self) -> None:
        pass


class WorkerReading:
    """The same batches, read and prepared by a worker process.

    The pipe between the two holds about one batch, so the worker stays at most a batch or
    two ahead and memory does not grow with the file.
    """

    def __init__(
        self,
        path: Path,
        reader: ExportReader,
        preparer: PostPreparer,
        *,
        matcher: Any = None,
        database_url: str | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_work,
            args=(child, str(path), reader, preparer, matcher, database_url),
            name="smearwatch-import-reader",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.bytes_read = 0
        self._sha256: str | None = None
        self.matched = matcher is not None

    def __iter__(self) -> Iterator[list[Item]]:
        make = PreparedPost._make
        while True:
            message = self._receive()
            kind = message[0]
            if kind == "batch":
                _, items, self.bytes_read = message
                for index, item in enumerate(items):
                    if item[0] == POST:
                        items[index] = (POST, item[1], make(item[2]))
                yield items
            elif kind == "end":
                _, self._sha256, self.bytes_read = message
                return
            elif kind == "format":
                _, path, text, line, field = message
                raise ImportFormatError(path, text, line=line, field=field)
            else:
                raise WorkerFailed(f"reading the file failed in the worker process:\n{message[1]}")

    def _receive(self) -> tuple[Any, ...]:
        try:
            data = self._pipe.recv_bytes()
        except (EOFError, OSError):
            self._process.join(5)
            raise WorkerFailed(
                f"the worker process reading the file stopped (exit code "
                f"{self._process.exitcode}); nothing of the file was imported"
            ) from None
        return pickle.loads(data)  # type: ignore[no-any-return]

    def finish_sha256(self) -> str:
        if self._sha256 is None:
            raise WorkerFailed("the file was not read to its end")
        return self._sha256

    def close(self) -> None:
        """Stop the worker, also when this process gave up half way."""
        self._pipe.close()
        self._process.join(2)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


def _work(
    pipe: Pipe,
    path: str,
    reader: ExportReader,
    preparer: PostPreparer,
    matcher: Any,
    database_url: str | None,
) -> None:
    """The worker process: read, prepare and send; never write to the database."""
    # Ctrl-C reaches the whole process group; the parent decides and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = None
    try:
        known: KnownLines | None = None
        if database_url is not None:
            from db.engine import create_db_engine

            engine = create_db_engine(database_url, sqlite_cache_mib=8)

            def known(keys: list[tuple[int, str, str, str]]) -> set[int]:
                with engine.connect() as connection:  # type: ignore[union-attr]
                    return known_source_lines(connection, keys)

        with open_export(path) as export:
            for batch in prepared_items(
                export, reader, preparer, matcher=matcher, known=known, keep_posts=False
            ):
                for index, item in enumerate(batch):
                    if item[0] == POST:
                        # A bare tuple pickles several times faster than the named one.
                        batch[index] = (POST, item[1], tuple(item[2]))
                _send(pipe, ("batch", batch, export.bytes_read))
            _send(pipe, ("end", export.finish_sha256(), export.bytes_read))
    except ImportFormatError as exc:
        _send(pipe, ("format", exc.path, exc.message, exc.line, exc.field))
    except BrokenPipeError:
        pass  # the parent stopped listening; it knows why
    except BaseException:  # noqa: BLE001 - everything must reach the parent as a message
        _send(pipe, ("failed", traceback.format_exc()))
    finally:
        if engine is not None:
            engine.dispose()
        pipe.close()


def _send(pipe: Pipe, message: tuple[Any, ...]) -> None:
    # A parent that stopped listening knows why; there is nobody left to tell.
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
