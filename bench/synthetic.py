"""A generator of realistic post streams with planted coordinated groups of known membership.

Organic traffic (all fictional):

* heavy-tailed activity (a few accounts post hundreds of times, most a handful), a daily
  rhythm in local time, unique texts built from a pseudo-vocabulary of Russian, Kazakh and
  Latin words;
* links, reposts, replies and hashtags drawn from Zipf-like popularity;
* **viral bursts**: a link, post or hashtag set shared by hundreds to thousands of accounts
  within minutes;
* **news bursts**: hundreds of accounts mentioning a defender within half an hour after an
  event, in their own words;
* an **organic solidarity day**: many accounts using a support hashtag over a day;
* **reposts and forwards that carry the original's entities**, as twarc2 and the Telegram
  collector store them: ``RT @author: <text>`` (X) or the original text (Telegram forward),
  with the original's links, hashtags and defender mentions, ``repost_of`` pointing to it;
* **quote posts** with their own added text (some with an own link; X-style quotes also carry
  the quoted post's status URL, as twarc2's ``entities.urls`` does);
* **followers of popular accounts** ("hubs") who repost the hub's posts, a share of them within
  seconds (notifications), so the same fans meet again and again;
* **news sites**: one or two bot accounts post every article of the site within seconds of
  publication, and readers share articles through the share button, whose text is the same
  for everyone (``<headline> <url> via @site``).

Each organic case keeps the post keys it made (``Synthetic.cases``) so that a benchmark can
say which case any false positive came from.

Planted groups (5-50 accounts each), cycling through kinds:

* ``colink``: the group shares the same campaign links within seconds, repeatedly;
* ``copypasta``: the group posts a smear text about a defender with small edits (emoji, added
  @mention or link, a swapped or replaced word);
* ``corepost``: the group reposts the same posts of a seed account within seconds (the
  reposts carry the seed's text, campaign link and hashtag, as real exports do);
* ``pileon``: the group replies to a defender's posts within minutes, with varied smear texts;
* ``support``: a coordinated solidarity campaign (same text and hashtags) - coordinated, but
  its stance must come out *supportive*.

Half of the groups are young accounts created in a batch with formulaic handles. Members also
post organic filler so that they are not trivially separable by volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.frames import AnalysisInput

__all__ = ["Planted", "Synthetic", "generate", "DEFENDERS"]

DEFENDERS = [
    ("ormanova", "Бахыт Орманова", "Bakhyt Ormanova"),
    ("temirkhanov", "Ерлан Темирханов", "Yerlan Temirkhanov"),
    ("kesler", "Анна Кеслер", "Anna Kesler"),
]

_SYLLABLE_TEXT = (
    "ба ка ла ма на ра са та да жа қа ға ңа өз ұл үр һа ін ар ер ол ан ен ын ов ев ко ро то "
    "ski na ta ra li mo ke du vi po sa le ni ro ma be ga"
)
_SYLLABLES = _SYLLABLE_TEXT.split()

_SMEAR = [
    "{name} иностранный агент и грантоед, отрабатывает деньги Сороса против нашей страны",
    "{name} предатель родины, живет на гранты и поливает грязью Казахстан каждый день",
    "{name} шетелдік агент, гранттарды шетелден алады, ол халық жауы болып табылады",
    "Кто платит {name}? Западные деньги, госдеп и Сорос. Пятая колонна в действии",
    "{name} is a foreign agent paid by Soros who hates this country and its people",
]
_PILEON = [
    "{name} позор тебе, предатель",
    "{name} сколько тебе заплатили грантоеды",
    "{name} сатқын, ұят саған",
    "{name} иноагент, уезжай отсюда",
    "{name} is a traitor and a fraudster",
    "{name} отрабатывает гранты, все это знают",
]
_SUPPORT = (
    "Свободу {name}! Мы с тобой, {name}, солидарность с правозащитниками Казахстана "
    "#freeormanova #біргеміз"
)
_EMOJI = ["😡", "🤬", "👎", "🇰🇿", "‼️", "🔥", ""]


@dataclass
class Planted:
    name: str
    kind: str
    stance: str
    accounts: list[int]
    young: bool


@dataclass
class Synthetic:
    input: AnalysisInput
    planted: list[Planted]
    viral_objects: list[str] = field(default_factory=list)
    cases: dict[str, np.ndarray] = field(default_factory=dict)
    """Organic case -> the post keys it made (viral, shares, quotes, hub_reposts, ...)."""
    bot_accounts: set[int] = field(default_factory=set)

    @property
    def planted_accounts(self) -> set[int]:
        return {a for p in self.planted for a in p.accounts}


class _Builder:
    """Collects posts in numpy chunks (no Python object per post except its text)."""

    def __init__(self, rng: np.random.Generator, start: pd.Timestamp):
        self.rng = rng
        self.start = start
        self.chunks: list[dict[str, np.ndarray]] = []
        self.links: list[tuple[np.ndarray, np.ndarray]] = []
        self.tags: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.mentions: list[tuple[np.ndarray, np.ndarray]] = []
        self.next_pk = 1
        # what a shared post carries: pk -> (account, text, links, hashtags, defenders)
        self.meta: dict[int, tuple[int, str, tuple, tuple, tuple]] = {}
        self.cases: dict[str, list[np.ndarray]] = {}

    def case(self, name: str, pks: np.ndarray) -> None:
        self.cases.setdefault(name, []).append(np.asarray(pks, dtype=np.int64))

    def remember(self, pks, accounts, texts, links=None, tags=(), defenders=()) -> None:
        """Note what these posts carry, so that reposts and quotes of them can copy it."""
        links = [()] * len(pks) if links is None else links
        for pk, a, t, ln in zip(
            np.asarray(pks).tolist(), np.asarray(accounts).tolist(), texts, links, strict=True
        ):
            self.meta[int(pk)] = (int(a), str(t), tuple(ln), tuple(tags), tuple(defenders))

    def share(self, accounts, times, targets, *, style: str = "mixed") -> np.ndarray:
        """Reposts/forwards of remembered posts, carrying their text, links, hashtags and
        defender mentions the way twarc2 (``RT @a: text``) and Telegram (text as is) store
        them. ``style``: "x", "telegram" or "mixed" (alternating)."""
        targets = np.asarray(targets, dtype=np.int64)
        n = len(targets)
        if not n:
            return np.zeros(0, dtype=np.int64)
        texts, repost_of = [], []
        link_rows: list[tuple[int, str]] = []
        tag_rows: list[tuple[int, str, int]] = []
        ment_rows: list[tuple[int, str]] = []
        pks = np.arange(self.next_pk, self.next_pk + n, dtype=np.int64)
        for k, (pk, target) in enumerate(zip(pks.tolist(), targets.tolist(), strict=True)):
            author, text, links, tags, defenders = self.meta[target]
            x_style = style == "x" or (style == "mixed" and k % 2 == 0)
            texts.append(f"RT @a{author}: {text}" if x_style else text)
            repost_of.append(f"p{target}")
            link_rows.extend((pk, u) for u in links)
            tag_rows.extend((pk, tg, i) for i, tg in enumerate(tags))
            ment_rows.extend((pk, d) for d in defenders)
        self.bulk(accounts, times, texts, repost_of=repost_of)
        if link_rows:
            self.add_links(np.array([r[0] for r in link_rows]), [r[1] for r in link_rows])
        if tag_rows:
            self.tags.append(
                (
                    np.array([r[0] for r in tag_rows], dtype=np.int64),
                    self._obj([r[1] for r in tag_rows], len(tag_rows)),
                    np.array([r[2] for r in tag_rows], dtype=np.int64),
                )
            )
        if ment_rows:
            self.add_mentions(np.array([r[0] for r in ment_rows]), [r[1] for r in ment_rows])
        return pks

    @staticmethod
    def _obj(values, n: int) -> np.ndarray:
        if values is None:
            return np.full(n, None, dtype=object)
        if isinstance(values, str):
            return np.full(n, values, dtype=object)
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    def add(
        self,
        account: int,
        t: float,
        text: str = "",
        *,
        mentions: tuple[str, ...] = (),
    ) -> int:
        pks = self.bulk(np.array([account]), np.array([t]), [text])
        for d in mentions:
            self.add_mentions(pks, d)
        return int(pks[0])

    def bulk(
        self, accounts, times, texts, reply_to=None, repost_of=None, quote_of=None
    ) -> np.ndarray:
        n = len(accounts)
        pks = np.arange(self.next_pk, self.next_pk + n, dtype=np.int64)
        self.next_pk += n
        self.chunks.append(
            {
                "post_pk": pks,
                "account_pk": np.asarray(accounts, dtype=np.int64),
                "t": np.asarray(times, dtype=np.float64),
                "text": self._obj(texts, n),
                "reply_to": self._obj(reply_to, n),
                "repost_of": self._obj(repost_of, n),
                "quote_of": self._obj(quote_of, n),
            }
        )
        return pks

    def add_links(self, pks: np.ndarray, urls) -> None:
        self.links.append((np.asarray(pks, dtype=np.int64), self._obj(urls, len(pks))))

    def add_tags(self, pks: np.ndarray, tags: tuple[str, ...]) -> None:
        pks = np.asarray(pks, dtype=np.int64)
        for pos, tag in enumerate(tags):
            self.tags.append((pks, self._obj(tag, len(pks)), np.full(len(pks), pos)))

    def add_mentions(self, pks: np.ndarray, defender) -> None:
        self.mentions.append((np.asarray(pks, dtype=np.int64), self._obj(defender, len(pks))))


def _join_texts(vocab: np.ndarray, idx: np.ndarray, lens: np.ndarray) -> list[str]:
    """One text per row: the first ``lens[i]`` words of ``vocab[idx[i]]``, space-separated.

    Built as one string per block of rows and split, not one join per row."""
    sp = np.array([w + " " for w in vocab], dtype=object)
    nl = np.array([w + "\n" for w in vocab], dtype=object)
    out: list[str] = []
    col = np.arange(idx.shape[1])
    for lo in range(0, len(idx), 200_000):
        ix, ln = idx[lo : lo + 200_000], lens[lo : lo + 200_000, None]
        tok = np.where(col < ln - 1, sp[ix], np.where(col == ln - 1, nl[ix], ""))
        out.extend("".join(tok.ravel().tolist()).split("\n")[:-1])
    return out


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    syl = np.array(_SYLLABLES, dtype=object)
    k = rng.integers(2, 4, size=n)
    parts = [syl[rng.integers(0, len(syl), size=n)] for _ in range(3)]
    out = parts[0] + parts[1]
    out = np.where(k == 3, out + parts[2], out)
    return np.unique(out.astype(str))


def _edit(rng: np.random.Generator, text: str, handles: list[str]) -> str:
    """Small edits a copy-paste operator makes: emoji, @mention, link, swap, replace."""
    words = text.split()
    choice = rng.integers(0, 5)
    if choice == 0 and len(words) > 4:
        i = int(rng.integers(0, len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    elif choice == 1 and len(words) > 4:
        words[int(rng.integers(1, len(words)))] = str(rng.choice(["вообще", "просто", "ведь"]))
    elif choice == 2:
        words.append("@" + str(rng.choice(handles)))
    elif choice == 3:
        words.append(
            f"https://news-{int(rng.integers(0, 999))}.example/{int(rng.integers(0, 1e6))}"
        )
    words.append(str(rng.choice(_EMOJI)))
    return " ".join(w for w in words if w)


def _organic(
    b: _Builder,
    rng: np.random.Generator,
    n_org: int,
    *,
    n_accounts: int,
    activity: np.ndarray,
    vocab: np.ndarray,
    days: int,
    n_urls: int,
    n_targets: int,
) -> None:
    """Ordinary posts: own texts, links, replies, hashtags, a few mentions; reposts and
    forwards of those posts (carrying their entities) and quotes with added text."""
    acc = rng.choice(n_accounts, size=n_org, p=activity) + 1
    day = rng.integers(0, days, size=n_org)
    hour_local = rng.normal(15, 4, size=n_org) % 24
    t = day * 86_400.0 + ((hour_local - 5) % 24) * 3600.0 + rng.uniform(0, 3600, size=n_org)
    kind = rng.choice(5, size=n_org, p=[0.40, 0.22, 0.18, 0.12, 0.08])
    own_rows = np.flatnonzero((kind != 2) & (kind != 4))
    n_own = len(own_rows)
    acc_o, t_o, kind_o = acc[own_rows], t[own_rows], kind[own_rows]
    lens = rng.integers(6, 20, size=n_own)
    word_idx = rng.integers(0, len(vocab), size=(n_own, 20), dtype=np.int32)
    texts = np.array(_join_texts(vocab, word_idx, lens), dtype=object)
    del word_idx
    url_pick = (rng.zipf(1.6, size=n_own) - 1) % n_urls
    target_pick = (rng.zipf(1.6, size=n_own) - 1) % n_targets
    is_reply = kind_o == 3
    used, inv = np.unique(target_pick[is_reply], return_inverse=True)
    names = np.array([f"org-{x}" for x in used.tolist()], dtype=object)
    reply_to = np.full(n_own, None, dtype=object)
    reply_to[is_reply] = names[inv]
    pks = b.bulk(acc_o, t_o, texts, reply_to)
    link_rows = np.flatnonzero(kind_o == 1)
    used, inv = np.unique(url_pick[link_rows], return_inverse=True)
    urls = np.array([f"https://site{u % 500}.example/a/{u}" for u in used.tolist()], dtype=object)
    link_of = np.full(n_own, None, dtype=object)
    link_of[link_rows] = urls[inv]
    b.add_links(pks[link_rows], link_of[link_rows])
    tag_posts = np.flatnonzero(rng.random(n_own) < 0.25)
    tag_pick = (rng.zipf(1.5, size=(len(tag_posts), 3)) - 1) % 3000
    n_tags = rng.integers(1, 4, size=len(tag_posts))
    # the first n_tags picks of each post, repeated tags dropped, positions renumbered
    valid = np.arange(3)[None, :] < n_tags[:, None]
    valid[:, 1] &= tag_pick[:, 1] != tag_pick[:, 0]
    valid[:, 2] &= (tag_pick[:, 2] != tag_pick[:, 0]) & (tag_pick[:, 2] != tag_pick[:, 1])
    pos = np.cumsum(valid, axis=1) - 1
    tag_names = np.array([f"tag{i}" for i in range(3000)], dtype=object)
    rows, cols = np.nonzero(valid)
    b.tags.append((pks[tag_posts[rows]], tag_names[tag_pick[rows, cols]], pos[rows, cols]))
    # organic mentions of defenders
    ment = np.flatnonzero((kind_o == 0) & (rng.random(n_own) < 0.02))
    who = np.array([d[0] for d in DEFENDERS], dtype=object)
    ment_who = who[rng.integers(0, 3, size=len(ment))]
    b.add_mentions(pks[ment], ment_who)

    # --- reposts/forwards (kind 2) and quotes (kind 4) of own text and link posts
    shareable = np.flatnonzero(kind_o <= 1)
    if not len(shareable):
        return
    order = rng.permutation(len(shareable))
    share_rows = np.flatnonzero((kind == 2) | (kind == 4))
    pick = shareable[order[(rng.zipf(1.6, size=len(share_rows)) - 1) % len(shareable)]]
    targets = np.unique(pick)
    tags_of: dict[int, list[str]] = {}
    for r, c in zip(tag_posts[rows].tolist(), tag_pick[rows, cols].tolist(), strict=True):
        tags_of.setdefault(r, []).append(f"tag{c}")
    ment_of = dict(zip(ment.tolist(), ment_who.tolist(), strict=True))
    for r in targets.tolist():
        link = link_of[r]
        b.meta[int(pks[r])] = (
            int(acc_o[r]),
            str(texts[r]),
            (link,) if link is not None else (),
            tuple(tags_of.get(r, ())),
            (ment_of[r],) if r in ment_of else (),
        )
    when = t_o[pick] + rng.exponential(3 * 3600.0, size=len(share_rows))
    quote = kind[share_rows] == 4
    rp = b.share(acc[share_rows[~quote]], when[~quote], pks[pick[~quote]])
    b.case("shares", rp)
    # quotes: own added text, sometimes an own link; X-style quotes carry the quoted
    # post's status URL in their links (twarc2 entities.urls)
    q_rows, q_pick = share_rows[quote], pick[quote]
    n_q = len(q_rows)
    q_lens = rng.integers(5, 15, size=n_q)
    q_idx = rng.integers(0, len(vocab), size=(n_q, 20), dtype=np.int32)
    q_texts = _join_texts(vocab, q_idx, q_lens) if n_q else []
    q_target = [f"p{x}" for x in pks[q_pick].tolist()]
    qp = b.bulk(acc[q_rows], when[quote], q_texts, quote_of=q_target)
    b.case("quotes", qp)
    own_link = rng.random(n_q) < 0.2
    if own_link.any():
        picks = (rng.zipf(1.6, size=int(own_link.sum())) - 1) % n_urls
        b.add_links(qp[own_link], [f"https://site{u % 500}.example/a/{u}" for u in picks.tolist()])
    status = rng.random(n_q) < 0.5
    if status.any():
        b.add_links(
            qp[status],
            [f"https://x.example/i/status/{q}" for q in np.asarray(q_target)[status].tolist()],
        )


def _hubs(b, rng, *, n_hubs, n_accounts, activity, vocab, span) -> None:
    """Popular accounts whose followers repost them, a share of them within seconds."""
    for h in range(n_hubs):
        hub = int(rng.choice(n_accounts, p=activity)) + 1
        size = min(int(rng.integers(150, 1200)), n_accounts // 3)
        followers = np.unique(rng.choice(n_accounts, size=size, p=activity) + 1)
        followers = followers[followers != hub]
        propensity = rng.beta(0.6, 12, size=len(followers))
        n_hub_posts = int(rng.integers(15, 40))
        t_posts = np.sort(rng.uniform(0, span - 7200, size=n_hub_posts))
        texts = [" ".join(vocab[rng.integers(0, len(vocab), size=10)]) for _ in t_posts]
        pks = b.bulk(np.full(n_hub_posts, hub), t_posts, texts)
        links = [
            (f"https://hub{h}.example/post/{k}",) if rng.random() < 0.6 else ()
            for k in range(n_hub_posts)
        ]
        for pk, ln in zip(pks.tolist(), links, strict=True):
            if ln:
                b.add_links(np.array([pk]), ln[0])
        tagged = rng.random(n_hub_posts) < 0.5
        tags = (f"hub{h}", "алматы")
        b.add_tags(pks[tagged], tags)
        for k, pk in enumerate(pks.tolist()):
            b.meta[pk] = (hub, texts[k], links[k], tags if tagged[k] else (), ())
        for k in range(n_hub_posts):
            who = followers[rng.random(len(followers)) < propensity]
            if not len(who):
                continue
            fast = rng.random(len(who)) < 0.35
            delay = np.where(
                fast, rng.uniform(2, 40, size=len(who)), rng.exponential(1500, size=len(who))
            )
            rp = b.share(who, t_posts[k] + delay, np.full(len(who), pks[k]))
            b.case("hub_reposts", rp)
        b.case("hub_posts", pks)


def _news_sites(b, rng, *, n_sites, first_account, n_accounts, activity, vocab, days):
    """News sites: bots post every article within seconds; readers use the share button."""
    bots: list[int] = []
    next_account = first_account
    for site in range(n_sites):
        n_bots = int(rng.integers(1, 3))
        site_bots = list(range(next_account, next_account + n_bots))
        next_account += n_bots
        bots.extend(site_bots)
        per_day = int(rng.integers(10, 30))
        n_art = per_day * days
        day = rng.integers(0, days, size=n_art)
        t_pub = day * 86_400.0 + ((rng.uniform(8, 23, size=n_art) - 5) % 24) * 3600.0
        heads = [" ".join(vocab[rng.integers(0, len(vocab), size=8)]) for _ in range(n_art)]
        urls = [f"https://news{site}.example/2026/{d}/{k}" for k, d in enumerate(day.tolist())]
        for i, bot in enumerate(site_bots):
            lag = rng.uniform(0, 20, size=n_art) if i == 0 else rng.uniform(5, 90, size=n_art)
            bp = b.bulk(
                np.full(n_art, bot),
                t_pub + lag,
                [f"{h} {u}" for h, u in zip(heads, urls, strict=True)],
            )
            b.add_links(bp, urls)
            b.case("news_bots", bp)
        # readers: a loyal audience that shares some articles with the share button
        readers = np.unique(
            rng.choice(n_accounts, size=int(rng.integers(100, 600)), p=activity) + 1
        )
        loyalty = rng.beta(0.5, 30, size=len(readers))
        for k in range(n_art):
            who = readers[rng.random(len(readers)) < loyalty]
            if not len(who):
                continue
            when = t_pub[k] + 30 + rng.exponential(1800, size=len(who))
            text = f"{heads[k]} {urls[k]} via @news{site}"
            sp = b.bulk(who, when, text)
            b.add_links(sp, urls[k])
            b.case("share_button", sp)
    return bots, next_account


def generate(
    n_posts: int = 100_000,
    *,
    seed: int = 1,
    n_groups: int | None = None,
    days: int = 7,
    viral_events: int | None = None,
) -> Synthetic:
    """A window of about ``n_posts`` posts with planted groups; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-11-16T00:00:00Z")
    span = days * 86_400.0
    b = _Builder(rng, start)
    n_accounts = max(200, n_posts // 15)
    vocab = _words(rng, 30_000)
    if n_groups is None:
        n_groups = max(5, min(40, n_posts // 5_000))
    if viral_events is None:
        viral_events = max(3, min(60, n_posts // 20_000))

    # --- organic accounts: heavy-tailed activity, daily rhythm (UTC+5)
    activity = rng.pareto(1.3, size=n_accounts) + 1.0
    activity = activity / activity.sum()
    n_urls = max(1000, n_posts // 3)
    n_targets = max(1000, n_posts // 3)
    organic = {
        "n_accounts": n_accounts,
        "activity": activity,
        "vocab": vocab,
        "days": days,
        "n_urls": n_urls,
        "n_targets": n_targets,
    }
    _organic(b, rng, int(n_posts * 0.74), **organic)

    # --- viral bursts: many unrelated accounts within minutes
    viral_objects = []
    for v in range(viral_events):
        size = min(int(rng.integers(300, 3000)), n_accounts // 2)
        t0 = rng.uniform(0, span - 7200)
        who = rng.choice(n_accounts, size=size, replace=False, p=activity) + 1
        when = t0 + rng.exponential(240, size=size)
        what = v % 3
        if what == 0:
            url = f"https://viral{v}.example/story"
            viral_objects.append(url)
            vp = b.bulk(who, when, f"смотрите {url}")
            b.add_links(vp, url)
        elif what == 1:
            # a viral post with a link and hashtags, reposted by hundreds within minutes:
            # each repost carries the link and hashtags (the issue-18 trap)
            author = int(rng.choice(n_accounts, p=activity)) + 1
            text = " ".join(vocab[rng.integers(0, len(vocab), size=9)])
            url = f"https://viral{v}.example/post"
            tags = (f"viral{v}", "kazakhstan")
            op = b.bulk(np.array([author]), np.array([t0 - 30.0]), [text])
            b.add_links(op, url)
            b.add_tags(op, tags)
            b.remember(op, [author], [text], [(url,)], tags)
            viral_objects.append(f"p{int(op[0])}")
            vp = b.share(
                who[who != author], when[who != author], np.full(size, op[0])[who != author]
            )
            b.case("viral", np.r_[op, vp])
            continue
        else:
            tags = (f"trend{v}", "kazakhstan")
            viral_objects.append(" ".join(tags))
            texts = [" ".join(vocab[rng.integers(0, len(vocab), size=8)]) for _ in range(size)]
            vp = b.bulk(who, when, texts)
            b.add_tags(vp, tags)
        b.case("viral", vp)

    # --- news bursts: organic outrage or sympathy in own words
    for e in range(max(2, viral_events // 2)):
        did, ru, _ = DEFENDERS[e % 3]
        size = min(int(rng.integers(150, 600)), n_accounts // 2)
        t0 = rng.uniform(0, span - 7200)
        who = rng.choice(n_accounts, size=size, replace=False, p=activity) + 1
        when = t0 + rng.exponential(600, size=size)
        texts = [
            f"{ru} " + " ".join(vocab[rng.integers(0, len(vocab), size=10)]) for _ in range(size)
        ]
        vp = b.bulk(who, when, texts)
        b.add_mentions(vp, did)
        b.case("news_burst", vp)

    # --- organic solidarity day: support hashtag over a whole day, own words
    size = min(n_accounts // 3, 800)
    who = rng.choice(n_accounts, size=size, replace=False) + 1
    when = 2 * 86_400 + rng.uniform(0, 86_400, size=size)
    texts = [
        "Свободу Бахыт Ормановой! " + " ".join(vocab[rng.integers(0, len(vocab), size=6)])
        for _ in range(size)
    ]
    vp = b.bulk(who, when, texts)
    b.add_tags(vp, ("freeormanova",))
    b.add_mentions(vp, "ormanova")
    b.case("solidarity_day", vp)

    # --- followers of popular accounts reposting them, a share within seconds
    _hubs(
        b,
        rng,
        n_hubs=max(3, n_posts // 40_000),
        n_accounts=n_accounts,
        activity=activity,
        vocab=vocab,
        span=span,
    )

    # --- planted groups
    planted: list[Planted] = []
    kinds = ["colink", "copypasta", "corepost", "pileon", "support"]
    next_account = n_accounts + 1
    handles_pool = [f"user{i}" for i in range(50)]
    for g in range(n_groups):
        kind_g = kinds[g % len(kinds)]
        size = int(rng.integers(5, 51))
        members = np.arange(next_account, next_account + size)
        next_account += size
        young = g % 2 == 0
        did, ru, en = DEFENDERS[g % 3]
        planted.append(
            Planted(
                f"G{g + 1}",
                kind_g,
                "supportive" if kind_g == "support" else "hostile",
                members.tolist(),
                young,
            )
        )
        # filler: each member also posts like an ordinary user
        n_fill = rng.integers(3, 30, size=size)
        f_acc = np.repeat(members, n_fill)
        f_t = rng.uniform(0, span, size=len(f_acc))
        f_txt = [" ".join(vocab[rng.integers(0, len(vocab), size=9)]) for _ in range(len(f_acc))]
        b.bulk(f_acc, f_t, f_txt)
        occasions = int(rng.integers(3, 9))
        signature = " ".join(vocab[rng.integers(0, len(vocab), size=3)])
        for occ in range(occasions):
            t0 = rng.uniform(0, span - 3600)
            part = members[rng.random(size) < 0.8]
            if len(part) < 2:
                part = members[:2]
            delay = rng.uniform(0, 45, size=len(part))
            if kind_g == "colink":
                url = f"https://campaign{g}.example/{occ}"
                vp = b.bulk(part, t0 + delay, f"{ru} " + str(rng.choice(_EMOJI)))
                b.add_links(vp, url)
            elif kind_g == "copypasta":
                # each operation words its texts its own way
                base = _SMEAR[(g + occ) % len(_SMEAR)].format(name=ru) + " " + signature
                texts = [_edit(rng, base, handles_pool) for _ in part]
                vp = b.bulk(part, t0 + delay, texts)
                b.add_mentions(vp, did)
            elif kind_g == "corepost":
                seed_text = _SMEAR[(g + occ) % len(_SMEAR)].format(name=ru)
                seed_url = f"https://campaign-news{g}.example/{occ}"
                seed_text = f"{seed_text} {seed_url} #грантоед"
                seed_pk = b.add(int(members[0]), t0 - 5, seed_text, mentions=(did,))
                b.add_links(np.array([seed_pk]), seed_url)
                b.add_tags(np.array([seed_pk]), ("грантоед",))
                b.remember(
                    [seed_pk], [members[0]], [seed_text], [(seed_url,)], ("грантоед",), (did,)
                )
                part = part[part != members[0]]
                b.share(
                    part,
                    t0 + delay[: len(part)],
                    np.full(len(part), seed_pk),
                    style="x" if g % 2 else "telegram",
                )
            elif kind_g == "pileon":
                target = f"defender-post-{did}-{occ}"
                texts = [
                    str(rng.choice(_PILEON)).format(name=ru) + " " + str(rng.choice(_EMOJI))
                    for _ in part
                ]
                vp = b.bulk(
                    part,
                    t0 + rng.uniform(0, 120, size=len(part)),
                    texts,
                    reply_to=[target] * len(part),
                )
                b.add_mentions(vp, did)
            else:  # support
                text = _SUPPORT.format(name="Бахыт Орманова")
                texts = [text + " " + str(rng.choice(_EMOJI)) for _ in part]
                vp = b.bulk(part, t0 + delay, texts)
                b.add_tags(vp, ("freeormanova", "біргеміз"))
                b.add_mentions(vp, "ormanova")

    # --- news sites: bots posting every article, readers sharing with the share button
    bots, next_account = _news_sites(
        b,
        rng,
        n_sites=max(3, n_posts // 25_000),
        first_account=next_account,
        n_accounts=n_accounts,
        activity=activity,
        vocab=vocab,
        days=days,
    )

    # --- more organic traffic up to the requested size
    if b.next_pk - 1 < n_posts:
        _organic(b, rng, n_posts - (b.next_pk - 1), **organic)

    # --- frames
    def cat(parts, dtype=None) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def obj(values: np.ndarray) -> pd.Series:
        # plain object columns, as the storage layer sends them (no string-dtype copy)
        return pd.Series(values, dtype=object, copy=False)

    chunks, b.chunks = b.chunks, []
    cols = {k: cat([c[k] for c in chunks]) for k in chunks[0]}
    del chunks
    pk = cols["post_pk"]
    posts = pd.DataFrame(
        {
            "post_pk": pk,
            "account_pk": cols.pop("account_pk"),
            "text": obj(cols.pop("text")),
            "reply_to": obj(cols.pop("reply_to")),
            "repost_of": obj(cols.pop("repost_of")),
            "quote_of": obj(cols.pop("quote_of")),
            "created_at": start + pd.to_timedelta(cols.pop("t"), unit="s"),
            "platform": obj(np.full(len(pk), "synthetic", dtype=object)),
        }
    )
    # reposts and quotes point to "p<pk>", the id of the post they pass on
    post_id = np.array([f"p{x}" for x in pk.tolist()], dtype=object)
    posts["post_id"] = obj(post_id)
    posts["evidence_id"] = obj(np.array([f"E-{x}" for x in pk.tolist()], dtype=object))
    del post_id
    total_accounts = next_account - 1
    acc_pk = np.arange(1, total_accounts + 1)
    created = start - pd.to_timedelta(rng.uniform(60, 3000, size=total_accounts), unit="D")
    handles = np.array(
        [f"{w}{i}" for i, w in zip(acc_pk, rng.choice(vocab, total_accounts), strict=True)],
        dtype=object,
    )
    for g in planted:
        if g.young:
            batch = start - pd.Timedelta(days=int(rng.integers(5, 20)))
            for a in g.accounts:
                handles[a - 1] = f"patriot_kz{rng.integers(1000, 99999)}"
            idx = np.array(g.accounts) - 1
            vals = created.to_numpy().copy()
            vals[idx] = (
                batch + pd.to_timedelta(rng.uniform(0, 2, size=len(idx)), unit="D")
            ).to_numpy()
            created = pd.DatetimeIndex(vals)
    accounts = pd.DataFrame(
        {
            "account_pk": acc_pk,
            "platform": "synthetic",
            "author_id": np.array([f"a{x}" for x in acc_pk.tolist()], dtype=object),
            "handle": handles,
            "display_name": None,
            "created_at": created,
            "first_seen": start,
            "last_seen": start + pd.Timedelta(days=days),
        }
    )
    a_idx = posts["account_pk"].to_numpy() - 1
    posts["author_id"] = obj(accounts["author_id"].to_numpy(dtype=object)[a_idx])
    posts["handle"] = obj(handles[a_idx])
    del a_idx
    urls = cat([u for _, u in b.links], object)
    url_codes, url_uniques = pd.factorize(urls)
    domains = pd.Series(url_uniques, dtype=object).str.extract(r"https?://([^/]+)/", expand=False)
    links = pd.DataFrame(
        {
            "post_pk": cat([p for p, _ in b.links], np.int64),
            "url": obj(urls),
            "normalized_url": obj(urls),
            "domain": obj(domains.to_numpy(dtype=object)[url_codes]),
        }
    )
    hashtags = pd.DataFrame(
        {
            "post_pk": cat([p for p, _, _ in b.tags], np.int64),
            "tag": obj(cat([t for _, t, _ in b.tags], object)),
            "position": cat([q for _, _, q in b.tags], np.int64),
        }
    )
    mentions = pd.DataFrame(
        {
            "post_pk": cat([p for p, _ in b.mentions], np.int64),
            "defender_id": obj(cat([d for _, d in b.mentions], object)),
        }
    ).drop_duplicates()
    defenders = pd.DataFrame(
        [{"defender_id": d, "name": f"{ru} / {en}", "handles": ""} for d, ru, en in DEFENDERS]
    )
    inp = AnalysisInput(
        posts=posts,
        links=links,
        hashtags=hashtags,
        mentions=mentions,
        accounts=accounts,
        defenders=defenders,
        since=start.to_pydatetime(),
        until=(start + pd.Timedelta(days=days)).to_pydatetime(),
    )
    cases = {name: np.unique(np.concatenate(parts)) for name, parts in sorted(b.cases.items())}
    return Synthetic(inp, planted, viral_objects, cases, set(bots))
