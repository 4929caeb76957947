"""Soak benchmark: `smearwatch daemon` for an hour of simulated time at 100 posts/s incoming.

The daemon runs as a subprocess on a fast fake clock (`SMEARWATCH_FAKE_*`) against a local
server on 127.0.0.1 that plays Bluesky search and a Mastodon hashtag timeline; the server reads
the same fake clock and lists each synthetic post once the clock has passed its creation time,
half of them on each platform. Every job runs on the way: both collectors every 20 simulated
seconds, the analysis every 10 minutes over a 10-minute window, the alerts every minute,
housekeeping, and the weekly report (its slot is placed a quarter into the run, so the report
covers the first posts and the second half of the run is steady state).

Every `--sample` seconds of wall time the daemon's resident memory (`VmRSS`), open file
descriptors (`/proc/<pid>/fd`) and threads are read. At the end the table is printed with
first/last/max and a linear fit over the second half of the samples; "flat" means the fit
grows by less than `--rss-tolerance` MiB (and less than one descriptor and one thread) over
the second half. An analysis holds a working set of a few hundred MiB for seconds, and whether a
sample falls inside one says nothing about a leak. So it is judged on the samples taken while
no analysis or report ran (their runs are read from the daemon's JSON log); the raw RSS is
printed beside it. Then the arrivals stop, the daemon catches up, every served post must be
stored exactly once, and SIGTERM must end the daemon with exit code 0 within 10 s.

Usage: python bench/soak.py [--minutes 60] [--rate 100] [--speed 8] [--sample 5]
                            [--max-wall 600] [--database URL] [--keep DIR]

Exit code 0 when memory and descriptors stay flat, every post is stored once and the stop is
clean; 1 otherwise. `--database` takes an empty PostgreSQL database (or schema, via
`?options=-csearch_path=...`); the default is a new SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.fake_platforms import IDENTIFIER, PASSWORD, TAG, FakePlatforms  # noqa: E402
from smearwatch.clock import Clock  # noqa: E402

# The weekly slot the soak passes: Monday 30 Nov 2026 00:05 in Asia/Almaty (UTC+5).
REPORT_SLOT = datetime(2026, 11, 29, 19, 5, tzinfo=UTC)
STOP_LIMIT = 10.0  # seconds the daemon may take after SIGTERM

CONFIG = """
[database]
url = "{database}"

[http]
timeout = 10.0
connect_timeout = 5.0
min_interval = 0.0
per_host_limit = 4

[[defenders]]
id = "ormanova"
name = "Bakhyt Ormanova"
aliases = ["Bakhyt Ormanova", "Бахыт Орманова", "Орманова"]
handles = {{ bluesky = "bakhyt-ormanova.bsky.social" }}

[[defenders]]
id = "temirkhanov"
name = "Yerlan Temirkhanov"
aliases = ["Yerlan Temirkhanov", "Ерлан Темирханов"]

[[defenders]]
id = "kesler"
name = "Anna Kesler"
aliases = ["Anna Kesler", "Анна Кеслер"]

[daemon]
jitter = "0s"
analysis_every = "{analysis_every}"
analysis_window = "{analysis_window}"
report_weekday = "mon"
report_time = "00:05"
timezone = "Asia/Almaty"
report_dir = "reports"
housekeeping_every = "10m"
heartbeat = "30s"
shutdown_timeout = "8s"

[alerts]
every = "1m"

[[sources]]
name = "bsky"
platform = "bluesky"
base_url = "{base}"
appview_url = "{base}"
identifier = "{identifier}"
queries = ["Орманова"]
page_size = 100
max_pages = 100000
overlap = "2s"
backfill = "1d"
every = "{every}"

