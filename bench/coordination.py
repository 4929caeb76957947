"""Benchmark: accuracy and speed of the coordination engine on synthetic streams.

Usage::

    PYTHONPATH=. python -m bench.coordination [--sizes 100000 1000000] [--seed 1]

Each size runs in a fresh subprocess so that its peak memory is its own. For every size it
prints:

* accuracy of planted-account recovery: precision, recall, F1 over accounts; clusters made
  only of organic accounts (must be 0: viral bursts, news bursts and the organic solidarity day
  must not become clusters); cluster purity and Iannucci et al.'s weighted precision
  ``WP = sum n_k p_k**2 / sum n_k p_k``; planted support campaigns labelled *supportive* and
  hostile ones never labelled supportive;
* time of the exact-match signals (text normalisation + co-link, co-repost, co-reply,
  identical text, hashtag sequences, pile-ons, with null model and evidence), of the
  near-duplicate grouping (MinHash-LSH) alone, and of the whole ``analyze`` run;
* peak resident memory of the process (generator data included) and the resident memory
  right after generation.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter

from analysis.coordination import coordination_edges
from analysis.engine import analyze
from analysis.params import AnalysisParams
from analysis.text import near_duplicate_groups
from bench.synthetic import generate

EXACT_LAYERS = ("link", "repost", "reply", "text", "hashtags", "pileon")


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_one(n_posts: int, seed: int, window: int) -> dict:
    t = time.perf_counter()
    syn = generate(n_posts, seed=seed)
    gen_s = time.perf_counter() - t
    rss_after_gen = _rss_mb()
    inp = syn.input.validate()
    posts = inp.posts
    params = AnalysisParams(window_seconds=window)

    t = time.perf_counter()
    own = posts.loc[posts["repost_of"].isna(), ["post_pk", "text"]].set_index("post_pk")["text"]
    exact_texts = near_duplicate_groups(own, exact_only=True)
    coordination_edges(inp, AnalysisParams(window_seconds=window, layers=EXACT_LAYERS), exact_texts)
    exact_s = time.perf_counter() - t

    t = time.perf_counter()
    near_duplicate_groups(own)
    near_s = time.perf_counter() - t

    t = time.perf_counter()
    res = analyze(syn.input, params)
    total_s = time.perf_counter() - t

    truth = syn.planted_accounts
    predicted = {m.account_pk for c in res.clusters for m in c.members}
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    organic_only = [c for c in res.clusters if not (c.member_pks & truth)]
    # purity: share of the cluster's members from its majority planted group
    group_of = {a: g.name for g in syn.planted for a in g.accounts}
    wp_num = wp_den = 0.0
    purities = []
    for c in res.clusters:
        counts = Counter(group_of.get(m, "organic") for m in c.member_pks)
        label, top = counts.most_common(1)[0]
        p = top / len(c.members) if label != "organic" else 0.0
        purities.append(p)
        wp_num += len(c.members) * p * p
        wp_den += len(c.members) * p
    support_ok = support_total = hostile_as_support = 0
    for g in syn.planted:
        best = max(
            res.clusters, key=lambda c, g=g: len(c.member_pks & set(g.accounts)), default=None
        )
        if best is None or not best.member_pks & set(g.accounts):
            continue
        if g.stance == "supportive":
            support_total += 1
            support_ok += best.stance == "supportive"
        elif best.stance == "supportive":
            hostile_as_support += 1
    return {
        "posts": len(posts),
        "accounts": int(posts["account_pk"].nunique()),
        "planted_groups": len(syn.planted),
        "planted_accounts": len(truth),
        "clusters": len(res.clusters),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "organic_only_clusters": len(organic_only),
        "false_positive_accounts": len(predicted - truth),
        "mean_purity": round(sum(purities) / len(purities), 4) if purities else None,
        "weighted_precision": round(wp_num / wp_den, 4) if wp_den else None,
        "support_groups_supportive": f"{support_ok}/{support_total}",
        "hostile_groups_labelled_supportive": hostile_as_support,
        "generate_s": round(gen_s, 1),
        "exact_signals_s": round(exact_s, 2),
        "near_duplicates_s": round(near_s, 2),
        "analyze_total_s": round(total_s, 2),
        "analyze_stages_s": res.stats["seconds"],
        "rss_after_generation_mb": round(rss_after_gen),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.seed, args.window)))
        return 0
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.coordination",
                "--one",
                str(n),
                "--seed",
                str(args.seed),
                "--window",
                str(args.window),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False, indent=1), flush=True)
    keys = [
        "posts",
        "clusters",
        "precision",
        "recall",
        "f1",
        "organic_only_clusters",
        "weighted_precision",
        "support_groups_supportive",
        "exact_signals_s",
        "near_duplicates_s",
        "analyze_total_s",
        "peak_rss_mb",
    ]
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
