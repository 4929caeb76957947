"""A small fictional world for report tests: posts imported the real way, analysis rows by hand.

Posts go through `smearwatch.pipeline.import_file` (so evidence ids, hashes and mentions are
exactly what production stores). The analysis tables are filled directly, standing in for the
coordination analysis: one hostile cluster against "ormanova" in 2026-W47 (with hostile-text
posts among its evidence), one supportive cluster, and one cluster that was active only in
W46 (dormant in W47). Every person and account is invented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, insert, select

from db import models
from db.engine import open_database
from reports.settings import ReportInputs
from smearwatch.config import Config, load_config
from smearwatch.matching import MentionStep
from smearwatch.pipeline import import_file
from smearwatch.reporting import report_inputs

CONFIG = """
[database]
url = "{url}"

[analysis]
window_seconds = 60
min_repetitions = 2

[reports]
key_file = "{key_file}"
examples_per_narrative = 10

[[defenders]]
id = "ormanova"
name = "Bakhyt Ormanova"
aliases = ["Bakhyt Ormanova", "Бахыт Орманова", "Ormanova", "Орманова"]

[[defenders]]
id = "kesler"
name = "Anna Kesler"
aliases = ["Anna Kesler", "Анна Кеслер", "Kesler", "Кеслер"]
"""

KAZAKH_TEXT = (
    "Орманова шетелдік агент, гранттарды жеп отыр! Сәлем ағайын, қазақ елі, ең өкінішті, "
    "ұят, үкімет һәм біз білеміз"
)
KAZAKH_LETTERS = "әғқңөұүһі"
HOSTILE_TEXTS = [
    "<b>Орманова</b> & <para>грантоед</para> </para><font size=80>x</font> &amp; &#0;",
    "Орманова\x07\x1b[31m иностранный агент\x00 \u202eтекст наоборот\u202c",
    "Орманова " + "грантоед" * 1250,  # one 10,000-character word
    "Орманова 😀🔥👍🏽 грантоед 🇰🇿 👨‍👩‍👧",
    "Орманова שלום עולם مرحبا بالعالم грантоед",
    "Орманова: звоните +7 701 123 45 67 или пишите ormanova.private@example.org, ИИН 900101300123",
    "",
]
ATTACKERS = [f"patriot{n:02d}kz" for n in range(1, 7)]
SUPPORTERS = ["kesler.friend1", "kesler.friend2", "kesler.friend3"]
OLD_HOSTILE = ["old.troll1", "old.troll2", "old.troll3"]
ORGANIC = [f"citizen{n}" for n in range(1, 9)]
BYSTANDER = "bystander.reply"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(
    n: int, handle: str, at: datetime, text: str, *, created: str = "2020-01-01T00:00:00Z", **extra
) -> dict[str, Any]:
    author_id = f"did:plc:{handle.replace('.', '')}"
    post_id = f"at://{author_id}/app.bsky.feed.post/r{n:05d}"
    record = {
        "platform": "bluesky",
        "post_id": post_id,
        "url": f"https://bsky.app/profile/{handle}.bsky.social/post/r{n:05d}",
        "created_at": _time(at),
        "collected_at": _time(at + timedelta(minutes=7)),
        "author": {
            "id": author_id,
            "handle": f"{handle}.bsky.social",
            "display_name": handle.title(),
            "created_at": created,
        },
        "text": text,
        "lang": "ru",
        "links": [],
        "hashtags": [],
        "mentions": [],
        "raw": {"uri": post_id, "n": n},
    }
    record.update(extra)
    return record


def world_posts() -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    n = 0
    for week_offset in (-2, -1, 0):
        start = WEEK_START + timedelta(weeks=week_offset)
        for day in range(7):
            for i, handle in enumerate(ORGANIC):
                n += 1
                at = start + timedelta(days=day, hours=8 + i, minutes=day * 3)
                text = (
                    "Сегодня суд по делу Бахыт Ормановой снова отложили."
                    if i % 2 == 0
                    else "Anna Kesler spoke at the OSCE side event today."
                )
                posts.append(
                    _post(
                        n,
                        handle,
                        at,
                        text,
                        links=["https://news.example.kz/2026/court"] if i % 3 == 0 else [],
                        hashtags=["ормановасуд"] if i % 4 == 0 else [],
                    )
                )
    # the hostile campaign of W47: young accounts, identical text and link within seconds;
    # one of them started in W46, so the cluster is escalating, not new
    young = "2026-11-10T00:00:00Z"
    n += 1
    posts.append(
        _post(
            n,
            ATTACKERS[0],
            WEEK_START - timedelta(days=3),
            "Орманова — иностранный агент!",
            created=young,
        )
    )
    for wave in range(3):
        base = WEEK_START + timedelta(days=1 + wave, hours=10)
        for i, handle in enumerate(ATTACKERS):
            n += 1
            text = (
                KAZAKH_TEXT
                if i % 2
                else "Орманова — иностранный агент и грантоед, работает на Запад!"
            )
            posts.append(
                _post(
                    n,
                    handle,
                    base + timedelta(seconds=4 * i),
                    text,
                    created=young,
                    lang="kk" if i % 2 else "ru",
                    links=["https://qazaq-pravda.example/ormanova-granty"],
                    hashtags=["грантоед"],
                )
            )
    for i, text in enumerate(HOSTILE_TEXTS):
        n += 1
        posts.append(
            _post(
                n,
                ATTACKERS[i % len(ATTACKERS)],
                WEEK_START + timedelta(days=4, hours=12, seconds=9 * i),
                text,
                created=young,
                repost_of=None if text else "at://did:plc:x/app.bsky.feed.post/orig",
            )
        )
    n += 1
    posts.append(
        _post(
            n,
            BYSTANDER,
            WEEK_START + timedelta(days=4, hours=13),
            "@patriot01kz.bsky.social это неправда про Орманову",
            reply_to="at://did:plc:patriot01kz/app.bsky.feed.post/r00001",
        )
    )
    for i, handle in enumerate(SUPPORTERS):
        n += 1
        posts.append(
            _post(
                n,
                handle,
                WEEK_START + timedelta(days=2, hours=15, seconds=20 * i),
                "#КеслерНеОдна Анна Кеслер защищает людей. Мы с ней.",
                hashtags=["КеслерНеОдна"],
            )
        )
    for i, handle in enumerate(OLD_HOSTILE):
        n += 1
        posts.append(
            _post(
                n,
                handle,
                WEEK_START - timedelta(days=4) + timedelta(seconds=5 * i),
                "Кеслер — предатель и шпион, работает на Сороса!",
            )
        )
    return posts


@dataclass
class World:
    engine: Engine
    config: Config
    config_path: Path
    evidence: dict[str, str]  # platform post id -> evidence id
    hashes: dict[str, str]  # evidence id -> raw_sha256
    accounts: dict[str, int]  # short handle -> account pk
    attackers: list[str]
    tmp: Path

    @property
    def inputs(self) -> ReportInputs:
        """The report's plain inputs, as the shell builds them from the config."""
        return report_inputs(self.config)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _evidence_post(row: Any, first: datetime) -> dict[str, Any]:
    return {
        "post_pk": row.id,
        "evidence_id": row.evidence_id,
        "platform": row.platform,
        "post_id": row.platform_id,
        "account_pk": row.account_id,
        "handle": row.author_handle,
        "created_at": _time(row.created_at),
        "delta_s": (row.created_at - first).total_seconds(),
    }


