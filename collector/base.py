"""The collector interface: settings as data, a context, and `fetch` yielding pages.

The contract with the pipeline (which owns the database):

* `Collector.fetch(cursor, since=...)` yields `Page`s. Each page carries the posts of one HTTP
  response and the **complete** cursor to store once those posts are committed. The pipeline
  commits each page's posts and its cursor in one transaction, so a crash loses at most the
  page in flight, which the next run fetches again; dedup on `(platform, post_id)` absorbs the
  overlap. A page may carry no posts and still move the cursor (a finished walk, a 304).
* `cursor` is what the previous run's last committed page said, or None on the first run.
  It is a JSON-serialisable dict; each collector documents its shape in its module docstring
  and keeps one sub-cursor per query, author, hashtag, channel or feed inside it, so adding a
  query to the config starts that query's backfill without disturbing the others.
* `since` is the backfill horizon: a stream without a high-water mark (first run, or newly
  configured) reaches back to `since` and no further. A stream *with* a high-water mark always
  walks back to it, whatever `since` says, so that a long outage never silently skips posts.
  The pipeline passes `now - backfill`.
* Failures: a failure that concerns the whole source (credentials, rate limits, the host is
  down) is raised at once. A failure of one stream (a channel that vanished, a feed that 403s)
  is recorded, the other streams carry on, and `PartialFailure` is raised at the end, after the
  healthy streams' pages were yielded.

A collector is built from its validated settings and a `CollectorContext`. Settings are
declared as `Setting` data on the class so the config layer can validate a `[[sources]]` table
and `smearwatch init` can write a commented example without knowing any platform.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import orjson

from collector.errors import (
    AccessRefused,
    CollectorError,
    MalformedResponse,
    NotFound,
    PartialFailure,
    RequestRejected,
    SettingsError,
)
from collector.http import HttpClient, safe_url
from collector.post import Post

__all__ = [
    "COMMON_SETTINGS",
    "Collector",
    "CollectorContext",
    "DefenderLike",
    "NewestFirstWalk",
    "Page",
    "SearchTerms",
    "Setting",
    "example_toml",
    "is_stream_error",
    "key_time",
    "parse_duration",
    "time_key",
    "utc_now",
    "validate_settings",
]

log = logging.getLogger(__name__)

KINDS = ("str", "url", "int", "bool", "duration", "strings")


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of a `[[sources]]` table.

    `kind` is one of `str`, `url`, `int`, `bool`, `duration` ("15m", "7d", "1h30m"; parsed to
    `timedelta`) and `strings` (a list of strings). A `secret` setting never appears in the
    TOML: its value comes from the environment variable `env`, and a config that contains it
    is refused so that nobody commits a password by accident.
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    required: bool = False
    secret: bool = False
    env: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name!r}: unknown kind {self.kind!r}")
        if self.secret and not self.env:
            raise ValueError(f"secret setting {self.name!r} needs an environment variable")


COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting("name", "str", required=True, help="unique name of this source (cursor, logs)"),
    Setting("platform", "str", required=True, help="which collector reads this source"),
    Setting("enabled", "bool", True, help="false keeps the source configured but idle"),
    Setting("every", "duration", timedelta(minutes=15), help="how often the daemon polls"),
    Setting("backfill", "duration", timedelta(days=7), help="how far back the first run reaches"),
    Setting("base_url", "url", None, help="API or site root; point it at a mirror or test server"),
)


#: Declared for every collector that can re-read stored posts (`Collector.supports_recheck`).
RECHECK_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "recheck",
        "duration",
        timedelta(hours=48),
        help="re-read stored posts this recent for edits and deletions ('0s' turns it off)",
    ),
    Setting(
        "recheck_max_posts",
        "int",
        2000,
        help="at most this many recent posts re-read per run, newest first",
    ),
)


class DefenderLike(Protocol):
    """What a collector needs to know about a defender to build default queries."""

    id: str
    name: str
    aliases: Sequence[str]
    handles: Mapping[str, Any]  # platform -> handle or sequence of handles


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SearchTerms:
    """The default search input of one platform, worked out outside the collector.

    Why outside: a platform's search matches whole words without stemming, so finding the
    posts that decline a name needs the name's inflected forms, and those come from the mention
    matcher, which a collector may not import. The wiring layer (smearwatch/search_terms.py)
    builds them; a collector only sends them. `queries` are in priority order (a collector
    with a request budget keeps the head); `hashtags` are tag names without '#'.
    """

    queries: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectorContext:
    """Everything a collector gets from outside besides its settings.

    `search_terms(platform)` gives the default queries and hashtags for the defenders; when it
    is None (a collector built on its own, e.g. in a test) collectors fall back to the
    defenders' configured aliases as written.
    """

    http: HttpClient
    defenders: Sequence[DefenderLike] = ()
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    now: Callable[[], datetime] = utc_now
    search_terms: Callable[[str], SearchTerms] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The posts of one HTTP response and the cursor to persist once they are committed.

    `request_url` never contains credentials; `status` is the HTTP status (304 for an
    unchanged feed); `fetched_at` is when the response arrived (UTC).
    """

    posts: tuple[Post, ...]
    cursor: dict[str, Any]
    request_url: str
    status: int
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class StoredPost:
    """A stored post handed to `Collector.recheck`: what the platform needs to find it again.

    `raw` is the payload as stored (a Mastodon status carries its instance-local id there);
    `reply_to` the stored parent, which a platform's answer may only give as a local id.
    """

    post_id: str
    created_at: datetime
    url: str | None = None
    raw: str = ""
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class RecheckResult:
    """What re-reading some stored posts found, stored in one transaction.

    `posts` are the asked-for posts as the platform serves them now: the store keeps an
    unchanged one as it is and archives the stored version of an edited one. `deleted` are
    the ids of asked-for posts the platform showed to be gone (a 404, missing from a batch
    answer, a gap between present neighbours); they become tombstones, never removals. A post
    in neither was not decided (not reached, or the answer did not say) and is asked again on
    the next run.
    """

    posts: tuple[Post, ...]
    deleted: tuple[str, ...]
    request_url: str
    status: int
    fetched_at: datetime


