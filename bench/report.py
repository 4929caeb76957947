"""Report benchmark: a week of N posts with 50 flagged clusters, timed through `write_report`.

1. Generates a fictional week (ISO 2026-W47) of N posts (plus N/10 spread over the four weeks
   before, for the baseline): ~120,000 accounts with heavy-tailed activity, five fictional
   defenders mentioned in Russian, Kazakh and English, hashtags, links, and 50 planted groups
   (6-50 accounts each) that post near-identical texts and campaign links in waves.
2. Imports it the production way (`smearwatch.pipeline.import_file` with `MentionStep`, so
   mentions are matched at import). Timed separately; not part of the report budget.
3. Inserts the analysis rows for the planted groups (run, 50 clusters with members, evidence
   objects with their evidence posts, coordination edges, narratives, a few reviews) and the
   collection runs of three sources, the way `tests/reports/conftest.py` does.
4. Times `write_report` in a fresh child process per measurement (both variants, then internal
   alone), so wall time, CPU time (user+sys) and peak RSS belong to the report alone.

Usage:
    python bench/report.py [--n 1000000] [--database URL] [--keep DIR] [--profile FILE]

`--database` takes a PostgreSQL URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test);
the benchmark creates a fresh schema there and drops it afterwards. Default: a SQLite file in a
temporary folder. Target (issue 6): <= 60 s and a PDF under 20 MB at N = 1,000,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WEEK = "2026-W47"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)
BASELINE_WEEKS = 4
GROUPS = 50
ACCOUNTS = 120_000

# (id, name, aliases) - every person here is invented
DEFENDERS = [
    ("ormanova", "Bakhyt Ormanova", ["Bakhyt Ormanova", "Бахыт Орманова", "Ormanova", "Орманова"]),
    (
        "temirkhanov",
        "Yerlan Temirkhanov",
        ["Yerlan Temirkhanov", "Ерлан Темирханов", "Temirkhanov", "Темирханов"],
    ),
    ("kesler", "Anna Kesler", ["Anna Kesler", "Анна Кеслер", "Kesler", "Кеслер"]),
    ("saparova", "Aigerim Saparova", ["Aigerim Saparova", "Айгерім Сапарова", "Сапарова"]),
    ("dulatov", "Nurzhan Dulatov", ["Nurzhan Dulatov", "Нұржан Дулатов", "Дулатов"]),
]

CONFIG = """
[database]
url = "{url}"

[analysis]
window_seconds = 60
min_repetitions = 2

[reports]
key_file = "{key_file}"

{defenders}

[[sources]]
name = "bluesky"
platform = "bluesky"
base_url = "https://bsky.social"
appview_url = "https://public.api.bsky.app"
identifier = "research-account.bsky.social"
every = "15m"

[[sources]]
name = "telegram"
platform = "telegram"
base_url = "https://t.me"
channels = ["example_channel"]
every = "30m"

