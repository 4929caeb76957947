"""Benchmark on real retweets: smearwatch against CooRTweet on ``russian_coord_tweets``.

Usage::

    apt-get install r-base-core r-cran-data.table r-cran-igraph
    git clone <CooRTweet's public repository> /tmp/CooRTweet      # MIT licence
    PYTHONPATH=. python -m bench.coortweet --coortweet /tmp/CooRTweet [--work /tmp/coortweet]

CooRTweet (Righetti & Balluff, R) ships ``russian_coord_tweets``: 35,125 real, anonymised
retweets by a pro-government Russian network (Kulichkina, Righetti & Waldherr 2024; ids are
SHA-256 hashes). This script, all in the work folder (default: a temporary one; nothing of the
data set belongs in this repository):

1. runs R (Debian's ``r-base-core``) to load the package's ``data/russian_coord_tweets.rda`` and
   write it as CSV, then runs CooRTweet's own vignette pipeline from the given source tree
   (``detect_groups(min_participation = 2, time_window = 60)`` then
   ``generate_coordinated_network(edge_weight = 0.5, subgraph = 1)``, sourcing its R files:
   they need only data.table and igraph) and writes the flagged accounts and the edges;
2. converts the CSV to smearwatch JSONL (one plain retweet per row: ``repost_of`` the
   retweeted tweet, empty text);
3. runs ``smearwatch init``, ``import`` and ``analyze`` over the whole span, once with the
   default parameters and once with CooRTweet-like ones (every pair with two co-retweets in
   60 s, no significance, popularity or cluster-shape test), and exports each run's clusters;
4. prints the accounts flagged by each, their overlap, CooRTweet's edges split by how many
   distinct tweets they rest on, and the run's null-model figures.

CooRTweet's edge weight counts every pair of co-shares, so one retweet counted twice (the
same tweet retweeted twice by one account within the window) can make an edge on its own;
smearwatch counts one act once, on distinct objects or separate occasions.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]; out <- args[2]
load(file.path(src, "data", "russian_coord_tweets.rda"))
x <- russian_coord_tweets
write.csv(data.frame(object_id = as.character(x$object_id),
                     account_id = as.character(x$account_id),
                     content_id = as.character(x$content_id),
                     timestamp_share = as.integer(x$timestamp_share)),
          file.path(out, "russian_coord_tweets.csv"), row.names = FALSE)
suppressMessages({library(data.table); library(igraph)})
for (f in c("detect_groups.R", "calc_group_combinations.R", "generate_coordinated_network.R"))
  source(file.path(src, "R", f))
started <- Sys.time()
result <- detect_groups(x = russian_coord_tweets, min_participation = 2, time_window = 60)
graph <- generate_coordinated_network(result, edge_weight = 0.5, subgraph = 1)
seconds <- as.numeric(Sys.time() - started, units = "secs")
writeLines(sort(names(V(graph))), file.path(out, "coortweet_accounts.txt"))
r <- copy(result)
r[, `:=`(a = pmin(account_id, account_id_y), b = pmax(account_id, account_id_y))]
kept <- as_data_frame(graph, what = "edges")
pairs <- r[, .(weight = .N, objects = uniqueN(object_id)), by = .(a, b)]
kept <- merge(pairs, data.table(a = pmin(kept$from, kept$to), b = pmax(kept$from, kept$to)))
fwrite(kept, file.path(out, "coortweet_edges.csv"))
cat(sprintf("coortweet_seconds %.2f\n", seconds))
"""

TUNED = {
    "min_edge_weight": 0.0,
    "alpha": 1.0,
    "min_cluster_size": 2,
    "min_member_links": 1,
    "min_cluster_density": 0.0,
    "sparse_fdr": 0.0,
}


