"""Ingest benchmark: generate N posts, time `smearwatch import` into SQLite and PostgreSQL.

Each import runs as its own process (the real CLI), so the figures are those of the import
alone: CPU and peak memory include its worker processes (a large file is read by one or two of
them while the import process writes). Prints one line per measurement, e.g.

    sqlite      first import   1,000,000 posts  87.9 s  11,381 posts/s  (cpu ...)  peak 414 MB

Usage: python bench/ingest.py [--n 1000000] [--backend sqlite|postgresql|both] [--pg-url URL]
Targets (issue 2): >= 20,000 posts/s into SQLite, >= 10,000 into PostgreSQL, re-import >=
50,000 posts/s, peak memory < 500 MB whatever N is.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

WORDS = [
    *"Орманова грантоед иностранный агент предатель суд адвокат защита права свобода".split(),
    *"слова Қазақстан құқық қорғаушы сот шетелдік агент foreign agent lawyer court".split(),
    *"freedom Soros grant eater traitor hearing verdict solidarity".split(),
]


def generate(path: Path, n: int, seed: int = 7) -> None:
    """N realistic posts: 20k accounts, links with tracking tails, hashtags, mixed languages."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with path.open("wb") as handle:
        for i in range(n):
            account = rng.randrange(20_000)
            created = start + timedelta(seconds=i * 2 + rng.randrange(2))
            words = rng.choices(WORDS, k=rng.randint(6, 30))
            link = f"https://news{rng.randrange(300)}.example/article/{rng.randrange(5000)}"
            if rng.random() < 0.3:
                link += "?utm_source=tg&utm_campaign=x"
            record = {
                "platform": "bluesky" if account % 3 else "telegram",
                "post_id": f"bench/{i}",
                "url": f"https://bsky.app/profile/u{account}/post/{i}",
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "author": {
                    "id": f"did:plc:bench{account}",
                    "handle": f"user{account}.bsky.social",
                    "display_name": f"Пользователь {account}",
                    "created_at": "2025-01-01T00:00:00Z",
                },
                "text": " ".join(words),
                "lang": rng.choice(["ru", "kk", "en"]),
                "links": [link] if rng.random() < 0.6 else [],
                "hashtags": rng.sample(["грантоед", "предатель", "freekz", "солидарность"], 2),
                "mentions": [],
                "reply_to": None,
                "repost_of": None,
                "quote_of": None,
                "raw": {
                    "uri": f"bench/{i}",
                    "text": " ".join(words),
                    "likeCount": rng.randrange(50),
                },
            }
            handle.write(orjson.dumps(record) + b"\n")


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (the import's workers), in kB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
            with open(f"/proc/{current}/task/{current}/children") as handle:
                pending.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


class _TreePeak(threading.Thread):
    """Samples the summed RSS of the import and its workers every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))


def run_import(database_url: str, path: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS in kB and the summary line of one import process.

    CPU time is user + system of the import process and its worker processes (a PostgreSQL
    server's own work is not in it), which makes figures taken on a busy machine comparable
    with those of an idle one. Peak memory is the largest sum of the resident memory of the
    import and its workers seen at once (sampled every 50 ms), or the import's own peak if
    that is larger.
    """
    command = [
        sys.executable,
        "-m",
        "smearwatch.cli",
        "--database",
        database_url,
        "import",
        str(path),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = _TreePeak(process.pid)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed: {err}")
    cpu = usage.ru_utime + usage.ru_stime
    peak = max(usage.ru_maxrss, sampler.peak_kb)
    return elapsed, cpu, peak, out.strip().splitlines()[-1] if out.strip() else ""


def report(backend: str, what: str, n: int, seconds: float, cpu: float, peak_kb: int) -> None:
    print(
        f"{backend:<11} {what:<14} {n:>10,} posts {seconds:7.1f} s "
        f"{n / seconds:>9,.0f} posts/s  (cpu {cpu:6.1f} s, {n / cpu:>7,.0f} posts/cpu-s)  "
        f"peak {peak_kb / 1024:,.0f} MB  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "SMEARWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smearwatch-bench-") as folder:
        tmp = Path(folder)
        data = tmp / "posts.jsonl"
        started = time.perf_counter()
        generate(data, args.n)
        print(
            f"generated {args.n:,} posts ({data.stat().st_size / 1e6:,.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{tmp / 'bench.db'}"
            for what in ("first import", "re-import"):
                seconds, cpu, peak, _ = run_import(url, data)
                report("sqlite", what, args.n, seconds, cpu, peak)
        if args.backend in ("postgresql", "both"):
            schema = "sw_bench_" + uuid.uuid4().hex[:8]
            admin = create_engine(args.pg_url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(args.pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
            try:
                for what in ("first import", "re-import"):
                    seconds, cpu, peak, _ = run_import(
                        url.render_as_string(hide_password=False), data
                    )
                    report("postgresql", what, args.n, seconds, cpu, peak)
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
