"""Benchmark on real traces: smearwatch against CooRTweet on the package's two real data sets.

Usage::

    apt-get install r-base-core r-cran-data.table r-cran-igraph
    # CooRTweet's public source tree (MIT licence), e.g. in /tmp/CooRTweet
    PYTHONPATH=. python -m bench.coortweet --coortweet /tmp/CooRTweet \
        [--dataset russian_coord_tweets|german_elections] [--work /tmp/coortweet]

CooRTweet (Righetti & Balluff, R) ships two anonymised real data sets (``R/data.R``):

``russian_coord_tweets``
    35,125 retweets by a pro-government Russian network (Kulichkina, Righetti & Waldherr
    2024): object_id (the retweeted tweet), account_id, content_id, timestamp_share. Its
    vignette runs ``detect_groups(min_participation = 2, time_window = 60)`` then
    ``generate_coordinated_network(edge_weight = 0.5, subgraph = 1)``.
``german_elections``
    218,971 rows of Facebook and Twitter posts from the 2021 German federal election
    campaign (Righetti et al. 2022): account_id (``fb_``/``tw_`` + a number), post_id,
    url_id, hashtag_id, domain_id, phash_id (a perceptual hash of an attached image),
    timestamp; one row per post and entity. Its vignette detects co-shared URLs and
    co-shared images separately (``time_window = 30``), stacks both and builds one network
    (``edge_weight = 0.5``). smearwatch has no image layer, so CooRTweet is also run on the
    URLs alone (the like-for-like comparison); each URL becomes a link
    ``https://d<domain_id>.example/u<url_id>`` (the domain kept, so a site's feed accounts are
    still seen as such), hashtags and images are left out (their order in a post is unknown
    and smearwatch reads no image hashes).

This script, all in the work folder (default: a temporary one; nothing of the data belongs in
this repository):

1. runs R (Debian's ``r-base-core``) to load the package's ``data/<dataset>.rda`` and write it
   as CSV, then runs CooRTweet's own vignette pipeline from the given source tree (sourcing
   its R files: they need only data.table and igraph) and writes the flagged accounts and the
   edges (with the number of distinct objects each rests on);
2. converts the CSV to smearwatch JSONL;
3. runs ``smearwatch init``, ``import`` and ``analyze`` over the whole span, once with the
   default parameters and once with CooRTweet-like ones (every pair with two co-actions in
   the vignette's window, no significance, popularity or cluster-shape test), and exports
   each run's clusters;
4. prints the accounts flagged by each, their overlap, CooRTweet's edges split by how many
   distinct objects they rest on, the run's null-model figures and the time of both.

CooRTweet's edge weight counts every pair of co-shares, so one share counted twice (the
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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Shared by both data sets: CooRTweet's network steps, sourced from its tree, and the edge
# table of a kept graph with the distinct objects each edge rests on.
_R_COMMON = r"""
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]; out <- args[2]
suppressMessages({library(data.table); library(igraph)})
for (f in c("prep_data.R", "detect_groups.R", "calc_group_combinations.R",
            "generate_coordinated_network.R"))
  source(file.path(src, "R", f))
write_network <- function(result, graph, label) {
  writeLines(sort(names(V(graph))), file.path(out, paste0("coortweet_accounts_", label, ".txt")))
  r <- copy(result)
  r[, `:=`(a = pmin(as.character(account_id), as.character(account_id_y)),
           b = pmax(as.character(account_id), as.character(account_id_y)))]
  kept <- as_data_frame(graph, what = "edges")
  pairs <- r[, .(weight = .N, objects = uniqueN(object_id)), by = .(a, b)]
  kept <- merge(pairs, data.table(a = pmin(kept$from, kept$to), b = pmax(kept$from, kept$to)))
  fwrite(kept, file.path(out, paste0("coortweet_edges_", label, ".csv")))
}
"""

R_RUSSIAN = (
    _R_COMMON
    + r"""
load(file.path(src, "data", "russian_coord_tweets.rda"))
x <- russian_coord_tweets
write.csv(data.frame(object_id = as.character(x$object_id),
                     account_id = as.character(x$account_id),
                     content_id = as.character(x$content_id),
                     timestamp_share = as.integer(x$timestamp_share)),
          file.path(out, "data.csv"), row.names = FALSE)
started <- Sys.time()
result <- detect_groups(x = russian_coord_tweets, min_participation = 2, time_window = 60)
graph <- generate_coordinated_network(result, edge_weight = 0.5, subgraph = 1)
cat(sprintf("coortweet_seconds vignette %.2f\n", as.numeric(Sys.time() - started, units = "secs")))
write_network(result, graph, "vignette")
"""
)

R_GERMAN = (
    _R_COMMON
    + r"""
