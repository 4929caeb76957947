"""`smearwatch demo`: the bundled sample data end to end, in a folder of its own.

The demo writes its own config and SQLite database into the output folder, so it never touches
an analyst's real database. Running it twice is harmless: the second import adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from db.engine import open_database
from reports.weeks import parse_week
from smearwatch.analyze import AnalysisSummary, run_analysis
from smearwatch.config import load_config
from smearwatch.matching import MentionStep, refresh_stale_mentions
from smearwatch.pipeline import import_file
from smearwatch.reporting import write_week_report

__all__ = ["run_demo"]

DEMO_PACKAGE = "smearwatch.demo_data"
DEMO_WEEK = "2026-W47"  # the later of the two weeks in the bundled data


# The two ISO weeks the demo data covers (2026-W46 and W47).
DEMO_SINCE = datetime(2026, 11, 9, tzinfo=UTC)
DEMO_UNTIL = datetime(2026, 11, 23, tzinfo=UTC)


def run_demo(out_dir: Path, console: Console) -> tuple[Path, AnalysisSummary, list[Any]]:
    """Import the demo posts into `out_dir`, analyse them and write the W47 report.

    Returns the demo config's path, the analysis run and the report outputs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    config_path = out_dir / "smearwatch.toml"
    data = resources.files(DEMO_PACKAGE)
    config_path.write_text((data / "demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    config = load_config(config_path)
    console.print(f"Demo folder: {out_dir.resolve()}")
    console.print(
        "Defenders (fictional): " + ", ".join(f"{d.name} ({d.id})" for d in config.defenders)
    )
    engine = open_database(config.database_url)
    try:
        step = MentionStep(config.defenders)
        refresh_stale_mentions(engine, step)
        with resources.as_file(data / "posts.jsonl.gz") as posts_path:
            summary = import_file(engine, posts_path, mentions=step)
        console.print(summary.line(), highlight=False)
        console.print(f"File SHA-256: {summary.file_sha256}")
        analysis = run_analysis(engine, config, since=DEMO_SINCE, until=DEMO_UNTIL)
        reports = write_week_report(engine, config, parse_week(DEMO_WEEK))
    finally:
        engine.dispose()
    return config_path, analysis, reports


def next_steps(config_path: Path) -> str:
    """What to try after the demo, with the demo's own config."""
    out_dir = config_path.parent
    return (
        "\nNext steps:\n"
        f"  smearwatch --config {config_path} status\n"
        f"  smearwatch --config {config_path} report --week {DEMO_WEEK}\n"
        f"  smearwatch --config {config_path} export posts --out {out_dir / 'posts.csv'}\n"
        f"  smearwatch --config {config_path} export clusters --out {out_dir / 'clusters.csv'}\n"
        f"  smearwatch --config {config_path} verify\n"
        f"  smearwatch --config {config_path} serve      # the web interface, 127.0.0.1:8750"
    )