def run_r(source: Path, work: Path) -> float:
    script = work / "coortweet.R"
    script.write_text(R_SCRIPT, encoding="utf-8")
    out = subprocess.run(
        ["Rscript", str(script), str(source), str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.split("coortweet_seconds")[1].split()[0])


def to_jsonl(csv_path: Path, jsonl_path: Path) -> tuple[int, datetime, datetime]:
    """CooRTweet's four columns as plain retweets in smearwatch's interchange format."""
    first = last = None
    n = 0
    with csv_path.open(encoding="utf-8") as src, jsonl_path.open("w", encoding="utf-8") as out:
        for row in csv.DictReader(src):
            when = datetime.fromtimestamp(int(row["timestamp_share"]), UTC)
            first = when if first is None or when < first else first
            last = when if last is None or when > last else last
            record = {
                "platform": "twitter",
                "post_id": row["content_id"],
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "author": {"id": row["account_id"]},
                "text": "",
                "repost_of": row["object_id"],
            }
            out.write(json.dumps(record) + "\n")
            n += 1
    assert first is not None and last is not None, "empty data set"
    return n, first, last


def smearwatch(work: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "smearwatch.cli", "--config", str(work / "sw.toml"), *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
    )
    return out.stdout


def analyse(work: Path, since: str, until: str, options: dict) -> tuple[set[str], dict]:
    """One analyze run with ``options`` in [analysis]; its flagged accounts and run stats."""
    config = work / "sw.toml"
    text = config.read_text(encoding="utf-8").split("\n# bench options\n")[0]
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    if extra:
        # [analysis] is the config's first table after [database]; options go right under it
        text = text.replace("[analysis]\n", "[analysis]\n" + extra, 1)
    config.write_text(text + "\n# bench options\n", encoding="utf-8")
    smearwatch(work, "analyze", "--since", since, "--until", until)
    out = work / "clusters.csv"
    smearwatch(work, "export", "clusters", "--format", "csv", "--out", str(out))
    with out.open(encoding="utf-8") as fh:
        accounts = {row["account_id"] for row in csv.DictReader(fh)}
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{work / 'smearwatch.db'}")
    with engine.connect() as connection:
        stats = connection.execute(
            sa.text("select stats from analysis_run order by id desc limit 1")
        ).scalar_one()
    engine.dispose()
    return accounts, json.loads(stats) if isinstance(stats, str) else stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coortweet", required=True, help="CooRTweet source tree (data/, R/)")
    ap.add_argument("--work", help="work folder (kept); default: a temporary one, removed")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="coortweet_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        r_seconds = run_r(Path(args.coortweet), work)
        theirs = set((work / "coortweet_accounts.txt").read_text(encoding="utf-8").split())
        with (work / "coortweet_edges.csv").open(encoding="utf-8") as fh:
            their_edges = list(csv.DictReader(fh))
        n, first, last = to_jsonl(work / "russian_coord_tweets.csv", work / "posts.jsonl")
        for name in ("smearwatch.db", "sw.toml"):
            (work / name).unlink(missing_ok=True)
        smearwatch(work, "init")
        imported = smearwatch(work, "import", str(work / "posts.jsonl")).strip()
        since = first.strftime("%Y-%m-%d")
        # --until is exclusive: the day after the last retweet
        until = datetime.fromordinal(last.toordinal() + 1).strftime("%Y-%m-%d")
        rows = {}
        for label, options in (("defaults", {}), ("coortweet-like", TUNED)):
            ours, stats = analyse(work, since, until, options)
            background = stats.get("background", {})
            rows[label] = {
                "smearwatch_accounts": len(ours),
                "coortweet_accounts": len(theirs),
                "overlap": len(ours & theirs),
                "only_smearwatch": len(ours - theirs),
                "clusters": stats.get("clusters"),
                "accepted_edges": stats.get("accepted_edges"),
                "expected_chance_edges": background.get("expected_chance_edges"),
                "sparse_edges": background.get("sparse_edges"),
                "thin_background": background.get("thin"),
                "analyze_s": stats.get("seconds", {}).get("total"),
            }
        one_object = sum(1 for e in their_edges if int(e["objects"]) == 1)
        summary = {
            "retweets": n,
            "span": f"{first:%Y-%m-%d} to {last:%Y-%m-%d}",
            "import": imported.splitlines()[-1] if imported else "",
            "coortweet_seconds": r_seconds,
            "coortweet_edges": len(their_edges),
            "coortweet_edges_on_one_tweet": one_object,
            "coortweet_edges_on_two_or_more": len(their_edges) - one_object,
            "runs": rows,
        }
        print(json.dumps(summary, indent=1, ensure_ascii=False))
        print("\n| parameters | smearwatch | CooRTweet | overlap | only smearwatch |")
        print("|---|---|---|---|---|")
        for label, row in rows.items():
            print(
                f"| {label} | {row['smearwatch_accounts']} | {row['coortweet_accounts']} | "
                f"{row['overlap']} | {row['only_smearwatch']} |"
            )
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
