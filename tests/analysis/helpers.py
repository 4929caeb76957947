"""Hand-built fixtures for the analysis tests. Fictional people and accounts only."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from analysis.frames import AnalysisInput, Defender, input_from_posts
from collector.post import Account, Post

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)

DEFENDERS = [
    Defender("ormanova", "Бахыт Орманова / Bakhyt Ormanova", ("b.ormanova.bsky.social",)),
    Defender("temirkhanov", "Ерлан Темирханов", ()),
    Defender("kesler", "Анна Кеслер", ()),
]

_WORDS = (
    "погода алматы сегодня солнце дождь кофе работа семья книга фильм футбол концерт "
    "мектеп балалар жұмыс ауа райы жаңбыр кітап отбасы music coffee weather football "
    "city river mountain garden bread market tram station library museum park lake"
)
ORGANIC_WORDS = _WORDS.split()


def post(
    author: str,
    seconds: float,
    text: str = "",
    *,
    pid: str | None = None,
    links: tuple[str, ...] = (),
    hashtags: tuple[str, ...] = (),
    reply_to: str | None = None,
    repost_of: str | None = None,
    created: datetime | None = None,
    handle: str | None = None,
    platform: str = "bluesky",
) -> Post:
    """One post by ``author`` at T0 + ``seconds``."""
    when = T0 + timedelta(seconds=seconds)
    return Post(
        platform=platform,
        post_id=pid
        or f"{author}-{seconds:g}-{zlib.crc32(repr((text, links, repost_of)).encode())}",
        created_at=when,
        author=Account(
            platform, f"did:{author}", handle or f"{author}.bsky.social", author, created
        ),
        text=text,
        raw="{}",
        links=links,
        hashtags=hashtags,
        reply_to=reply_to,
        repost_of=repost_of,
    )


def organic_background(n_accounts: int = 40, posts_each: int = 6, seed: int = 3) -> list[Post]:
    """Ordinary accounts posting their own words, their own links, at their own times."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n_accounts):
        for k in range(posts_each):
            t = rng.uniform(-6 * 3600, 18 * 3600)
            words = rng.sample(ORGANIC_WORDS, 7)
            kind = rng.random()
            links = (f"https://blog{i}.example/{k}",) if kind < 0.3 else ()
            out.append(
                post(
                    f"org{i}",
                    round(t, 1),
                    " ".join(words),
                    pid=f"org{i}-{k}",
                    links=links,
                    created=T0 - timedelta(days=400 + i),
                    handle=f"{words[0]}lover.bsky.social",
                )
            )
    return out


def build(posts: list[Post], mentions: dict | None = None) -> AnalysisInput:
    return input_from_posts(posts, mentions=mentions or {}, defenders=DEFENDERS)


SMEAR_TEXT = (
    "Бахыт Орманова иностранный агент и грантоед, отрабатывает деньги Сороса против нашей страны"
)
SUPPORT_TEXT = "Свободу Бахыт Ормановой! Мы с тобой, солидарность с правозащитниками"
PLANTED = [f"patriot_kz{1001 + i}" for i in range(6)]
FRIENDS = [
    "aigerim.n",
    "dana_writes",
    "marat.law",
    "zhanar_k",
    "timur.photo",
    "saule.art",
    "olga.ngo",
    "nurlan.b",
]
FANS = [f"fan{i}" for i in range(150)]
_EDITS = [
    lambda t: t + " 😡",
    lambda t: t + " @someone.bsky.social",
    lambda t: t.replace("иностранный агент", "агент иностранный") + " 🤬",
    lambda t: t + " https://x.example/1",
    lambda t: t.replace("против", "вообще против"),
    lambda t: "‼️ " + t,
]


def scenario(delays: tuple[float, ...] = (0, 7, 14, 21, 28, 35)) -> tuple[list[Post], dict]:
    """A planted smear cluster, a solidarity campaign, a viral link burst, organic control.

    Returns the posts and the matcher's mentions ((platform, post_id) -> defender ids).
    """
    import random

    rng = random.Random(11)
    posts = organic_background()
    mentions: dict[tuple[str, str], list[str]] = {}
    young = [T0 - timedelta(days=17, hours=7 * i) for i in range(len(PLANTED))]
    seed = post("seedsrc", -600, SMEAR_TEXT, pid="seed-1", created=T0 - timedelta(days=900))
    posts.append(seed)
    for i, name in enumerate(PLANTED):
        d = delays[i % len(delays)]
        kw = {"created": young[i], "handle": f"{name}.bsky.social"}
        posts.append(
            post(
                name,
                0 + d,
                "Бахыт Орманова грантоед 😡",
                pid=f"{name}-1",
                links=("https://smear-news.example/ormanova-grants",),
                **kw,
            )
        )
        p2 = post(name, 7200 + d, _EDITS[i % len(_EDITS)](SMEAR_TEXT), pid=f"{name}-2", **kw)
        posts.append(p2)
        mentions[("bluesky", p2.post_id)] = ["ormanova"]
        posts.append(post(name, 14400 + d, "", pid=f"{name}-3", repost_of="seed-1", **kw))
        posts.append(
            post(
                name,
                21600 + d,
                "читайте",
                pid=f"{name}-4",
                links=("https://smear-news.example/ormanova-abroad?utm_source=tg",),
                **kw,
            )
        )
    for i, name in enumerate(FRIENDS):
        for k, t in enumerate((5000, 20000, 40000)):
            p = post(
                name,
                t + 4 * i,
                SUPPORT_TEXT + " " + ["✊", "❤️", "", "🙏"][i % 4],
                pid=f"{name}-{k}",
                hashtags=("freeormanova", "біргеміз"),
                created=T0 - timedelta(days=600 + 13 * i),
            )
            posts.append(p)
            mentions[("bluesky", p.post_id)] = ["ormanova"]
    for i, name in enumerate(FANS):
        created = T0 - timedelta(days=300 + i)
        for k, (t, url) in enumerate(
            ((3600, "https://viral.example/story"), (30000, "https://viral.example/second"))
        ):
            words = " ".join(rng.sample(ORGANIC_WORDS, 6))
            posts.append(
                post(
                    name,
                    t + rng.uniform(0, 180),
                    f"{words} wow",
                    pid=f"{name}-v{k}",
                    links=(url,),
                    created=created,
                )
            )
        for k in range(3):
            words = " ".join(rng.sample(ORGANIC_WORDS, 8))
            posts.append(
                post(name, rng.uniform(-20000, 60000), words, pid=f"{name}-o{k}", created=created)
            )
    return posts, mentions