[[sources]]
name = "news"
platform = "rss"
feeds = ["https://example.org/feed.xml"]
every = "1h"
"""

ORGANIC = {
    "ru": [
        "Сегодня суд по делу {name} снова отложили, адвокаты требуют открытого процесса.",
        "{name} выступил(а) на пресс-конференции о правах задержанных.",
        "Поддержка {name} растет, правозащитники собирают подписи.",
        "Читаю интервью {name} о свободе слова в регионе.",
        "Кто-нибудь знает, когда следующее заседание по делу {name}?",
    ],
    "kk": [
        "{name} бүгін сотта сөз сөйледі, адам құқықтары туралы айтты.",
        "Құқық қорғаушы {name} жиналысқа қатысты, бәріміз қолдаймыз.",
        "{name} ісі бойынша сот отырысы тағы кейінге қалдырылды.",
    ],
    "en": [
        "{name} spoke at the OSCE side event today about detained journalists.",
        "Court hearing for {name} postponed again, lawyers ask for an open trial.",
        "New interview with {name} on freedom of expression.",
    ],
}
SMEAR = {
    "ru": [
        "{name} иностранный агент и грантоед, отрабатывает деньги Сороса.",
        "{name} предатель, живет на гранты и поливает грязью страну.",
        "Кто платит {name}? Госдеп и Сорос. Пятая колонна.",
    ],
    "kk": ["{name} шетелдік агент, гранттарды шетелден алады, сатқын."],
    "en": ["{name} is a foreign agent paid by Soros, a traitor."],
}
FILLER = (
    "погода дорога новости город рынок цены футбол концерт ауа райы жол жаңалықтар қала "
    "weather traffic market prices football concert мектеп school театр кино"
).split()
HASHTAGS = [
    "новости",
    "казахстан",
    "суд",
    "правачеловека",
    "біргеміз",
    "freedom",
    "kz",
    "алматы",
    "астана",
    "солидарность",
    "грантоед",
    "иноагент",
]
DOMAINS = [f"news{n}.example.kz" for n in range(40)] + [f"blog{n}.example.org" for n in range(200)]
PLATFORMS = ["bluesky", "bluesky", "bluesky", "telegram", "mastodon"]


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _account(n: int) -> dict[str, Any]:
    young = n % 10 == 0
    created = (
        WEEK_START - timedelta(days=3 + n % 20)
        if young
        else datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=n % 3650)
    )
    return {
        "id": f"did:plc:acct{n:06d}",
        "handle": f"user{n:06d}.bsky.social",
        "display_name": f"Пользователь {n}",
        "created_at": _time(created),
    }


def _name_form(rng: random.Random, aliases: list[str], lang: str) -> str:
    if lang == "en":
        latin = [a for a in aliases if a.isascii()]
        return rng.choice(latin or aliases)
    cyr = [a for a in aliases if not a.isascii()]
    return rng.choice(cyr or aliases)


def _organic(rng: random.Random, i: int, at: datetime) -> dict[str, Any]:
    account = int(ACCOUNTS * rng.random() ** 3)
    platform = PLATFORMS[account % len(PLATFORMS)]
    lang = rng.choices(("ru", "kk", "en"), (6, 3, 1))[0]
    roll = rng.random()
    if roll < 0.6:
        _, _, aliases = DEFENDERS[min(int(rng.expovariate(0.8)), len(DEFENDERS) - 1)]
        templates = SMEAR[lang] if rng.random() < 0.15 else ORGANIC[lang]
        text = rng.choice(templates).format(name=_name_form(rng, aliases, lang))
        text += " " + " ".join(rng.choices(FILLER, k=rng.randint(0, 12)))
    else:
        text = " ".join(rng.choices(FILLER, k=rng.randint(4, 25)))
    links = []
    if rng.random() < 0.3:
        domain = DOMAINS[min(int(rng.expovariate(0.05)), len(DOMAINS) - 1)]
        links.append(f"https://{domain}/2026/{rng.randrange(4000)}")
    tags = rng.sample(HASHTAGS, rng.choice((0, 0, 1, 2))) if rng.random() < 0.4 else []
    post_id = f"org/{i}"
    return {
        "platform": platform,
        "post_id": post_id,
        "url": f"https://example.social/{platform}/{account}/{i}",
        "created_at": _time(at),
        "collected_at": _time(at + timedelta(minutes=5 + i % 30)),
        "author": _account(account),
        "text": text,
        "lang": lang,
        "links": links,
        "hashtags": tags,
        "mentions": [],
        "reply_to": None,
        "repost_of": None,
        "quote_of": None,
        "raw": {"uri": post_id, "likes": i % 97},
    }


def group_size(g: int) -> int:
    return 6 + (g * 11) % 45


def group_member(g: int, m: int) -> dict[str, Any]:
    young = g % 2 == 0
    created = (
        WEEK_START - timedelta(days=4 + g % 5)
        if young
        else datetime(2019, 1, 1, tzinfo=UTC) + timedelta(days=30 * g + m)
    )
    return {
        "id": f"did:plc:g{g:02d}m{m:02d}",
        "handle": f"patriot{g:02d}x{m:02d}.bsky.social",
        "display_name": f"Патриот {g}-{m}",
        "created_at": _time(created),
    }


def _group_posts(g: int) -> list[dict[str, Any]]:
    """One planted group: waves of near-identical posts with the same link, plus filler."""
    rng = random.Random(1000 + g)
    defender_id, _, aliases = DEFENDERS[g % len(DEFENDERS)]
    supportive = g >= GROUPS - 5
    waves = 4 + g % 6
    posts = []
    first_day = -3 if g % 3 == 0 else 0  # a third of the groups started in the previous week
    for wave in range(waves):
        day = first_day + (wave * (7 - first_day)) // waves
        base = WEEK_START + timedelta(days=day, hours=8 + (g + wave) % 12, minutes=g % 60)
        lang = ("ru", "kk", "en")[(g + wave) % 3]
        name = _name_form(rng, aliases, lang)
        if supportive:
            text = f"Свободу {name}! Мы с тобой, солидарность с правозащитниками #біргеміз"
        else:
            text = rng.choice(SMEAR[lang]).format(name=name)
        for m in range(group_size(g)):
            at = base + timedelta(seconds=rng.randrange(60))
            post_id = f"grp/{g}/{wave}/{m}"
            posts.append(
                {
                    "platform": "bluesky",
                    "post_id": post_id,
                    "url": f"https://bsky.app/profile/patriot{g:02d}x{m:02d}/post/{wave}",
                    "created_at": _time(at),
                    "collected_at": _time(at + timedelta(minutes=9)),
                    "author": group_member(g, m),
                    "text": text + ("" if m % 3 else " " + rng.choice(["😡", "🇰🇿", "‼️"])),
                    "lang": lang,
                    "links": [f"https://campaign{g}.example/p/{wave}"],
                    "hashtags": ["біргеміз"] if supportive else ["грантоед", f"кампания{g}"],
                    "mentions": [],
                    "reply_to": None,
                    "repost_of": None,
                    "quote_of": None,
                    "raw": {"uri": post_id},
                }
            )
    for m in range(group_size(g)):
        for k in range(5):
            at = WEEK_START + timedelta(hours=rng.randrange(7 * 24), seconds=rng.randrange(3600))
            post_id = f"grpf/{g}/{m}/{k}"
            posts.append(
                {
                    "platform": "bluesky",
                    "post_id": post_id,
                    "created_at": _time(at),
                    "author": group_member(g, m),
                    "text": " ".join(rng.choices(FILLER, k=8)),
                    "lang": "ru",
                    "raw": {"uri": post_id},
                }
            )
    return posts


def generate(path: Path, n: int, seed: int = 47) -> int:
    """Write the JSONL; return the number of posts written."""
    rng = random.Random(seed)
    written = 0
    week_seconds = 7 * 24 * 3600
    with path.open("wb") as handle:
        baseline = n // 10
        start = WEEK_START - timedelta(weeks=BASELINE_WEEKS)
        for i in range(baseline):
            at = start + timedelta(seconds=i * BASELINE_WEEKS * week_seconds // max(baseline, 1))
            handle.write(orjson.dumps(_organic(rng, n + i, at)) + b"\n")
        written += baseline
        for i in range(n):
            at = WEEK_START + timedelta(seconds=i * week_seconds // n)
            handle.write(orjson.dumps(_organic(rng, i, at)) + b"\n")
        written += n
        for g in range(GROUPS):
            for post in _group_posts(g):
                handle.write(orjson.dumps(post) + b"\n")
                written += 1
    return written


def write_config(folder: Path, url: str) -> Path:
    defenders = "\n".join(
        f'[[defenders]]\nid = "{d}"\nname = "{name}"\naliases = {json.dumps(a, ensure_ascii=False)}'
        "\n"
        for d, name, a in DEFENDERS
    )
    path = folder / "smearwatch.toml"
    path.write_text(
        CONFIG.format(url=url, key_file=folder / "report.key", defenders=defenders),
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- analysis rows


def plant_analysis(engine: Any) -> dict[str, int]:
    """The analysis run, 50 clusters and their evidence; three sources with collection runs."""
    from sqlalchemy import insert, select

    from analysis.smear import load_vocabulary
    from db import models

    post = models.Post.__table__
    account = models.Account.__table__
    with engine.begin() as connection:
        rows = connection.execute(
            select(
                post.c.id,
                post.c.platform,
                post.c.platform_id,
                post.c.evidence_id,
                post.c.account_id,
                post.c.author_handle,
                post.c.created_at,
                post.c.text,
            ).where(post.c.platform_id.like("grp/%"))
        ).all()
        handles = dict(
            connection.execute(
                select(account.c.platform_id, account.c.id).where(
                    account.c.platform_id.like("did:plc:g%")
                )
            ).all()
        )
        waves: dict[tuple[int, int], list[Any]] = {}
        for row in rows:
            _, g, wave, _ = row.platform_id.split("/")
            waves.setdefault((int(g), int(wave)), []).append(row)
        run_id = connection.execute(
            insert(models.AnalysisRun.__table__).returning(models.AnalysisRun.id),
            {
                "started_at": WEEK_START + timedelta(days=7, hours=1),
                "finished_at": WEEK_START + timedelta(days=7, hours=1, minutes=20),
                "status": "ok",
                "since": WEEK_START - timedelta(weeks=BASELINE_WEEKS),
                "until": WEEK_START + timedelta(weeks=1),
                "code_version": "bench-1",
                "parameters": {"window_seconds": 60, "min_repetitions": 2, "min_score": 40},
                # What the analysis records, so the week's smear terms are counted with the
                # analysis vocabulary file, as in production.
                "vocabulary": load_vocabulary().to_dict(),
                "stats": {"posts": len(rows)},
                "layers": {"co_link": True, "identical_text": True},
            },
        ).scalar_one()
        counts = {"clusters": 0, "members": 0, "evidence": 0, "edges": 0}
        kinds = ["link", "text", "hashtags", "near_text"]
        for g in range(GROUPS):
            defender_id, name, _ = DEFENDERS[g % len(DEFENDERS)]
            members = [handles[f"did:plc:g{g:02d}m{m:02d}"] for m in range(group_size(g))]
            group_waves = sorted(
                (
                    sorted(v, key=lambda r: (r.created_at, r.id))
                    for (gg, _), v in waves.items()
                    if gg == g
                ),
                key=lambda v: v[0].created_at,
            )
            all_posts = [p for v in group_waves for p in v]
            first = min(p.created_at for p in all_posts)
            last = max(p.created_at for p in all_posts)
            supportive = g >= GROUPS - 5
            score = 95.0 - g if not supportive else 60.0
            cluster_id = connection.execute(
                insert(models.Cluster.__table__).returning(models.Cluster.id),
                {
                    "analysis_run_id": run_id,
                    "stable_id": f"C{g + 1}",
                    "local_id": g + 1,
                    "defender_id": defender_id,
                    "size": len(members),
                    "score": score,
                    "confidence": "high" if score >= 75 else "medium",
                    "stance": "supportive" if supportive else "hostile",
                    "first_activity": first,
                    "last_activity": last,
                    "components": {"coordination": 0.9, "authenticity": 0.6, "smear": 0.8},
                    "signals": {
                        "young_accounts": 1.0 if g % 2 == 0 else 0.0,
                        "identical_text_share": 0.8,
                        "fast_share": 0.7,
                    },
                    "targets": [
                        {"defender_id": defender_id, "name": name, "posts": len(all_posts)}
                    ],
                    "narratives": [
                        {
                            "key": f"narrative-{g}-{k}",
                            "representative_text": v[0].text,
                            "posts": len(v),
                            "accounts": len({p.account_id for p in v}),
                            "first_at": _time(v[0].created_at),
                            "last_at": _time(v[-1].created_at),
                            "smear_categories": [] if supportive else ["foreign_agent", "grants"],
                            "supportive": supportive,
                            "evidence_ids": [p.evidence_id for p in v[:20]],
                        }
                        for k, v in enumerate(group_waves[:4])
                    ],
                    "explanation": [
                        f"{len(members)} accounts posted the same link within 60 seconds, "
                        f"{len(group_waves)} times.",
                        "Most of them posted the same text.",
                    ],
                    "alternatives": [
                        "A shared news link: the link is not a news site and no other account "
                        "shared it."
                    ],
                },
            ).scalar_one()
            connection.execute(
                insert(models.ClusterMember.__table__),
                [
                    {
                        "cluster_id": cluster_id,
                        "account_id": a,
                        "centrality": 1.0 - i / (2 * len(members)),
                        "posts": len(group_waves),
                        "signals": {"age_days": 8 if g % 2 == 0 else 2000},
                    }
                    for i, a in enumerate(members)
                ],
            )
            connection.execute(
                insert(models.ClusterEvidence.__table__),
                [
                    {
                        "cluster_id": cluster_id,
                        "kind": kinds[w % len(kinds)],
                        "object": f"https://campaign{g}.example/p/{w}",
                        "display": v[0].text[:200],
                        "accounts": len({p.account_id for p in v}),
                        "outside_accounts": 0,
                        "first_at": v[0].created_at,
                        "span_seconds": (v[-1].created_at - v[0].created_at).total_seconds(),
                        "posts": [
                            {
                                "post_pk": p.id,
                                "evidence_id": p.evidence_id,
                                "platform": p.platform,
                                "post_id": p.platform_id,
                                "account_pk": p.account_id,
                                "handle": p.author_handle,
                                "created_at": _time(p.created_at),
                                "delta_s": (p.created_at - v[0].created_at).total_seconds(),
                            }
                            for p in v
                        ],
                    }
                    for w, v in enumerate(group_waves)
                ],
            )
            edges = [
                {
                    "analysis_run_id": run_id,
                    "cluster_id": cluster_id,
                    "account_a": a,
                    "account_b": b,
                    "weight": float(len(group_waves)),
                    "shared_objects": len(group_waves),
                    "expected": 0.1,
                    "excess": len(group_waves) - 0.1,
                    "p_value": 0.001,
                    "fast": (a + b) % 3 != 0,
                    "min_dt_seconds": float((a * b) % 60),
                    "layers": {"co_link": len(group_waves)},
                    "evidence": [],
                }
                for i, a in enumerate(members)
                for b in members[i + 1 :]
            ]
            connection.execute(insert(models.CoordinationEdge.__table__), edges)
            counts["clusters"] += 1
            counts["members"] += len(members)
            counts["evidence"] += len(group_waves)
            counts["edges"] += len(edges)
            if g % 4 == 1:
                connection.execute(
                    insert(models.Review.__table__),
                    {
                        "stable_id": f"C{g + 1}",
                        "verdict": "confirmed" if g % 8 == 1 else "dismissed",
                        "note": "Checked the campaign links by hand.",
                        "reviewer": "analyst-a",
                        "created_at": WEEK_START + timedelta(days=7, hours=3),
                    },
                )
        for name, platform, every in (
            ("bluesky", "bluesky", 15),
            ("telegram", "telegram", 30),
            ("news", "rss", 60),
        ):
            source_id = connection.execute(
                insert(models.Source.__table__).returning(models.Source.id),
                {
                    "name": name,
                    "platform": platform,
                    "cursor": None,
                    "created_at": WEEK_START - timedelta(weeks=8),
                    "updated_at": WEEK_START + timedelta(weeks=1),
                },
            ).scalar_one()
            runs = []
            for k in range(7 * 24 * 60 // every):
                at = WEEK_START + timedelta(minutes=k * every)
                if name == "telegram" and 100 <= k < 130:
                    continue  # a gap of 15 hours
                failed = name == "news" and k % 50 == 7
                runs.append(
                    {
                        "source_id": source_id,
                        "started_at": at,
                        "finished_at": at + timedelta(seconds=40),
                        "status": "error" if failed else "ok",
                        "fetched": 0 if failed else 120,
                        "inserted": 0 if failed else 100,
                        "error": "HTTP 503 from feed" if failed else None,
                    }
                )
            connection.execute(insert(models.CollectionRun.__table__), runs)
    return counts


# --------------------------------------------------------------------------- render (child)


def render(config_path: str, out: str, variants: list[str], profile: str | None) -> dict[str, Any]:
    """Child process: one `write_report`; what it wrote and how long it took."""
    from db.engine import open_database
    from reports.build import write_report
    from reports.weeks import parse_week
    from smearwatch.config import load_config
    from smearwatch.reporting import report_inputs

    config = load_config(config_path)
    inputs = report_inputs(config)
    engine = open_database(config.database_url)
    week = parse_week(WEEK)
    started = time.perf_counter()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        outputs = profiler.runcall(
            write_report, engine, inputs, week, out_dir=Path(out), variants=tuple(variants)
        )
        profiler.dump_stats(profile)
    else:
        outputs = write_report(engine, inputs, week, out_dir=Path(out), variants=tuple(variants))
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "outputs": [
            {
                "variant": o.variant,
                "pdf_bytes": o.pdf.stat().st_size,
                "pages": o.pages,
                "files_bytes": sum(f.stat().st_size for f in o.files),
            }
            for o in outputs
        ],
    }


def run_child(args: list[str]) -> tuple[dict[str, Any], float, float, int]:
    """(child's JSON, wall seconds, CPU seconds, peak RSS kB) of one render process."""
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=_env()
    )
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"render failed:\n{err.decode()}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return result, wall, result["cpu"], result["maxrss_kb"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="posts in the report week")
    parser.add_argument("--database", help="PostgreSQL URL (a fresh schema is used)")
    parser.add_argument("--keep", type=Path, help="folder to keep data, database and reports")
    parser.add_argument("--profile", help="write a cProfile of the both-variants render here")
    parser.add_argument("--render", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="internal,shareable", help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse", type=Path, help="render only, with the config of an earlier --keep run"
    )
    args = parser.parse_args()
    if args.render:
        import resource

        result = render(args.render[0], args.render[1], args.variants.split(","), args.profile)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            json.dumps(
                {
                    **result,
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "involuntary_switches": usage.ru_nivcsw,
                    "maxrss_kb": usage.ru_maxrss,
                }
            ),
            flush=True,
        )
        return
    if args.reuse:
        measure(args.reuse / "smearwatch.toml", args.reuse, args.profile)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="smearwatch-reportbench-") as folder:
            run(args, Path(folder))


