"""The `smearwatch` command line: the only place that turns errors into messages and exit codes.

Library code raises domain errors (`ConfigError`, `DatabaseError`, `ImportFormatError`,
`ImportRejected`); here they become one clear line on stderr and exit code 1, never a
traceback. Exit code 2 is left to click for usage errors.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from collector.files import FORMATS, ImportFormatError
from collector.post import RecordError, parse_time
from db.engine import DatabaseError, open_database
from db.queries import (
    iter_accounts,
    iter_mentions,
    iter_payload_mismatches,
    iter_post_records,
    status_counts,
)
from smearwatch import __version__
from smearwatch.config import CONFIG_TEMPLATE, Config, ConfigError, load_config
from smearwatch.matching import MentionStep, refresh_stale_mentions
from smearwatch.pipeline import ImportRejected, import_file

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class State:
    """What the group options resolved to, handed to every command."""

    def __init__(self, config_path: str | None, database_url: str | None) -> None:
        self.config_path = config_path
        self.database_url = database_url
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, database_url=self.database_url)
        return self._config

    def engine(self) -> Any:
        return open_database(self.config.database_url)

    def mention_step(self, engine: Any) -> MentionStep:
        """The matcher for the configured defenders, after re-matching stored posts if the
        defenders changed since they were last matched (the stale-match check)."""
        step = MentionStep(self.config.defenders)
        refreshed = refresh_stale_mentions(engine, step)
        if refreshed is not None:
            stderr.print(
                f"Matched {refreshed.posts:,} stored posts against the configured defenders "
                f"({refreshed.reason}): {refreshed.mentions:,} mentions.",
                highlight=False,
            )
        return step


def fail(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise SystemExit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the domain errors into one readable line and exit code 1."""
    try:
        yield
    except (ConfigError, DatabaseError, ImportFormatError) as exc:
        fail(_escape(str(exc)))
    except ImportRejected as exc:
        fail(_escape(str(exc)))


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="smearwatch")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="SMEARWATCH_CONFIG",
    help="Config file (default: ./smearwatch.toml if present; env SMEARWATCH_CONFIG).",
)
@click.option(
    "--database",
    "database_url",
    metavar="URL",
    envvar="SMEARWATCH_DATABASE_URL",
    help="Database URL, overriding the config (env SMEARWATCH_DATABASE_URL), e.g. "
    "sqlite:///watch.db or postgresql+psycopg://user@host/db.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, database_url: str | None) -> None:
    """smearwatch: find and document coordinated smear campaigns against human-rights defenders.

    Posts come in from collectors and analysts' export files, are stored with their raw payload
    and its SHA-256, and are analysed for coordinated behaviour.
    """
    ctx.obj = State(config_path, database_url)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.pass_obj
def init(state: State, force: bool) -> None:
    """Write a commented config file and create or migrate the database.

    Example: smearwatch init   (writes ./smearwatch.toml and ./smearwatch.db)
    """
    target = Path(state.config_path or "smearwatch.toml")
    with user_errors():
        if target.exists() and not force:
            stdout.print(f"Config file {target} exists; keeping it (use --force to overwrite).")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(CONFIG_TEMPLATE, encoding="utf-8")
            target.chmod(0o600)
            stdout.print(f"Wrote config file {target}")
        state.config_path = str(target)
        engine = state.engine()
        stdout.print(
            "Database ready at "
            f"{engine.url.render_as_string(hide_password=True)} (schema at the latest revision)."
        )
        engine.dispose()


def _progress_callback(path: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    task = progress.add_task(Path(path).name, total=None)
    progress.start()

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update, progress.stop


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *FORMATS]),
    help="File format; 'auto' recognises it from the content.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid records and write invalid ones to FILE.rejects.jsonl beside the "
    "input (default: a file with any invalid record is not imported at all).",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Custom column mapping for any CSV (repeatable), e.g. --map post_id=id --map "
    "text=body --map created_at=timestamp --map author_id=user; needs --platform.",
)
@click.option("--mapping", "mapping_name", metavar="NAME", help="Use [import.mappings.NAME].")
@click.option("--platform", metavar="NAME", help="Platform of the posts, where the file lacks it.")
@click.option(
    "--timezone", metavar="ZONE", help="Zone of times written without one: UTC or e.g. +05:00."
)
@click.option(
    "--channel",
    metavar="USERNAME",
    help="Telegram Desktop exports: the channel's public username, so ids match collected posts.",
)
@click.pass_obj
def import_command(
    state: State,
    files: tuple[str, ...],
    fmt: str,
    skip_invalid: bool,
    maps: tuple[str, ...],
    mapping_name: str | None,
    platform: str | None,
    timezone: str | None,
    channel: str | None,
) -> None:
    """Load export files into the database; importing a file twice adds nothing.

    Formats (recognised with --format auto): smearwatch JSONL (also gzip-compressed) and CSV;
    twarc2 JSONL and CSV; 4CAT CSV and NDJSON; Telegram Desktop result.json; Meta Content
    Library CSV; CrowdTangle Facebook and Instagram CSV; any other CSV with --map or --mapping.

    Examples: smearwatch import posts-2026-11.jsonl.gz archive.csv;
    smearwatch import result.json --channel pravda_kz_example;
    smearwatch import sheet.csv --map post_id=id --map text=body --map created_at=date
    --map author_id=user --platform telegram --timezone +05:00
    """
    from smearwatch.import_options import resolve_reader

    failures = 0
    with user_errors():
        engine = state.engine()
        step = state.mention_step(engine)
        config = state.config if (mapping_name or maps) else None
    for path in files:
        callback, stop = _progress_callback(path)
        try:
            with user_errors():
                reader = resolve_reader(
                    path, fmt, config, maps=maps, mapping_name=mapping_name,
                    platform=platform, timezone=timezone, channel=channel,
                )  # fmt: skip
            summary = import_file(
                engine,
                path,
                fmt=reader,
                skip_invalid=skip_invalid,
                progress=callback,
                mentions=step,
            )
        except (ImportFormatError, ImportRejected) as exc:
            stop()
            stderr.print(f"[bold red]error:[/] {_escape(str(exc))}", highlight=False)
            failures += 1
            continue
        stop()
        stdout.print(summary.line(), highlight=False)
        for error in summary.errors:
            stderr.print(f"  rejected: {_escape(error)}", highlight=False)
    engine.dispose()
    if failures:
        raise SystemExit(1)


