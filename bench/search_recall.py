"""How many posts that mention a defender Bluesky search actually fetches, and at what cost.

    python bench/search_recall.py [--set heldout|eval] [--max-queries N] [--passes N]

The labelled matcher evaluation posts (tests/analysis/mentions_*.jsonl, fictional) and 1,500
chatter posts are served by `bench.fake_search.FakeSearch`, which searches as Bluesky's index
does (ICU tokenising and folding, no stemming, strict AND, phrases, `mentions:` on facets).
The real `BlueskyCollector` runs passes against it with the default queries the wiring layer
builds (smearwatch/search_terms.py), and with the old default (the aliases as written) for
comparison. Printed per run: recall of declined-form mentions (the categories in `DECLINED`),
recall of every labelled mention and per category, the matcher's end-to-end recall on what was
fetched, and the searches and requests per pass.

Mentions inside a longer hashtag (#ОрмановаПредатель) are one token to the index: no query can
reach them, so their categories are reported but not counted as declined forms.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.mentions import MentionMatcher  # noqa: E402
from bench.fake_search import (  # noqa: E402
    IDENTIFIER,
    PASSWORD,
    FakeMastodon,
    FakeSearch,
    labelled_corpus,
)
from bench.mentions import load_defenders  # noqa: E402
from collector.base import CollectorContext, SearchTerms  # noqa: E402
from collector.bluesky import PASSWORD_ENV, BlueskyCollector, reset_caches  # noqa: E402
from collector.http import HttpClient, HttpPolicy  # noqa: E402
from collector.mastodon import TOKEN_ENV, MastodonCollector  # noqa: E402
from smearwatch.search_terms import search_terms_provider  # noqa: E402

SETS = {
    "eval": (
        ROOT / "tests/analysis/mentions_eval.jsonl",
        ROOT / "tests/analysis/mentions_eval_defenders.json",
    ),
    "heldout": (
        ROOT / "tests/analysis/mentions_heldout.jsonl",
        ROOT / "tests/analysis/mentions_heldout_defenders.json",
    ),
}
DECLINED = frozenset(
    {
        "declension",
        "adjectival",
        "first_name_decl",
        "kazakh_suffix",
        "kazakh_latin",
        "kazakh_latin_old",
        "kazakh_russified",
        "latin_declined",
        "possessive_en",
    }
)
GLUED = frozenset({"hashtag_text", "kazakh_hashtag"})
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
POLICY = HttpPolicy(
    timeout=5.0, max_attempts=2, backoff_base=0.01, backoff_cap=0.05, min_interval=0.0
)


@dataclass
class Result:
    label: str
    queries: int
    passes: int
    searches_per_pass: list[int] = field(default_factory=list)
    requests_per_pass: list[int] = field(default_factory=list)
    fetched: set[str] = field(default_factory=set)
    by_category: dict[str, tuple[int, int]] = field(default_factory=dict)
    matched: int = 0
    seconds: float = 0.0
    missed: list[tuple[str, str]] = field(default_factory=list)
    declined_per_pass: list[float] = field(default_factory=list)

    def recall(self, categories: frozenset[str] | None = None) -> float:
        hit = total = 0
        for category, (h, t) in self.by_category.items():
            if categories is None or category in categories:
                hit, total = hit + h, total + t
        return hit / total if total else 0.0

    def total(self, categories: frozenset[str] | None = None) -> int:
        return sum(
            t for c, (_, t) in self.by_category.items() if categories is None or c in categories
        )


def measure(
    labelled: Path,
    defenders_file: Path,
    *,
    max_queries: int | None = None,
    passes: int = 1,
    terms: Callable[[str], SearchTerms] | None | str = "default",
    label: str = "",
    only: frozenset[str] | None = None,
) -> Result:
    """Run `passes` collection passes against the fake search and score what was fetched;
    with `only`, for those defenders and their posts alone."""
    defenders = [d for d in load_defenders(defenders_file) if only is None or d.id in only]
    posts, directory = labelled_corpus(labelled, defenders_file, now=NOW, only=only)
    declined = {p.view["uri"] for p in posts if p.expected and p.category in DECLINED}
    provider = search_terms_provider(defenders) if terms == "default" else terms
    assert provider is None or callable(provider)
    reset_caches()
    http = HttpClient(POLICY)
    started = time.perf_counter()
    with FakeSearch(posts, directory) as fake:
        context = CollectorContext(
            http=http,
            defenders=defenders,
            env={PASSWORD_ENV: PASSWORD},
            now=lambda: NOW,
            search_terms=provider,
        )
        table: dict[str, Any] = {
            "name": "bluesky-recall",
            "platform": "bluesky",
            "base_url": fake.url,
            "appview_url": fake.url,
            "identifier": IDENTIFIER,
        }
        if max_queries is not None:  # else the collector's default budget
            table["max_queries"] = max_queries
        collector = BlueskyCollector(table, context)
        result = Result(label=label, queries=len(collector.queries), passes=passes)
        cursor = None
        fetched_posts: dict[str, Any] = {}
        for _ in range(passes):
            before_requests = sum(fake.requests.values())
            before_searches = fake.requests["app.bsky.feed.searchPosts"]
            streams = len(collector._queries_this_run(dict(cursor or {})))
            for page in collector.fetch(cursor, since=NOW - timedelta(days=7)):
                cursor = page.cursor
                for post in page.posts:
                    fetched_posts[post.post_id] = post
            result.searches_per_pass.append(streams)
            result.requests_per_pass.append(sum(fake.requests.values()) - before_requests)
            result.declined_per_pass.append(len(declined & set(fetched_posts)) / len(declined))
            del before_searches
    http.close()
    result.seconds = time.perf_counter() - started
    result.fetched = set(fetched_posts)
    matcher = MentionMatcher(defenders)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in posts:
        if not p.expected:
            continue
        uri = p.view["uri"]
        counts[p.category][1] += 1
        if uri in fetched_posts:
            counts[p.category][0] += 1
            post = fetched_posts[uri]
            found = {
                m.defender_id
                for m in matcher.find(post.text, hashtags=post.hashtags, mentions=post.mentions)
            }
            if set(p.expected) <= found:
                result.matched += 1
    result.by_category = {c: (h, t) for c, (h, t) in counts.items()}
    result.missed = [
        (p.category, p.view["record"]["text"])
        for p in posts
        if p.expected and p.view["uri"] not in fetched_posts
    ]
    return result


@dataclass
class MastodonResult:
    queries: int
    hashtags: int
    requests_per_pass: list[int]
    declined: float  # of every declined-form post
    declined_indexable: float  # of those by authors who opted in to search
    declined_total: int
    indexable_total: int
    by_category: dict[str, tuple[int, int]]


def measure_mastodon(
    labelled: Path, defenders_file: Path, *, only: frozenset[str] | None = None
) -> MastodonResult:
    """One pass of the real `MastodonCollector` (status search with a token, hashtag
    timelines) against `FakeMastodon`, with the wiring layer's default queries and hashtags."""
    defenders = [d for d in load_defenders(defenders_file) if only is None or d.id in only]
    posts, _ = labelled_corpus(labelled, defenders_file, now=NOW, only=only)
    token = "recall-mastodon-token"
    http = HttpClient(POLICY)
    with FakeMastodon(posts, token) as fake:
        context = CollectorContext(
            http=http,
            defenders=defenders,
            env={TOKEN_ENV: token},
            now=lambda: NOW,
            search_terms=search_terms_provider(defenders),
        )
        table = {"name": "mastodon-recall", "platform": "mastodon", "base_url": fake.url}
        collector = MastodonCollector(table, context)
        fetched: set[str] = set()
        for page in collector.fetch(None, since=NOW - timedelta(days=7)):
            fetched.update(p.post_id for p in page.posts)
        requests = sum(fake.requests.values())
        by_uri = {s.body["uri"]: s for s in fake.statuses}
    http.close()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    declined = [s for s in by_uri.values() if s.post.expected and s.post.category in DECLINED]
    for s in by_uri.values():
        if s.post.expected:
            counts[s.post.category][1] += 1
            counts[s.post.category][0] += s.body["uri"] in fetched
    indexable = [s for s in declined if s.indexable]
    return MastodonResult(
        queries=len(collector.queries),
        hashtags=len(collector.hashtags),
        requests_per_pass=[requests],
        declined=sum(s.body["uri"] in fetched for s in declined) / max(1, len(declined)),
        declined_indexable=sum(s.body["uri"] in fetched for s in indexable)
        / max(1, len(indexable)),
        declined_total=len(declined),
        indexable_total=len(indexable),
        by_category={c: (h, t) for c, (h, t) in counts.items()},
    )


