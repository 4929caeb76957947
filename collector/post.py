"""The records every collector yields and every importer produces.

`Post` and `Account` are the one shape that crosses from `collector/` into `db/`. They are
frozen so that nothing downstream can "fix" a field after the raw payload was hashed: the
normalised fields are derived from what was received and can always be rebuilt from it.

The raw payload is kept as text. JSON payloads are stored in canonical form (sorted keys,
UTF-8, no insignificant white space): the same JSON value always gives the same bytes and so
the same SHA-256, whichever tool or export carried it, which is what lets anyone re-verify a
hash from an exported file. Non-JSON payloads (an HTML fragment of a Telegram web preview, an
RSS entry) are kept byte for byte as received.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

__all__ = [
    "Account",
    "Post",
    "RecordError",
    "canonical_json",
    "canonical_json_bytes",
    "content_fingerprint",
    "content_fingerprint_of",
    "evidence_id",
    "normalize_hashtag",
    "normalize_link",
    "normalize_url",
    "parse_time",
    "post_from_record",
    "record_lists",
    "record_raw",
    "record_raw_hashed",
    "sha256_text",
    "telegram_channel",
    "telegram_post_id",
]

REQUIRED_FIELDS = ("platform", "post_id", "created_at", "author.id", "text")

# Query parameters that identify a campaign or a click, not a document. Removing them lets two
# accounts that share the same article with different tracking tails count as sharing one link.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "twclid",
        "ttclid",
        "li_fat_id",
        "s_cid",
        "si",
        "ref_src",
        "ref_url",
        "spm",
        "_hsenc",
        "_hsmi",
        "vero_id",
        "oly_enc_id",
        "oly_anon_id",
        "rb_clickid",
        "wickedid",
        "mkt_tok",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A link whose scheme and host are canonical already and whose query, if any, has only
# characters that parsing and re-encoding it leave as they are (`normalize_link`).
_SIMPLE_URL = re.compile(
    r"(https?://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[^?#\s]*)?)(?:\?([\w.~=&-]*))?(?:#\S*)?", re.ASCII
)


class RecordError(ValueError):
    """A record that cannot become a `Post`; `field` names the culprit for the error message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Account:
    """An author as seen at capture time; `(platform, id)` identifies it, the handle may change."""

    platform: str
    id: str
    handle: str | None = None
    display_name: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """One post, normalised for analysis, carrying the raw payload it was derived from."""

    platform: str
    post_id: str
    created_at: datetime
    author: Account
    text: str
    raw: str
    url: str | None = None
    lang: str | None = None
    links: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None
    repost_of: str | None = None
    quote_of: str | None = None
    collected_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def raw_sha256(self) -> str:
        return sha256_text(self.raw)

    @property
    def evidence_id(self) -> str:
        return evidence_id(self.platform, self.post_id)

    def content_sha256(self) -> str:
        return content_fingerprint(self)

    def to_record(self) -> dict[str, Any]:
        """The smearwatch JSONL form (DESIGN.md), the inverse of `post_from_record`."""
        return {
            "platform": self.platform,
            "post_id": self.post_id,
            "url": self.url,
            "created_at": format_time(self.created_at),
            "collected_at": format_time(self.collected_at) if self.collected_at else None,
            "author": {
                "id": self.author.id,
                "handle": self.author.handle,
                "display_name": self.author.display_name,
                "created_at": format_time(self.author.created_at)
                if self.author.created_at
                else None,
            },
            "text": self.text,
            "lang": self.lang,
            "links": list(self.links),
            "hashtags": list(self.hashtags),
            "mentions": list(self.mentions),
            "reply_to": self.reply_to,
            "repost_of": self.repost_of,
            "quote_of": self.quote_of,
            "raw": raw_as_value(self.raw),
        }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def canonical_json(value: Any) -> str:
    """Serialise a JSON value so that equal values always give equal bytes."""
    return canonical_json_bytes(value).decode("utf-8", "surrogatepass")