load(file.path(src, "data", "german_elections.rda"))
x <- german_elections
write.csv(data.frame(account_id = x$account_id, post_id = x$post_id, url_id = x$url_id,
                     domain_id = x$domain_id, phash_id = x$phash_id,
                     timestamp = sprintf("%.0f", x$timestamp)),
          file.path(out, "data.csv"), row.names = FALSE, na = "")
prepare <- function(column, prefix) {
  d <- prep_data(data.table::copy(german_elections), object_id = column,
                 account_id = "account_id", content_id = "post_id",
                 timestamp_share = "timestamp")
  d <- unique(d, by = c("object_id", "account_id", "content_id", "timestamp_share"))
  d <- d[!is.na(object_id)]
  d$object_id <- paste0(prefix, d$object_id)
  d
}
# the vignette: co-shared URLs and co-shared images in 30 s, stacked into one network
started <- Sys.time()
result_urls <- detect_groups(prepare("url_id", "url_"), time_window = 30, min_participation = 2)
result_images <- detect_groups(prepare("phash_id", "hash_"), time_window = 30,
                               min_participation = 2)
combined <- rbindlist(list(result_urls, result_images), use.names = TRUE, fill = TRUE)
graph <- generate_coordinated_network(combined, edge_weight = 0.5, subgraph = 1)
cat(sprintf("coortweet_seconds vignette %.2f\n", as.numeric(Sys.time() - started, units = "secs")))
write_network(combined, graph, "vignette")
# the same on the URLs alone: what smearwatch's link layer sees
started <- Sys.time()
result_urls <- detect_groups(prepare("url_id", "url_"), time_window = 30, min_participation = 2)
graph <- generate_coordinated_network(result_urls, edge_weight = 0.5, subgraph = 1)
cat(sprintf("coortweet_seconds urls %.2f\n", as.numeric(Sys.time() - started, units = "secs")))
write_network(result_urls, graph, "urls")
"""
)

# CooRTweet-like: every pair with two co-actions (min_repetitions 2, the default) in the
# vignette's window; no significance, popularity or cluster-shape test.
_TUNED = {
    "min_edge_weight": 0.0,
    "alpha": 1.0,
    "min_cluster_size": 2,
    "min_member_links": 1,
    "min_cluster_density": 0.0,
    "sparse_fdr": 0.0,
    "min_burst_share": 0.0,
    "min_sparse_burst_share": 0.0,
}


def _russian_posts(csv_path: Path) -> Iterator[dict]:
    """One plain retweet per row: ``repost_of`` the retweeted tweet, empty text."""
    with csv_path.open(encoding="utf-8") as src:
        for row in csv.DictReader(src):
            yield {
                "platform": "twitter",
                "post_id": row["content_id"],
                "t": int(row["timestamp_share"]),
                "author": {"id": row["account_id"]},
                "text": "",
                "repost_of": row["object_id"],
            }


def german_posts(csv_path: Path) -> Iterator[dict]:
    """One post per post_id with its URLs as links (rows are post x entity; see module doc).

    The platform comes from the account's prefix (``fb_``: facebook, ``tw_``: twitter); a row
    without post_id is left out, a domain without a URL is no link.
    """
    platforms = {"fb": "facebook", "tw": "twitter"}
    posts: dict[str, dict] = {}
    with csv_path.open(encoding="utf-8") as src:
        for row in csv.DictReader(src):
            if not row["post_id"]:
                continue
            post = posts.get(row["post_id"])
            if post is None:
                prefix = row["account_id"].split("_", 1)[0]
                post = posts[row["post_id"]] = {
                    "platform": platforms.get(prefix, prefix),
                    "post_id": row["post_id"],
                    "t": int(float(row["timestamp"])),
                    "author": {"id": row["account_id"]},
                    "text": "",
                    "links": [],
                }
            if row["url_id"]:
                domain = f"d{row['domain_id']}" if row["domain_id"] else "nodomain"
                link = f"https://{domain}.example/u{row['url_id']}"
                if link not in post["links"]:
                    post["links"].append(link)
    yield from posts.values()


@dataclass(frozen=True)
class Dataset:
    """One of CooRTweet's data sets: its R export and pipeline, converter and parameters."""

    r_script: str
    posts: Callable[[Path], Iterator[dict]]
    networks: tuple[str, ...]
    tuned: dict


DATASETS = {
    "russian_coord_tweets": Dataset(
        R_RUSSIAN, _russian_posts, ("vignette",), _TUNED | {"window_seconds": 60}
    ),
    "german_elections": Dataset(
        R_GERMAN, german_posts, ("vignette", "urls"), _TUNED | {"window_seconds": 30}
    ),
}