[[sources]]
name = "masto"
platform = "mastodon"
base_url = "{base}"
hashtags = ["{tag}"]
page_size = 40
max_pages = 100000
overlap = "2s"
backfill = "1d"
every = "{every}"
"""


@dataclass
class Sample:
    wall: float  # seconds since the daemon started
    simulated: float  # simulated seconds since the start of the posts
    rss_kib: int
    fds: int
    threads: int
    stored: int
    due: int
    at: float = 0.0  # Unix time of the sample, to line it up with the daemon's log


def read_proc(pid: int) -> tuple[int, int, int]:
    """(VmRSS in KiB, open file descriptors, threads) of a live process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def heavy_job_intervals(log_path: Path, margin: float) -> list[tuple[float, float]]:
    """(start, end) Unix times of the daemon's analysis and report runs, from its JSON log,
    widened by `margin` seconds on each side."""
    intervals = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("job") not in ("analysis", "report") or "seconds" not in record:
            continue
        end = datetime.fromisoformat(record["time"]).timestamp()
        intervals.append((end - float(record["seconds"]) - margin, end + margin))
    return intervals


def between_heavy_jobs(samples: list[Sample], intervals: list[tuple[float, float]]) -> list[Sample]:
    """The samples taken while no analysis or report ran: what a leak would raise."""
    return [s for s in samples if not any(lo <= s.at <= hi for lo, hi in intervals)]


