"""Generate the bundled demo data set (run by hand; the output file is committed).

Two ISO weeks (2026-W46 and W47) of posts about three fictional defenders on Bluesky, Telegram
and Mastodon, in Russian, Kazakh and English: organic chatter, a viral news link that many
unrelated accounts share within minutes (a trap for naive detectors), a solidarity hashtag day
for one defender (coordinated but supportive), and one planted smear campaign: a batch of
freshly created accounts with formulaic handles posting near-identical "foreign agent" and
"grant-eater" texts with the same link within seconds, in waves.

Every person and account here is invented. Usage: python -m smearwatch.demo_data.make_demo
"""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

OUT = Path(__file__).with_name("posts.jsonl.gz")
START = datetime(2026, 11, 9, tzinfo=UTC)  # Monday of ISO week 46
DAYS = 14

FIRST_NAMES = ["Айдос", "Dana", "Марат", "Gulnara", "Saule", "Timur", "Алия", "Nurlan", "Ержан",
               "Madina", "Асель", "Ruslan", "Жанар", "Oleg", "Светлана", "Askar", "Камила",
               "Daniyar", "Ирина", "Bolat"]  # fmt: skip

ORGANIC_TEMPLATES = [
    ("ru", "Сегодня суд по делу {ru_gen} снова отложили. Следим за процессом."),
    ("ru", "Интервью с {ru_ins} о свободе слова в Казахстане: {link}"),
    ("ru", "Не согласен с позицией {ru_gen}, но преследование за слова недопустимо."),
    ("kk", "{kk_gen} ісі бойынша сот отырысы ертеңге қалдырылды."),
    ("kk", "{kk_name} құқық қорғаушы ретінде көп жыл жұмыс істеп келеді."),
    ("en", "Lawyer {en_name} spoke at the OSCE side event today: {link}"),
    ("en", "Read {en_poss} statement on the new NGO law: {link}"),
    ("ru", "Кто-нибудь был сегодня на пресс-конференции {ru_gen}? Как прошло?"),
    ("en", "Worrying pattern of online attacks on {en_name} this month."),
    ("ru", "Погода в Алматы опять испортилась, снег к вечеру."),
    ("en", "Traffic on Al-Farabi is terrible again this morning."),
    ("kk", "Бүгін Астанада ауа райы суық, абайлаңыздар."),
    ("ru", "Новый закон об иностранных представителях обсуждают в мажилисе: {link}"),
]

DEFENDERS: dict[str, dict[str, str]] = {
    "ormanova": {
        "ru_gen": "Бахыт Ормановой", "ru_ins": "Бахыт Ормановой", "kk_gen": "Бахыт Орманованың",
        "kk_name": "Бахыт Орманова", "en_name": "Bakhyt Ormanova", "en_poss": "Ormanova's",
    },
    "temirkhanov": {
        "ru_gen": "Ерлана Темирханова", "ru_ins": "Ерланом Темирхановым",
        "kk_gen": "Ерлан Темірхановтың", "kk_name": "Ерлан Темірханов",
        "en_name": "Yerlan Temirkhanov", "en_poss": "Temirkhanov's",
    },
    "kesler": {
        "ru_gen": "Анны Кеслер", "ru_ins": "Анной Кеслер", "kk_gen": "Анна Кеслердің",
        "kk_name": "Анна Кеслер", "en_name": "Anna Kesler", "en_poss": "Kesler's",
    },
}  # fmt: skip

NEWS_LINKS = [
    "https://news.example.kz/2026/11/court-hearing",
    "https://vlast.example/society/ngo-law-debate",
    "https://www.rfe.example/a/defenders-kz/3341.html?utm_source=twitter",
    "https://orda.example/interview-rights?fbclid=IwAR0demo",
]

SMEAR_TEXTS = [
    "Орманова — иностранный агент и грантоед, работает на Запад! {link}",
    "Бахыт Орманова получает гранты от Сороса и предаёт Казахстан {link}",
    "Орманова грантоед. Сколько ещё она будет отрабатывать западные деньги? {link}",
    "Орманова шетелдік агент, гранттарды жеп отыр! {link}",
    "Foreign agent Ormanova is paid by Soros to smear Kazakhstan {link}",
]
SMEAR_LINK = "https://qazaq-pravda.example/ormanova-granty?utm_source=tg&utm_medium=bot"

