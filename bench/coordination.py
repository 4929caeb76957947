"""Benchmark: accuracy and speed of the coordination engine on synthetic streams.

Usage::

    PYTHONPATH=. python -m bench.coordination [--sizes 100000 1000000] [--seed 1]

Each size runs in a fresh subprocess so that its peak memory is its own. For every size it
prints:

* accuracy of planted-account recovery: precision, recall, F1 over accounts, and recall per
  planted kind; clusters made only of organic accounts (must be 0: viral bursts, news bursts,
  the organic solidarity day, reposts and forwards carrying the original's link and hashtags,
  quotes, fans co-reposting a popular account within seconds, news-site bots and share-button
  texts must not become clusters), and, separately for each of those organic cases, the
  organic-only clusters and false-positive accounts it produced (attributed by the majority
  of the evidence posts) and how many news bots were flagged; cluster purity and Iannucci
  et al.'s weighted precision ``WP = sum n_k p_k**2 / sum n_k p_k``; planted support
  campaigns labelled *supportive* and hostile ones never labelled supportive;
* time of the exact-match signals (text normalisation + co-link, co-repost, co-reply,
  identical text, hashtag sequences, pile-ons, with null model and evidence), of the
  near-duplicate grouping (MinHash-LSH) alone, and of the whole ``analyze`` run;
* peak resident memory of the process (generator data included) and the resident memory
  right after generation.

Every time is given as wall seconds and as CPU seconds of the process (``getrusage``): on a
shared machine the CPU figure is the one that does not depend on other work. The steps of
``analyze`` itself (text, coordination, network, clusters) are its own ``stats`` figures,
wall (``analyze_stages_s``) and CPU (``analyze_stages_cpu_s``).

``--dump DIR`` writes the whole analysis result of each size (``AnalysisResult.to_dict()``
without its timings, as sorted-key JSON) to ``DIR/analysis-<posts>-seed<seed>.json``: a
change meant only to make the engine faster must leave these files byte-identical (compare
them with ``cmp`` before and after).

``--exact-only`` measures only the exact-match stage (exact text keys, co-link, co-repost,
co-reply, identical text, hashtag sequences, pile-ons, null model and evidence) on validated,
canonical input, with the resident memory before it and the process peak: this is how the
10,000,000-post target is measured (``--exact-only --sizes 10000000``). The generator alone
holds about 7 GB at 10M posts (one Python string per text and id), so the full ``analyze`` run
is measured at up to 1M posts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from analysis.coordination import coordination_edges
from analysis.engine import _canonical, analyze
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


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Clock:
    """Wall and CPU seconds of each measured step (the machine may be shared: CPU is the
    figure that does not depend on other processes)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        w, c = time.perf_counter(), _cpu_s()
        out = fn(*args, **kwargs)
        self.wall[name] = round(time.perf_counter() - w, 2)
        self.cpu[name] = round(_cpu_s() - c, 2)
        return out


def _exact_stage(inp, window: int):
    """The exact-match signals as the engine runs them: exact text keys, then co-link,
    co-repost, co-reply, identical text, hashtag sequences and pile-ons with null model and
    evidence (input already validated and in canonical order)."""
    posts = inp.posts
    own = posts.loc[posts["repost_of"].isna(), ["post_pk", "text"]].set_index("post_pk")["text"]
    exact_texts = near_duplicate_groups(own, exact_only=True)
    del own
    params = AnalysisParams(window_seconds=window, layers=EXACT_LAYERS)
    return coordination_edges(inp, params, exact_texts)


def run_exact(n_posts: int, seed: int, window: int) -> dict:
    """Large sizes: the exact-match stage alone (what must take <= 120 s at 10M posts)."""
    clock = _Clock()
    syn = clock.run("generate", generate, n_posts, seed=seed)
    rss_after_gen = _rss_mb()
    inp = syn.input
    del syn
    inp = clock.run("validate", lambda: _canonical(inp.validate()))
    rss_before = _rss_mb()
    coord = clock.run("exact_signals", _exact_stage, inp, window)
    return {
        "posts": len(inp.posts),
        "accounts": int(inp.posts["account_pk"].nunique()),
        "candidate_pairs": coord.candidate_pairs,
        "candidate_edges": len(coord.edges),
        "accepted_edges": int(coord.edges["accepted"].sum()) if len(coord.edges) else 0,
        "exact_signals_s": clock.wall["exact_signals"],
        "exact_signals_cpu_s": clock.cpu["exact_signals"],
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "rss_after_generation_mb": round(rss_after_gen),
        "rss_before_exact_mb": round(rss_before),
        "peak_rss_mb": round(_peak_mb()),
    }


def dump_result(res, path: str) -> None:
    """Write ``res`` as canonical JSON without its timings (which differ on every run), so
    that two runs that found the same thing give byte-identical files."""
    d = res.to_dict()
    d["stats"] = {k: v for k, v in d["stats"].items() if k not in ("seconds", "cpu_seconds")}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(d, fh, ensure_ascii=False, sort_keys=True, indent=0, default=str)
        fh.write("\n")


