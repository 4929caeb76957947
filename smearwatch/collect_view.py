"""What `smearwatch collect` shows: a live line per source on a terminal, then a summary.

Kept apart from the collection itself so the daemon and tests run the same pipeline silently.
The live display goes to stderr and only on a terminal; the per-source summary lines go to
stdout, so a cron mail or a log file gets exactly one line per source.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from smearwatch.collect import SourceSummary

__all__ = ["CollectView"]

_STYLE = {"ok": "green", "partial": "yellow", "failed": "bold red", "interrupted": "bold red"}


class CollectView:
    """A progress callback for `collect` plus the final summary lines."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if err.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )

    def __enter__(self) -> CollectView:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, summary: SourceSummary) -> None:
        counts = f"{summary.pages:,} pages, {summary.fetched:,} fetched, {summary.inserted:,} new"
        if self._progress is not None:
            task = self._tasks.get(summary.name)
            if task is None:
                task = self._progress.add_task(summary.name, total=None, counts=counts)
                self._tasks[summary.name] = task
            self._progress.update(task, counts=counts)
        if summary.status not in ("pending", "running"):
            if self._progress is not None:
                self._progress.remove_task(self._tasks.pop(summary.name))
            self._print(summary)

    def _print(self, summary: SourceSummary) -> None:
        style = _STYLE.get(summary.status, "")
        status = f"[{style}]{summary.status}[/]" if style else summary.status
        text = (
            f"{_esc(summary.name)} ({summary.platform}): {status}; "
            f"fetched {summary.fetched:,}, inserted {summary.inserted:,}, "
            f"already known {summary.known:,}"
        )
        if summary.updated:
            text += f", edited {summary.updated:,}"
        if summary.error:
            text += f"; error: {_esc(summary.error)}"
        self.out.print(text, highlight=False)


def _esc(text: str) -> str:
    return text.replace("[", r"\[")