SUPPORT_TEXTS = [
    "#КеслерНеОдна Анна Кеслер защищает людей, а не гранты. Мы с ней.",
    "Solidarity with Anna Kesler today #SolidarityWithKesler #КеслерНеОдна",
    "Анна Кеслерді қолдаймыз! #КеслерНеОдна",
    "Stop the harassment of @kesler.bsky.social #SolidarityWithKesler",
]


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _emoji_edit(rng: random.Random, text: str) -> str:
    """Small edits bots make to dodge exact-duplicate filters."""
    choice = rng.random()
    if choice < 0.25:
        return text + " 🇰🇿"
    if choice < 0.5:
        return "‼️ " + text
    if choice < 0.7:
        return text.replace("!", "!!")
    return text


class Builder:
    def __init__(self) -> None:
        self.rng = random.Random(2026)
        self.records: list[dict[str, Any]] = []
        self.counter = 0

    def account(
        self, platform: str, handle: str, created: datetime | None, display: str | None = None
    ) -> dict[str, Any]:
        if platform == "bluesky":
            ident = "did:plc:" + "".join(
                self.rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24)
            )
        elif platform == "telegram":
            ident = handle
        else:
            ident = f"https://mastodon.example/users/{handle}"
        return {
            "id": ident,
            "handle": handle,
            "display_name": display or handle.split(".")[0].replace("_", " ").title(),
            "created_at": _time(created) if created else None,
        }

    def post(
        self,
        platform: str,
        author: dict[str, Any],
        when: datetime,
        text: str,
        lang: str,
        links: list[str] | None = None,
        hashtags: list[str] | None = None,
        mentions: list[str] | None = None,
        repost_of: str | None = None,
    ) -> str:
        self.counter += 1
        n = self.counter
        if platform == "bluesky":
            post_id = f"at://{author['id']}/app.bsky.feed.post/3demo{n:06d}"
            url = f"https://bsky.app/profile/{author['handle']}/post/3demo{n:06d}"
            raw = {
                "uri": post_id,
                "cid": f"bafyreidemo{n:08d}",
                "author": {"did": author["id"], "handle": author["handle"]},
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": text,
                    "createdAt": _time(when),
                    "langs": [lang],
                },
                "indexedAt": _time(when + timedelta(seconds=1)),
            }
        elif platform == "telegram":
            post_id = f"{author['handle']}/{n}"
            url = f"https://t.me/{post_id}"
            raw = (
                f'<div class="tgme_widget_message" data-post="{post_id}">'
                f'<div class="tgme_widget_message_text">{text}</div>'
                f'<time datetime="{when.isoformat()}"></time></div>'
            )
        else:
            post_id = f"https://mastodon.example/users/{author['handle']}/statuses/11{n:08d}"
            url = f"https://mastodon.example/@{author['handle']}/11{n:08d}"
            raw = {
                "id": f"11{n:08d}",
                "uri": post_id,
                "created_at": _time(when),
                "content": f"<p>{text}</p>",
                "language": lang,
                "account": {"acct": author["handle"], "created_at": author["created_at"]},
            }
        tags = (
            hashtags
            if hashtags is not None
            else [w.lstrip("#") for w in text.split() if w.startswith("#")]
        )
        self.records.append(
            {
                "platform": platform,
                "post_id": post_id,
                "url": url,
                "created_at": _time(when),
                "collected_at": _time(when + timedelta(minutes=self.rng.randint(5, 90))),
                "author": author,
                "text": text,
                "lang": lang,
                "links": links or [],
                "hashtags": tags,
                "mentions": mentions or [],
                "reply_to": None,
                "repost_of": repost_of,
                "quote_of": None,
                "raw": raw,
            }
        )
        return post_id

    def organic(self) -> None:
        rng = self.rng
        accounts = []
        for i in range(140):
            platform = rng.choice(["bluesky", "bluesky", "telegram", "mastodon"])
            first = rng.choice(FIRST_NAMES).lower()
            handle = (
                f"{first}.{rng.choice(['kz', 'writes', 'news', 'almaty'])}{i}.bsky.social"
                if platform == "bluesky"
                else f"{first}_{rng.choice(['media', 'kz', 'notes'])}{i}"
            )
            created = START - timedelta(days=rng.randint(200, 3000))
            accounts.append((platform, self.account(platform, handle, created, first.title())))
        for _ in range(620):
            platform, author = rng.choice(accounts)
            lang, template = rng.choice(ORGANIC_TEMPLATES)
            defender = DEFENDERS[rng.choice(list(DEFENDERS))]
            link = rng.choice(NEWS_LINKS)
            when = START + timedelta(seconds=rng.randint(0, DAYS * 86400 - 1))
            text = template.format(link=link, **defender)
            self.post(
                platform, author, when, text, lang, links=[link] if "{link}" in template else []
            )
        # A viral news story: many unrelated accounts share it within minutes. Not a campaign.
        viral = "https://news.example.kz/2026/11/18/verdict-temirkhanov"
        burst = START + timedelta(days=9, hours=6, minutes=12)
        for platform, author in rng.sample(accounts, 60):
            when = burst + timedelta(seconds=rng.randint(0, 1800))
            text = rng.choice(
                [
                    "Срочно: приговор по делу Ерлана Темирханова {link}",
                    "Temirkhanov verdict is out {link}",
                    "Темірханов ісі бойынша үкім шықты {link}",
                ]
            ).format(link=viral)
            self.post(platform, author, when, text, "ru", links=[viral])
        # Solidarity day for Kesler: coordinated hashtags, supportive stance.
        day = START + timedelta(days=11, hours=9)
        for platform, author in rng.sample(accounts, 30):
            when = day + timedelta(seconds=rng.randint(0, 5400))
            self.post(platform, author, when, rng.choice(SUPPORT_TEXTS), "ru")

    def campaign(self) -> None:
        rng = self.rng
        batch_day = START + timedelta(days=1, hours=3)
        trolls = []
        for i in range(24):
            stem = rng.choice(["patriot_kz", "nurlan", "qazaq_eli", "aibek", "true_kz"])
            handle = f"{stem}{rng.randint(1000, 99999)}"
            platform = "bluesky" if i % 3 else "telegram"
            if platform == "bluesky":
                handle = f"{handle}.bsky.social"
            created = batch_day + timedelta(minutes=rng.randint(0, 240))
            trolls.append((platform, self.account(platform, handle, created)))
        seed_platform, seed_author = trolls[1]
        for wave in range(4):
            wave_start = START + timedelta(
                days=8 + wave // 2, hours=7 + 6 * (wave % 2), minutes=rng.randint(0, 50)
            )
            link = SMEAR_LINK if wave % 2 == 0 else SMEAR_LINK.replace("granty", f"granty-{wave}")
            seed = self.post(
                seed_platform,
                seed_author,
                wave_start,
                SMEAR_TEXTS[0].format(link=link),
                "ru",
                links=[link],
                hashtags=["грантоед", "орманова"],
            )
            for platform, author in rng.sample(trolls, 18):
                when = wave_start + timedelta(seconds=rng.randint(3, 75))
                text = _emoji_edit(rng, rng.choice(SMEAR_TEXTS).format(link=link))
                lang = "kk" if "шетелдік" in text else "en" if "Foreign" in text else "ru"
                self.post(
                    platform,
                    author,
                    when,
                    text,
                    lang,
                    links=[link],
                    hashtags=["грантоед", "орманова"],
                )
                if rng.random() < 0.5 and platform == "bluesky":
                    self.post(
                        platform,
                        author,
                        when + timedelta(seconds=rng.randint(1, 30)),
                        "",
                        "ru",
                        repost_of=seed,
                    )


def main() -> None:
    builder = Builder()
    builder.organic()
    builder.campaign()
    builder.records.sort(key=lambda r: (r["created_at"], r["post_id"]))
    with gzip.GzipFile(OUT, "wb", mtime=0) as handle:
        for record in builder.records:
            handle.write(orjson.dumps(record) + b"\n")
    print(f"wrote {len(builder.records)} posts to {OUT}")  # noqa: T201


if __name__ == "__main__":
    main()