def add_analysis(world: World, *, with_run: bool = True) -> None:
    """The analysis rows for the world: a run over W45-W47 and its clusters."""
    if not with_run:
        return
    post = models.Post.__table__
    with world.engine.begin() as connection:
        rows = connection.execute(select(post).order_by(post.c.id)).all()
        by_account: dict[int, list[Any]] = {}
        for row in rows:
            by_account.setdefault(row.account_id, []).append(row)
        run_id = connection.execute(
            insert(models.AnalysisRun.__table__).returning(models.AnalysisRun.id),
            {
                "started_at": WEEK_START + timedelta(days=7, hours=1),
                "finished_at": WEEK_START + timedelta(days=7, hours=1, minutes=2),
                "status": "ok",
                "since": WEEK_START - timedelta(weeks=2),
                "until": WEEK_START + timedelta(weeks=1),
                "code_version": "test-1",
                "parameters": {"window_seconds": 60, "min_repetitions": 2, "min_score": 40},
                "vocabulary": None,
                "stats": {"posts": len(rows)},
                "layers": {"co_link": True, "identical_text": True},
            },
        ).scalar_one()

        def cluster(stable_id: str, handles: list[str], **values: Any) -> int:
            members = [world.accounts[h] for h in handles]
            member_posts = sorted(
                (p for a in members for p in by_account.get(a, [])),
                key=lambda p: (p.created_at, p.id),
            )
            first = member_posts[0].created_at
            evidence_ids = [p.evidence_id for p in member_posts]
            narrative_ids = values.pop("narrative_ids", evidence_ids[:3])
            cluster_id = connection.execute(
                insert(models.Cluster.__table__).returning(models.Cluster.id),
                {
                    "analysis_run_id": run_id,
                    "stable_id": stable_id,
                    "local_id": int(stable_id[1:]),
                    "size": len(members),
                    "first_activity": first,
                    "last_activity": member_posts[-1].created_at,
                    "components": {"coordination": 0.9, "authenticity": 0.7},
                    "signals": {"young_accounts": 1.0, "identical_text_share": 0.8},
                    "narratives": [
                        {
                            "key": "foreign-agent",
                            "representative_text": member_posts[0].text,
                            "posts": len(member_posts),
                            "accounts": len(members),
                            "first_at": _time(first),
                            "last_at": _time(member_posts[-1].created_at),
                            "smear_categories": ["foreign_agent", "grant_eater"],
                            "supportive": values.get("stance") == "supportive",
                            "evidence_ids": narrative_ids,
                        }
                    ],
                    "explanation": [
                        f"{len(members)} accounts posted the same link within 20 seconds, "
                        "three times.",
                        "All of them were created less than a week before posting.",
                    ],
                    "alternatives": [
                        "A shared news link: the link is not a news site and no other account "
                        "shared it."
                    ],
                    **values,
                },
            ).scalar_one()
            for i, account in enumerate(members):
                connection.execute(
                    insert(models.ClusterMember.__table__),
                    {
                        "cluster_id": cluster_id,
                        "account_id": account,
                        "centrality": 1.0 - i / 10,
                        "posts": len(by_account.get(account, [])),
                        "signals": {"age_days": 8},
                    },
                )
            connection.execute(
                insert(models.ClusterEvidence.__table__),
                {
                    "cluster_id": cluster_id,
                    "kind": "identical_text",
                    "object": "text:" + stable_id,
                    "display": member_posts[0].text[:200],
                    "accounts": len(members),
                    "outside_accounts": 0,
                    "first_at": first,
                    "span_seconds": 20.0,
                    "posts": [_evidence_post(p, first) for p in member_posts],
                },
            )
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    connection.execute(
                        insert(models.CoordinationEdge.__table__),
                        {
                            "analysis_run_id": run_id,
                            "cluster_id": cluster_id,
                            "account_a": a,
                            "account_b": b,
                            "weight": 3.0,
                            "shared_objects": 3,
                            "expected": 0.1,
                            "excess": 2.9,
                            "p_value": 0.001,
                            "fast": (a + b) % 2 == 0,
                            "min_dt_seconds": 4.0,
                            "layers": {"co_link": 3},
                            "evidence": [],
                        },
                    )
            return cluster_id

        hostile = [next(r.evidence_id for r in rows if r.text == KAZAKH_TEXT)] + [
            r.evidence_id
            for r in rows
            if r.text in HOSTILE_TEXTS and r.account_id in {world.accounts[h] for h in ATTACKERS}
        ]
        cluster(
            "C1",
            world.attackers,
            narrative_ids=hostile,
            defender_id="ormanova",
            score=82.0,
            confidence="high",
            stance="hostile",
            targets=[{"defender_id": "ormanova", "name": "Bakhyt Ormanova", "posts": 25}],
        )
        cluster(
            "C2",
            SUPPORTERS,
            defender_id="kesler",
            score=55.0,
            confidence="medium",
            stance="supportive",
            targets=[{"defender_id": "kesler", "name": "Anna Kesler", "posts": 3}],
        )
        cluster(
            "C3",
            OLD_HOSTILE,
            defender_id="kesler",
            score=61.0,
            confidence="medium",
            stance="hostile",
            targets=[{"defender_id": "kesler", "name": "Anna Kesler", "posts": 3}],
        )


