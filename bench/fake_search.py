"""A local Bluesky search service that finds posts the way Bluesky's post index does.

Why: whether a query finds a declined name depends on the index, not on our code. Bluesky's
post index (bluesky-social/indigo, `search/post_schema.json` and `search/query.go`) analyses
the text with

* `icu_normalizer` (NFKC with case folding) as a char filter,
* `icu_tokenizer`: words by Unicode word-break rules (UAX #29), broken where the script
  changes (Opманова is the two words "op" and "манова"),
* `icu_folding` (UTR #30, Lucene's utr30 data): diacritics removed (ё = е, й = и, ä = a),
  Cyrillic letters with a descender folded (ғ = г, қ = к, ң = н, ұ = ү), quotes and
  apostrophes made one (’ = '); ә, і, ө, ү stay distinct,

and no stemmer. A query (`simple_query_string`, `default_operator: and`, as parsed by
`parse_query.go`) is: words that must all occur, "quoted phrases" whose words must occur in
a row, `#tag` filters, and `from:`/`to:`/`mentions:`/`@handle` filters resolved to DIDs
(`mentions` matches the post's mention facets). `OR` is a word like any other: Bluesky's
search has no OR. Results are newest first (`sort=latest`), filtered by `since`/`until`, and
paged with an offset cursor.

This module is that behaviour, written from those sources independently of
smearwatch/search_terms.py (which only needs a dedup key), plus a labelled corpus made from the
matcher's evaluation sets, so a test and `bench/search_recall.py` can measure how many of the
posts that mention a defender the collector's queries fetch. All content is fictional.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bench.local_server import JsonHandler, LocalServer

__all__ = [
    "IDENTIFIER",
    "PASSWORD",
    "CorpusPost",
    "FakeMastodon",
    "FakeSearch",
    "analyze",
    "labelled_corpus",
    "mastodon_fields",
]

PASSWORD = "recall-app-password-0000"
IDENTIFIER = "research-account.example"

# -- the analyzer -----------------------------------------------------------------------------

# UTR #30 foldings beyond diacritic removal that concern Cyrillic and Latin names (Lucene
# utr30 DiacriticFolding.txt "Cyrillic script composed" and "Latin script composed" blocks,
# BasicFoldings.txt punctuation block).
_UTR30 = {
    "\u0493": "\u0433", "\u0495": "\u0433", "\u0491": "\u0433",  # ғ ҕ ґ -> г
    "\u049b": "\u043a", "\u049d": "\u043a", "\u049f": "\u043a", "\u04c4": "\u043a",  # қ ... -> к
    "\u04a3": "\u043d", "\u04c8": "\u043d", "\u04ca": "\u043d",  # ң ... -> н
    "\u04b1": "\u04af",  # ұ -> ү
    "\u0497": "\u0436", "\u0499": "\u0437", "\u04ab": "\u0441", "\u04ad": "\u0442",
    "\u04b9": "\u0447", "\u04a7": "\u043f", "\u048f": "\u0440", "\u048b": "\u0439",
    "\u04c6": "\u043b", "\u04ce": "\u043c",
    "\u0131": "i", "\u00f8": "o", "\u0111": "d", "\u0127": "h", "\u0142": "l",
    "\u00e6": "ae", "\u0153": "oe", "\u00fe": "th", "\u00f0": "d", "\u014b": "n",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
}  # fmt: skip
_UTR30_TABLE = str.maketrans(_UTR30)
_JOIN_LETTERS = frozenset("'’.:·\u2018\u201b")  # MidLetter / MidNumLet / Single_Quote
_JOIN_DIGITS = frozenset(",;.'")  # MidNum / MidNumLet


def _script(c: str) -> str:
    if "\u0400" <= c <= "\u052f":
        return "Cyrl"
    if c.isdigit():
        return "Zyyy"  # digits belong to the run they are in
    name = unicodedata.name(c, "")
    return name.split(" ", 1)[0] if name else "?"


def _is_word_char(c: str) -> bool:
    return c.isalnum() or unicodedata.category(c).startswith("M") or c == "_"


def _tokens(text: str) -> list[str]:
    """UAX #29 words (letters joined over ' . : between letters, digits over , . between
    digits, `_` joins), broken where the script changes."""
    out: list[str] = []
    current: list[str] = []
    script = ""
    n = len(text)
    for i, c in enumerate(text):
        if _is_word_char(c):
            s = _script(c) if c.isalpha() else ("Zyyy" if c.isdigit() or c == "_" else script)
            if current and s not in ("Zyyy", script) and script not in ("", "Zyyy"):
                out.append("".join(current))
                current = []
            if s != "Zyyy":
                script = s
            current.append(c)
            continue
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < n else ""
        joins = current and (
            (c in _JOIN_LETTERS and prev.isalpha() and nxt.isalpha() and _script(nxt) == script)
            or (c in _JOIN_DIGITS and prev.isdigit() and nxt.isdigit())
        )
        if joins:
            current.append(c)
            continue
        if current:
            out.append("".join(current))
        current, script = [], ""
    if current:
        out.append("".join(current))
    return [t.strip("_") for t in out if t.strip("_")]


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFD", token)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare).translate(_UTR30_TABLE)


def analyze(text: str) -> list[str]:
    """The tokens the index stores for `text`, in order (icu_normalizer, icu_tokenizer,
    icu_folding)."""
    normalized = unicodedata.normalize("NFKC", text).casefold()
    return [_fold(t) for t in _tokens(normalized)]


# -- the corpus -------------------------------------------------------------------------------


@dataclass
class CorpusPost:
    """One post of the fake network, its labels, and what the index made of it."""

    view: dict[str, Any]
    item_id: str
    category: str
    expected: tuple[str, ...]
    tokens: list[str] = field(default_factory=list)
    token_set: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    mention_dids: frozenset[str] = frozenset()
    author_did: str = ""
    created: str = ""


def _did(seed: str) -> str:
    return "did:plc:" + hashlib.sha256(seed.encode()).hexdigest()[:24]


_HANDLE = re.compile(r"@([a-z0-9][a-z0-9.-]*\.[a-z]{2,})", re.IGNORECASE)
_TAG = re.compile(r"#([^\s#.,!?;:«»\"()]+)")


def _facets(text: str, handles: dict[str, str]) -> list[dict[str, Any]]:
    """The facets the Bluesky app writes: a mention for every @handle that resolves, a tag for
    every #word (byte offsets into UTF-8)."""
    facets = []

    def index(m: re.Match[str]) -> dict[str, int]:
        start = len(text[: m.start()].encode())
        return {"byteStart": start, "byteEnd": start + len(m.group(0).encode())}

    for m in _HANDLE.finditer(text):
        did = handles.get(m.group(1).lower().rstrip("."))
        if did:
            facets.append(
                {
                    "index": index(m),
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
                }
            )
    for m in _TAG.finditer(text):
        facets.append(
            {
                "index": index(m),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": m.group(1)}],
            }
        )
    return facets