# -- settings --------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> timedelta:
    """'15m', '7d', '1h30m', '90s', '2w' or a number of seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"negative duration {value!r}")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '15m' or '7d', got {type(value).__name__}")
    text = value.strip().replace(" ", "")
    if not text or _DURATION.sub("", text):
        raise ValueError(f"unreadable duration {value!r} (use e.g. '90s', '15m', '2h', '7d')")
    total = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION.findall(text))
    return timedelta(seconds=total)


def _coerce(setting: Setting, value: Any) -> Any:
    kind = setting.kind
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected a non-empty string")
        return value.strip()
    if kind == "url":
        if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value.strip()):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.strip().rstrip("/")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "duration":
        return parse_duration(value)
    # strings
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def all_settings(collector_cls: type[Collector]) -> tuple[Setting, ...]:
    """Common settings, overridden by name (e.g. a default `base_url`) and extended."""
    own = {s.name: s for s in collector_cls.settings}
    common = COMMON_SETTINGS
    if collector_cls.supports_recheck:
        common += tuple(
            replace(s, default=collector_cls.default_recheck_max)
            if s.name == "recheck_max_posts"
            else s
            for s in RECHECK_SETTINGS
        )
    merged = [own.pop(s.name, s) for s in common]
    return tuple(merged) + tuple(own.values())


def validate_settings(collector_cls: type[Collector], table: Mapping[str, Any]) -> dict[str, Any]:
    """Check a `[[sources]]` table against the collector's declarations; fill defaults.

    Idempotent: a dict it returned validates to itself. Errors name the source and the key.
    Secret settings are not read here (they come from the environment when the collector is
    built); their presence in the table is an error.
    """
    name = table.get("name")
    label = f"source {name!r}" if isinstance(name, str) and name else "a [[sources]] entry"
    declared = {s.name: s for s in all_settings(collector_cls)}
    unknown = sorted(set(table) - set(declared))
    if unknown:
        known = ", ".join(sorted(k for k, s in declared.items() if not s.secret))
        raise SettingsError(f"{label}: unknown key(s) {', '.join(unknown)} (known keys: {known})")
    resolved: dict[str, Any] = {}
    for key, setting in declared.items():
        if setting.secret:
            if key in table:
                raise SettingsError(
                    f"{label}: {key!r} must not be written in the config file; "
                    f"set the environment variable {setting.env} instead"
                )
            continue
        if key not in table or table[key] is None:
            if setting.required:
                raise SettingsError(f"{label}: required key {key!r} is missing ({setting.help})")
            resolved[key] = setting.default
            continue
        try:
            resolved[key] = _coerce(setting, table[key])
        except ValueError as exc:
            raise SettingsError(f"{label}: key {key!r}: {exc}") from None
    platform = resolved.get("platform")
    if platform != collector_cls.platform:
        raise SettingsError(
            f"{label}: platform {platform!r} does not match collector {collector_cls.platform!r}"
        )
    return resolved


def _toml_value(value: Any) -> str:
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f'"{seconds // size}{unit}"'
        return f'"{seconds}s"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return str(value)


def example_toml(collector_cls: type[Collector], name: str | None = None) -> str:
    """A commented `[[sources]]` block for `smearwatch init`."""
    lines = ["[[sources]]"]
    for setting in all_settings(collector_cls):
        if setting.name == "name":
            lines.append(f'name = "{name or collector_cls.platform}"')
            continue
        if setting.name == "platform":
            lines.append(f'platform = "{collector_cls.platform}"')
            continue
        if setting.secret:
            lines.append(
                f"# {setting.name}: from the environment variable {setting.env} ({setting.help})"
            )
            continue
        value = collector_cls.examples.get(setting.name, setting.default)
        comment = f"  # {setting.help}" if setting.help else ""
        if setting.required:
            lines.append(f"{setting.name} = {_toml_value(value)}{comment}")
        elif value is None:
            lines.append(f"# {setting.name} = ...{comment}")
        else:
            lines.append(f"# {setting.name} = {_toml_value(value)}{comment}")
    return "\n".join(lines) + "\n"


# -- the collector ---------------------------------------------------------------------------


def time_key(value: datetime) -> str:
    """A fixed-width UTC timestamp that sorts as text, for high-water marks in cursors."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_time(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Collector(ABC):
    """Base class: settings handling, provenance and per-stream failure bookkeeping.

    Subclasses set `platform`, `version`, `settings` (and `examples` for `smearwatch init`)
    and implement `fetch`. A platform that can look its posts up again sets
    `supports_recheck` and implements `recheck`; it then gets the `recheck` settings.
    """

    platform: ClassVar[str]
    version: ClassVar[str] = "1"
    settings: ClassVar[tuple[Setting, ...]] = ()
    examples: ClassVar[Mapping[str, Any]] = {}
    supports_recheck: ClassVar[bool] = False
    # The `recheck_max_posts` default: what one run may ask of the platform (a Mastodon
    # look-up is one request per post, a Bluesky one serves 25).
    default_recheck_max: ClassVar[int] = 2000

    def __init__(self, config: Mapping[str, Any], context: CollectorContext) -> None:
        self.config = validate_settings(type(self), config)
        self.name: str = self.config["name"]
        self.context = context
        self.http = context.http
        self._stream_errors: dict[str, CollectorError] = {}

    @abstractmethod
    def fetch(self, cursor: Mapping[str, Any] | None, *, since: datetime) -> Iterator[Page]:
        """Yield pages newest work first; see the module docstring for the contract."""

    def recheck(self, stored: Sequence[StoredPost]) -> Iterator[RecheckResult]:
        """Re-read recently stored posts so that edits and deletions are noticed.

        The pipeline hands over this source's stored posts younger than the `recheck` horizon
        (not yet known to be deleted, newest first, at most `recheck_max_posts`); cursors are
        not involved. The failure rules are those of `fetch`: a failure of the whole source is
        raised at once, a failure confined to one stream (a channel, a batch, one post's
        look-up) is recorded with `stream_failed` and raised by `finish` at the end, after the
        healthy results were yielded. Only a definite answer marks a post deleted: a timeout
        or a 5xx never does.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot re-read its posts")

    # -- helpers for subclasses --------------------------------------------------------------
    @property
    def collector_id(self) -> str:
        return f"{self.platform}/{self.version}"

    def secret(self, name: str) -> str | None:
        setting = next(s for s in all_settings(type(self)) if s.name == name)
        assert setting.env is not None
        value = self.context.env.get(setting.env)
        return value if value else None

    def provenance(self, request_url: str, **more: Any) -> dict[str, Any]:
        return {
            "source": self.name,
            "request_url": request_url,
            "collector": self.collector_id,
            **more,
        }

    def page(
        self, posts: Sequence[Post], cursor: Mapping[str, Any], response: Any, fetched_at: datetime
    ) -> Page:
        """Freeze a page; the cursor is deep-copied and checked to be JSON-serialisable.

        The copy is a JSON round trip: it fails loudly if a collector stores a non-JSON value,
        and it is many times faster than `copy.deepcopy` on a cursor with thousands of query
        states (a Bluesky source searching every inflected form of many names).
        """
        snapshot = orjson.loads(orjson.dumps(dict(cursor)))
        return Page(
            posts=tuple(posts),
            cursor=snapshot,
            request_url=safe_url(response.request.url),
            status=response.status_code,
            fetched_at=fetched_at,
        )

    def stream_failed(self, stream: str, error: CollectorError) -> None:
        """Record a failure confined to one stream; `finish` raises them together."""
        log.warning("source %r: stream %s failed: %s", self.name, stream, error.message)
        self._stream_errors[stream] = error

    def finish(self) -> None:
        errors, self._stream_errors = self._stream_errors, {}
        if errors:
            raise PartialFailure(self.name, errors)

    def defender_handles(self, platform: str) -> list[str]:
        handles: list[str] = []
        for defender in self.context.defenders:
            value = (defender.handles or {}).get(platform)
            if isinstance(value, str):
                value = (value,)
            handles.extend(h.strip() for h in value or () if h and h.strip())
        return list(dict.fromkeys(handles))

    def default_search_terms(self) -> SearchTerms | None:
        """This platform's default queries and hashtags from the wiring layer, if it gave any."""
        provider = self.context.search_terms
        return provider(self.platform) if provider is not None else None

    def defender_aliases(self) -> list[str]:
        aliases: list[str] = []
        for defender in self.context.defenders:
            aliases.extend(a.strip() for a in (defender.name, *defender.aliases) if a and a.strip())
        return list(dict.fromkeys(aliases))


