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
from sqlalchemy.exc import OperationalError

from collector.files import FORMATS, ImportFormatError
from collector.post import RecordError, parse_time
from db.engine import DatabaseError, open_database
from db.queries import (
    cluster_network,
    iter_accounts,
    iter_cluster_members,
    iter_mentions,
    iter_payload_mismatches,
    iter_post_records,
    status_counts,
)
from db.reviews import cluster_exists, record_review, review_history
from reports.settings import UnknownDefender
from smearwatch import __version__
from smearwatch.config import CONFIG_TEMPLATE, Config, ConfigError, load_config
from smearwatch.matching import CollectMatching, MentionStep, refresh_stale_mentions
from smearwatch.pipeline import ImportRejected, import_file

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Piped output (cron mail, log files, scripts) gets wide tables instead of 80-column wrapping.
PIPED_WIDTH = 160
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
stderr = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)


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
    except (ConfigError, DatabaseError, ImportFormatError, UnknownDefender) as exc:
        fail(_escape(str(exc)))
    except ImportRejected as exc:
        fail(_escape(str(exc)))
    except OperationalError as exc:
        fail(_escape(f"database error: {str(exc.orig).strip() or exc}"))


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
        if summary.format == "telegram-desktop" and channel is None and summary.inserted:
            stderr.print(
                "  note: without --channel the posts are named by the channel's numeric id "
                "(c<id>/<message>), so they will not be recognised as the same posts that "
                "'smearwatch collect' reads from t.me/<username>; pass --channel USERNAME "
                "when the channel is public.",
                highlight=False,
            )
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
        matching = CollectMatching(state.mention_step(engine))
        view = CollectView(stdout, stderr)
        try:
            with view:
                summaries = collect(
                    engine,
                    config,
                    source_names=source_names or None,
                    progress=view.update,
                    before_write=matching.before_write,
                    after_write=matching.after_write,
                )
        finally:
            engine.dispose()
    if summaries:
        stdout.print(
            f"Defender mentions stored: {matching.mentions:,}; posts dropped as unrelated to "
            f"any defender: {matching.dropped:,}.",
            highlight=False,
        )
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
        "deleted_at", "collector", "raw",
    ],
    "accounts": [
        "platform", "account_id", "handle", "display_name", "created_at", "first_seen",
        "last_seen", "posts",
    ],
    "mentions": [
        "platform", "post_id", "defender_id", "alias", "matched_text", "field", "start", "end",
        "evidence_id", "created_at", "author_handle", "url",
    ],
    "clusters": [
        "cluster_id", "platform", "account_id", "handle", "score", "confidence", "signals",
        "stance", "defender_id", "cluster_size", "account_created_at", "posts", "centrality",
        "analysis_run",
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


def _json_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Nested values (cluster signals) as JSON text in a CSV cell."""
    return {
        k: orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
        if isinstance(v, dict | list)
        else v
        for k, v in row.items()
    }


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
@click.argument("what", type=click.Choice(["posts", "accounts", "mentions", "clusters", "network"]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "gexf", "graphml"]),
    default=None,
    help="Output format: csv or jsonl for tables (default: from the --out extension, else "
    "jsonl); gexf or graphml for the network (default gexf).",
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
    """Write posts, accounts, defender mentions or cluster members as CSV or JSONL.

    'clusters' lists the member accounts of every cluster of the newest analysis run.

    A JSONL export of posts is smearwatch's interchange format: 'smearwatch import' reads it
    back into another database unchanged.

    'network' writes the newest run's coordination network (cluster members as nodes, the
    edges with their weight, shared objects, excess over chance and layers) for Gephi.

    Examples: smearwatch export posts --since 2026-11-16 --out week.jsonl;
    smearwatch export network --out network.gexf;
    smearwatch export accounts --format csv;
    smearwatch export mentions --defender ormanova --out ormanova.csv
    """
    if what == "network":
        _export_network(state, fmt or _network_format(out), out)
        return
    if fmt is None:
        fmt = "csv" if out and out.lower().endswith(".csv") else "jsonl"
    if fmt not in ("csv", "jsonl"):
        raise click.BadParameter(f"{what} are exported as csv or jsonl", param_hint="--format")
    since_time = _parse_day(since, "--since")
    until_time = _parse_day(until, "--until")
    with user_errors():
        engine = state.engine()
        if what == "mentions":
            state.mention_step(engine)
    count = 0
    clusters: set[str] = set()
    with engine.connect() as connection, _output(out) as handle:
        rows: Iterator[dict[str, Any]]
        if what == "posts":
            rows = iter_post_records(
                connection, since=since_time, until=until_time, platform=platform
            )
        elif what == "mentions":
            rows = iter_mentions(connection, defender_id=defender)
        elif what == "clusters":
            rows = iter_cluster_members(connection)
        else:
            rows = iter_accounts(connection, platform=platform)
        if what == "clusters":
            rows = _noting_clusters(rows, clusters)
        if fmt == "jsonl":
            for row in rows:
                handle.write(orjson.dumps(row).decode() + "\n")
                count += 1
        else:
            writer = csv.DictWriter(handle, EXPORT_COLUMNS[what], extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                if what == "posts":
                    row = _flatten_post(row)
                elif what == "clusters":
                    row = {**row, "signals": orjson.dumps(row["signals"]).decode()}
                writer.writerow(row)
                count += 1
    engine.dispose()
    if out not in (None, "-"):
        if what == "clusters":
            stdout.print(
                f"Wrote {count:,} member account(s) of {len(clusters):,} cluster(s) to {out}"
            )
        else:
            stdout.print(f"Wrote {count:,} {what} to {out}")


def _noting_clusters(rows: Iterator[dict[str, Any]], seen: set[str]) -> Iterator[dict[str, Any]]:
    """The rows unchanged; the cluster ids they belong to collected for the summary line."""
    for row in rows:
        seen.add(str(row.get("cluster_id")))
        yield row


def _network_format(out: str | None) -> str:
    return "graphml" if out and out.lower().endswith(".graphml") else "gexf"


def _export_network(state: State, fmt: str, out: str | None) -> None:
    """The newest analysis run's network as GEXF or GraphML, to a file or standard output."""
    import networkx as nx

    if fmt not in ("gexf", "graphml"):
        raise click.BadParameter(
            "the network is exported as gexf or graphml", param_hint="--format"
        )
    with user_errors():
        engine = state.engine()
    with engine.connect() as connection:
        nodes, edges = cluster_network(connection)
    engine.dispose()
    graph = nx.Graph()
    for node in nodes:
        key = f"{node['platform']}:{node['account_id']}"
        graph.add_node(
            key,
            label=node["handle"] or node["account_id"],
            platform=node["platform"],
            cluster=node["cluster_id"],
            stance=node["stance"],
            score=float(node["score"]),
            centrality=float(node["centrality"]),
            posts=int(node["posts"]),
            account_created_at=node["account_created_at"] or "",
        )
    for edge in edges:
        graph.add_edge(
            f"{edge['platform_a']}:{edge['account_a']}",
            f"{edge['platform_b']}:{edge['account_b']}",
            cluster=edge["stable_id"],
            weight=float(edge["weight"]),
            shared_objects=int(edge["shared_objects"]),
            expected=float(edge["expected"]),
            excess=float(edge["excess"]),
            p_value=float(edge["p_value"]),
            fast=bool(edge["fast"]),
            min_dt_seconds=float(edge["min_dt_seconds"]),
            layers=orjson.dumps(edge["layers"] or {}, option=orjson.OPT_SORT_KEYS).decode(),
        )
    lines = nx.generate_gexf(graph) if fmt == "gexf" else nx.generate_graphml(graph)
    with _output(out) as handle:
        for line in lines:
            handle.write(line + "\n")
    if out not in (None, "-"):
        stdout.print(
            f"Wrote the network ({graph.number_of_nodes():,} accounts, "
            f"{graph.number_of_edges():,} edges) to {out}"
        )