def build_world(db_url: str, tmp: Path, *, analysis: bool = True) -> World:
    key_file = tmp / "keys" / "report.key"
    config_path = tmp / "smearwatch.toml"
    config_path.write_text(CONFIG.format(url=db_url, key_file=key_file), encoding="utf-8")
    config = load_config(config_path)
    engine = open_database(config.database_url)
    step = MentionStep(config.defenders)
    import_file(engine, _write_jsonl(tmp / "posts.jsonl", world_posts()), mentions=step)
    post = models.Post.__table__
    account = models.Account.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            select(post.c.platform_id, post.c.evidence_id, post.c.raw_sha256)
        ).all()
        accounts = connection.execute(select(account.c.handle, account.c.id)).all()
    world = World(
        engine=engine,
        config=config,
        config_path=config_path,
        evidence={r.platform_id: r.evidence_id for r in rows},
        hashes={r.evidence_id: r.raw_sha256 for r in rows},
        accounts={h.removesuffix(".bsky.social"): i for h, i in accounts},
        attackers=list(ATTACKERS),
        tmp=tmp,
    )
    add_analysis(world, with_run=analysis)
    return world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    built = build_world(db_url, tmp_path)
    yield built
    built.engine.dispose()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    built = build_world(f"sqlite:///{tmp_path / 'smearwatch.db'}", tmp_path)
    yield built
    built.engine.dispose()
