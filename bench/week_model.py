"""Week report model benchmark: how long `build_week_report` takes, and whether it changed.

Builds the report model (`reports.model.build_week_report`, what the PDF and the web week
page show) for each requested (week, defender) on the database of a config, in a fresh
process each time the script runs, so every build is "cold" as far as smearwatch is concerned
(the operating system's file cache may still hold the database: say which in the figures).
Prints wall and CPU seconds per build.

`--dump FILE` pickles the models (week, defender -> WeekReport); `--compare FILE` builds them
again and reports every field that differs from the dumped ones, so a speed-up can be shown
to give the same report field by field. `--profile` prints a pyinstrument profile of each
build (pyinstrument is not a dependency: `pip install pyinstrument` in your virtualenv).

Usage: python bench/week_model.py CONFIG [--week 2026-W43 ...] [--defender ID|- ...]
       [--dump FILE | --compare FILE] [--profile]
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def differences(a: Any, b: Any, where: str = "report") -> list[str]:
    """Paths at which two models differ (dataclasses field by field, containers item by item)."""
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b) and type(a) is type(b):
        found = []
        for f in dataclasses.fields(a):
            found += differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        return found
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)[:5]}... != {list(b)[:5]}..."]
        found = []
        for key in a:
            found += differences(a[key], b[key], f"{where}[{key!r}]")
        return found
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and type(a) is type(b):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        found = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found += differences(x, y, f"{where}[{i}]")
        return found
    if type(a) is not type(b) or a != b:
        return [f"{where}: {a!r:.80} != {b!r:.80}"]
    return []


def _time_statements(engine: Any, timings: list[tuple[float, float, str]]) -> None:
    """Wall and CPU seconds of each statement from execute to its last row fetched (the
    CPU is this process's: SQLite's work, not a PostgreSQL server's)."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def started(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info["sw_started"] = (time.perf_counter(), time.process_time())

    @event.listens_for(engine, "after_cursor_execute")
    def ended(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        wall, cpu = conn.info.pop("sw_started")
        sql = " ".join(statement.split())[:150]
        timings.append((time.perf_counter() - wall, time.process_time() - cpu, sql))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--week", action="append", help="ISO week (default: the newest)")
    parser.add_argument("--defender", action="append", help="defender id, '-' for all")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--statements", action="store_true", help="print the slowest SQL statements of each build"
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="open the database as it is (to time an older checkout on a newer database)",
    )
    args = parser.parse_args()

    from sqlalchemy import func, select

    from db import models
    from db.engine import create_db_engine, open_database
    from reports.model import build_week_report
    from reports.weeks import parse_week, week_of
    from smearwatch.config import load_config
    from smearwatch.reporting import report_inputs

    config = load_config(args.config)
    if args.no_migrate:
        engine = create_db_engine(config.database_url)
    else:
        engine = open_database(config.database_url)
    inputs = report_inputs(config)
    timings: list[tuple[float, float, str]] = []
    if args.statements:
        _time_statements(engine, timings)
    if args.week:
        weeks = [parse_week(w) for w in args.week]
    else:
        with engine.connect() as connection:
            newest = connection.execute(select(func.max(models.Post.created_at))).scalar()
        weeks = [week_of(newest)]
    defenders = [None if d == "-" else d for d in (args.defender or ["-"])]
    built: dict[tuple[str, str | None], Any] = {}
    for week in weeks:
        for defender in defenders:
            profiler = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.005)
                profiler.start()
            wall, cpu = time.perf_counter(), time.process_time()
            report = build_week_report(engine, inputs, week, defender=defender)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            built[(week.label, defender)] = report
            for stmt_wall, stmt_cpu, sql in sorted(timings, reverse=True)[:8]:
                print(f"    {stmt_wall:6.2f} s wall {stmt_cpu:6.2f} s CPU  {sql}")
            timings.clear()
            print(
                f"{week.label} {defender or 'all':<10} {wall:6.2f} s wall {cpu:6.2f} s CPU  "
                f"mentions {report.totals['mentions']:,}",
                flush=True,
            )
    engine.dispose()
    if args.dump:
        args.dump.write_bytes(pickle.dumps(built))
        print(f"dumped {len(built)} models to {args.dump}")
    if args.compare:
        before = pickle.loads(args.compare.read_bytes())
        changed = 0
        for key, report in built.items():
            if key not in before:
                print(f"{key}: not in {args.compare}")
                continue
            found = differences(before[key], report)
            changed += bool(found)
            for line in found[:20]:
                print(f"{key}: {line}")
        print(f"compared {len(built)} models: {changed} differ")
        if changed:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