def run_one(n_posts: int, seed: int, window: int, dump: str | None = None) -> dict:
    clock = _Clock()
    syn = clock.run("generate", generate, n_posts, seed=seed)
    rss_after_gen = _rss_mb()
    inp = clock.run("validate", lambda: _canonical(syn.input.validate()))
    params = AnalysisParams(window_seconds=window)

    clock.run("exact_signals", _exact_stage, inp, window)
    own = inp.posts.loc[inp.posts["repost_of"].isna(), ["post_pk", "text"]]
    own = own.set_index("post_pk")["text"]
    clock.run("near_duplicates", near_duplicate_groups, own)
    del own, inp
    peak_before_analyze = _peak_mb()

    res = clock.run("analyze", analyze, syn.input, params)
    if dump:
        dump_result(res, f"{dump}/analysis-{n_posts}-seed{seed}.json")
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
    # which organic case each false positive comes from (majority of its evidence posts)
    case_names = sorted(syn.cases)
    case_of = np.full(int(syn.input.posts["post_pk"].max()) + 1, -1, dtype=np.int64)
    for k, name in enumerate(case_names):
        case_of[syn.cases[name]] = k

    def case_label(pks: list[int]) -> str:
        got = case_of[np.asarray(pks, dtype=np.int64)] if pks else np.zeros(0, np.int64)
        got = got[got >= 0]
        if not len(got):
            return "ordinary"
        return case_names[int(np.bincount(got).argmax())]

    organic_by_case: Counter[str] = Counter()
    fp_by_case: Counter[str] = Counter()
    for c in res.clusters:
        fps = c.member_pks - truth
        if not fps:
            continue
        by_account: dict[int, list[int]] = {}
        for e in c.evidence:
            for ep in e.posts:
                by_account.setdefault(ep.account_pk, []).append(ep.post_pk)
        if not (c.member_pks & truth):
            organic_by_case[case_label([p for v in by_account.values() for p in v])] += 1
        for a in fps:
            fp_by_case[case_label(by_account.get(a, []))] += 1
    recall_by_kind = {}
    for kind in sorted({g.kind for g in syn.planted}):
        accs = {a for g in syn.planted if g.kind == kind for a in g.accounts}
        recall_by_kind[kind] = round(len(accs & predicted) / len(accs), 4)
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
        "posts": len(syn.input.posts),
        "accounts": int(syn.input.posts["account_pk"].nunique()),
        "planted_groups": len(syn.planted),
        "planted_accounts": len(truth),
        "clusters": len(res.clusters),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "organic_only_clusters": len(organic_only),
        "false_positive_accounts": len(predicted - truth),
        "organic_only_clusters_by_case": dict(sorted(organic_by_case.items())),
        "false_positive_accounts_by_case": dict(sorted(fp_by_case.items())),
        "news_bots_flagged": f"{len(predicted & syn.bot_accounts)}/{len(syn.bot_accounts)}",
        "recall_by_kind": recall_by_kind,
        "organic_case_posts": {k: len(v) for k, v in sorted(syn.cases.items())},
        "mean_purity": round(sum(purities) / len(purities), 4) if purities else None,
        "weighted_precision": round(wp_num / wp_den, 4) if wp_den else None,
        "support_groups_supportive": f"{support_ok}/{support_total}",
        "hostile_groups_labelled_supportive": hostile_as_support,
        "exact_signals_s": clock.wall["exact_signals"],
        "exact_signals_cpu_s": clock.cpu["exact_signals"],
        "near_duplicates_s": clock.wall["near_duplicates"],
        "near_duplicates_cpu_s": clock.cpu["near_duplicates"],
        "analyze_total_s": clock.wall["analyze"],
        "analyze_total_cpu_s": clock.cpu["analyze"],
        "analyze_stages_s": res.stats["seconds"],
        "analyze_stages_cpu_s": res.stats["cpu_seconds"],
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "rss_after_generation_mb": round(rss_after_gen),
        "peak_rss_before_analyze_mb": round(peak_before_analyze),
        "peak_rss_mb": round(_peak_mb()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument(
        "--exact-only",
        action="store_true",
        help="measure only the exact-match stage (for 10M posts: the full run does not fit)",
    )
    ap.add_argument(
        "--dump",
        metavar="DIR",
        help="write each size's whole analysis result (no timings) to DIR for identity checks",
    )
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        if args.exact_only:
            print(json.dumps(run_exact(args.one, args.seed, args.window)))
        else:
            print(json.dumps(run_one(args.one, args.seed, args.window, args.dump)))
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
                *(["--exact-only"] if args.exact_only else []),
                *(["--dump", args.dump] if args.dump else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False, indent=1), flush=True)
    if args.exact_only:
        keys = [
            "posts",
            "candidate_pairs",
            "accepted_edges",
            "exact_signals_s",
            "exact_signals_cpu_s",
            "rss_before_exact_mb",
            "peak_rss_mb",
        ]
        print("\n| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")
        return 0
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
        "exact_signals_cpu_s",
        "near_duplicates_s",
        "near_duplicates_cpu_s",
        "analyze_total_s",
        "analyze_total_cpu_s",
        "peak_rss_before_analyze_mb",
        "peak_rss_mb",
    ]
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