def is_stream_error(error: CollectorError) -> bool:
    """Errors that concern one stream (a channel, feed, author, query) and not the source.

    Anything else (credentials, rate limits, the host being down) concerns the whole source
    and stops it: trying the next stream against the same host would only fail again.
    """
    return isinstance(error, AccessRefused | MalformedResponse | NotFound | RequestRejected)


class NewestFirstWalk:
    """Exactly-once bookkeeping for a listing served newest first with a "next older" token.

    Sub-cursor shape: `{"hwm": K | None, "walk": {"next": token, "top": K, "floor": K} | None}`
    where K is a sortable key (a `time_key` string or a message id).

    A run starts at the newest item and walks back, page by page, to the floor (the previous
    high-water mark, or the backfill horizon on the first run). The high-water mark moves to the
    newest key seen only when the walk has reached the floor: if the run stops half-way, the
    saved `walk` resumes from the page after the last committed one with the same floor and top,
    so the gap between the old high-water mark and the resumed position is still covered.
    Items newer than `top` that arrive during a resumed walk are picked up by the next run,
    because its floor is `top`.
    """

    def __init__(self, state: Mapping[str, Any] | None, *, floor: Any) -> None:
        state = state or {}
        self.hwm = state.get("hwm")
        walk = state.get("walk")
        if walk:
            self.next = walk.get("next")
            self.top = walk.get("top")
            self.floor = walk.get("floor")
        else:
            self.next = None
            self.top = None
            self.floor = floor
        self.done = False

    @property
    def resuming(self) -> bool:
        return self.next is not None

    def keep(self, key: Any) -> bool:
        return self.floor is None or key >= self.floor

    def advance(self, keys: Sequence[Any], next_token: Any, *, reached_floor: bool = False) -> None:
        """Record one page: its item keys and the token of the next (older) page."""
        kept = [key for key in keys if self.keep(key)]  # a mark below the floor would widen
        if kept:  # the next run's walk beyond the backfill horizon
            newest = max(kept)
            self.top = newest if self.top is None else max(self.top, newest)
        reached_floor = reached_floor or (
            self.floor is not None and bool(keys) and min(keys) < self.floor
        )
        if next_token is None or not keys or reached_floor:
            self.done = True
            if self.top is not None and (self.hwm is None or self.top > self.hwm):
                self.hwm = self.top
            self.next = None
        else:
            self.next = next_token

    def restart(self) -> None:
        """Forget the resume token (e.g. the server refused it) but keep floor and top."""
        self.next = None

    def state(self) -> dict[str, Any]:
        walk = None
        if not self.done and (self.next is not None or self.top is not None):
            # `next` may be None after `restart`: the walk then begins again from the newest
            # item, still down to the same floor and remembering the same top.
            walk = {"next": self.next, "top": self.top, "floor": self.floor}
        return {"hwm": self.hwm, "walk": walk}