def canonical_json_bytes(value: Any) -> bytes:
    """`canonical_json` as the bytes `sha256_text` hashes, for hashing without a round trip
    through `str` (a post's content and raw payload are hashed for every post imported)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # orjson refuses integers beyond 64 bits and lone surrogates; the standard library
        # does not, and its compact sorted output is the same canonical form.
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "surrogatepass")


def raw_as_value(raw: str) -> Any:
    """The stored raw text as a JSON value for export: parsed if it is JSON, else the string."""
    if raw[:1] in ("{", "["):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw


def evidence_id(platform: str, post_id: str) -> str:
    """A short id to cite in reports; derived, so every copy of the database agrees on it."""
    digest = hashlib.sha256(f"{platform}\x1f{post_id}".encode()).hexdigest()
    return "E-" + digest[:16].upper()


def telegram_channel(username: str) -> str:
    """A Telegram channel's id in smearwatch: its public username, lower-cased.

    Telegram usernames are case-insensitive (`t.me/Pravda_KZ` and `t.me/pravda_kz` are one
    channel), and each source spells them its own way: the web preview as the owner set it,
    an analyst's `--channel` as typed, 4CAT as the API returned it. One spelling makes the
    same message the same post, whichever way it came in.
    """
    return username.strip().lstrip("@").lower()


def telegram_post_id(channel: str, message_id: int | str) -> str:
    """`<channel>/<message id>` (`telegram_channel`), the id of a channel's message."""
    return f"{telegram_channel(channel)}/{message_id}"


def content_fingerprint(post: Post) -> str:
    """Hash of what a reader sees, so a changed like-count is not taken for an edit."""
    return content_fingerprint_of(
        post.text,
        post.links,
        post.hashtags,
        post.mentions,
        post.reply_to,
        post.repost_of,
        post.quote_of,
        post.url,
    )


def content_fingerprint_of(
    text: str,
    links: tuple[str, ...],
    hashtags: tuple[str, ...],
    mentions: tuple[str, ...],
    reply_to: str | None,
    repost_of: str | None,
    quote_of: str | None,
    url: str | None,
) -> str:
    """`content_fingerprint` from the fields themselves (an import builds no `Post`)."""
    return hashlib.sha256(
        canonical_json_bytes(
            [text, list(links), list(hashtags), list(mentions), reply_to, repost_of, quote_of, url]
        )
    ).hexdigest()


