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
import marshal
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple
from multiprocessing.connection import Connection as PipeConnection
from pathlib import Path
from typing import Any

from analysis.mentions import Mention
from collector.files import ExportReader, ImportFormatError, open_export
from collector.formats.base import ExportFile, ParsedRecord
from db.store import PostPreparer, PreparedPost, known_source_lines
from smearwatch.memory import cycle_collector_paused

__all__ = [
    "INVALID",
    "KNOWN",
    "POST",
    "PARALLEL_MIN_BYTES",
    "InProcessReading",
    "WorkerReading",
    "WorkerFailed",
    "prepared_items",
    "worker_count",
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
    part: int = 0,
    parts: int = 1,
) -> Iterator[list[Item]]:
    """Batches of items of one file, in file order.

    `matcher` (a `MentionStep`) finds defender mentions where the post is prepared, so the
    worker does that work too; `keep_posts` keeps each `Post` on its `PreparedPost` (only
    useful within one process). With `parts` > 1 only every `parts`-th batch from `part` on
    is read (readers with `read_part`), so that several workers can share a file.

    Without `keep_posts` a JSONL reader hands over the JSON objects as read and most become
    stored rows directly (`PostPreparer.prepare_record`), without a `Post` in between.
    """
    prepare = preparer.prepare
    prepare_record = preparer.prepare_record
    has_matcher = matcher is not None and matcher.defenders
    find = matcher.find_in_post if has_matcher else None
    find_in_fields = matcher.find if has_matcher else None
    direct = not keep_posts and hasattr(reader, "build")
    for records in _record_groups(export, reader, known, part, parts, build=not direct):
        batch: list[Item] = []
        for record in records:
            if record.value is not None:
                prepared = prepare_record(record.value, record.digest, find_in_fields)
                if prepared is not None:
                    batch.append((POST, record.line, prepared))
                    continue
                record = reader.build(record)  # type: ignore[attr-defined]
            if record.known:
                batch.append((KNOWN, record.line))
            elif record.error is not None:
                error = record.error
                batch.append((INVALID, record.line, error.field, error.message, record.source))
            else:
                post = record.post
                # With no defenders configured there is nothing to find: the mentions
                # stay None and the writer side finds nothing either.
                found = tuple(find(post)) if find is not None else None
                prepared = prepare(post, keep_post=keep_posts, mentions=found)  # type: ignore[arg-type]
                batch.append((POST, record.line, prepared))
        yield batch


def _record_groups(
    export: ExportFile,
    reader: ExportReader,
    known: KnownLines | None,
    part: int,
    parts: int,
    *,
    build: bool,
) -> Iterator[Iterable[ParsedRecord]]:
    if parts > 1 or not build:
        read_part = reader.read_part  # type: ignore[attr-defined]
        yield from read_part(export, known, part, parts, build=build)
        return
    read_skipping = getattr(reader, "read_skipping", None)
    records = read_skipping(export, known) if read_skipping is not None else reader.read(export)
    group: list[ParsedRecord] = []
    for record in records:
        group.append(record)
        if len(group) >= BATCH:
            yield group
            group = []
    if group:
        yield group


def worker_count(reader: ExportReader) -> int:
    """How many workers read one file: two where the format lets them share it (`read_part`).

    On two cores one worker and the writer leave a core idle about half the time. Even
    with PostgreSQL, whose server needs a core too, two were faster: 1,000,000 posts took
    148 s against 167 s with one, and a re-import (all reading) 21.5 s against 42.0 s.
    """
    return 2 if hasattr(reader, "read_part") else 1


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


class WorkerReading:
    """The same batches, read and prepared by worker processes.

    Each worker is a fresh interpreter (`python -m smearwatch.import_worker`) that gets its
    task as one pickle on standard input and answers with marshal frames on a pipe; nothing
    of the parent (threads, open connections, a script without a main guard) is carried
    over. With several workers each reads every n-th batch of the file and the batches are
    taken from them in turn, which restores file order. A worker runs at most `_Worker.AHEAD`
    batches ahead, so memory does not grow with the file.
    """

    def __init__(
        self,
        path: Path,
        reader: ExportReader,
        preparer: PostPreparer,
        *,
        matcher: Any = None,
        database_url: str | None = None,
        workers: int = 1,
    ) -> None:
        self._workers: list[_Worker] = []
        self.database_url = database_url
        try:
            for part in range(workers):
                task = (str(path), reader, preparer, matcher, database_url, part, workers)
                self._workers.append(_Worker(task))
        except BaseException:
            self.close()
            raise
        self.bytes_read = 0
        self._sha256: str | None = None

    def __iter__(self) -> Iterator[list[Item]]:
        make = PreparedPost._make
        turn = 0
        while True:
            worker = self._workers[turn % len(self._workers)]
            message = worker.receive()
            kind = message[0]
            if kind == "batch":
                _, items, self.bytes_read = message
                for index, item in enumerate(items):
                    if item[0] == POST:
                        prepared = make(item[2])
                        if prepared.mentions:
                            found = tuple(Mention(*m) for m in prepared.mentions)
                            prepared = prepared._replace(mentions=found)
                        items[index] = (POST, item[1], prepared)
                yield items
                turn += 1
            elif kind == "end":
                # The file ended in this worker's turn: the others have nothing more either.
                ends = [message if w is worker else w.receive() for w in self._workers]
                if any(end[0] != "end" for end in ends):
                    raise WorkerFailed("the worker processes disagree on where the file ends")
                # The first worker is the one that hashes the file.
                _, self._sha256, self.bytes_read = ends[0]
                return
            elif kind == "format":
                _, path, text, line, field = message
                raise ImportFormatError(path, text, line=line, field=field)
            else:
                raise WorkerFailed(f"reading the file failed in the worker process:\n{message[1]}")

    def finish_sha256(self) -> str:
        if self._sha256 is None:
            raise WorkerFailed("the file was not read to its end")
        return self._sha256

    def close(self) -> None:
        """Stop the workers, also when this process gave up half way."""
        for worker in self._workers:
            worker.close()