@cli.command("collect")
@click.option(
    "--source",
    "source_names",
    multiple=True,
    metavar="NAME",
    help="Collect only this [[sources]] entry (repeatable); default: every enabled source.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request wait and its reason.")
@click.pass_obj
def collect_command(state: State, source_names: tuple[str, ...], verbose: bool) -> None:
    """Run one collection pass over the configured sources.

    Each source resumes where its last committed page ended, so an interrupted pass loses
    nothing and a repeated one duplicates nothing. A source that fails is recorded (see
    'smearwatch status') and the others carry on; the exit code is 1 if any source failed.

    Examples: smearwatch collect;  smearwatch collect --source bluesky --source telegram
    """
    from smearwatch.collect import collect
    from smearwatch.collect_view import CollectView

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with user_errors():
        config = state.config
        engine = state.engine()
        view = CollectView(stdout, stderr)
        try:
            with view:
                summaries = collect(
                    engine, config, source_names=source_names or None, progress=view.update
                )
        finally:
            engine.dispose()
    if not summaries:
        stdout.print("No enabled sources in the config: add a [[sources]] table.")
    if any(s.failed for s in summaries):
        raise SystemExit(1)


def _parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    text = value if "T" in value else value + "T00:00:00Z"
    try:
        return parse_time(text, option)
    except RecordError as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


EXPORT_COLUMNS = {
    "posts": [
        "platform", "post_id", "url", "created_at", "collected_at", "author_id", "author_handle",
        "author_display_name", "author_created_at", "text", "lang", "links", "hashtags",
        "mentions", "reply_to", "repost_of", "quote_of", "evidence_id", "raw_sha256", "version",
        "collector", "raw",
    ],
    "accounts": [
        "platform", "account_id", "handle", "display_name", "created_at", "first_seen",
        "last_seen", "posts",
    ],
    "mentions": [
        "platform", "post_id", "defender_id", "alias", "matched_text", "field", "start", "end",
        "evidence_id", "created_at", "author_handle", "url",
    ],
}  # fmt: skip