def format_time(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(value: Any, field_name: str, *, require_zone: bool = True) -> datetime:
    """Parse an ISO 8601 time (or epoch seconds) into an aware UTC datetime.

    A time without a zone is refused rather than guessed: an hour's error moves a post out of
    the co-action window and silently breaks the coordination evidence.
    """
    if type(value) is str:
        # Fast path for the common well-formed case; everything odd falls through to the
        # careful parsing below.
        try:
            quick = datetime.fromisoformat(value)
        except ValueError:
            quick = None
        if quick is not None and quick.tzinfo is not None:
            return quick if quick.tzinfo is UTC else quick.astimezone(UTC)
    if isinstance(value, bool) or value is None or value == "":
        raise RecordError(field_name, "missing time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(field_name, f"epoch time out of range: {value!r}") from exc
    if not isinstance(value, str):
        raise RecordError(field_name, f"expected an ISO 8601 time, got {type(value).__name__}")
    text = value.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return parse_time(float(text), field_name)
    candidate = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    # Python 3.11 accepts at most 6 fractional digits; platforms sometimes send 7 or 9.
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate.replace(" ", "T", 1))
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as exc:
        # Say "no time zone" only of what is a time without one ("2026-11-20 10:00"); a
        # word or a local date format ("yesterday", "20.11.2026") is not a time at all.
        raise RecordError(
            field_name,
            f"unparsable time {text!r} (expected ISO 8601 with a time zone, "
            "e.g. 2026-11-20T10:15:03Z, or Unix epoch seconds)",
        ) from exc
    if parsed.tzinfo is None:
        if require_zone:
            raise RecordError(
                field_name,
                f"time {text!r} has no time zone (add 'Z' for UTC or an offset like +05:00)",
            )
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_url(url: str) -> str:
    """Canonical form of a link for co-link analysis; the original is stored beside it.

    Lower-cases scheme and host, drops default ports, the fragment and tracking parameters
    (utm_*, fbclid, gclid, ...). Path and the remaining query are kept as posted: they can be
    case-sensitive and order-sensitive on the server.
    """
    return normalize_link(url)[0]


# The links a campaign repeats stay cached; 16k entries keep each import worker ~25 MB
# smaller than 64k did, with no loss of speed measured.
@lru_cache(maxsize=16384)
def normalize_link(url: str) -> tuple[str, str | None]:
    """`normalize_url` and `url_domain` of it in one pass: storing a link needs both."""
    text = url.strip()
    simple = _SIMPLE_URL.fullmatch(text)
    if simple is not None:
        # Lower-case host, no port, a plain query if any: most shared links. Parsing them
        # costs several times what the rest of storing a post does.
        base, host, path, query = simple.groups()
        if path is None:
            base += "/"
        if host.startswith("www."):
            host = host[4:]
        if not query:
            return base, host
        kept = _kept_query(query)
        if kept is not None:
            return (f"{base}?{kept}" if kept else base), host
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text, url_domain(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return text, None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(key)
    ]
    path = parts.path or "/"
    normalized = urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))
    return normalized, url_domain(normalized)


def _is_tracking(key: str) -> bool:
    lower = key.lower()
    return lower in _TRACKING_PARAMS or lower.startswith(_TRACKING_PREFIXES)


def _kept_query(query: str) -> str | None:
    """A plain query without its tracking parameters, as `parse_qsl` and `urlencode` would
    give it back; None where a part holds a second '=' (which re-encoding would change)."""
    kept = []
    for part in query.split("&"):
        if not part:
            continue
        key, equals, value = part.partition("=")
        if "=" in value:
            return None
        if _is_tracking(key):
            continue
        kept.append(part if equals else part + "=")
    return "&".join(kept)


@lru_cache(maxsize=16384)
def url_domain(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@lru_cache(maxsize=65536)
def normalize_hashtag(tag: str) -> str:
    """Hashtags are compared lower-cased, NFC, without the leading '#'."""
    return unicodedata.normalize("NFC", tag.strip().lstrip("#").strip()).lower()


def _optional_str(record: Mapping[str, Any], key: str, field_name: str | None = None) -> str | None:
    value = record.get(key)
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(field_name or key, f"expected a string, got {type(value).__name__}")
    return str(value)


def _string_list(record: Mapping[str, Any], key: str) -> list[str]:
    value = record.get(key)
    if type(value) is not list:  # a list as JSON gives it is the rule, checked first
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value] if value.strip() else []
        if not isinstance(value, tuple):
            raise RecordError(key, f"expected a list of strings, got {type(value).__name__}")
    elif not value:
        return []
    items: list[str] = []
    for item in value:
        if type(item) is not str:
            raise RecordError(key, f"expected a list of strings, found {type(item).__name__}")
        item = item.strip()
        if item:
            items.append(item)
    return items


def _unique(items: list[str]) -> tuple[str, ...]:
    """The items in their order without repeats (most lists have none, or one item)."""
    if len(items) < 2 or len(set(items)) == len(items):
        return tuple(items)
    return tuple(dict.fromkeys(items))


def _raw_source(record: Mapping[str, Any]) -> tuple[str | None, Any]:
    """What a smearwatch record's raw payload is: its `raw` field as given when that is text
    (first of the pair), else the JSON value to store in canonical form (second): the `raw`
    field, or the record itself when that is empty."""
    raw_value = record.get("raw")
    if isinstance(raw_value, str) and raw_value:
        return raw_value, None
    return None, raw_value if raw_value not in (None, {}, [], "") else dict(record)


