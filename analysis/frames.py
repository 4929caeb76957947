"""The input contract of the analysis engine: plain pandas frames, no database.

The storage layer (``db/``) answers a window query with these frames; tests and benchmarks
build them from `collector.post.Post` records with `input_from_posts`. Keeping the engine a
pure function of frames means a run can be reproduced from an export alone, and that the
engine never learns which platform a post came from beyond its ``platform`` column.

Columns (extra columns are ignored; missing optional columns are filled by `validate`):

``posts``     post_pk:int, platform, post_id, evidence_id, account_pk:int, author_id, handle,
              created_at: datetime64[ns, UTC], text, lang, url, reply_to, repost_of, quote_of
              (the last three are platform post ids of the target, or None)
``links``     post_pk, url (as posted), normalized_url, domain
``hashtags``  post_pk, tag (lower-case, no '#'), position (order within the post)
``mentions``  post_pk, defender_id (from the defender matcher)
``accounts``  account_pk, platform, author_id, handle, display_name, created_at (may be NaT),
              first_seen, last_seen
``defenders`` defender_id, name, handles (any printable form, e.g. "a.bsky.social, @b")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from collector.post import Post, normalize_url, url_domain

__all__ = [
    "POSTS_COLUMNS",
    "LINKS_COLUMNS",
    "HASHTAGS_COLUMNS",
    "MENTIONS_COLUMNS",
    "ACCOUNTS_COLUMNS",
    "DEFENDERS_COLUMNS",
    "AnalysisInput",
    "Defender",
    "input_from_posts",
]

POSTS_COLUMNS = (
    "post_pk",
    "platform",
    "post_id",
    "evidence_id",
    "account_pk",
    "author_id",
    "handle",
    "created_at",
    "text",
    "lang",
    "url",
    "reply_to",
    "repost_of",
    "quote_of",
)
LINKS_COLUMNS = ("post_pk", "url", "normalized_url", "domain")
HASHTAGS_COLUMNS = ("post_pk", "tag", "position")
MENTIONS_COLUMNS = ("post_pk", "defender_id")
ACCOUNTS_COLUMNS = (
    "account_pk",
    "platform",
    "author_id",
    "handle",
    "display_name",
    "created_at",
    "first_seen",
    "last_seen",
)
DEFENDERS_COLUMNS = ("defender_id", "name", "handles")

_REQUIRED = frozenset({"post_pk", "account_pk", "tag", "normalized_url", "defender_id"})
_TIME_COLUMNS = {"posts": ("created_at",), "accounts": ("created_at", "first_seen", "last_seen")}


def _as_object(values: pd.Series) -> pd.Series:
    """The column as an object Series with None for missing values."""
    arr = values.to_numpy(dtype=object, na_value=None)
    return pd.Series(arr, index=values.index, dtype=object)


@dataclass(frozen=True, slots=True)
class Defender:
    """A defender as the analysis needs it: an id, a display name and known handles."""

    id: str
    name: str
    handles: tuple[str, ...] = ()


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class AnalysisInput:
    """Everything one analysis run looks at: the posts of a window and what hangs off them.

    ``since``/``until`` are the window bounds (UTC, ``until`` exclusive); they are recorded
    with the run and used for rates, not for filtering: the caller selects the posts.
    """

    posts: pd.DataFrame
    links: pd.DataFrame = field(default_factory=lambda: _empty(LINKS_COLUMNS))
    hashtags: pd.DataFrame = field(default_factory=lambda: _empty(HASHTAGS_COLUMNS))
    mentions: pd.DataFrame = field(default_factory=lambda: _empty(MENTIONS_COLUMNS))
    accounts: pd.DataFrame = field(default_factory=lambda: _empty(ACCOUNTS_COLUMNS))
    defenders: pd.DataFrame = field(default_factory=lambda: _empty(DEFENDERS_COLUMNS))
    since: datetime | None = None
    until: datetime | None = None

    def validate(self) -> AnalysisInput:
        """Return a copy with required columns checked, optional ones filled, types coerced.

        Raises:
            ValueError: a required column is missing (names the frame and the column).
        """
        posts = self.posts.copy()
        for col in ("post_pk", "account_pk", "created_at"):
            if col not in posts.columns:
                raise ValueError(f"posts: required column '{col}' is missing")
        for col in POSTS_COLUMNS:
            if col not in posts.columns:
                posts[col] = None
        posts["post_pk"] = posts["post_pk"].astype("int64")
        posts["account_pk"] = posts["account_pk"].astype("int64")
        posts["created_at"] = pd.to_datetime(posts["created_at"], utc=True).dt.as_unit("ns")
        # Plain object columns: pandas' python-backed string dtype is many times slower for
        # the null checks and comparisons the engine does on millions of rows.
        for col in (
            "platform",
            "post_id",
            "evidence_id",
            "author_id",
            "handle",
            "lang",
            "url",
            "reply_to",
            "repost_of",
            "quote_of",
        ):
            posts[col] = _as_object(posts[col])
        posts["text"] = _as_object(posts["text"].fillna("").astype(str))
        posts["platform"] = posts["platform"].fillna("")

        def fill(frame: pd.DataFrame, columns: Sequence[str], name: str) -> pd.DataFrame:
            frame = frame.copy()
            for col in columns:
                if col not in frame.columns:
                    if len(frame) and col in _REQUIRED:
                        raise ValueError(f"{name}: required column '{col}' is missing")
                    frame[col] = None
            for col in _TIME_COLUMNS.get(name, ()):
                frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("ns")
            if "post_pk" in columns and len(frame):
                frame["post_pk"] = frame["post_pk"].astype("int64")
            for col in frame.columns:
                if pd.api.types.is_string_dtype(frame[col].dtype) and frame[col].dtype != object:
                    frame[col] = _as_object(frame[col])
            return frame

        accounts = fill(self.accounts, ACCOUNTS_COLUMNS, "accounts")
        if len(accounts):
            accounts["account_pk"] = accounts["account_pk"].astype("int64")
        else:
            # Accounts the storage layer did not send are rebuilt from the posts, so that the
            # engine can always name every member.
            first = posts.sort_values(["account_pk", "created_at"]).groupby("account_pk", sort=True)
            accounts = pd.DataFrame(
                {
                    "account_pk": first["account_pk"].first().to_numpy(),
                    "platform": first["platform"].first().to_numpy(),
                    "author_id": first["author_id"].first().to_numpy(),
                    "handle": first["handle"].last().to_numpy(),
                    "display_name": None,
                    "created_at": pd.NaT,
                    "first_seen": first["created_at"].min().to_numpy(),
                    "last_seen": first["created_at"].max().to_numpy(),
                }
            )
            accounts["created_at"] = pd.to_datetime(accounts["created_at"], utc=True)
        return AnalysisInput(
            posts=posts,
            links=fill(self.links, LINKS_COLUMNS, "links"),
            hashtags=fill(self.hashtags, HASHTAGS_COLUMNS, "hashtags"),
            mentions=fill(self.mentions, MENTIONS_COLUMNS, "mentions"),
            accounts=accounts,
            defenders=fill(self.defenders, DEFENDERS_COLUMNS, "defenders"),
            since=self.since,
            until=self.until,
        )

    def defender_names(self) -> dict[str, str]:
        if not len(self.defenders):
            return {}
        return {
            str(r.defender_id): str(r.name)
            if isinstance(r.name, str) and r.name
            else str(r.defender_id)
            for r in self.defenders.itertuples(index=False)
        }


def input_from_posts(
    posts: Iterable[Post],
    *,
    mentions: Mapping[tuple[str, str], Iterable[str]] | None = None,
    defenders: Iterable[Defender] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisInput:
    """Build an `AnalysisInput` from `Post` records, the way the storage layer would.

    ``mentions`` maps ``(platform, post_id)`` to the defender ids the matcher found in that
    post. Primary keys are assigned in a canonical order (platform, post id; platform, author
    id) so that the same set of posts always gets the same keys, whatever order it came in.
    """
    items = sorted(posts, key=lambda p: (p.platform, p.post_id))
    account_keys = sorted({(p.platform, p.author.id) for p in items})
    account_pk = {key: i + 1 for i, key in enumerate(account_keys)}
    latest: dict[tuple[str, str], Post] = {}
    for p in items:
        key = (p.platform, p.author.id)
        if key not in latest or p.created_at >= latest[key].created_at:
            latest[key] = p
    post_rows, link_rows, tag_rows, mention_rows = [], [], [], []
    seen_times: dict[tuple[str, str], list[datetime]] = {}
    for pk, p in enumerate(items, start=1):
        key = (p.platform, p.author.id)
        seen_times.setdefault(key, []).append(p.created_at)
        post_rows.append(
            {
                "post_pk": pk,
                "platform": p.platform,
                "post_id": p.post_id,
                "evidence_id": p.evidence_id,
                "account_pk": account_pk[key],
                "author_id": p.author.id,
                "handle": p.author.handle,
                "created_at": p.created_at,
                "text": p.text,
                "lang": p.lang,
                "url": p.url,
                "reply_to": p.reply_to,
                "repost_of": p.repost_of,
                "quote_of": p.quote_of,
            }
        )
        for link in p.links:
            link_rows.append(
                {
                    "post_pk": pk,
                    "url": link,
                    "normalized_url": normalize_url(link),
                    "domain": url_domain(link),
                }
            )
        for pos, tag in enumerate(p.hashtags):
            tag_rows.append({"post_pk": pk, "tag": tag, "position": pos})
        for defender_id in sorted(set((mentions or {}).get((p.platform, p.post_id), ()))):
            mention_rows.append({"post_pk": pk, "defender_id": defender_id})
    account_rows = []
    for key in account_keys:
        author = latest[key].author
        times = seen_times[key]
        account_rows.append(
            {
                "account_pk": account_pk[key],
                "platform": key[0],
                "author_id": key[1],
                "handle": author.handle,
                "display_name": author.display_name,
                "created_at": author.created_at,
                "first_seen": min(times),
                "last_seen": max(times),
            }
        )

    def frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=list(columns)) if rows else _empty(columns)

    defender_rows = [
        {"defender_id": d.id, "name": d.name, "handles": ", ".join(d.handles)} for d in defenders
    ]
    return AnalysisInput(
        posts=frame(post_rows, POSTS_COLUMNS),
        links=frame(link_rows, LINKS_COLUMNS),
        hashtags=frame(tag_rows, HASHTAGS_COLUMNS),
        mentions=frame(mention_rows, MENTIONS_COLUMNS),
        accounts=frame(account_rows, ACCOUNTS_COLUMNS),
        defenders=frame(defender_rows, DEFENDERS_COLUMNS),
        since=since,
        until=until,
    ).validate()