class _Worker:
    """One worker process and the messages it sends.

    A thread takes the messages off the pipe as they come and keeps up to `AHEAD` of them,
    so the worker goes on reading while this process waits for the database (a look-up, a
    COPY, the server's work), instead of blocking on a full pipe. 200,000 posts, two runs
    each way: idle core time 6.9 s without, 5.0 s with on SQLite; 11.7-12.9 s against
    7.4-8.5 s on PostgreSQL.
    """

    AHEAD = 4  # batches of ~2 MB each

    def __init__(self, task: tuple[Any, ...]) -> None:
        data = pickle.dumps(task, pickle.HIGHEST_PROTOCOL)
        # The worker imports what this process imports (a checkout run without installing).
        path = os.pathsep.join(entry for entry in sys.path if entry)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smearwatch.import_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._pipe = PipeConnection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdout.close()
        # It died at once if this fails; receive() tells why.
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(data)
            self.process.stdin.close()
        self.done = False
        # Message bytes, or None once the pipe has ended (the worker finished or died).
        self._messages: queue.Queue[bytes | None] = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_pipe, name="import-pipe", daemon=True)
        self._reader.start()

    def _read_pipe(self) -> None:
        """The thread's loop. It alone uses and closes the pipe, so no other thread can close
        a descriptor it is reading from."""
        try:
            while not self._stop.is_set():
                try:
                    data: bytes | None = self._pipe.recv_bytes()
                except (EOFError, OSError):
                    data = None
                while not self._stop.is_set():
                    try:
                        self._messages.put(data, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if data is None:
                    return
        finally:
            self._pipe.close()

    def receive(self) -> tuple[Any, ...]:
        if self.done:
            return ("end", None, 0)
        data = self._messages.get()
        if data is None:
            try:
                code = self.process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            raise WorkerFailed(
                f"the worker process reading the file stopped (exit code {code}); "
                "nothing of the file was imported"
            )
        message: tuple[Any, ...] = marshal.loads(data)
        self.done = message[0] == "end"
        return message

    def stop_reading(self) -> None:
        """Stop taking messages; the pipe closes at the worker's next message or exit, and a
        worker that finds it closed stops."""
        self._stop.set()

    def close(self) -> None:
        self.stop_reading()
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)


def main() -> None:
    """Entry point of the worker process."""
    # Ctrl-C reaches the whole process group; the parent decides and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Messages go on the pipe that was standard output; anything printed by accident goes
    # to standard error instead of corrupting them.
    pipe = PipeConnection(os.dup(1), readable=False)
    os.dup2(2, 1)
    task = pickle.loads(sys.stdin.buffer.read())
    with cycle_collector_paused():
        _work(pipe, *task)


def _work(
    pipe: PipeConnection,
    path: str,
    reader: ExportReader,
    preparer: PostPreparer,
    matcher: Any,
    database_url: str | None,
    part: int,
    parts: int,
) -> None:
    """Read, prepare and send; never write to the database."""
    engine = None
    try:
        known: KnownLines | None = None
        if database_url is not None:
            from db.engine import create_db_engine

            engine = create_db_engine(database_url, sqlite_cache_mib=8)

            def known(keys: list[tuple[int, str, str, str]]) -> set[int]:
                with engine.connect() as connection:  # type: ignore[union-attr]
                    return known_source_lines(connection, keys)

        # The file's SHA-256 comes from the first worker; the others only read.
        with open_export(path, hashing=part == 0) as export:
            for batch in prepared_items(
                export,
                reader,
                preparer,
                matcher=matcher,
                known=known,
                keep_posts=False,
                part=part,
                parts=parts,
            ):
                for index, item in enumerate(batch):
                    if item[0] == POST:
                        batch[index] = (POST, item[1], _plain(item[2]))
                _send(pipe, ("batch", batch, export.bytes_read))
            if part == 0:
                _send(pipe, ("end", export.finish_sha256(), export.bytes_read))
            else:
                export.finish_reading()
                _send(pipe, ("end", None, export.bytes_read))
    except ImportFormatError as exc:
        _tell(pipe, ("format", exc.path, exc.message, exc.line, exc.field))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped listening (it finished, failed or was killed): stop too
    except BaseException:  # noqa: BLE001 - everything must reach the parent as a message
        _tell(pipe, ("failed", traceback.format_exc()))
    finally:
        if engine is not None:
            engine.dispose()
        pipe.close()


def _plain(prepared: PreparedPost) -> tuple[Any, ...]:
    """A prepared post as nested tuples of strings and numbers, which `marshal` takes."""
    if not prepared.mentions:
        return tuple(prepared)
    found = tuple(astuple(mention) for mention in prepared.mentions)  # Mention(*fields) again
    return tuple(prepared._replace(mentions=found))


def _send(pipe: PipeConnection, message: tuple[Any, ...]) -> None:
    """Raises BrokenPipeError once the parent has gone, which ends the worker's reading."""
    # Messages are plain data between two copies of the same interpreter, so `marshal`
    # will do, and it is about a third cheaper than pickle on both ends.
    pipe.send_bytes(marshal.dumps(message))


def _tell(pipe: PipeConnection, message: tuple[Any, ...]) -> None:
    """A last message (an error); a parent that stopped listening knows why already."""
    with contextlib.suppress(BrokenPipeError, OSError):
        _send(pipe, message)


if __name__ == "__main__":
    main()