def _time(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


_CHATTER = (
    "Сегодня в Алматы снова пробки на Аль-Фараби, объезжайте по Тимирязева.",
    "Бүгін Астанада күн суық, жылы киініңіздер.",
    "New café opened near the Green Bazaar, the lagman is great.",
    "Кто-нибудь знает, когда откроют новый мост через Есиль?",
    "Футбол: Кайрат сыграл вничью, 1:1, голы в конце матча.",
    "Концерт домбыристов в филармонии перенесли на субботу.",
    "Reading a long thread about Central Asian history tonight.",
    "Жаңа кітап дүкені ашылды, бағасы қолжетімді.",
)


def labelled_corpus(
    labelled: Path,
    defenders: Path,
    *,
    now: datetime,
    chatter: int = 1500,
    only: frozenset[str] | None = None,
) -> tuple[list[CorpusPost], dict[str, str]]:
    """Posts made from a labelled matcher evaluation file (text, labels, metadata hashtags),
    spread over the last days, plus `chatter` posts that mention nobody; and the handle → DID
    directory (defenders' Bluesky handles and the authors). With `only`, the posts that
    mention other defenders are left out (the unlabelled and negative ones stay)."""
    people = json.loads(defenders.read_text(encoding="utf-8"))
    handles: dict[str, str] = {}
    for d in people:
        for handle in d.get("handles", {}).get("bluesky", ()):
            handles[handle.lower()] = _did(handle)
    items = [json.loads(line) for line in labelled.read_text(encoding="utf-8").splitlines() if line]
    if only is not None:
        items = [i for i in items if set(i["expected"]) <= only]
    rows: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
        (i["id"], i["category"], tuple(i["expected"]), tuple(i.get("hashtags", ()))) for i in items
    ]
    texts = {i["id"]: i["text"] for i in items}
    for n in range(chatter):
        key = f"chatter-{n:05d}"
        texts[key] = f"{_CHATTER[n % len(_CHATTER)]} ({n})"
        rows.append((key, "chatter", (), ()))
    posts: list[CorpusPost] = []
    for n, (item_id, category, expected, meta_tags) in enumerate(rows):
        text = texts[item_id]
        author = f"user{n % 97:03d}.example.social"
        did = handles.setdefault(author, _did(author))
        created = now - timedelta(minutes=3 * n + 1)
        rkey = "3m" + hashlib.sha256(item_id.encode()).hexdigest()[:11]
        facets = _facets(text, handles)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "createdAt": _time(created),
            "langs": ["kk" if "-kk-" in item_id or item_id.startswith("kk") else "ru"],
            "text": text,
        }
        if facets:
            record["facets"] = facets
        if meta_tags:
            record["tags"] = list(meta_tags)
        view = {
            "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
            "cid": "bafyrei" + hashlib.sha256(rkey.encode()).hexdigest()[:52],
            "author": {
                "did": did,
                "handle": author,
                "displayName": "",
                "labels": [],
                "createdAt": _time(now - timedelta(days=400 + n % 300)),
            },
            "record": record,
            "replyCount": 0,
            "repostCount": n % 5,
            "likeCount": n % 11,
            "quoteCount": 0,
            "indexedAt": _time(created + timedelta(seconds=1)),
            "labels": [],
        }
        tokens = analyze(text)
        tags = {f["features"][0]["tag"].casefold() for f in facets if "tag" in f["features"][0]}
        tags |= {t.casefold() for t in meta_tags}
        posts.append(
            CorpusPost(
                view=view,
                item_id=item_id,
                category=category,
                expected=expected,
                tokens=tokens,
                token_set=frozenset(tokens),
                tags=frozenset(tags),
                mention_dids=frozenset(
                    f["features"][0]["did"] for f in facets if "did" in f["features"][0]
                ),
                author_did=did,
                created=record["createdAt"],
            )
        )
    posts.sort(key=lambda p: p.created, reverse=True)
    return posts, handles


