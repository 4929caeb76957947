"""The web pages' own reads: lists and look-ups that no report needs.

Counting for the week is not here: it is `reports.model.build_week_report`, the same model as
the PDF. Every list is bounded (LIMIT, keyset paging), so a page costs the same on a database
of a thousand posts or of millions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, literal_column, or_, select, text

from db import fulltext, models
from db.reviews import latest_reviews
from reports.model import SUCCESS

__all__ = [
    "PostFilter",
    "alerts_between",
    "cluster_history",
    "cluster_list",
    "data_fingerprint",
    "latest_post_time",
    "post_detail",
    "search_posts",
]

PAGE = 50
EXPORT_LIMIT = 100_000
_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__
_MENTION = models.Mention.__table__
_CLUSTER = models.Cluster.__table__
_RUN = models.AnalysisRun.__table__
_REVIEW = models.Review.__table__


def data_fingerprint(connection: Connection) -> tuple[Any, ...]:
    """A cheap summary that changes whenever posts, mentions, runs or imports change.

    Each part is the largest primary key or a row count of a small table (index look-ups),
    so the web page can keep a built week report until the data under it changes.
    """
    parts = []
    for table in (
        _POST,
        _MENTION,
        models.PostVersion.__table__,
        _RUN,
        models.CollectionRun.__table__,
        models.ImportBatch.__table__,
    ):
        parts.append(connection.execute(select(func.max(table.c.id))).scalar())
    parts.append(
        connection.execute(
            select(func.count()).select_from(_RUN).where(_RUN.c.status.in_(sorted(SUCCESS)))
        ).scalar()
    )
    return tuple(parts)


def latest_post_time(connection: Connection) -> datetime | None:
    return connection.execute(select(func.max(_POST.c.created_at))).scalar()


def latest_run_id(connection: Connection) -> int | None:
    return connection.execute(
        select(func.max(_RUN.c.id)).where(_RUN.c.status.in_(sorted(SUCCESS)))
    ).scalar()


def cluster_list(
    connection: Connection,
    *,
    run_id: int | None = None,
    stance: str | None = None,
    review: str | None = None,
    min_score: float | None = None,
) -> tuple[int | None, list[dict[str, Any]]]:
    """(run id, clusters of the latest successful run, or of `run_id`), best score first.

    `review` filters on the latest verdict: "confirmed", "dismissed" or "unreviewed".
    """
    run_id = run_id if run_id is not None else latest_run_id(connection)
    if run_id is None:
        return None, []
    query = select(_CLUSTER).where(_CLUSTER.c.analysis_run_id == run_id)
    if stance:
        query = query.where(_CLUSTER.c.stance == stance)
    if min_score is not None:
        query = query.where(_CLUSTER.c.score >= min_score)
    rows = connection.execute(query.order_by(_CLUSTER.c.score.desc(), _CLUSTER.c.stable_id)).all()
    reviews = latest_reviews(connection, sorted({r.stable_id for r in rows}))
    found = []
    for row in rows:
        latest = reviews.get(row.stable_id)
        state = latest["verdict"] if latest else "unreviewed"
        if review and state != review:
            continue
        found.append(
            {
                "stable_id": row.stable_id,
                "defender_id": row.defender_id,
                "score": float(row.score),
                "confidence": row.confidence,
                "stance": row.stance,
                "size": row.size,
                "first_activity": row.first_activity,
                "last_activity": row.last_activity,
                "review": state,
                "reviewer": latest["reviewer"] if latest else None,
                "reviewed_at": latest["created_at"] if latest else None,
            }
        )
    return run_id, found


def cluster_history(connection: Connection, stable_id: str) -> list[dict[str, Any]]:
    """The cluster in every analysis run that has it (stable id), newest run first."""
    rows = connection.execute(
        select(
            _RUN.c.id.label("run_id"),
            _RUN.c.started_at,
            _RUN.c.since,
            _RUN.c.until,
            _RUN.c.status,
            _CLUSTER.c.score,
            _CLUSTER.c.size,
            _CLUSTER.c.confidence,
            _CLUSTER.c.stance,
            _CLUSTER.c.first_activity,
            _CLUSTER.c.last_activity,
        )
        .join(_RUN, _RUN.c.id == _CLUSTER.c.analysis_run_id)
        .where(_CLUSTER.c.stable_id == stable_id)
        .order_by(_RUN.c.id.desc())
    ).all()
    return [dict(r._mapping) for r in rows]


def alerts_between(connection: Connection, start: datetime, end: datetime) -> list[Any]:
    table = models.Alert.__table__
    return list(
        connection.execute(
            select(table)
            .where(table.c.created_at >= start, table.c.created_at < end)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(200)
        ).all()
    )


@dataclass(frozen=True)
class PostFilter:
    """The search form: every field optional; text and account match case-insensitively."""

    defender: str = ""
    text: str = ""
    account: str = ""
    platform: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, str]:
        """The filter as query parameters (for links to the next page and the exports)."""
        values = {
            "defender": self.defender,
            "q": self.text,
            "account": self.account,
            "platform": self.platform,
            "since": self.since.strftime("%Y-%m-%d") if self.since else "",
            "until": self.until.strftime("%Y-%m-%d") if self.until else "",
        }
        return {k: v for k, v in values.items() if v}


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(connection: Connection, column: Any, value: str) -> Any:
    """`column` contains `value`, ignoring case.

    PostgreSQL's ILIKE folds every script. SQLite's LIKE folds only ASCII letters, so there
    the forms an analyst meets in posts are tried as well (as typed, lower case, upper case,
    capitalised): "орманова" finds "Орманова" and "ОРМАНОВА".
    """
    if connection.dialect.name != "sqlite":
        return column.ilike(_like(value), escape="\\")
    if value.isascii():  # SQLite's LIKE folds ASCII itself: one scan is enough
        return column.like(_like(value), escape="\\")
    forms = dict.fromkeys([value, value.lower(), value.upper(), value.capitalize(), value.title()])
    return or_(*(column.like(_like(form), escape="\\") for form in forms))


# At most this many full-text candidates: the page fetches them by id and sorts them (cheap);
# beyond it the search walks the posts newest-first and stops at a full page instead.
FEW_CANDIDATES = 5000


def _text_matches(connection: Connection, value: str) -> Any:
    """Posts whose current text contains `value`, ignoring case, through the full-text
    index where there is one (`db.fulltext`).

    PostgreSQL: ILIKE as always; its planner takes the trigram index for a rare needle and
    the newest-first walk for a common one. SQLite's planner knows nothing of how many posts
    an FTS5 query finds: given `id IN (candidates)` it always fetches every candidate and
    sorts them, which is 0.8-1.3 s for a word in half of a million posts. So the candidates
    are counted first (up to FEW_CANDIDATES, a few milliseconds): few, and they are fetched
    by id; many, and `id + 0` hides the primary key from the planner, which then walks
    created_at newest-first checking each post against the candidate set (built once) and
    stops at a full page. Either way `sw_contains` checks the text itself: the index keeps no
    positions, so it only says that every trigram is somewhere in the post.
    """
    if connection.dialect.name != "sqlite":
        return _contains(connection, _POST.c.text, value)
    if len(value) < fulltext.MIN_CHARS or not fulltext.present(connection):
        return _contains(connection, _POST.c.text, value)
    query = fulltext.sqlite_match(value)
    table = fulltext.SQLITE_TABLE
    found = connection.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?)",
        (query, FEW_CANDIDATES + 1),
    ).scalar()
    candidates = (
        select(literal_column("rowid"))
        .select_from(text(table))
        .where(literal_column(table).op("MATCH")(bindparam("fts_query", query)))
    )
    post_id = _POST.c.id if (found or 0) <= FEW_CANDIDATES else _POST.c.id + 0
    needle = bindparam("fts_needle", value.lower())
    return and_(post_id.in_(candidates), func.sw_contains(_POST.c.text, needle) == 1)


def _post_query(connection: Connection, where: PostFilter) -> Select[Any]:
    query = select(
        _POST.c.id,
        _POST.c.evidence_id,
        _POST.c.platform,
        _POST.c.platform_id,
        _POST.c.created_at,
        _POST.c.author_handle,
        _POST.c.text,
        _POST.c.lang,
        _POST.c.url,
        _POST.c.raw_sha256,
        _POST.c.account_id,
    )
    if where.defender:
        query = query.where(
            select(_MENTION.c.id)
            .where(_MENTION.c.post_id == _POST.c.id, _MENTION.c.defender_id == where.defender)
            .exists()
        )
    if where.text:
        query = query.where(_text_matches(connection, where.text))
    if where.account:
        value = where.account.lstrip("@")
        accounts = select(_ACCOUNT.c.id).where(
            or_(
                _contains(connection, _ACCOUNT.c.handle, value),
                _ACCOUNT.c.platform_id == where.account,
                _contains(connection, _ACCOUNT.c.display_name, value),
            )
        )
        query = query.where(_POST.c.account_id.in_(accounts))
    if where.platform:
        # lower(): keeps SQLite off the (platform, platform_id) index, which would make it
        # sort every post of the platform; walking created_at newest-first stops after a page
        query = query.where(func.lower(_POST.c.platform) == where.platform.lower())
    if where.since:
        query = query.where(_POST.c.created_at >= where.since)
    if where.until:
        query = query.where(_POST.c.created_at < where.until)
    return query


def search_posts(
    connection: Connection,
    where: PostFilter,
    *,
    before: tuple[datetime, int] | None = None,
    limit: int = PAGE,
) -> list[Any]:
    """One page of matching posts, newest first; `before` is the (created_at, id) of the
    last post of the previous page (keyset paging: no OFFSET scan on deep pages)."""
    query = _post_query(connection, where)
    if before is not None:
        at, post_id = before
        query = query.where(
            or_(_POST.c.created_at < at, and_(_POST.c.created_at == at, _POST.c.id < post_id))
        )
    query = query.order_by(_POST.c.created_at.desc(), _POST.c.id.desc()).limit(limit)
    return list(connection.execute(query).all())


def iter_search(
    connection: Connection, where: PostFilter, limit: int = EXPORT_LIMIT
) -> Iterator[Any]:
    """Every matching post (at most `limit`), newest first, streamed for the CSV export."""
    query = (
        _post_query(connection, where)
        .order_by(_POST.c.created_at.desc(), _POST.c.id.desc())
        .limit(limit)
        .execution_options(yield_per=2000)
    )
    yield from connection.execute(query)


def platforms(connection: Connection) -> list[str]:
    return sorted(
        p for (p,) in connection.execute(select(_ACCOUNT.c.platform).distinct()).all() if p
    )


def post_detail(connection: Connection, evidence_id: str) -> dict[str, Any] | None:
    """Everything stored about one post: the current version, earlier ones, where it came
    from, what matched in it. None if no post has this evidence id."""
    row = connection.execute(
        select(_POST, _ACCOUNT.c.platform_id.label("author_id"),
               _ACCOUNT.c.created_at.label("account_created_at"),
               _ACCOUNT.c.handle.label("account_handle"))
        .join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
        .where(_POST.c.evidence_id == evidence_id)
        .order_by(_POST.c.id)
        .limit(1)
    ).first()  # fmt: skip
    if row is None:
        return None
    version = models.PostVersion.__table__
    batch = models.ImportBatch.__table__
    run = models.CollectionRun.__table__
    source = models.Source.__table__
    detail: dict[str, Any] = {"post": row}
    detail["versions"] = connection.execute(
        select(version).where(version.c.post_id == row.id).order_by(version.c.version.desc())
    ).all()
    detail["mentions"] = connection.execute(
        select(_MENTION).where(_MENTION.c.post_id == row.id).order_by(_MENTION.c.id)
    ).all()
    links = models.PostLink.__table__
    tags = models.PostHashtag.__table__
    detail["links"] = connection.execute(
        select(links).where(links.c.post_id == row.id).order_by(links.c.position)
    ).all()
    detail["hashtags"] = [
        t
        for (t,) in connection.execute(
            select(tags.c.tag).where(tags.c.post_id == row.id).order_by(tags.c.position)
        ).all()
    ]
    wanted = {row.import_batch_id, *(v.import_batch_id for v in detail["versions"])} - {None}
    batches = {
        b.id: b
        for b in connection.execute(select(batch).where(batch.c.id.in_(sorted(wanted)))).all()
    }
    detail["batches"] = batches
    detail["batch"] = batches.get(row.import_batch_id)
    detail["run"] = (
        connection.execute(
            select(run, source.c.name.label("source"))
            .join(source, source.c.id == run.c.source_id)
            .where(run.c.id == row.collection_run_id)
        ).first()
        if row.collection_run_id
        else None
    )
    member = models.ClusterMember.__table__
    latest = latest_run_id(connection)
    detail["clusters"] = (
        [
            sid
            for (sid,) in connection.execute(
                select(_CLUSTER.c.stable_id)
                .join(member, member.c.cluster_id == _CLUSTER.c.id)
                .where(_CLUSTER.c.analysis_run_id == latest, member.c.account_id == row.account_id)
                .order_by(_CLUSTER.c.stable_id)
            ).all()
        ]
        if latest is not None
        else []
    )
    return detail


def parse_day(value: str, field: str) -> datetime | None:
    """'YYYY-MM-DD' from a form field as 00:00 UTC; '' is None. ValueError names the field."""
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None
    return day.replace(tzinfo=UTC)