def record_raw(record: Mapping[str, Any]) -> str:
    """The raw payload of a smearwatch record: its `raw` field, else the record itself."""
    text, value = _raw_source(record)
    return text if text is not None else canonical_json(value)


def record_raw_hashed(record: Mapping[str, Any]) -> tuple[str, str]:
    """`record_raw` and its `sha256_text`, hashing the serialised bytes as they come."""
    text, value = _raw_source(record)
    if text is not None:
        return text, sha256_text(text)
    data = canonical_json_bytes(value)
    return data.decode("utf-8", "surrogatepass"), hashlib.sha256(data).hexdigest()


def record_lists(
    record: Mapping[str, Any],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A record's links, hashtags (normalised) and tagged handles (without '@').

    Raises:
        RecordError: one of them is not a list of strings.
    """
    return (
        _unique(_string_list(record, "links")),
        _unique([t for t in map(normalize_hashtag, _string_list(record, "hashtags")) if t]),
        _unique([m.lstrip("@") for m in _string_list(record, "mentions")]),
    )


def post_from_record(
    record: Any, *, raw: str | None = None, source_sha256: str | None = None
) -> Post:
    """Validate one smearwatch JSONL record and build a `Post`.

    `raw` is the received payload when the caller has it in a better form than the record's
    own `raw` field. `source_sha256` is the hash of the record's bytes in an import file,
    kept as provenance and to recognise an unchanged line on re-import.

    Raises:
        RecordError: a required field is missing or a field has the wrong type; the error
            names the field so the importer can report file, line and field.
    """
    if not isinstance(record, Mapping):
        raise RecordError("(record)", f"expected a JSON object, got {type(record).__name__}")
    platform = _optional_str(record, "platform")
    if not platform:
        raise RecordError("platform", "required field is missing")
    post_id = _optional_str(record, "post_id")
    if not post_id:
        raise RecordError("post_id", "required field is missing")
    if "created_at" not in record or record.get("created_at") in (None, ""):
        raise RecordError("created_at", "required field is missing")
    created_at = parse_time(record["created_at"], "created_at")
    author_value = record.get("author")
    if not isinstance(author_value, Mapping):
        raise RecordError("author.id", "required field is missing")
    author_id = _optional_str(author_value, "id", "author.id")
    if not author_id:
        raise RecordError("author.id", "required field is missing")
    author_created = author_value.get("created_at")
    author = Account(
        platform=platform.lower(),
        id=author_id,
        handle=_optional_str(author_value, "handle", "author.handle"),
        display_name=_optional_str(author_value, "display_name", "author.display_name"),
        created_at=parse_time(author_created, "author.created_at")
        if author_created not in (None, "")
        else None,
    )
    if "text" not in record or record["text"] is None:
        raise RecordError("text", 'required field is missing (use "" for a plain repost)')
    text = record["text"]
    if not isinstance(text, str):
        raise RecordError("text", f"expected a string, got {type(text).__name__}")
    collected = record.get("collected_at")
    url = _optional_str(record, "url")
    lang = _optional_str(record, "lang")
    links, hashtags, mentions = record_lists(record)
    return Post(
        platform=platform.lower(),
        post_id=post_id,
        created_at=created_at,
        author=author,
        text=text,
        raw=record_raw(record) if raw is None else raw,
        url=url,
        lang=lang,
        links=links,
        hashtags=hashtags,
        mentions=mentions,
        reply_to=_optional_str(record, "reply_to"),
        repost_of=_optional_str(record, "repost_of"),
        quote_of=_optional_str(record, "quote_of"),
        collected_at=parse_time(collected, "collected_at") if collected not in (None, "") else None,
        extra={"source_sha256": source_sha256} if source_sha256 else {},
    )