# -- queries ----------------------------------------------------------------------------------


@dataclass
class _Query:
    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    author: str | None = None
    mentions: str | None = None
    unresolved: bool = False


def parse_query(raw: str, directory: dict[str, str]) -> _Query:
    """`parse_query.go`: split on spaces outside quotes; pull out the operators."""
    parts, quoted, current = [], False, []
    for c in raw:
        if c == '"':
            quoted = not quoted
        if c == " " and not quoted:
            if current:
                parts.append("".join(current))
            current = []
        else:
            current.append(c)
    if current:
        parts.append("".join(current))
    q = _Query()
    for p in parts:
        if p.startswith('"'):
            tokens = analyze(p.strip('"'))
            if len(tokens) > 1:
                q.phrases.append(tokens)
            else:
                q.words += tokens
            continue
        if p.startswith("#") and len(p) > 1:
            q.tags.append(p[1:].casefold())
            continue
        op, sep, value = p.partition(":")
        if p.startswith("@") and len(p) > 1:
            op, sep, value = "mentions", ":", p[1:]
        if sep and op in ("from", "to", "mentions"):
            did = directory.get(value.lstrip("@").lower())
            if did is None:
                q.unresolved = True
            elif op == "from":
                q.author = did
            else:
                q.mentions = did
            continue
        if sep and op in ("lang", "since", "until", "domain"):
            continue  # filters this corpus does not need
        q.words += analyze(p)
    return q


def _has_phrase(tokens: list[str], phrase: list[str]) -> bool:
    k = len(phrase)
    return any(tokens[i : i + k] == phrase for i in range(len(tokens) - k + 1))


def matches(post: CorpusPost, q: _Query) -> bool:
    if q.unresolved:
        return False
    if q.author and post.author_did != q.author:
        return False
    if q.mentions and q.mentions not in post.mention_dids:
        return False
    if any(t not in post.tags for t in q.tags):
        return False
    if not post.token_set.issuperset(q.words):
        return False
    return all(_has_phrase(post.tokens, ph) for ph in q.phrases)


# -- the server -------------------------------------------------------------------------------