@cli.command()
@click.argument("cluster_id")
@click.option(
    "--confirm", "verdict", flag_value="confirmed", help="The cluster is coordinated as flagged."
)
@click.option(
    "--dismiss", "verdict", flag_value="dismissed", help="The flag is wrong (say why in --note)."
)
@click.option("--note", help="The analyst's reasoning, kept with the verdict.")
@click.option(
    "--reviewer", envvar="SMEARWATCH_REVIEWER", help="Who reviews (env SMEARWATCH_REVIEWER)."
)
@click.option(
    "--confidence",
    type=click.Choice(["low", "medium", "high"]),
    help="The analyst's own confidence in the verdict.",
)
@click.pass_obj
def review(
    state: State,
    cluster_id: str,
    verdict: str | None,
    note: str | None,
    reviewer: str | None,
    confidence: str | None,
) -> None:
    """Record an analyst's verdict on a cluster, or show the verdicts recorded so far.

    The verdict is kept beside the automated score, never over it: reports show both. The
    cluster id is the stable one (C7) that runs and reports use.

    Examples: smearwatch review C1 --confirm --note "same operator as in March" --reviewer ak;
    smearwatch review C4 --dismiss --note "fan accounts of a football club";  smearwatch review C1
    """
    with user_errors():
        engine = state.engine()
    with engine.connect() as connection:
        known = cluster_exists(connection, cluster_id)
    if not known:
        engine.dispose()
        fail(f"no cluster {cluster_id!r} in any analysis run (see 'smearwatch export clusters')")
    with engine.begin() as connection:
        if verdict is not None:
            record_review(
                connection,
                cluster_id,
                verdict,
                note=note,
                reviewer=reviewer,
                confidence=confidence,
            )
        history = review_history(connection, cluster_id)
    engine.dispose()
    if verdict is not None:
        stdout.print(f"Recorded: {cluster_id} {verdict}.", highlight=False)
    if not history:
        stdout.print(f"{cluster_id}: no verdict recorded yet.", highlight=False)
    for row in history:
        details = ", ".join(
            part
            for part in (
                f"by {row.reviewer}" if row.reviewer else "",
                f"confidence {row.confidence}" if row.confidence else "",
            )
            if part
        )
        stdout.print(
            f"{row.created_at:%Y-%m-%d %H:%M} UTC  {row.verdict}"
            + (f" ({details})" if details else "")
            + (f": {_escape(row.note)}" if row.note else ""),
            highlight=False,
        )