def run(args: argparse.Namespace, tmp: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = None
    admin = None
    if args.database:
        schema = "sw_reportbench_" + uuid.uuid4().hex[:8]
        admin = create_engine(args.database)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(args.database)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        backend = "postgresql"
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
        backend = "sqlite"
    try:
        config_path = write_config(tmp, url)
        data = tmp / "posts.jsonl"
        started = time.perf_counter()
        total = generate(data, args.n)
        print(
            f"generated {total:,} posts ({args.n:,} in {WEEK}, {args.n // 10:,} before; "
            f"{data.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        from db.engine import open_database
        from smearwatch.config import load_config
        from smearwatch.matching import MentionStep
        from smearwatch.pipeline import import_file

        config = load_config(config_path)
        engine = open_database(config.database_url)
        started = time.perf_counter()
        cpu = time.process_time()
        summary = import_file(engine, data, mentions=MentionStep(config.defenders))
        print(
            f"{backend}: imported in {time.perf_counter() - started:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU: {summary.line()}",
            flush=True,
        )
        started = time.perf_counter()
        counts = plant_analysis(engine)
        if backend == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        engine.dispose()
        print(
            f"{backend}: analysis rows in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items()),
            flush=True,
        )
        measure(config_path, tmp, args.profile, backend=backend, n=args.n)
    finally:
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def measure(
    config_path: Path, tmp: Path, profile: str | None, *, backend: str = "", n: int = 0
) -> None:
    for variants in ("internal,shareable", "internal"):
        out = tmp / ("reports-" + variants.replace(",", "-"))
        extra = ["--profile", profile] if profile and "," in variants else []
        load = os.getloadavg()[0]
        label = f"{backend} N={n:,}" if backend else "reused database"
        result, wall, cpu, rss = run_child(
            ["--render", str(config_path), str(out), "--variants", variants, *extra]
        )
        pdfs = ", ".join(
            f"{o['variant']} {o['pdf_bytes'] / 1e6:.2f} MB / {o['pages']} pages"
            for o in result["outputs"]
        )
        print(
            f"{label} write_report({variants}): {result['seconds']:.1f} s in "
            f"write_report, {wall:.1f} s wall for the process, {cpu:.1f} s CPU, "
            f"peak RSS {rss / 1024:,.0f} MB; {pdfs}; load average before "
            f"{load:.1f}, {result['involuntary_switches']:,} involuntary context switches",
            flush=True,
        )


if __name__ == "__main__":
    main()
