"""`smearwatch demo`: the bundled sample data end to end, in a folder of its own.

The demo writes its own config and SQLite database into the output folder, so it never touches
an analyst's real database. Running it twice is harmless: the second import adds nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from db.engine import open_database
from reports.build import write_report
from reports.weeks import parse_week
from smearwatch.config import load_config
from smearwatch.matching import MentionStep, refresh_stale_mentions
from smearwatch.pipeline import import_file

__all__ = ["run_demo"]

DEMO_PACKAGE = "smearwatch.demo_data"
DEMO_WEEK = "2026-W47"  # the later of the two weeks in the bundled data


def run_demo(out_dir: Path, console: Console) -> Path:
    """Import the demo posts into `out_dir`; return the path of the demo config."""
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
        outputs = write_report(engine, config, parse_week(DEMO_WEEK))
        for output in outputs:
            console.print(
                f"Weekly report {DEMO_WEEK}, {output.variant} ({output.pages} pages): {output.pdf}",
                highlight=False,
            )
    finally:
        engine.dispose()
    console.print(
        "\nNext steps:\n"
        f"  smearwatch --config {config_path} status\n"
        f"  smearwatch --config {config_path} report --week {DEMO_WEEK}\n"
        f"  smearwatch --config {config_path} export posts --out {out_dir / 'posts.csv'}\n"
        f"  smearwatch --config {config_path} verify"
    )
    return config_path
