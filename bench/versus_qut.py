"""Benchmark: the whole ``analyze`` against QUT's coordination-network-toolkit on the same posts.

Usage::

    pip install coordination-network-toolkit      # not a dependency of smearwatch
    PYTHONPATH=. python -m bench.versus_qut [--sizes 100000 1000000] [--seed 1] [--keep DIR]

The toolkit (Graham / QUT Digital Observatory, ``compute_networks``) is the usual open tool for
co-link, co-tweet and co-retweet networks; its published figure is under 60 s for 10M tweets.
For each size this script generates one synthetic stream (`bench.synthetic`, planted campaigns
in organic traffic), writes it in the toolkit's CSV input format (message_id, user_id,
username, repost_id, reply_id, message, timestamp, urls) and then, each in a fresh subprocess:

* **QUT**: ``compute_networks DB preprocess --format csv`` (loading into its SQLite file), then
  ``compute co_link``, ``compute co_tweet`` and ``compute co_retweet`` with
  ``--time_window 60`` on every CPU (its default). Its time is the three computations;
  the preprocessing is printed beside it. ``--qut-budget S`` stops the networks after S
  seconds; the QUT time (and the ratio) is then a lower bound (``qut_is_lower_bound``).
* **smearwatch**: `analysis.engine.analyze` with default parameters on the same posts: text
  grouping (exact and near-duplicate), all seven co-action layers with the null model, the
  network, clusters, account signals, scores and explanations. The frames are built from the
  generator in that process (what ``db.frames.load_window`` hands the engine); loading them
  from the database is the import's job, timed by ``bench.ingest``.

It prints both wall times, both CPU times (the toolkit's worker processes included) and the
ratio QUT compute / smearwatch analyze. The toolkit's code is not part of this repository: it
is run from wherever pip installed it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUT_NETWORKS = ("co_link", "co_tweet", "co_retweet")
QUT_MODULE = "coordination_network_toolkit"


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def write_qut_csv(n_posts: int, seed: int, path: Path) -> dict:
    """The generator's stream in the toolkit's CSV input format; returns its counts."""
    from bench.synthetic import generate

    syn = generate(n_posts, seed=seed)
    posts = syn.input.posts
    urls: dict[int, list[str]] = {}
    for pk, url in zip(
        syn.input.links["post_pk"].tolist(), syn.input.links["normalized_url"].tolist(), strict=True
    ):
        urls.setdefault(pk, []).append(url)
    seconds = posts["created_at"].astype("int64").to_numpy() // 1_000_000_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp"]
            + ["urls"]
        )
        for pk, post_id, account, handle, repost, reply, text, ts in zip(
            posts["post_pk"].tolist(),
            posts["post_id"].tolist(),
            posts["account_pk"].tolist(),
            posts["handle"].tolist(),
            posts["repost_of"].tolist(),
            posts["reply_to"].tolist(),
            posts["text"].tolist(),
            seconds.tolist(),
            strict=True,
        ):
            out.writerow(
                [post_id, account, handle, repost or "", reply or "", text, ts]
                + [" ".join(urls.get(pk, []))]
            )
    return {"posts": len(posts), "links": len(syn.input.links)}


def _group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a process group (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command name: state, ppid, pgrp, ..., utime (12th), stime (13th)
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _run_group(cmd: list[str], timeout: float | None) -> tuple[bool, float | None]:
    """Run ``cmd`` in its own process group; (False, CPU seconds used) if stopped at
    ``timeout`` (the toolkit works in a pool of processes: the whole group is stopped, not
    only its parent, and its CPU is read from /proc just before)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        used = _group_cpu(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False, used
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:5])} failed: {err.decode(errors='replace')[-2000:]}")
    return True, None