def run_r(script_text: str, source: Path, work: Path) -> dict[str, float]:
    """Run the export and CooRTweet's pipeline; the seconds of each network it built."""
    script = work / "coortweet.R"
    script.write_text(script_text, encoding="utf-8")
    out = subprocess.run(
        ["Rscript", str(script), str(source), str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = {}
    for line in out.stdout.splitlines():
        if line.startswith("coortweet_seconds"):
            _, label, value = line.split()
            seconds[label] = float(value)
    return seconds


def to_jsonl(records: Iterator[dict], jsonl_path: Path) -> tuple[int, datetime, datetime]:
    """Records with a POSIX time ``t`` as smearwatch's interchange format; count and span."""
    first = last = None
    n = 0
    with jsonl_path.open("w", encoding="utf-8") as out:
        for record in records:
            when = datetime.fromtimestamp(record.pop("t"), UTC)
            first = when if first is None or when < first else first
            last = when if last is None or when > last else last
            record["created_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
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
    # a key the written config already sets (window_seconds) is replaced, not repeated
    text = "\n".join(line for line in text.split("\n") if line.split("=")[0].strip() not in options)
    if extra:
        # [analysis] is the config's first table after [database]; options go right under it
        text = text.replace("[analysis]\n", "[analysis]\n" + extra, 1)
    config.write_text(text + "\n# bench options\n", encoding="utf-8")
    started = time.perf_counter()
    smearwatch(work, "analyze", "--since", since, "--until", until)
    wall = time.perf_counter() - started
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
    stats = json.loads(stats) if isinstance(stats, str) else stats
    stats["cli_wall_s"] = round(wall, 2)
    return accounts, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coortweet", required=True, help="CooRTweet source tree (data/, R/)")
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="russian_coord_tweets")
    ap.add_argument("--work", help="work folder (kept); default: a temporary one, removed")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep CooRTweet's results already in --work (R takes minutes on german_elections)",
    )
    args = ap.parse_args(argv)
    dataset = DATASETS[args.dataset]
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="coortweet_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        seconds_file = work / "coortweet_seconds.json"
        if args.reuse and seconds_file.exists():
            r_seconds = json.loads(seconds_file.read_text(encoding="utf-8"))
        else:
            r_seconds = run_r(dataset.r_script, Path(args.coortweet), work)
            seconds_file.write_text(json.dumps(r_seconds), encoding="utf-8")
        theirs, their_edges = {}, {}
        for label in dataset.networks:
            accounts = work / f"coortweet_accounts_{label}.txt"
            theirs[label] = set(accounts.read_text(encoding="utf-8").split())
            with (work / f"coortweet_edges_{label}.csv").open(encoding="utf-8") as fh:
                their_edges[label] = list(csv.DictReader(fh))
        n, first, last = to_jsonl(dataset.posts(work / "data.csv"), work / "posts.jsonl")
        for name in ("smearwatch.db", "sw.toml"):
            (work / name).unlink(missing_ok=True)
        smearwatch(work, "init")
        imported = smearwatch(work, "import", str(work / "posts.jsonl")).strip()
        since = first.strftime("%Y-%m-%d")
        # --until is exclusive: the day after the last post
        until = datetime.fromordinal(last.toordinal() + 1).strftime("%Y-%m-%d")
        rows = {}
        for label, options in (("defaults", {}), ("coortweet-like", dataset.tuned)):
            ours, stats = analyse(work, since, until, options)
            background = stats.get("background", {})
            rows[label] = (
                {
                    "smearwatch_accounts": len(ours),
                    "clusters": stats.get("clusters"),
                    "accepted_edges": stats.get("accepted_edges"),
                    "expected_chance_edges": background.get("expected_chance_edges"),
                    "sparse_edges": background.get("sparse_edges"),
                    "thin_background": background.get("thin"),
                    "analyze_s": stats.get("seconds", {}).get("total"),
                    "cli_wall_s": stats.get("cli_wall_s"),
                }
                | {f"overlap_{net}": len(ours & accounts) for net, accounts in theirs.items()}
                | {
                    f"only_smearwatch_vs_{net}": len(ours - accounts)
                    for net, accounts in theirs.items()
                }
            )
        networks = {}
        for label, edges in their_edges.items():
            one_object = sum(1 for e in edges if int(e["objects"]) == 1)
            networks[label] = {
                "accounts": len(theirs[label]),
                "edges": len(edges),
                "edges_on_one_object": one_object,
                "edges_on_two_or_more": len(edges) - one_object,
                "seconds": r_seconds.get(label),
            }
        summary = {
            "dataset": args.dataset,
            "posts": n,
            "span": f"{first:%Y-%m-%d} to {last:%Y-%m-%d}",
            "import": imported.splitlines()[-1] if imported else "",
            "coortweet": networks,
            "runs": rows,
        }
        print(json.dumps(summary, indent=1, ensure_ascii=False))
        print("\n| parameters | smearwatch | CooRTweet network | CooRTweet | overlap | only ours |")
        print("|---|---|---|---|---|---|")
        for label, row in rows.items():
            for net in theirs:
                print(
                    f"| {label} | {row['smearwatch_accounts']} | {net} | {len(theirs[net])} | "
                    f"{row[f'overlap_{net}']} | {row[f'only_smearwatch_vs_{net}']} |"
                )
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