@cli.command()
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: exit 1 (one line per problem) when the daemon is not running or a "
    "source has failed for longer than [daemon] failure_threshold; else exit 0.",
)
@click.pass_obj
def status(state: State, check: bool) -> None:
    """Show what the database holds: sources and their last runs, posts and accounts per
    platform, mentions per defender, latest imports, and the daemon's jobs with their last
    result and next run.

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
        stdout.print(
            f"Posts found deleted on their platform (kept as tombstones): {counts['deleted']:,}"
        )
    else:
        stdout.print("No posts yet: run 'smearwatch import FILE' (or 'smearwatch demo').")
    if counts["sources"]:
        sources = Table(title="Sources (last collection run)")
        for column in ("source", "platform", "status", "started (UTC)", "fetched", "new",
                       "last success", "error"):  # fmt: skip
            sources.add_column(column, overflow="fold")
        for row in counts["sources"]:
            sources.add_row(
                row.name,
                row.platform,
                row.status or "never run",
                row.started_at.strftime("%Y-%m-%d %H:%M") if row.started_at else "",
                f"{row.fetched or 0:,}",
                f"{row.inserted or 0:,}",
                row.ok_at.strftime("%Y-%m-%d %H:%M") if row.ok_at else "never",
                _escape((row.error or "")[:200]),
            )
        stdout.print(sources)
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
    "--since", metavar="DATE", help="Start of the window (UTC; default: --until - 7 days)."
)
@click.option(
    "--until",
    metavar="DATE",
    help="End of the window, exclusive (UTC; default: just after the newest stored post).",
)
@click.pass_obj
def analyze(state: State, since: str | None, until: str | None) -> None:
    """Find coordinated accounts in a window of posts, score and explain them, store the run.

    Matches stored posts against the defenders first if the config changed. Prints each
    cluster with its id (stable across runs), size, score, confidence, stance and target.

    Example: smearwatch analyze --since 2026-11-16 --until 2026-11-23
    """
    from smearwatch.analyze import run_analysis

    since_time = _parse_day(since, "--since")
    until_time = _parse_day(until, "--until")
    with user_errors():
        engine = state.engine()
        state.mention_step(engine)
        summary = run_analysis(engine, state.config, since=since_time, until=until_time)
    engine.dispose()
    print_analysis(summary)


def print_analysis(summary: Any) -> None:
    """The analysis run as an analyst reads it: one line per cluster, the reason below it."""
    result = summary.result
    stdout.print(
        f"Analysis run {summary.run_id}: {summary.posts:,} posts by {summary.accounts:,} "
        f"accounts, {summary.since:%Y-%m-%d %H:%M} to {summary.until:%Y-%m-%d %H:%M} UTC; "
        f"{len(result.clusters)} coordinated cluster(s).",
        highlight=False,
    )
    background = result.stats.get("background") or {}
    if background.get("message"):
        # "no cluster" must not read as "no coordination" when chance had no baseline
        stdout.print(f"[yellow]Note:[/] {_escape(background['message'])}", highlight=False)
    if not result.clusters:
        return
    table = Table(title="Coordinated clusters")
    for column in ("cluster", "accounts", "score", "confidence", "stance", "target"):
        table.add_column(column)
    ranked = sorted(result.clusters, key=lambda c: -c.score)
    for cluster in ranked:
        table.add_row(
            cluster.stable_id or str(cluster.local_id),
            str(len(cluster.members)),
            str(cluster.score),
            cluster.confidence,
            cluster.stance,
            ", ".join(t.name for t in cluster.targets[:2]) or "-",
        )
    stdout.print(table)
    for cluster in ranked:
        stdout.print(f"\n[bold]{cluster.stable_id}[/]", highlight=False)
        for line in cluster.explanation:
            stdout.print(f"  - {_escape(line)}", highlight=False)


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
    journal) or to [daemon] log_file. See "Running smearwatch as a service" in README.md.

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
@click.option("--week", metavar="YYYY-Www", help="ISO week (default: the last complete week, UTC).")
@click.option("--defender", metavar="ID", help="Only this defender (default: all).")
@click.option("--out", "out_dir", metavar="DIR", help="Output folder (default: reports/WEEK/).")
@click.option(
    "--variant",
    type=click.Choice(["internal", "shareable", "both"]),
    default="both",
    show_default=True,
    help="internal: full handles; shareable: accounts pseudonymised, bystanders removed.",
)
@click.pass_obj
def report(
    state: State, week: str | None, defender: str | None, out_dir: str | None, variant: str
) -> None:
    """Write the weekly PDF report with CSV, GEXF and JSON exports and a SHA-256 manifest.

    The week runs Monday 00:00 to Monday 00:00 UTC. The same data always gives the same bytes.

    Examples: smearwatch report;  smearwatch report --week 2026-W47 --defender ormanova
    """
    from reports.build import VARIANTS
    from reports.weeks import last_complete_week, parse_week
    from smearwatch.reporting import write_week_report

    try:
        chosen = parse_week(week) if week else last_complete_week()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None
    with user_errors():
        engine = state.engine()
        state.mention_step(engine)
        try:
            outputs = write_week_report(
                engine,
                state.config,
                chosen,
                defender=defender,
                out_dir=Path(out_dir) if out_dir else None,
                variants=VARIANTS if variant == "both" else (variant,),
            )
        except OSError as exc:
            fail(_escape(f"cannot write the report: {exc}"))
        finally:
            engine.dispose()
    for output in outputs:
        stdout.print(
            f"{output.variant} report ({output.pages} pages): {output.pdf}", highlight=False
        )
        for path in output.files[1:]:
            stdout.print(f"  {path}", highlight=False)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8750, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--login/--no-login",
    default=None,
    help="Require a login (default: only when binding to an address other than localhost; "
    "any other address always requires one).",
)
@click.option(
    "--reviewer",
    envvar="SMEARWATCH_REVIEWER",
    help="Default reviewer name on review forms when nobody logs in (env SMEARWATCH_REVIEWER).",
)
@click.pass_obj
def serve(state: State, host: str, port: int, login: bool | None, reviewer: str | None) -> None:
    """Run the analyst's web interface on the same database (this week, clusters, evidence).

    Binds 127.0.0.1 by default. Any other address requires a login: create accounts first with
    'smearwatch user add NAME'. Session secret: env SMEARWATCH_WEB_SECRET (default: random at
    each start, so a restart logs everyone out).

    Examples: smearwatch serve;  smearwatch serve --host 0.0.0.0 --port 8080
    """
    import os

    import uvicorn

    from smearwatch.reporting import report_inputs
    from smearwatch.web import WebSettings, create_app
    from smearwatch.web.auth import list_users

    local = host in LOOPBACK
    if login is False and not local:
        fail(f"--no-login is only allowed on localhost, not on {host}")
    require_login = bool(login) or not local
    with user_errors():
        inputs = report_inputs(state.config)
        engine = state.engine()
        state.mention_step(engine)
    if require_login and not list_users(engine):
        engine.dispose()
        fail("a login is required but no user exists: create one with 'smearwatch user add NAME'")
    settings = WebSettings(inputs=inputs, require_login=require_login, reviewer=reviewer)
    secret = os.environ.get("SMEARWATCH_WEB_SECRET")
    if secret:
        settings = WebSettings(
            inputs=inputs, require_login=require_login, reviewer=reviewer, secret_key=secret
        )
    app = create_app(engine, settings)
    app.state.weeks.warm_in_background()
    shown = f"[{host}]" if ":" in host else host
    stderr.print(
        f"smearwatch serve: http://{shown}:{port}/ "
        + ("(login required)" if require_login else "(no login: local use only)"),
        highlight=False,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    finally:
        engine.dispose()


@cli.group()
def user() -> None:
    """Manage the accounts that may log in to 'smearwatch serve' (Argon2-hashed passwords).

    Examples: smearwatch user add amina;  smearwatch user list;  smearwatch user remove amina
    """


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--replace", is_flag=True, help="Set a new password for an existing user.")
@click.pass_obj
def user_add(state: State, name: str, password_stdin: bool, replace: bool) -> None:
    """Create a web login (asks for the password twice; never pass it as an argument)."""
    from smearwatch.web.auth import UserError, add_user

    password = _read_password(password_stdin)
    with user_errors():
        engine = state.engine()
    try:
        add_user(engine, name, password, replace=replace)
    except UserError as exc:
        fail(_escape(str(exc)))
    finally:
        engine.dispose()
    stdout.print(f"User {name.strip()} {'updated' if replace else 'created'}.", highlight=False)


@user.command("list")
@click.pass_obj
def user_list(state: State) -> None:
    """List the web logins with when each was created and last used."""
    from smearwatch.web.auth import list_users

    with user_errors():
        engine = state.engine()
    users = list_users(engine)
    engine.dispose()
    if not users:
        stdout.print("No users: create one with 'smearwatch user add NAME'.")
    for name, created, last in users:
        stdout.print(
            f"{name}  created {created:%Y-%m-%d %H:%M} UTC, last login "
            + (f"{last:%Y-%m-%d %H:%M} UTC" if last else "never"),
            highlight=False,
        )


@user.command("remove")
@click.argument("name")
@click.pass_obj
def user_remove(state: State, name: str) -> None:
    """Delete a web login (existing sessions end when the server restarts)."""
    from smearwatch.web.auth import remove_user

    with user_errors():
        engine = state.engine()
    removed = remove_user(engine, name)
    engine.dispose()
    if not removed:
        fail(f"no user {name!r}")
    stdout.print(f"User {name} removed.", highlight=False)


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
    from smearwatch.demo import DEMO_WEEK, next_steps, run_demo

    with user_errors():
        config_path, analysis, reports = run_demo(Path(out_dir), stdout)
    print_analysis(analysis)
    stdout.print()
    for output in reports:
        stdout.print(
            f"Weekly report {DEMO_WEEK}, {output.variant} ({output.pages} pages): {output.pdf}",
            highlight=False,
        )
    stdout.print(next_steps(config_path), highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="smearwatch")
    except KeyboardInterrupt:
        stderr.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