def run_qut(csv_path: Path, workdir: Path, window: int, budget: float | None = None) -> dict:
    """The toolkit's preprocess and the three networks, each timed as its own subprocess.

    With a ``budget`` (seconds for the three networks) a network still running when it is
    spent is stopped; its time then counts as what it had used, and the result says the QUT
    figure is a lower bound.
    """
    db = workdir / "qut.db"
    cmd = [sys.executable, "-m", QUT_MODULE, str(db)]
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    steps = [("preprocess", ["preprocess", "--format", "csv", str(csv_path)])]
    steps += [(n, ["compute", n, "--time_window", str(window)]) for n in QUT_NETWORKS]
    stopped: list[str] = []
    for name, args in steps:
        left = None
        if budget is not None and name != "preprocess":
            left = max(1.0, budget - sum(times.get(n, 0.0) for n in QUT_NETWORKS))
        w, c = time.perf_counter(), _cpu_children()
        finished, used = _run_group(cmd + args, left)
        times[name] = round(time.perf_counter() - w, 2)
        cpu[name] = round(_cpu_children() - c if finished else used or 0.0, 2)
        if not finished:
            stopped.append(name)
        if stopped:
            break
    edges = {}
    import sqlite3

    with sqlite3.connect(db) as con:
        for name in QUT_NETWORKS:
            if name in times and name not in stopped:
                # one table per network, named by the toolkit
                edges[name] = con.execute(f"select count(*) from {name}_network").fetchone()[0]
    compute = round(sum(times.get(n, 0.0) for n in QUT_NETWORKS), 2)
    compute_cpu = round(sum(cpu.get(n, 0.0) for n in QUT_NETWORKS), 2)
    return {
        "qut_preprocess_s": times["preprocess"],
        "qut_compute_s": compute,
        "qut_compute_cpu_s": compute_cpu,
        "qut_steps_s": times,
        "qut_edges": edges,
        "qut_stopped": stopped,
        "qut_is_lower_bound": len(edges) < len(QUT_NETWORKS),
    }


def run_smearwatch(n_posts: int, seed: int, window: int) -> dict:
    """Default ``analyze`` on the same generated posts (in this process)."""
    from analysis.engine import analyze
    from analysis.params import AnalysisParams
    from bench.synthetic import generate

    syn = generate(n_posts, seed=seed)
    params = AnalysisParams(window_seconds=window)
    w, c = time.perf_counter(), _cpu_self()
    result = analyze(syn.input, params)
    return {
        "smearwatch_analyze_s": round(time.perf_counter() - w, 2),
        "smearwatch_analyze_cpu_s": round(_cpu_self() - c, 2),
        "smearwatch_clusters": len(result.clusters),
        "smearwatch_accepted_edges": result.stats["accepted_edges"],
        "smearwatch_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(mode: str, n: int, seed: int, window: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.versus_qut", "--child", mode, "--sizes", str(n)]
        + ["--seed", str(seed), "--window", str(window)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument(
        "--qut-budget",
        type=float,
        help="stop the toolkit's networks after this many seconds (the ratio is then >=)",
    )
    ap.add_argument("--keep", help="folder for the CSV and the toolkit's database (kept)")
    ap.add_argument("--child", choices=["smearwatch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "smearwatch":
        print(json.dumps(run_smearwatch(args.sizes[0], args.seed, args.window)))
        return 0
    try:
        __import__(QUT_MODULE)
    except ImportError:
        print(f"{QUT_MODULE} is not installed: pip install coordination-network-toolkit")
        return 2
    rows = []
    for n in args.sizes:
        base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="versus_qut_"))
        work = base / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            csv_path = work / "posts.csv"
            counts = write_qut_csv(n, args.seed, csv_path)
            row: dict = {"posts": counts["posts"], "cpus": os.cpu_count()}
            row |= _child("smearwatch", n, args.seed, args.window)
            row |= run_qut(csv_path, work, args.window, args.qut_budget)
            row["ratio_qut_compute_over_analyze"] = round(
                row["qut_compute_s"] / max(row["smearwatch_analyze_s"], 1e-9), 2
            )
            row["ratio_cpu"] = round(
                row["qut_compute_cpu_s"] / max(row["smearwatch_analyze_cpu_s"], 1e-9), 2
            )
        finally:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    keys = [
        "posts",
        "qut_preprocess_s",
        "qut_compute_s",
        "qut_compute_cpu_s",
        "smearwatch_analyze_s",
        "smearwatch_analyze_cpu_s",
        "ratio_qut_compute_over_analyze",
        "ratio_cpu",
    ]
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
