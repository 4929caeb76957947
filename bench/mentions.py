"""Accuracy and speed of defender matching (analysis/mentions.py).

    python bench/mentions.py [--eval FILE] [--defenders FILE] [--posts N] [--show-errors]

Accuracy is measured on the labelled set in tests/analysis/mentions_eval.jsonl: for each post,
the set of defenders found is compared with the expected set, and every (post, defender) pair
counts once as a true positive, a false positive or a false negative. Precision and recall are
printed overall and per category, so a regression in, say, Kazakh suffixes cannot hide behind
a good total.

Throughput is measured with 200 generated fictional defenders of 5 aliases each (Cyrillic and
Latin full names and surnames, a Kazakh-Latin spelling) over generated posts that mix declined
names, Kazakh suffixes, transliterations, hashtags, handles, links and plain chatter, in the
proportions of a collected stream (most posts collected by a name query do mention someone).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.mentions import MentionMatcher  # noqa: E402

EVAL = ROOT / "tests" / "analysis" / "mentions_eval.jsonl"
DEFENDERS = ROOT / "tests" / "analysis" / "mentions_eval_defenders.json"


@dataclass(frozen=True)
class Defender:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    handles: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_defenders(path: Path = DEFENDERS) -> list[Defender]:
    return [
        Defender(
            id=d["id"],
            name=d["name"],
            aliases=tuple(d["aliases"]),
            handles={k: tuple(v) for k, v in d.get("handles", {}).items()},
        )
        for d in json.loads(path.read_text(encoding="utf-8"))
    ]


def load_eval(path: Path = EVAL) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    posts: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(
    matcher: MentionMatcher, posts: Iterable[dict]
) -> tuple[Score, dict[str, Score], list[tuple[dict, set[str]]]]:
    """Overall and per-category scores, and the posts that were not matched exactly right."""
    total = Score()
    per: dict[str, Score] = defaultdict(Score)
    errors = []
    for post in posts:
        found = {
            m.defender_id
            for m in matcher.find(
                post["text"],
                hashtags=post.get("hashtags", ()),
                mentions=post.get("mentions", ()),
                links=post.get("links", ()),
                url=post.get("url"),
            )
        }
        expected = set(post["expected"])
        for s in (total, per[post["category"]], per["lang:" + post["lang"]]):
            s.posts += 1
            s.tp += len(found & expected)
            s.fp += len(found - expected)
            s.fn += len(expected - found)
        if found != expected:
            errors.append((post, found))
    return total, dict(per), errors


# --- throughput --------------------------------------------------------------------------

_STEMS = [
    "Орман",
    "Темирхан",
    "Касым",
    "Жумабек",
    "Сапарбай",
    "Хамит",
    "Шарип",
    "Нурпеис",
    "Байтурсын",
    "Кудайберг",
    "Есенжан",
    "Абылай",
    "Тлеген",
    "Сейткали",
    "Мукаш",
    "Айтбай",
    "Сарсенбай",
    "Утеп",
    "Жаксылык",
    "Кенжеб",
    "Турсун",
    "Омарх",
    "Ибраг",
    "Бектур",
]
_FIRST_M = ["Ерлан", "Нурлан", "Айдос", "Даурен", "Марат", "Асхат", "Болат", "Канат", "Тимур"]
_FIRST_F = ["Бахыт", "Жанар", "Юлия", "Ольга", "Анна", "Асель", "Динара", "Гульнара", "Алия"]
_LAT = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ж": "zh",
        "з": "z",
        "и": "i",
        "й": "y",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "ы": "y",
        "ь": "",
        "ю": "yu",
        "я": "ya",
        "А": "A",
        "Б": "B",
        "В": "V",
        "Г": "G",
        "Д": "D",
        "Е": "Ye",
        "Ж": "Zh",
        "З": "Z",
        "И": "I",
        "К": "K",
        "Л": "L",
        "М": "M",
        "Н": "N",
        "О": "O",
        "П": "P",
        "Р": "R",
        "С": "S",
        "Т": "T",
        "У": "U",
        "Х": "Kh",
        "Ш": "Sh",
        "Ю": "Yu",
        "Я": "Ya",
    }
)
_FILLER_RU = [
    "снова получил грант",
    "опять врёт",
    "кто за этим стоит?",
    "не ведитесь на провокации",
    "очередной доклад для Брюсселя",
    "подписывайтесь на канал",
    "вот доказательства",
    "сколько можно терпеть",
    "народ всё видит",
    "и её друзья из посольства",
]
_FILLER_KK = ["тағы да өтірік айтты", "кім төлейді?", "елді сатты", "бәрі біледі"]
_FILLER_EN = [
    "is lying again",
    "who pays for this?",
    "another foreign-funded report",
    "share before they delete it",
    "the usual suspects",
    "read the thread",
]
_CHATTER = [
    "Сегодня в Алматы солнечно, вечером дождь.",
    "Great match yesterday, the home team won 3:1.",
    "Ертең Астанада жаңбыр жауады.",
    "Цены на бензин снова выросли, что происходит?",
    "New bakery opened on Abay avenue, the bread is excellent.",
]


def generated_defenders(n: int = 200, seed: int = 7) -> list[Defender]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        female = i % 2 == 1
        stem = rng.choice(_STEMS) + rng.choice(["", "ба", "ке", "жан", "бек", "ай", "ер"])
        surname = stem + ("ова" if female else "ов")
        first = rng.choice(_FIRST_F if female else _FIRST_M)
        lat_first, lat_sur = first.translate(_LAT), surname.translate(_LAT)
        out.append(
            Defender(
                id=f"d{i:03d}",
                name=f"{first} {surname}",
                aliases=(
                    f"{first} {surname}",
                    f"{lat_first} {lat_sur}",
                    surname,
                    lat_sur,
                    lat_sur.replace("kh", "h").replace("zh", "j"),
                ),
                handles={
                    "telegram": (f"{lat_sur.lower()}_{i}",),
                    "bluesky": (f"d{i}.bsky.social",),
                },
            )
        )
    return out


def generated_posts(defenders: list[Defender], n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    posts = []
    for _ in range(n):
        d = rng.choice(defenders)
        first, surname = d.aliases[0].split()
        lat = d.aliases[1]
        kind = rng.random()
        if kind < 0.15:
            text = rng.choice(_CHATTER) + " " + rng.choice(_CHATTER)
        elif kind < 0.40:
            form = rng.choice([surname, surname + "ой", surname + "у", first + " " + surname])
            text = f"{form} {rng.choice(_FILLER_RU)}. {rng.choice(_FILLER_RU)}!"
        elif kind < 0.55:
            text = f"{surname}{rng.choice(['ның', 'ға', 'мен', 'ты'])} {rng.choice(_FILLER_KK)}."
        elif kind < 0.75:
            text = f"{lat} {rng.choice(_FILLER_EN)}. #{lat.split()[1]}Out {rng.choice(_FILLER_EN)}"
        elif kind < 0.88:
            text = (
                f"@{d.handles['telegram'][0]} {rng.choice(_FILLER_EN)} "
                f"https://t.me/{d.handles['telegram'][0]}/{rng.randint(1, 9999)}"
            )
        else:
            other = rng.choice(defenders).aliases[2]
            text = f"{surname} и {other} — {rng.choice(_FILLER_RU)}. {rng.choice(_CHATTER)}"
        posts.append({"text": text, "hashtags": [surname.lower()] if kind > 0.9 else []})
    return posts


def throughput(n_posts: int = 20000) -> tuple[float, float, float, int]:
    """Posts per second by the wall clock and by the process's CPU time (the latter is what
    the matcher itself costs when other jobs share the machine), build time, mentions found."""
    defenders = generated_defenders()
    t0 = time.perf_counter()
    matcher = MentionMatcher(defenders)
    build = time.perf_counter() - t0
    posts = generated_posts(defenders, n_posts)
    for p in posts[:500]:  # warm the per-word caches, as a long-running daemon would have
        matcher.find(p["text"], hashtags=p["hashtags"])
    found = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for p in posts:
        found += len(matcher.find(p["text"], hashtags=p["hashtags"]))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n_posts / elapsed, n_posts / cpu, build, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--defenders", type=Path, default=DEFENDERS)
    parser.add_argument("--posts", type=int, default=20000, help="posts for the speed test")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)

    matcher = MentionMatcher(load_defenders(args.defenders))
    posts = load_eval(args.eval)
    total, per, errors = evaluate(matcher, posts)
    kinds = Counter("positive" if p["expected"] else "negative" for p in posts)
    print(
        f"eval set: {len(posts)} posts ({kinds['positive']} with a defender, "
        f"{kinds['negative']} without)"
    )
    print(f"{'category':<22}{'posts':>6}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}")
    for name in sorted(per, key=lambda k: (k.startswith("lang:"), k)):
        s = per[name]
        print(
            f"{name:<22}{s.posts:>6}{s.tp:>5}{s.fp:>5}{s.fn:>5}{s.precision:>11.3f}{s.recall:>8.3f}"
        )
    print(
        f"{'TOTAL':<22}{total.posts:>6}{total.tp:>5}{total.fp:>5}{total.fn:>5}"
        f"{total.precision:>11.3f}{total.recall:>8.3f}"
    )
    if args.show_errors:
        for post, found in errors:
            print(
                f"  {post['id']}: expected {post['expected']} found {sorted(found)}: {post['text']}"
            )
    rate, cpu_rate, build, found = throughput(args.posts)
    print(
        f"throughput: {rate:,.0f} posts/s wall clock, {cpu_rate:,.0f} posts/s of CPU time "
        f"(200 defenders x 5 aliases, {args.posts} posts, {found} mentions; "
        f"matcher built in {build:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