def fit(xs: list[float], ys: list[float]) -> float:
    """The slope of the least-squares line through (xs, ys)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def count_posts(engine) -> int:  # noqa: ANN001
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM post")).scalar_one()


def main() -> int:  # noqa: C901, PLR0912, PLR0915 - a script that tells a story top to bottom
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated minutes")
    parser.add_argument("--rate", type=float, default=100.0, help="posts per simulated second")
    parser.add_argument("--speed", type=float, default=8.0, help="simulated seconds per second")
    parser.add_argument("--sample", type=float, default=5.0, help="wall seconds between samples")
    parser.add_argument("--every", default="20s", help="each source's interval (simulated)")
    parser.add_argument("--analysis-every", default="10m")
    parser.add_argument("--analysis-window", default="10m")
    parser.add_argument(
        "--max-wall", type=float, default=600.0, help="upper bound on the whole run (seconds)"
    )
    parser.add_argument("--rss-tolerance", type=float, default=16.0, help="MiB")
    parser.add_argument("--database", help="an empty database URL (default: a new SQLite file)")
    parser.add_argument("--keep", type=Path, help="keep the config, database and logs here")
    args = parser.parse_args()

    simulated = args.minutes * 60
    total = int(simulated * args.rate)
    run_wall = simulated / args.speed
    if run_wall + 60 > args.max_wall:
        parser.error(
            f"{args.minutes} simulated minutes at speed {args.speed} take {run_wall:.0f} s, "
            f"over --max-wall {args.max_wall:.0f} s with a minute to catch up and stop: "
            "raise --speed or lower --minutes"
        )
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="smearwatch-soak-"))
    start = REPORT_SLOT - timedelta(seconds=simulated / 4)
    epoch = time.time() + 2.0  # the fake clock starts at `start` two seconds from now
    clock = Clock(start, epoch=epoch, speed=args.speed)
    database = args.database or f"sqlite:///{workdir / 'soak.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEARWATCH_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SMEARWATCH_BLUESKY_APP_PASSWORD=PASSWORD,
        SMEARWATCH_FAKE_NOW=start.isoformat(),
        SMEARWATCH_FAKE_EPOCH=repr(epoch),
        SMEARWATCH_FAKE_SPEED=repr(args.speed),
    )
    samples: list[Sample] = []
    stop_seconds = None
    code = None
    max_lag = 0
    engine = create_engine(database)
    # Half the posts on each platform: both servers together produce `rate` posts/s.
    half = {"rate": args.rate / 2, "start": start, "clock": clock.now}
    with (
        FakePlatforms(total // 2, **half) as bsky,
        FakePlatforms(total - total // 2, **half) as masto,
    ):
        config = workdir / "smearwatch.toml"
        config.write_text(
            CONFIG.format(
                database=database,
                base=bsky.url,
                identifier=IDENTIFIER,
                tag=TAG,
                every=args.every,
                analysis_every=args.analysis_every,
                analysis_window=args.analysis_window,
            ).replace(f'name = "masto"\nplatform = "mastodon"\nbase_url = "{bsky.url}"',
                      f'name = "masto"\nplatform = "mastodon"\nbase_url = "{masto.url}"'),
            encoding="utf-8",
        )  # fmt: skip
        config.chmod(0o600)
        command = [sys.executable, "-m", "smearwatch.cli", "--config", str(config)]
        # Creates or migrates the database, as an operator would before the first start.
        prepared = subprocess.run(
            [*command, "status"], env=env, capture_output=True, text=True, check=False
        )
        if prepared.returncode != 0:
            print(prepared.stdout + prepared.stderr, file=sys.stderr)
            return 1
        log_path = workdir / "daemon.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*command, "daemon", "--log-format", "json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        print(
            f"soak: {args.minutes:g} simulated minutes at {args.rate:g} posts/s "
            f"({total:,} posts), clock speed {args.speed:g}x (~{run_wall:.0f} s of wall time); "
            f"database {database.split('://')[0]}; daemon pid {process.pid}; work dir {workdir}"
        )
        print(
            f"{'wall s':>7} {'sim min':>7} {'RSS MiB':>8} {'fds':>4} {'thr':>4} "
            f"{'stored':>9} {'lag':>7}"
        )
        try:
            # Sampling starts once the daemon is up (its first job has reported).
            up_by = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < up_by:
                if '"job":' in log_path.read_text(encoding="utf-8"):
                    break
                time.sleep(0.1)
            t0 = time.monotonic()
            next_sample = t0
            end = start + timedelta(seconds=simulated)
            caught_up_deadline = None
            while True:
                if process.poll() is not None:
                    print(f"FAILED: the daemon exited with {process.returncode}", file=sys.stderr)
                    break
                now = time.monotonic()
                if now >= next_sample:
                    rss, fds, threads = read_proc(process.pid)
                    stored = count_posts(engine)
                    due = bsky.due() + masto.due()
                    sim = (clock.now() - start).total_seconds()
                    sample = Sample(now - t0, sim, rss, fds, threads, stored, due, time.time())
                    samples.append(sample)
                    max_lag = max(max_lag, due - stored)
                    print(
                        f"{sample.wall:7.0f} {sim / 60:7.1f} {rss / 1024:8.1f} {fds:4d} "
                        f"{threads:4d} {stored:9,d} {max(0, due - stored):7,d}",
                        flush=True,
                    )
                    next_sample += args.sample
                if clock.now() >= end:
                    if caught_up_deadline is None:
                        caught_up_deadline = now + max(
                            30.0, args.max_wall - (now - began) - STOP_LIMIT - 5
                        )
                    served = sum(bsky.served_count()) + sum(masto.served_count())
                    if served >= total and count_posts(engine) >= total:
                        break
                    if now > caught_up_deadline:
                        print("the daemon did not catch up in time", file=sys.stderr)
                        break
                time.sleep(min(0.5, max(0.05, next_sample - time.monotonic())))
            # The last figure, after catching up, before the stop.
            if process.poll() is None:
                rss, fds, threads = read_proc(process.pid)
                sim = (clock.now() - start).total_seconds()
                stored = count_posts(engine)
                samples.append(
                    Sample(
                        time.monotonic() - t0, sim, rss, fds, threads, stored, total, time.time()
                    )
                )
                print(
                    f"{samples[-1].wall:7.0f} {sim / 60:7.1f} {rss / 1024:8.1f} {fds:4d} "
                    f"{threads:4d} {stored:9,d} {max(0, total - stored):7,d}  (caught up)"
                )
                stopping = time.monotonic()
                process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(timeout=STOP_LIMIT + 5)
                    stop_seconds = time.monotonic() - stopping
                except subprocess.TimeoutExpired:
                    code = None
            else:
                code = process.returncode
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        served_uris = {
            "bluesky": {bsky.bluesky_uri(i) for i in bsky.served_bluesky},
            "mastodon": {masto.mastodon_uri(i) for i in masto.served_mastodon},
        }

    ok = True
    print()
    # -- memory and descriptors --------------------------------------------------------------
    quiet = between_heavy_jobs(samples, heavy_job_intervals(log_path, args.sample))
    if len(samples) >= 4 and len(quiet) >= 4:
        rows = [
            # Everything, for the record: a sample taken during an analysis holds its
            # transient working set (a few hundred MiB for seconds), so the fit of this row
            # says when the last analysis ran, not whether memory leaks.
            ("RSS (MiB)", samples, lambda s: s.rss_kib / 1024, None),
            # What a leak raises: memory while no analysis or report runs.
            ("RSS quiet", quiet, lambda s: s.rss_kib / 1024, args.rss_tolerance),
            ("open fds", samples, lambda s: float(s.fds), 1.0),
            ("threads", samples, lambda s: float(s.threads), 1.0),
        ]
        print(
            f"{'':10} {'first':>8} {'last':>8} {'max':>8} {'2nd-half slope/h':>17} "
            f"{'2nd-half growth':>16}  verdict"
        )
        for name, series, value, tolerance in rows:
            values = [value(s) for s in series]
            half = series[len(series) // 2 :]
            hours = [s.simulated / 3600 for s in half]
            slope = fit(hours, values[len(series) // 2 :])  # per simulated hour
            growth = slope * (hours[-1] - hours[0])
            if tolerance is None:
                verdict = "(not judged)"
            else:
                flat = growth < tolerance
                ok &= flat
                verdict = "flat" if flat else "GROWING"
            print(
                f"{name:10} {values[0]:8.1f} {values[-1]:8.1f} {max(values):8.1f} "
                f"{slope:17.2f} {growth:16.2f}  {verdict}"
            )
        print(
            f"(RSS quiet: the {len(quiet)} of {len(samples)} samples taken while no analysis or "
            "report ran, by the daemon's log)"
        )
    else:
        print("FAILED: too few samples")
        ok = False
    print(
        f"largest backlog: {max_lag:,} posts ({max_lag / args.rate:.0f} simulated seconds "
        "behind the arrivals), caught up after the arrivals stopped"
        if samples and samples[-1].stored >= total
        else f"largest backlog: {max_lag:,} posts; NOT caught up"
    )
    # -- exactly once ------------------------------------------------------------------------
    with engine.connect() as connection:
        for platform, served in served_uris.items():
            stored_ids = [
                row[0]
                for row in connection.execute(
                    text("SELECT platform_id FROM post WHERE platform = :p"), {"p": platform}
                )
            ]
            unique = set(stored_ids)
            duplicates = len(stored_ids) - len(unique)
            missing = len(served - unique)
            extra = len(unique - served)
            once = duplicates == 0 and missing == 0 and extra == 0
            ok &= once
            print(
                f"{platform}: served {len(served):,}, stored {len(stored_ids):,} "
                f"({duplicates} duplicate(s), {missing} missing, {extra} never served): "
                f"{'exactly once' if once else 'NOT exactly once'}"
            )
        expected = total
        served_total = sum(len(s) for s in served_uris.values())
        if served_total != expected:
            ok = False
            print(f"served {served_total:,} of the {expected:,} posts produced")
        jobs = connection.execute(
            text("SELECT name, last_status, last_message FROM job_state ORDER BY name")
        ).all()
        analyses = connection.execute(
            text("SELECT count(*) FROM analysis_run WHERE status = 'ok'")
        ).scalar_one()
        alerts = connection.execute(text("SELECT kind, count(*) FROM alert GROUP BY kind")).all()
    engine.dispose()
    for name, status, message in jobs:
        print(f"  job {name}: {status}: {(message or '')[:110]}")
    reports = sorted(p.name for p in (workdir / "reports").glob("*/*/*.pdf"))
    print(
        f"  analysis runs ok: {analyses}; alerts: {dict(alerts) or 'none'}; "
        f"report PDFs: {reports or 'none'}"
    )
    errors = []
    for line in (workdir / "daemon.log").read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        if record.get("level") in ("error", "critical"):
            errors.append(record.get("message", line))
    if errors:
        ok = False
        print(f"{len(errors)} error line(s) in the daemon's log, the first: {errors[0][:300]}")
    # -- the stop ----------------------------------------------------------------------------
    clean = code == 0 and stop_seconds is not None and stop_seconds <= STOP_LIMIT
    ok &= clean
    took = f"{stop_seconds:.1f} s" if stop_seconds is not None else "no exit"
    print(f"SIGTERM: exit code {code} after {took} ({'clean' if clean else 'NOT clean'})")
    print(f"total wall time {time.monotonic() - began:.0f} s; verdict: {'PASS' if ok else 'FAIL'}")
    if args.keep:
        shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