class FakeSearch(LocalServer):
    """`createSession` and `app.bsky.feed.searchPosts` over a corpus, on 127.0.0.1.

    `requests` counts requests per XRPC method; `queries` counts searches per `q`.
    """

    def __init__(self, posts: list[CorpusPost], directory: dict[str, str]) -> None:
        self.posts = posts
        self.directory = directory
        self.requests: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        super().__init__(self._handler())

    def search(self, params: dict[str, str]) -> dict[str, Any]:
        q = parse_query(params.get("q", ""), self.directory)
        limit = max(1, min(100, int(params.get("limit", "25"))))
        offset = int(params.get("cursor") or 0)
        since, until = params.get("since"), params.get("until")
        hits = [
            p
            for p in self.posts
            if (since is None or p.created >= since)
            and (until is None or p.created < until)
            and matches(p, q)
        ]
        page = hits[offset : offset + limit]
        body: dict[str, Any] = {"posts": [p.view for p in page], "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            body["cursor"] = str(offset + limit)
        return body

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def _send(self, status: int, body: Any) -> None:
                self.send_json(status, json.dumps(body, ensure_ascii=False).encode())

            def do_POST(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                method = path.rsplit("/", 1)[-1]
                with fake._lock:
                    fake.requests[method] += 1
                if method != "com.atproto.server.createSession":
                    self._send(404, {"error": "MethodNotImplemented"})
                    return
                if body != {"identifier": IDENTIFIER, "password": PASSWORD}:
                    self._send(401, {"error": "AuthenticationRequired", "message": "Invalid"})
                    return
                token = f"access-{len(fake._tokens)}"
                with fake._lock:
                    fake._tokens.add(token)
                self._send(
                    200,
                    {
                        "did": "did:plc:researchaccount000000000",
                        "handle": IDENTIFIER,
                        "accessJwt": token,
                        "refreshJwt": "refresh-" + token,
                        "active": True,
                    },
                )

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                method = parts.path.rsplit("/", 1)[-1]
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.requests[method] += 1
                if method != "app.bsky.feed.searchPosts":
                    self._send(404, {"error": "MethodNotImplemented"})
                    return
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if token not in fake._tokens:
                    self._send(401, {"error": "AuthMissing", "message": "Authentication Required"})
                    return
                with fake._lock:
                    fake.queries[params.get("q", "")] += 1
                self._send(200, fake.search(params))

        return Handler


# -- Mastodon ---------------------------------------------------------------------------------

_URL_OR_EMAIL = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.-]+")


def _standard_tokens(text: str) -> list[str]:
    """Lucene's `standard` tokenizer: UAX #29 words, without ICU's break at a script change."""
    words = re.findall(r"[^\W_]+(?:['’.:][^\W_]+)*", text)
    return [w for w in words if w]


def _ascii_fold(word: str) -> str:
    """`asciifolding`: diacritics off Latin letters only (Cyrillic й, ё and ә stay)."""
    out = []
    for c in word:
        if "LATIN" in unicodedata.name(c, ""):
            base = unicodedata.normalize("NFD", c)[0]
            out.append(_UTR30.get(c, base))
        else:
            out.append(c)
    return "".join(out)


def mastodon_fields(text: str) -> tuple[list[str], list[str]]:
    """(`text`, `text.stemmed`) tokens of Mastodon's `PublicStatusesIndex`: the verbatim field
    is `uax_url_email` + `lowercase`; the stemmed one `standard` + `lowercase` + `asciifolding`
    + the English possessive stemmer (the English stop words and Porter stemmer are left out:
    they change English words, not names)."""
    verbatim = _URL_OR_EMAIL.findall(text.lower()) + _standard_tokens(
        _URL_OR_EMAIL.sub(" ", text.lower())
    )
    stemmed = [re.sub(r"['’]s?$", "", _ascii_fold(t)) for t in _standard_tokens(text.lower())]
    return verbatim, stemmed


def mastodon_tag(name: str) -> str:
    """Mastodon's `HashtagNormalizer`: case and Latin diacritics folded, nothing else."""
    return _ascii_fold(unicodedata.normalize("NFKC", name).lower())


@dataclass
class _Status:
    id: int
    body: dict[str, Any]
    verbatim: list[str]
    stemmed: list[str]
    tags: frozenset[str]
    indexable: bool
    post: CorpusPost


def _snowflake(created: str, n: int) -> int:
    when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (int(when.timestamp() * 1000) << 16) + n % 65536


def mastodon_statuses(posts: list[CorpusPost], *, base: str) -> list[_Status]:
    """The corpus as Mastodon statuses on one instance; every third author has not opted in
    to search (`indexable: false`), as many Mastodon users have not."""
    out = []
    for n, p in enumerate(posts):
        text = p.view["record"]["text"]
        author = p.view["author"]
        username = author["handle"].split(".", 1)[0]
        indexable = int(username[4:7]) % 3 != 0
        status_id = _snowflake(p.created, n)
        tags = sorted(p.tags)
        html = "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</p>"
        body = {
            "id": str(status_id),
            "uri": f"{base}/users/{username}/statuses/{status_id}",
            "url": f"{base}/@{username}/{status_id}",
            "created_at": p.created,
            "edited_at": None,
            "visibility": "public",
            "language": p.view["record"]["langs"][0],
            "sensitive": False,
            "spoiler_text": "",
            "content": html,
            "in_reply_to_id": None,
            "reblog": None,
            "card": None,
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": t, "url": f"{base}/tags/{t}"} for t in tags],
            "account": {
                "id": str(100000 + n % 97),
                "username": username,
                "acct": username,
                "url": f"{base}/@{username}",
                "uri": f"{base}/users/{username}",
                "display_name": "",
                "created_at": author["createdAt"][:10] + "T00:00:00.000Z",
                "indexable": indexable,
                "discoverable": indexable,
            },
        }
        verbatim, stemmed = mastodon_fields(text)
        out.append(
            _Status(
                status_id, body, verbatim, stemmed, frozenset(map(mastodon_tag, tags)), indexable, p
            )
        )
    out.sort(key=lambda s: s.id, reverse=True)
    return out


def _mastodon_query(raw: str) -> tuple[list[str], list[list[str]]]:
    """Mastodon's query grammar, the part our queries use: words (each must match, in either
    field) and "phrases" (on the verbatim field)."""
    phrases = [mastodon_fields(p)[0] for p in re.findall(r'"([^"]*)"', raw)]
    rest = re.sub(r'"[^"]*"', " ", raw)
    return [w for w in rest.split() if w], phrases


class FakeMastodon(LocalServer):
    """`/api/v2/search` (statuses) and `/api/v1/timelines/tag/:tag` over the corpus."""

    def __init__(self, posts: list[CorpusPost], token: str) -> None:
        self.token = token
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        super().__init__(self._handler())
        self.statuses = mastodon_statuses(posts, base=self.url)

    def search(self, params: dict[str, str], authorised: bool) -> dict[str, Any]:
        if not authorised or params.get("type") not in (None, "statuses"):
            return {"accounts": [], "statuses": [], "hashtags": []}  # statuses need a login
        words, phrases = _mastodon_query(params.get("q", ""))
        limit = max(1, min(40, int(params.get("limit", "20"))))
        max_id = int(params["max_id"]) if params.get("max_id") else None
        offset = int(params.get("offset") or 0)
        terms = [(set(v), set(st)) for v, st in map(mastodon_fields, words)]
        if any(not v for v, _ in terms):
            terms = [t for t in terms if t[0]]  # a word that is all punctuation matches nothing
        hits = []
        for s in self.statuses:
            if not s.indexable or (max_id is not None and s.id >= max_id):
                continue
            verbatim, stemmed = set(s.verbatim), set(s.stemmed)
            if all(v <= verbatim or st <= stemmed for v, st in terms) and all(
                _has_phrase(s.verbatim, ph) for ph in phrases
            ):
                hits.append(s.body)
        return {"accounts": [], "statuses": hits[offset : offset + limit], "hashtags": []}

    def tag(self, name: str, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = mastodon_tag(name)
        limit = max(1, min(40, int(params.get("limit", "20"))))
        min_id = int(params.get("min_id") or 0)
        above = sorted(
            (s for s in self.statuses if wanted in s.tags and s.id > min_id), key=lambda s: s.id
        )[:limit]
        return [s.body for s in sorted(above, key=lambda s: s.id, reverse=True)]

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                authorised = self.headers.get("Authorization") == f"Bearer {fake.token}"
                if parts.path == "/api/v2/search":
                    key, body = "search", fake.search(params, authorised)
                elif parts.path.startswith("/api/v1/timelines/tag/"):
                    key = "tag"
                    body = fake.tag(unquote(parts.path.rsplit("/", 1)[-1]), params)
                else:
                    key, body = "other", {"error": "Record not found"}
                with fake._lock:
                    fake.requests[key] += 1
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_json(200 if key != "other" else 404, data)

        return Handler