def report_mastodon(r: MastodonResult) -> None:
    print(f"\n== Mastodon: {r.queries} status queries, {r.hashtags} hashtag timelines, one pass")
    print(
        f"declined-form recall among authors who opted in to search: {r.declined_indexable:.3f} "
        f"of {r.indexable_total}; of every declined-form post: {r.declined:.3f} "
        f"of {r.declined_total} (a third of the authors are not indexable)"
    )
    print(f"HTTP requests per pass: {r.requests_per_pass}")


def report(r: Result, show_missed: bool = False) -> None:
    print(f"\n== {r.label}: {r.queries:,} queries, {r.passes} pass(es), {r.seconds:.1f} s")
    print(
        f"declined-form recall: {r.recall(DECLINED):.3f} "
        f"({round(r.recall(DECLINED) * r.total(DECLINED))}/{r.total(DECLINED)})"
    )
    print(f"all labelled mentions fetched: {r.recall():.3f} of {r.total()}")
    print(f"fetched and matched end to end: {r.matched / max(1, r.total()):.3f}")
    if r.passes > 1:
        after = ", ".join(f"{x:.3f}" for x in r.declined_per_pass)
        print(f"declined-form recall after each pass: {after}")
    print(f"searches per pass: {r.searches_per_pass}")
    print(f"HTTP requests per pass: {r.requests_per_pass}")
    for category, (h, t) in sorted(r.by_category.items()):
        flag = (
            " (declined)"
            if category in DECLINED
            else " (glued hashtag)"
            if category in GLUED
            else ""
        )
        print(f"  {category:20s} {h:4d}/{t:<4d} {h / t:.2f}{flag}")
    if show_missed:
        for category, text in r.missed:
            if category in DECLINED:
                print(f"  missed {category}: {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="heldout")
    parser.add_argument("--max-queries", type=int, default=1000)
    parser.add_argument(
        "--passes", type=int, default=0, help="default: enough for every query to be searched"
    )
    parser.add_argument("--show-missed", action="store_true", help="list declined posts missed")
    args = parser.parse_args(argv)
    labelled, defenders = SETS[args.set]
    budget = args.max_queries
    queries = len(search_terms_provider(load_defenders(defenders))("bluesky").queries)
    head = budget - budget // 4
    passes = args.passes or (
        1 if queries <= budget else 1 + -(-(queries - head) // (budget - head))
    )
    runs = [
        measure(
            labelled,
            defenders,
            terms=None,
            max_queries=10_000,
            label="old default: the aliases as written",
        ),
        measure(
            labelled,
            defenders,
            max_queries=budget,
            passes=passes,
            label=f"inflected forms, max_queries={budget}, {passes} passes (one full rotation)",
        ),
    ]
    for r in runs:
        report(r, args.show_missed)
    report_mastodon(measure_mastodon(labelled, defenders))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