def _flatten_post(record: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in record.items() if k != "author"}
    for key, value in record["author"].items():
        flat[f"author_{key}"] = value
    for key in ("links", "hashtags", "mentions"):
        flat[key] = orjson.dumps(record[key]).decode()
    raw = record["raw"]
    flat["raw"] = (
        raw if isinstance(raw, str) else orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
    )
    return flat


@contextmanager
def _output(out: str | None) -> Iterator[IO[str]]:
    if out in (None, "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(out)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


@cli.command()
@click.argument("what", type=click.Choice(["posts", "accounts", "mentions"]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default=None,
    help="Output format (default: from the --out extension, else jsonl).",
)
@click.option("--out", metavar="FILE", help="Write to FILE instead of standard output.")
@click.option("--since", metavar="DATE", help="Only posts created on or after DATE (UTC).")
@click.option("--until", metavar="DATE", help="Only posts created before DATE (UTC).")
@click.option("--platform", metavar="NAME", help="Only this platform.")
@click.option("--defender", metavar="ID", help="Only mentions of this defender (mentions only).")
@click.pass_obj
def export(
    state: State,
    what: str,
    fmt: str | None,
    out: str | None,
    since: str | None,
    until: str | None,
    platform: str | None,
    defender: str | None,
) -> None:
    """Write posts, accounts or defender mentions as CSV or JSONL.

    A JSONL export of posts is smearwatch's interchange format: 'smearwatch import' reads it
    back into another database unchanged.

    Examples: smearwatch export posts --since 2026-11-16 --out week.jsonl;
    smearwatch export accounts --format csv;
    smearwatch export mentions --defender ormanova --out ormanova.csv
    """
    if fmt is None:
        fmt = "csv" if out and out.lower().endswith(".csv") else "jsonl"
    since_time = _parse_day(since, "--since")
    until_time = _parse_day(until, "--until")
    with user_errors():
        engine = state.engine()
        if what == "mentions":
            state.mention_step(engine)
    count = 0
    with engine.connect() as connection, _output(out) as handle:
        rows: Iterator[dict[str, Any]]
        if what == "posts":
            rows = iter_post_records(
                connection, since=since_time, until=until_time, platform=platform
            )
        elif what == "mentions":
            rows = iter_mentions(connection, defender_id=defender)
        else:
            rows = iter_accounts(connection, platform=platform)
        if fmt == "jsonl":
            for row in rows:
                handle.write(orjson.dumps(row).decode() + "\n")
                count += 1
        else:
            writer = csv.DictWriter(handle, EXPORT_COLUMNS[what], extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(_flatten_post(row) if what == "posts" else row)
                count += 1
    engine.dispose()
    if out not in (None, "-"):
        stdout.print(f"Wrote {count:,} {what} to {out}")


@cli.command()
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: exit 1 (one line per problem) when the daemon is not running or a "
    "source has failed for longer than [daemon] failure_threshold; else exit 0.",
)
@click.pass_obj
def status(state: State, check: bool) -> None:
    """Show what the database holds: posts and accounts per platform, latest imports, and the
    daemon's jobs with their last result and next run.

    Examples: smearwatch status;  smearwatch status --check
    """
    from smearwatch.clock import clock_from_env
    from smearwatch.status_view import check_problems, print_daemon_status

    with user_errors():
        engine = state.engine()
        config = state.config
        if check:
            problems = check_problems(engine, config, clock_from_env().now())
            engine.dispose()
            for problem in problems:
                stdout.print(f"PROBLEM: {problem}", highlight=False)
            if problems:
                raise SystemExit(1)
            stdout.print("OK: daemon running, no source failing beyond the threshold")
            return
        state.mention_step(engine)
        print_daemon_status(stdout, engine, config, clock_from_env().now())
    with engine.connect() as connection:
        counts = status_counts(connection)
    stdout.print(f"Database: {engine.url.render_as_string(hide_password=True)}", highlight=False)
    stdout.print(f"Config: {config.path or '(none: built-in defaults)'}", highlight=False)
    engine.dispose()
    table = Table(title="Posts per platform")
    for column in ("platform", "posts", "accounts", "first post", "last post"):
        table.add_column(column)
    for platform in sorted(counts["posts"]):
        first, last = counts["spans"][platform]
        table.add_row(
            platform,
            f"{counts['posts'][platform]:,}",
            f"{counts['accounts'].get(platform, 0):,}",
            first.strftime("%Y-%m-%d %H:%M") if first else "",
            last.strftime("%Y-%m-%d %H:%M") if last else "",
        )
    if counts["posts"]:
        stdout.print(table)
        stdout.print(f"Earlier versions of edited posts kept: {counts['versions']:,}")
    else:
        stdout.print("No posts yet: run 'smearwatch import FILE' (or 'smearwatch demo').")
    if config.defenders or counts["mentions"]:
        mentions = Table(title="Posts mentioning each defender")
        mentions.add_column("defender")
        mentions.add_column("posts")
        for defender in config.defenders:
            mentions.add_row(defender.id, f"{counts['mentions'].get(defender.id, 0):,}")
        stdout.print(mentions)
    if counts["imports"]:
        imports = Table(title="Latest imports")
        for column in (
            "file",
            "format",
            "finished (UTC)",
            "inserted",
            "known",
            "edited",
            "rejected",
        ):
            imports.add_column(column)
        for row in counts["imports"]:
            imports.add_row(
                row.file_name,
                row.format,
                row.finished_at.strftime("%Y-%m-%d %H:%M") if row.finished_at else row.status,
                f"{row.inserted:,}",
                f"{row.known:,}",
                f"{row.updated:,}",
                f"{row.rejected:,}",
            )
        stdout.print(imports)


@cli.command()
@click.option(
    "--log-format",
    type=click.Choice(["plain", "json"]),
    default=None,
    help="Log lines as plain text or one JSON object each (default: [daemon] log_format).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_obj
def daemon(state: State, log_format: str | None, verbose: bool) -> None:
    """Run collection, analysis, the weekly report, alerts and housekeeping on schedule until
    SIGTERM or SIGINT (then finish or roll back the work in progress and exit 0).

    One daemon per database: a second one refuses to start. Logs go to stderr (the systemd
    journal) or to [daemon] log_file. See docs/operations.md.

    Example: smearwatch --config /etc/smearwatch/smearwatch.toml daemon --log-format json
    """
    from smearwatch.daemon import run_daemon

    with user_errors():
        code = run_daemon(state.config, log_format=log_format, verbose=verbose, fail=fail)
    raise SystemExit(code)


@cli.command()
@click.argument("evidence_ids", nargs=-1)
@click.pass_obj
def verify(state: State, evidence_ids: tuple[str, ...]) -> None:
    """Re-hash stored raw payloads and report any that no longer match their SHA-256.

    With evidence ids (as cited in reports), checks only those posts. Exit code 1 on any
    mismatch.

    Examples: smearwatch verify;  smearwatch verify E-3F9A2C81D0B4A1C2
    """
    with user_errors():
        engine = state.engine()
    checked: list[int] = []
    mismatches = 0
    with engine.connect() as connection:
        for mismatch in iter_payload_mismatches(
            connection, list(evidence_ids) or None, checked=checked
        ):
            mismatches += 1
            stdout.print(
                f"MISMATCH {mismatch.evidence_id} {mismatch.platform} {mismatch.post_id} "
                f"version {mismatch.version}: stored {mismatch.stored_sha256}, "
                f"payload now hashes to {mismatch.actual_sha256}",
                highlight=False,
            )
    engine.dispose()
    posts, versions = checked
    if evidence_ids and posts == 0:
        fail(f"no post with evidence id {', '.join(evidence_ids)}")
    if mismatches:
        stdout.print(f"{mismatches:,} payload(s) do not match their stored SHA-256.")
        raise SystemExit(1)
    stdout.print(
        f"Verified {posts:,} post payload(s) and {versions:,} earlier version(s): "
        "all match their SHA-256."
    )


@cli.command()
@click.option(
    "--out",
    "out_dir",
    default="smearwatch-demo",
    show_default=True,
    metavar="DIR",
    help="Folder for the demo config, database and outputs.",
)
def demo(out_dir: str) -> None:
    """Run smearwatch end to end on bundled sample data (fictional people only).

    Example: smearwatch demo --out /tmp/demo
    """
    from smearwatch.demo import run_demo

    with user_errors():
        run_demo(Path(out_dir), stdout)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="smearwatch")
    except KeyboardInterrupt:
        stderr.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
