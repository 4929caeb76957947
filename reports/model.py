"""The week's report as plain data, read from the database once.

`build_week_report` asks every question the PDF and the exports need and returns a
`WeekReport`; layout code never touches the database, so the internal and shareable variants
are two renderings of the same facts (`reports.variants` derives the shareable one).

Choices the numbers depend on, stated once:
- A week is Monday 00:00 to next Monday 00:00 UTC; a post belongs to it by `created_at`.
- "Mentions" are posts with at least one stored defender mention, counted once per defender.
- The baseline is the mean daily mentions over the previous four weeks, counting only weeks
  in which anything at all was collected, so a collection gap never looks like a quiet week.
- Clusters come from the latest successful analysis run whose window overlaps the week; a
  cluster is "active" when its first/last activity overlaps the week, and "flagged" when it is
  not supportive and its automated score reaches `[reports] min_score`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Engine,
    String,
    Text,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)

from db import models
from db.reviews import latest_reviews
from reports.settings import ReportInputs, ReportSettings, SourceSchedule
from reports.terms import decode_terms, fresh_terms
from reports.vocabulary import Vocabulary, vocabulary_from_run
from reports.weeks import Week, week_of

__all__ = [
    "AccountRow",
    "AnalysisInfo",
    "ClusterSection",
    "DailyCount",
    "EvidenceRow",
    "Finding",
    "ImportHealth",
    "ReportSettings",
    "SourceHealth",
    "WatchRow",
    "WeekReport",
    "build_cluster_section",
    "build_week_report",
    "latest_run",
    "refresh_reviews",
]

SUCCESS = {"ok", "success", "succeeded", "completed", "complete", "done", "finished"}
YOUNG_DAYS = 30
BASELINE_WEEKS = 4
CHUNK = 900  # bound parameters per IN (...) list: well below every backend's limit
STREAM = 5000  # rows per fetch when a query is streamed

_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__
_MENTION = models.Mention.__table__


@dataclass
class DailyCount:
    day: date
    defender_id: str
    platform: str
    posts: int


@dataclass
class SourceHealth:
    name: str
    platform: str
    runs: int
    ok: int
    errors: int
    fetched: int
    inserted: int
    gaps: list[tuple[datetime, datetime]]
    last_error: str | None
    expected_every_seconds: int | None


@dataclass
class ImportHealth:
    file_name: str
    file_sha256: str
    format: str
    finished_at: datetime | None
    status: str
    inserted: int
    rejected: int
    posts_in_week: int


@dataclass
class AnalysisInfo:
    run_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    since: datetime | None
    until: datetime | None
    code_version: str | None
    parameters: dict[str, Any]
    layers: dict[str, Any]
    stats: dict[str, Any]
    vocabulary_origin: str


@dataclass
class EvidenceRow:
    """One cited post, with everything needed to find and verify it again."""

    evidence_id: str
    platform: str
    post_id: str
    url: str | None
    author_id: str
    account_pk: int
    handle: str | None
    created_at: datetime
    collected_at: datetime
    raw_sha256: str
    text: str
    lang: str | None
    clusters: list[str] = field(default_factory=list)
    # When a re-read found the post deleted on its platform (the stored copy is the evidence).
    deleted_at: datetime | None = None


@dataclass
class AccountRow:
    account_pk: int
    platform: str
    platform_id: str
    handle: str | None
    display_name: str | None
    created_at: datetime | None
    posts_in_week: int
    centrality: float
    cluster_posts: int
    signals: dict[str, Any]

    def age_days(self, at: datetime) -> float | None:
        if self.created_at is None:
            return None
        return (at - self.created_at).total_seconds() / 86400


@dataclass
class Example:
    evidence_id: str
    created_at: datetime
    handle: str | None
    text: str
    lang: str | None
    account_pk: int = 0


@dataclass
class Narrative:
    key: str
    representative_text: str
    posts: int
    accounts: int
    first_at: datetime | None
    last_at: datetime | None
    smear_categories: list[str]
    supportive: bool
    examples: list[Example]


@dataclass
class EvidenceObject:
    kind: str
    display: str
    accounts: int
    outside_accounts: int
    first_at: datetime | None
    span_seconds: float
    posts: list[dict[str, Any]]  # evidence_id, handle, created_at, delta_s, account_pk


@dataclass
class Edge:
    a: int
    b: int
    weight: float
    fast: bool
    shared_objects: int
    min_dt_seconds: float
    layers: dict[str, Any]


@dataclass
class ClusterSection:
    stable_id: str
    defender_id: str | None
    targets: list[dict[str, Any]]
    size: int
    score: float
    confidence: str
    stance: str
    flagged: bool
    status: str  # new / escalating / continuing
    first_activity: datetime | None
    last_activity: datetime | None
    posts_in_week: int
    posts_prev_week: int
    prev_score: float | None
    components: dict[str, Any]
    signals: dict[str, Any]
    narratives: list[Narrative]
    explanation: list[str]
    alternatives: list[str]
    accounts: list[AccountRow]
    edges: list[Edge]
    evidence: list[EvidenceObject]
    hourly: list[tuple[datetime, int]]
    review: dict[str, Any] | None
    cited: list[str]


@dataclass
class WatchRow:
    defender_id: str
    name: str
    mentions: int
    mentions_prev: int
    baseline_week: float | None
    unique_accounts: int
    smear_share: float | None
    open_clusters: list[str]
    light: str  # red / amber / green
    reason: str


@dataclass
class Finding:
    text: str
    confidence: str
    evidence_ids: list[str]


@dataclass
class WeekReport:
    """Everything one weekly report says, before layout."""

    week: Week
    variant: str
    generated_at: datetime
    version: str
    defenders: list[tuple[str, str]]  # (id, name)
    defender_filter: str | None
    settings: ReportSettings
    daily: list[DailyCount]
    baseline_daily: dict[str, float | None]
    baseline_weeks: list[str]
    totals: dict[str, Any]
    smear_terms: list[tuple[str, int]]
    hashtags: list[tuple[str, int]]
    domains: list[tuple[str, int]]
    vocabulary_origin: str
    sources: list[SourceHealth]
    imports: list[ImportHealth]
    analysis: AnalysisInfo | None
    clusters: list[ClusterSection]
    dormant: list[dict[str, Any]]
    watch: list[WatchRow]
    findings: list[Finding]
    actions: list[str]
    evidence: list[EvidenceRow]
    configured_sources: list[tuple[str, str]]  # (name, platform)
    analysis_window: tuple[int, int]  # config window_seconds, min_repetitions
    pseudonyms: dict[int, str] = field(default_factory=dict)  # account pk -> label (shareable)

    @property
    def report_id(self) -> str:
        suffix = f"-{self.defender_filter}" if self.defender_filter else ""
        return f"SW-{self.week.label}{suffix}-{self.variant[:1].upper()}"

    @property
    def flagged(self) -> list[ClusterSection]:
        return [c for c in self.clusters if c.flagged]

    @property
    def has_data(self) -> bool:
        return bool(self.totals.get("mentions")) or bool(self.clusters)

    def defender_name(self, defender_id: str | None) -> str:
        for known, name in self.defenders:
            if known == defender_id:
                return name
        return defender_id or "—"

    def account_label(self, account_pk: int, handle: str | None) -> str:
        if self.pseudonyms:
            return self.pseudonyms.get(account_pk, "[bystander]")
        return handle or f"#{account_pk}"


# --------------------------------------------------------------------------- helpers


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _report_time(week: Week) -> datetime:
    """Generated-at, fixed for reproducible bytes: SOURCE_DATE_EPOCH, else the week's end."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return week.end


def utc_day(connection: Connection, column: Any) -> Any:
    """SQL for the UTC calendar day of a `UTCDateTime` column: text 'YYYY-MM-DD' on SQLite,
    a date on PostgreSQL (`date.fromisoformat(str(value))` reads both).

    Lets the database group posts by day instead of shipping every post to Python. SQLite
    stores naive UTC as 'YYYY-MM-DD HH:MM:SS...'; PostgreSQL converts from timestamptz. A
    cast to date, not `to_char`: grouping five weeks of mentions (621,595 rows of
    bench/web.py's 1,001,000 posts) took 2.4 s against 3.4 s with the text.
    """
    if connection.dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return cast(func.timezone("UTC", column), Date)


def _mentioned(defender: str | None, post_id: Any = None) -> Any:
    """EXISTS a stored mention (of `defender`, if given) in the post `post_id`."""
    query = select(_MENTION.c.id).where(_MENTION.c.post_id == (_POST.c.id if post_id is None
                                                              else post_id))  # fmt: skip
    if defender is not None:
        query = query.where(_MENTION.c.defender_id == defender)
    return query.exists()


def _mention_join(defender: str | None) -> Any:
    condition = _MENTION.c.post_id == _POST.c.id
    if defender is not None:
        condition = condition & (_MENTION.c.defender_id == defender)
    return _POST.join(_MENTION, condition)


def _daily_mentions(
    connection: Connection, start: datetime, end: datetime, defender: str | None
) -> list[tuple[date, str, str, int]]:
    """(UTC day, defender, platform, posts) for posts in [start, end) with a stored mention.

    Counted once per post and defender, whatever the number of aliases that matched.
    """
    day = utc_day(connection, _POST.c.created_at).label("day")
    rows = connection.execute(
        select(day, _MENTION.c.defender_id, _POST.c.platform, func.count(func.distinct(_POST.c.id)))
        .select_from(_mention_join(defender))
        .where(_POST.c.created_at >= start, _POST.c.created_at < end)
        .group_by(day, _MENTION.c.defender_id, _POST.c.platform)
    ).all()
    return sorted((date.fromisoformat(str(d)), who, platform, n) for d, who, platform, n in rows)


DailyRows = list[tuple[date, str, str, int]]


def _daily_by_week(
    connection: Connection,
    weeks: list[Week],
    defender: str | None,
    cache: MutableMapping[tuple[str, str | None], DailyRows] | None,
) -> DailyRows:
    """`_daily_mentions` over consecutive `weeks`, each week taken from `cache` if it is there.

    A week's days are its own (weeks start at 00:00 UTC), so the five weeks' rows are the
    rows of each week put together. The web keeps one cache per data fingerprint: an analyst
    moving to the week before reuses four of its five weeks, and only the missing ones (one
    range from the first to the last of them) are counted, which at 1,001,000 posts is the
    largest read of a cold week report.
    """
    if cache is None:
        return _daily_mentions(connection, weeks[0].start, weeks[-1].end, defender)
    missing = [w for w in weeks if (w.label, defender) not in cache]
    if missing:
        rows = _daily_mentions(connection, missing[0].start, missing[-1].end, defender)
        counted = {w.label: [] for w in weeks if missing[0].start <= w.start < missing[-1].end}
        for row in rows:
            counted[week_of(datetime.combine(row[0], datetime.min.time(), UTC)).label].append(row)
        for label, week_rows in counted.items():
            cache[(label, defender)] = week_rows
    found: DailyRows = []
    for week in weeks:
        found.extend(cache[(week.label, defender)])
    return sorted(found)


@dataclass
class _WeekMentions:
    """What the week's mention posts count (`_week_counts`; their accounts: `_week_accounts`)."""

    posts: int  # posts with a mention
    terms: Counter[str]  # smear term -> posts
    smear_posts: Counter[str]  # defender -> posts with any smear term
    hashtags: list[tuple[str, int]] = field(default_factory=list)  # most used, posts each
    domains: list[tuple[str, int]] = field(default_factory=list)


def _week_counts(
    connection: Connection,
    start: datetime,
    end: datetime,
    defender: str | None,
    vocabulary: Vocabulary,
    top: int,
) -> _WeekMentions:
    """Posts, smear terms, top hashtags and domains of the mentions in [start, end).

    One statement: the week's mention posts (with their stored smear terms, `reports.terms`,
    where those are right for this vocabulary and the post's current content) are selected
    once, as a common table expression the database keeps for the four counts drawn from it
    (`UNION ALL`); four statements read the post table four times, each pass over the week's
    rows about a second of PostgreSQL's time at 1,001,000 posts. Only posts without a right
    stored row, none once `analyze` has stored the window, are read with their text and
    matched here. Smear terms are counted once per post, posts with any term once per post
    and defender; a hashtag or domain once per post. Accounts: `_week_accounts`.
    """
    stored, fresh = fresh_terms(vocabulary)
    week = (
        select(_POST.c.id.label("post_id"), stored.c.terms.label("terms"))
        .select_from(_POST.outerjoin(stored, fresh))
        .where(_POST.c.created_at >= start, _POST.c.created_at < end, _mentioned(defender))
        .cte("week_posts")
    )
    mention_on = _MENTION.c.post_id == week.c.post_id
    if defender is not None:
        mention_on = mention_on & (_MENTION.c.defender_id == defender)
    hashtag = models.PostHashtag.__table__
    link = models.PostLink.__table__
    no_defender = literal(None, String)

    def children(kind: str, table: Any, column: str) -> Any:
        value = table.c[column]
        return (
            select(
                literal(kind, String),
                no_defender,
                cast(value, Text),
                func.count(func.distinct(table.c.post_id)),
            )
            .select_from(table.join(week, week.c.post_id == table.c.post_id))
            .where(value.is_not(None))
            .group_by(value)
        )

    statement = union_all(
        # posts per stored term list (NULL: no stored answer), once per post
        select(literal("terms", String), no_defender, week.c.terms, func.count()).group_by(
            week.c.terms
        ),
        # ... and once per post and defender
        select(
            literal("smear", String),
            _MENTION.c.defender_id,
            week.c.terms,
            func.count(func.distinct(week.c.post_id)),
        )
        .select_from(week.join(_MENTION, mention_on))
        .where(week.c.terms.is_not(None))
        .group_by(_MENTION.c.defender_id, week.c.terms),
        children("tag", hashtag, "tag"),
        children("domain", link, "domain"),
    )
    terms: Counter[str] = Counter()
    per_defender: Counter[str] = Counter()
    found_children: dict[str, list[tuple[str, int]]] = {"tag": [], "domain": []}
    posts = unstored = 0
    for kind, defender_id, key, n in connection.execute(statement):
        if kind == "terms":
            if key is None:
                unstored = n
                continue
            posts += n
            for term in decode_terms(key):
                terms[term] += n
        elif kind == "smear":
            if decode_terms(key):
                per_defender[defender_id] += n
        else:
            found_children[kind].append((key, n))
    # The posts without a stored answer: their texts, matched here.
    current: int | None = None
    found: Sequence[str] = ()
    seen: set[str] = set()
    unmatched = (
        select(_POST.c.id, _POST.c.text, _MENTION.c.defender_id)
        .select_from(_mention_join(defender).outerjoin(stored, fresh))
        .where(_POST.c.created_at >= start, _POST.c.created_at < end, stored.c.post_id.is_(None))
        .order_by(_POST.c.id)
        .execution_options(yield_per=STREAM)
    )
    for post_id, text, defender_id in connection.execute(unmatched) if unstored else ():
        if post_id != current:
            current, seen = post_id, set()
            posts += 1
            found = vocabulary.matches(text or "")
            terms.update(found)
        if found and defender_id not in seen:
            per_defender[defender_id] += 1
        seen.add(defender_id)

    def ranked(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
        return sorted(rows, key=lambda kv: (-kv[1], kv[0]))[:top]

    return _WeekMentions(
        posts=posts,
        terms=terms,
        smear_posts=per_defender,
        hashtags=ranked(found_children["tag"]),
        domains=ranked(found_children["domain"]),
    )


def _week_accounts(
    connection: Connection, start: datetime, end: datetime, defender: str | None
) -> tuple[dict[str, int], dict[int, tuple[datetime, datetime | None]]]:
    """Accounts per defender among the mentions in [start, end), and each account's first
    mention there with the account's creation time (grouped in the database: ~20,000 rows
    for a week of 100,000 mention posts)."""
    accounts: Counter[str] = Counter()
    first: dict[int, tuple[datetime, datetime | None]] = {}
    for defender_id, account_id, earliest, account_created in connection.execute(
        select(
            _MENTION.c.defender_id,
            _POST.c.account_id,
            func.min(_POST.c.created_at),
            func.min(_ACCOUNT.c.created_at),
        )
        .select_from(_mention_join(defender).join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id))
        .where(_POST.c.created_at >= start, _POST.c.created_at < end)
        .group_by(_MENTION.c.defender_id, _POST.c.account_id)
    ):
        accounts[defender_id] += 1
        known_first = first.get(account_id)
        if known_first is None or earliest < known_first[0]:
            first[account_id] = (earliest, account_created)
    return dict(accounts), first


def _smear_counts(
    connection: Connection,
    start: datetime,
    end: datetime,
    defender: str | None,
    vocabulary: Vocabulary,
) -> tuple[Counter[str], Counter[str]]:
    """Posts per smear term, and per defender the posts with any term."""
    week = _week_counts(connection, start, end, defender, vocabulary, 0)
    return week.terms, week.smear_posts


def _covered_weeks(connection: Connection, weeks: list[Week]) -> list[Week]:
    covered = []
    for week in weeks:
        found = connection.execute(
            select(_POST.c.id)
            .where(_POST.c.created_at >= week.start, _POST.c.created_at < week.end)
            .limit(1)
        ).first()
        if found is not None:
            covered.append(week)
    return covered


def _source_health(
    connection: Connection, sources_configured: Sequence[SourceSchedule], week: Week
) -> tuple[list[SourceHealth], list[ImportHealth]]:
    every = {s.name: s.every_seconds for s in sources_configured}
    run = models.CollectionRun.__table__
    sources = connection.execute(select(models.Source.__table__).order_by(models.Source.name)).all()
    health = []
    for source in sources:
        runs = connection.execute(
            select(run)
            .where(
                run.c.source_id == source.id,
                run.c.started_at >= week.start,
                run.c.started_at < week.end,
            )
            .order_by(run.c.started_at, run.c.id)
        ).all()
        expected = every.get(source.name)
        allowed = timedelta(seconds=max(2 * (expected or 3 * 3600), 3600))
        points = [week.start, *[r.started_at for r in runs], week.end]
        gaps = [(a, b) for a, b in zip(points, points[1:], strict=False) if b - a > allowed]
        errors = [r for r in runs if r.status not in SUCCESS]
        health.append(
            SourceHealth(
                name=source.name,
                platform=source.platform,
                runs=len(runs),
                ok=len(runs) - len(errors),
                errors=len(errors),
                fetched=sum(r.fetched or 0 for r in runs),
                inserted=sum(r.inserted or 0 for r in runs),
                gaps=gaps,
                last_error=next((r.error for r in reversed(errors) if r.error), None),
                expected_every_seconds=expected,
            )
        )
    batch = models.ImportBatch.__table__
    counted = connection.execute(
        select(_POST.c.import_batch_id, func.count())
        .where(
            _POST.c.created_at >= week.start,
            _POST.c.created_at < week.end,
            _POST.c.import_batch_id.is_not(None),
        )
        .group_by(_POST.c.import_batch_id)
    ).all()
    per_batch = dict(counted)
    imports = []
    if per_batch:
        for row in connection.execute(
            select(batch).where(batch.c.id.in_(list(per_batch))).order_by(batch.c.id)
        ):
            imports.append(
                ImportHealth(
                    file_name=row.file_name,
                    file_sha256=row.file_sha256,
                    format=row.format,
                    finished_at=row.finished_at,
                    status=row.status,
                    inserted=row.inserted,
                    rejected=row.rejected,
                    posts_in_week=per_batch[row.id],
                )
            )
    return health, imports


def latest_run(connection: Connection, start: datetime, end: datetime) -> Any | None:
    """The latest successful analysis run whose window overlaps [start, end), or None."""
    run = models.AnalysisRun.__table__
    rows = connection.execute(
        select(run)
        .where(
            run.c.status.in_(sorted(SUCCESS)),
            or_(run.c.since.is_(None), run.c.since < end),
            or_(run.c.until.is_(None), run.c.until > start),
        )
        .order_by(run.c.id.desc())
    ).all()
    if not rows:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(rows, key=lambda r: (r.finished_at or r.started_at or epoch, r.id))


def _active_clusters(
    connection: Connection, run_id: int, start: datetime, end: datetime, defender: str | None
) -> list[Any]:
    cluster = models.Cluster.__table__
    rows = connection.execute(
        select(cluster)
        .where(
            cluster.c.analysis_run_id == run_id,
            or_(cluster.c.first_activity.is_(None), cluster.c.first_activity < end),
            or_(cluster.c.last_activity.is_(None), cluster.c.last_activity >= start),
        )
        .order_by(cluster.c.score.desc(), cluster.c.stable_id)
    ).all()
    if defender is None:
        return list(rows)
    kept = []
    for row in rows:
        targets = {t.get("defender_id") for t in row.targets or [] if isinstance(t, dict)}
        if row.defender_id == defender or defender in targets:
            kept.append(row)
    return kept


def _members(connection: Connection, cluster_ids: list[int]) -> dict[int, list[Any]]:
    member = models.ClusterMember.__table__
    found: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(cluster_ids):
        rows = connection.execute(
            select(
                member.c.cluster_id,
                member.c.account_id,
                member.c.centrality,
                member.c.posts,
                member.c.signals,
                _ACCOUNT.c.platform,
                _ACCOUNT.c.platform_id,
                _ACCOUNT.c.handle,
                _ACCOUNT.c.display_name,
                _ACCOUNT.c.created_at,
            )
            .join(_ACCOUNT, _ACCOUNT.c.id == member.c.account_id)
            .where(member.c.cluster_id.in_(chunk))
        )
        for row in rows:
            found[row.cluster_id].append(row)
    return found


def _posts_per_account(
    connection: Connection, account_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, int]:
    ids = sorted(set(account_ids))
    counts: dict[int, int] = {}
    for chunk in _chunks(ids):
        rows = connection.execute(
            select(_POST.c.account_id, func.count())
            .where(
                _POST.c.account_id.in_(chunk),
                _POST.c.created_at >= start,
                _POST.c.created_at < end,
            )
            .group_by(_POST.c.account_id)
        )
        counts.update({a: n for a, n in rows})
    return counts


def _hourly(
    connection: Connection, account_ids: list[int], week: Week
) -> list[tuple[datetime, int]]:
    counts: Counter[datetime] = Counter()
    for chunk in _chunks(sorted(set(account_ids))):
        rows = connection.execute(
            select(_POST.c.created_at).where(
                _POST.c.account_id.in_(chunk),
                _POST.c.created_at >= week.start,
                _POST.c.created_at < week.end,
            )
        )
        for (created,) in rows:
            counts[created.replace(minute=0, second=0, microsecond=0)] += 1
    return sorted(counts.items())


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _evidence_rows(connection: Connection, evidence_ids: Iterable[str]) -> dict[str, EvidenceRow]:
    ids = sorted(set(evidence_ids))
    found: dict[str, EvidenceRow] = {}
    for chunk in _chunks(ids):
        rows = connection.execute(
            select(
                _POST.c.evidence_id,
                _POST.c.platform,
                _POST.c.platform_id,
                _POST.c.url,
                _POST.c.account_id,
                _POST.c.author_handle,
                _POST.c.created_at,
                _POST.c.collected_at,
                _POST.c.raw_sha256,
                _POST.c.text,
                _POST.c.lang,
                _POST.c.deleted_at,
                _ACCOUNT.c.platform_id.label("author_id"),
            )
            .join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
            .where(_POST.c.evidence_id.in_(chunk))
        )
        for row in rows:
            found[row.evidence_id] = EvidenceRow(
                evidence_id=row.evidence_id,
                platform=row.platform,
                post_id=row.platform_id,
                url=row.url,
                author_id=row.author_id,
                account_pk=row.account_id,
                handle=row.author_handle,
                created_at=row.created_at,
                collected_at=row.collected_at,
                raw_sha256=row.raw_sha256,
                text=row.text or "",
                lang=row.lang,
                deleted_at=row.deleted_at,
            )
    return found


def _edges(connection: Connection, cluster_id: int, run_id: int, members: set[int]) -> list[Edge]:
    """The cluster's edges; runs that do not tag edges with a cluster are matched by members."""
    edge = models.CoordinationEdge.__table__
    rows = connection.execute(
        select(edge).where(edge.c.cluster_id == cluster_id).order_by(edge.c.id)
    ).all()
    if not rows:
        rows = []
        for chunk in _chunks(sorted(members)):
            rows.extend(
                connection.execute(
                    select(edge).where(
                        edge.c.analysis_run_id == run_id,
                        edge.c.cluster_id.is_(None),
                        edge.c.account_a.in_(chunk),
                    )
                ).all()
            )
        rows.sort(key=lambda r: r.id)
    return [
        Edge(
            a=r.account_a,
            b=r.account_b,
            weight=float(r.weight),
            fast=bool(r.fast),
            shared_objects=r.shared_objects,
            min_dt_seconds=float(r.min_dt_seconds),
            layers=_as_dict(r.layers),
        )
        for r in rows
        if r.account_a in members and r.account_b in members
    ]


# --------------------------------------------------------------------------- clusters


def _previous_week_clusters(
    connection: Connection, week: Week, defender: str | None, min_score: float
) -> dict[str, dict[str, Any]]:
    """stable_id -> score, flagged and member posts in the previous week."""
    prev = week.shifted(-1)
    run = latest_run(connection, prev.start, prev.end)
    if run is None:
        return {}
    rows = _active_clusters(connection, run.id, prev.start, prev.end, defender)
    members = _members(connection, [r.id for r in rows])
    counts = _posts_per_account(
        connection, (m.account_id for ms in members.values() for m in ms), prev.start, prev.end
    )
    found = {}
    for row in rows:
        found[row.stable_id] = {
            "stable_id": row.stable_id,
            "defender_id": row.defender_id,
            "score": float(row.score),
            "stance": row.stance,
            "confidence": row.confidence,
            "last_activity": row.last_activity,
            "flagged": row.stance != "supportive" and row.score >= min_score,
            "posts": sum(counts.get(m.account_id, 0) for m in members.get(row.id, [])),
        }
    return found


def _cluster_status(posts: int, score: float, previous: dict[str, Any] | None) -> str:
    if previous is None or previous["posts"] == 0:
        return "new"
    grew = posts >= 1.5 * previous["posts"] and posts - previous["posts"] >= 5
    if grew or score - previous["score"] >= 10:
        return "escalating"
    return "continuing"


def _cluster_sections(
    connection: Connection,
    run: Any,
    week: Week,
    defender: str | None,
    settings: ReportSettings,
    previous: dict[str, dict[str, Any]],
    *,
    only: str | None = None,
) -> tuple[list[ClusterSection], dict[str, EvidenceRow]]:
    """The week's active clusters of `run`; with `only`, that one cluster of the run whether or
    not it was active in the week, with its narratives, evidence and edges even if not flagged."""
    if only is None:
        rows = _active_clusters(connection, run.id, week.start, week.end, defender)
    else:
        cluster = models.Cluster.__table__
        rows = connection.execute(
            select(cluster).where(cluster.c.analysis_run_id == run.id, cluster.c.stable_id == only)
        ).all()
    members = _members(connection, [r.id for r in rows])
    counts = _posts_per_account(
        connection, (m.account_id for ms in members.values() for m in ms), week.start, week.end
    )
    evidence_table = models.ClusterEvidence.__table__
    reviews = latest_reviews(connection, sorted({r.stable_id for r in rows}))
    sections = []
    wanted: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        flagged = row.stance != "supportive" and float(row.score) >= settings.min_score
        accounts = [
            AccountRow(
                account_pk=m.account_id,
                platform=m.platform,
                platform_id=m.platform_id,
                handle=m.handle,
                display_name=m.display_name,
                created_at=m.created_at,
                posts_in_week=counts.get(m.account_id, 0),
                centrality=float(m.centrality),
                cluster_posts=m.posts,
                signals=_as_dict(m.signals),
            )
            for m in members.get(row.id, [])
        ]
        accounts.sort(key=lambda a: (-a.posts_in_week, -a.centrality, a.platform, a.platform_id))
        member_ids = {a.account_pk for a in accounts}
        posts = sum(a.posts_in_week for a in accounts)
        cited: list[str] = []
        narratives = []
        evidence: list[EvidenceObject] = []
        detailed = flagged or only is not None
        if detailed:
            for item in _as_list(row.narratives)[: settings.narratives_per_cluster]:
                if not isinstance(item, dict):
                    continue
                ids = [e for e in _as_list(item.get("evidence_ids")) if isinstance(e, str)]
                ids = ids[: settings.examples_per_narrative]
                cited.extend(ids)
                narratives.append(
                    Narrative(
                        key=str(item.get("key", "")),
                        representative_text=str(item.get("representative_text") or ""),
                        posts=int(item.get("posts") or 0),
                        accounts=int(item.get("accounts") or 0),
                        first_at=_parse_time(item.get("first_at")),
                        last_at=_parse_time(item.get("last_at")),
                        smear_categories=[str(c) for c in _as_list(item.get("smear_categories"))],
                        supportive=bool(item.get("supportive")),
                        examples=[Example(e, week.start, None, "", None) for e in ids],
                    )
                )
            ev_rows = connection.execute(
                select(evidence_table)
                .where(evidence_table.c.cluster_id == row.id)
                .order_by(
                    evidence_table.c.accounts.desc(),
                    evidence_table.c.span_seconds,
                    evidence_table.c.id,
                )
                .limit(settings.evidence_objects_per_cluster)
            ).all()
            for ev in ev_rows:
                posts_list = [
                    p for p in _as_list(ev.posts) if isinstance(p, dict) and p.get("evidence_id")
                ]
                posts_list.sort(key=lambda p: (float(p.get("delta_s") or 0), p["evidence_id"]))
                posts_list = posts_list[: settings.posts_per_evidence_object]
                cited.extend(p["evidence_id"] for p in posts_list)
                evidence.append(
                    EvidenceObject(
                        kind=ev.kind,
                        display=ev.display,
                        accounts=ev.accounts,
                        outside_accounts=ev.outside_accounts,
                        first_at=ev.first_at,
                        span_seconds=float(ev.span_seconds),
                        posts=posts_list,
                    )
                )
        cited = list(dict.fromkeys(cited))
        for evidence_id in cited:
            wanted[evidence_id].append(row.stable_id)
        sections.append(
            ClusterSection(
                stable_id=row.stable_id,
                defender_id=row.defender_id,
                targets=[t for t in _as_list(row.targets) if isinstance(t, dict)],
                size=row.size,
                score=float(row.score),
                confidence=row.confidence,
                stance=row.stance,
                flagged=flagged,
                status=_cluster_status(posts, float(row.score), previous.get(row.stable_id)),
                first_activity=row.first_activity,
                last_activity=row.last_activity,
                posts_in_week=posts,
                posts_prev_week=previous.get(row.stable_id, {}).get("posts", 0),
                prev_score=previous.get(row.stable_id, {}).get("score"),
                components=_as_dict(row.components),
                signals=_as_dict(row.signals),
                narratives=narratives,
                explanation=[str(s) for s in _as_list(row.explanation)],
                alternatives=[str(s) for s in _as_list(row.alternatives)],
                accounts=accounts,
                edges=_edges(connection, row.id, run.id, member_ids) if detailed else [],
                evidence=evidence,
                hourly=_hourly(connection, sorted(member_ids), week) if detailed else [],
                review=reviews.get(row.stable_id),
                cited=cited,
            )
        )
    found = _evidence_rows(connection, wanted)
    for evidence_id, row in found.items():
        row.clusters = sorted(set(wanted[evidence_id]))
    for section in sections:
        section.cited = [e for e in section.cited if e in found]
        for narrative in section.narratives:
            narrative.examples = [
                Example(
                    e.evidence_id,
                    found[e.evidence_id].created_at,
                    found[e.evidence_id].handle,
                    found[e.evidence_id].text,
                    found[e.evidence_id].lang,
                    found[e.evidence_id].account_pk,
                )
                for e in narrative.examples
                if e.evidence_id in found
            ]
        for obj in section.evidence:
            obj.posts = [p for p in obj.posts if p["evidence_id"] in found]
    return sections, found


# --------------------------------------------------------------------------- summary


def _watch_rows(
    defenders: list[tuple[str, str]],
    this_week: Counter[str],
    prev_week: Counter[str],
    baseline: dict[str, float | None],
    accounts: dict[str, int],
    smear: dict[str, int],
    clusters: list[ClusterSection],
) -> list[WatchRow]:
    rows = []
    for defender_id, name in defenders:
        mentions = this_week[defender_id]
        base = baseline.get(defender_id)
        base_week = base * 7 if base is not None else None
        open_clusters = [
            c
            for c in clusters
            if c.flagged
            and (
                c.defender_id == defender_id
                or defender_id in {t.get("defender_id") for t in c.targets}
            )
        ]
        share = smear.get(defender_id, 0) / mentions if mentions else None
        strong = [c for c in open_clusters if c.confidence == "high" or c.score >= 70]
        if strong:
            light, reason = "red", f"flagged cluster {strong[0].stable_id} (high signal)"
        elif open_clusters:
            light, reason = "amber", f"flagged cluster {open_clusters[0].stable_id}"
        elif base_week and mentions >= 10 and mentions >= 2 * base_week:
            light, reason = "amber", "mentions at least twice the baseline"
        elif share is not None and mentions >= 5 and share >= 0.25:
            light, reason = "amber", "a quarter or more of mentions use smear terms"
        else:
            light, reason = "green", "no flagged cluster, volume and smear share normal"
        rows.append(
            WatchRow(
                defender_id=defender_id,
                name=name,
                mentions=mentions,
                mentions_prev=prev_week[defender_id],
                baseline_week=base_week,
                unique_accounts=accounts.get(defender_id, 0),
                smear_share=share,
                open_clusters=[c.stable_id for c in open_clusters],
                light=light,
                reason=reason,
            )
        )
    return rows


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%a %d %b %H:%M UTC") if value else "unknown"


# How the evidence layers read in a sentence ("acted in concert through shared links, ...").
LAYER_WORDS = {
    "link": "shared links",
    "repost": "reposts of the same posts",
    "reply": "replies to the same posts",
    "text": "identical texts",
    "near_text": "near-identical texts",
    "hashtags": "identical hashtag sequences",
    "pileon": "mention pile-ons",
}


def _findings(report: WeekReport) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    flagged = sorted(report.flagged, key=lambda c: (-c.score, c.stable_id))
    for cluster in flagged[:3]:
        verdict = report_review_label(cluster.review) if cluster.review else "not yet reviewed"
        kinds = sorted(
            {LAYER_WORDS.get(e.kind, e.kind.replace("_", " ")) for e in cluster.evidence}
        )
        how = f" through {', '.join(kinds)}" if kinds else ""
        findings.append(
            Finding(
                text=(
                    f"Cluster {cluster.stable_id} ({cluster.status}, stance {cluster.stance}): "
                    f"{cluster.size} accounts acted in concert{how} targeting "
                    f"{report.defender_name(cluster.defender_id)}, between "
                    f"{_fmt_time(cluster.first_activity)} and {_fmt_time(cluster.last_activity)}. "
                    f"Automated signal strength {cluster.score:.0f}/100; analyst verdict: "
                    f"{verdict}."
                ),
                confidence=f"automated: {cluster.confidence}",
                evidence_ids=cluster.cited[:3],
            )
        )
    changes = [w for w in report.watch if w.mentions or w.mentions_prev]
    changes.sort(key=lambda w: (-abs(w.mentions - w.mentions_prev), w.defender_id))
    for row in changes[:1]:
        findings.append(
            Finding(
                text=(
                    f"Mentions of {row.name}: {row.mentions:,} this week against "
                    f"{row.mentions_prev:,} last week"
                    + (
                        f" (baseline {row.baseline_week:,.0f} a week)."
                        if row.baseline_week is not None
                        else " (no baseline: fewer than one earlier week collected)."
                    )
                ),
                confidence="measured count",
                evidence_ids=[],
            )
        )
    problems = [s for s in report.sources if s.errors or s.gaps]
    if problems:
        names = ", ".join(s.name for s in problems)
        findings.append(
            Finding(
                text=(
                    f"Collection was incomplete for {names}: low counts there may reflect the "
                    "gap, not a quiet week."
                ),
                confidence="measured",
                evidence_ids=[],
            )
        )
    if not flagged:
        findings.insert(
            0,
            Finding(
                text="No coordinated hostile cluster reached the reporting threshold this week.",
                confidence="automated" if report.analysis else "no analysis run covers the week",
                evidence_ids=[],
            ),
        )
    actions: list[str] = []
    red = [w for w in report.watch if w.light == "red"]
    for row in red:
        actions.append(
            f"Inform and check in with {row.name}; offer digital-security support "
            "(account hardening, reporting channels)."
        )
    unreviewed = [c.stable_id for c in flagged if not c.review]
    if unreviewed:
        actions.append(
            f"Review cluster(s) {', '.join(unreviewed)} and record a verdict before quoting "
            "them outside the organisation."
        )
    confirmed = [
        c.stable_id
        for c in flagged
        if c.review and str(c.review.get("verdict", "")).lower().startswith("confirm")
    ]
    if confirmed:
        actions.append(
            f"Consider a platform notice (DSA Art. 16 where applicable) and an allegation letter "
            f"to the UN Special Rapporteur for {', '.join(confirmed)}, citing the URLs of "
            "Annex A."
        )
    if problems:
        actions.append("Fix the collection problems listed under collection health.")
    if not actions:
        actions.append("No action needed beyond routine monitoring.")
    return findings[:5], actions


def report_review_label(review: dict[str, Any]) -> str:
    verdict = str(review.get("verdict") or "?")
    who = review.get("reviewer")
    when = review.get("created_at")
    parts = [verdict]
    if who:
        parts.append(f"by {who}")
    if isinstance(when, datetime):
        parts.append(when.strftime("%Y-%m-%d"))
    return " ".join(parts)


# --------------------------------------------------------------------------- entry point


def _beside(pool: ThreadPoolExecutor, engine: Engine, read: Any, *args: Any) -> Future[Any]:
    """`read(connection, *args)` on a connection of its own, in `pool`.

    A database in memory is one connection's alone (another would be another, empty
    database), so there the read runs here and now instead.
    """
    if engine.dialect.name == "sqlite" and (
        engine.url.database in (None, "", ":memory:") or "mode=memory" in str(engine.url)
    ):
        done: Future[Any] = Future()
        with engine.connect() as connection:
            done.set_result(read(connection, *args))
        return done

    def job() -> Any:
        with engine.connect() as connection:
            return read(connection, *args)

    return pool.submit(job)


def _accounts_and_health(
    connection: Connection, week: Week, defender: str | None, sources: Sequence[SourceSchedule]
) -> tuple[tuple[dict[str, int], dict[int, tuple[datetime, datetime | None]]], Any]:
    """The week's accounts per defender and first mentions, and its collection health."""
    accounts = _week_accounts(connection, week.start, week.end, defender)
    return accounts, _source_health(connection, sources, week)


def build_week_report(
    engine: Engine,
    inputs: ReportInputs,
    week: Week,
    *,
    defender: str | None = None,
    settings: ReportSettings | None = None,
    daily_cache: MutableMapping[tuple[str, str | None], DailyRows] | None = None,
) -> WeekReport:
    """Read everything the week's report shows from the database (internal variant).

    `daily_cache`: daily mention counts per (week, defender) kept by the caller for one state
    of the data (`_daily_by_week`); the report is the same with or without it.

    Raises:
        UnknownDefender: `defender` is not a configured defender.
    """
    settings = settings or inputs.settings
    if defender is not None:
        inputs.check_defender(defender)
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="smearwatch-report") as pool,
        engine.connect() as connection,
    ):
        # Independent reads on connections of their own beside this one (the five weeks of
        # daily counts; the week's accounts and collection health): the database works on
        # them while this thread reads the week's counts and clusters (SQLite and psycopg
        # let go of the GIL while a statement runs).
        counted_weeks = [week.shifted(-i) for i in range(BASELINE_WEEKS, -1, -1)]
        daily_job = _beside(pool, engine, _daily_by_week, counted_weeks, defender, daily_cache)
        side_job = _beside(pool, engine, _accounts_and_health, week, defender, inputs.sources)
        run = latest_run(connection, week.start, week.end)
        vocabulary: Vocabulary = vocabulary_from_run(run.vocabulary if run else None)
        mentioned = _week_counts(
            connection, week.start, week.end, defender, vocabulary, settings.top_terms
        )
        posts_in_week = mentioned.posts
        smear_counts, smear_posts = mentioned.terms, mentioned.smear_posts
        hashtags, domains = mentioned.hashtags, mentioned.domains

        analysis = None
        clusters: list[ClusterSection] = []
        evidence: dict[str, EvidenceRow] = {}
        previous = _previous_week_clusters(connection, week, defender, settings.min_score)
        if run is not None:
            analysis = AnalysisInfo(
                run_id=run.id,
                status=run.status,
                started_at=run.started_at,
                finished_at=run.finished_at,
                since=run.since,
                until=run.until,
                code_version=run.code_version,
                parameters=_as_dict(run.parameters),
                layers=_as_dict(run.layers),
                stats=_as_dict(run.stats),
                vocabulary_origin=vocabulary.origin,
            )
            clusters, evidence = _cluster_sections(
                connection, run, week, defender, settings, previous
            )
        active = {c.stable_id for c in clusters}
        dormant = [p for sid, p in sorted(previous.items()) if p["flagged"] and sid not in active]

        per_day = daily_job.result()
        week_days = set(week.days())
        prev_days = set(week.shifted(-1).days())
        prev_week: Counter[str] = Counter()
        this_week: Counter[str] = Counter()
        for day, defender_id, _, n in per_day:
            if day in prev_days:
                prev_week[defender_id] += n
            elif day in week_days:
                this_week[defender_id] += n
        configured = list(inputs.defenders)
        seen = sorted({r[1] for r in per_day} - {d for d, _ in configured})
        defenders = configured + [(d, d) for d in seen]
        if defender is not None:
            defenders = [(d, n) for d, n in defenders if d == defender]

        daily = [DailyCount(day, d, p, n) for day, d, p, n in per_day if day in week_days]
        earlier = [week.shifted(-i) for i in range(BASELINE_WEEKS, 0, -1)]
        covered = _covered_weeks(connection, earlier)
        covered_labels = {w.label for w in covered}
        baseline: dict[str, float | None] = {}
        for defender_id, _ in defenders:
            if not covered:
                baseline[defender_id] = None
                continue
            per_week: Counter[str] = Counter()
            for day, who, _, n in per_day:
                if who == defender_id and day < week.start.date():
                    per_week[f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}"] += n
            weekly = [per_week.get(w.label, 0) for w in covered if w.label in covered_labels]
            baseline[defender_id] = statistics.fmean(weekly) / 7
        (accounts_per_defender, first_post), (sources, imports) = side_job.result()
        known_age = [(t, c) for t, c in first_post.values() if c is not None]
        young = sum(1 for t, c in known_age if (t - c) < timedelta(days=YOUNG_DAYS))

    totals = {
        "mentions": sum(this_week.values()),
        "posts": posts_in_week,
        "unique_accounts": len(first_post),
        "accounts_with_age": len(known_age),
        "young_accounts": young,
        "young_share": young / len(known_age) if known_age else None,
        "posts_with_smear_terms": sum(smear_posts.values()),
    }
    report = WeekReport(
        week=week,
        variant="internal",
        generated_at=_report_time(week),
        version=inputs.version,
        defenders=defenders,
        defender_filter=defender,
        settings=settings,
        daily=daily,
        baseline_daily=baseline,
        baseline_weeks=[w.label for w in covered],
        totals=totals,
        smear_terms=sorted(smear_counts.items(), key=lambda kv: (-kv[1], kv[0]))[
            : settings.top_terms
        ],
        hashtags=hashtags,
        domains=domains,
        vocabulary_origin=vocabulary.origin,
        sources=sources,
        imports=imports,
        analysis=analysis,
        clusters=clusters,
        dormant=dormant,
        watch=[],
        findings=[],
        actions=[],
        evidence=sorted(evidence.values(), key=lambda e: (e.created_at, e.evidence_id)),
        configured_sources=[(s.name, s.platform) for s in inputs.sources],
        analysis_window=(inputs.window_seconds, inputs.min_repetitions),
    )
    report.watch = _watch_rows(
        defenders, this_week, prev_week, baseline, accounts_per_defender, smear_posts, clusters
    )
    report.findings, report.actions = _findings(report)
    return report


def build_cluster_section(
    engine: Engine,
    inputs: ReportInputs,
    stable_id: str,
    *,
    run_id: int | None = None,
    week: Week | None = None,
) -> tuple[ClusterSection, list[EvidenceRow], Week, int] | None:
    """One cluster as the report would show it, with every detail even when not flagged.

    The run is `run_id`, else the latest successful run holding `stable_id`; the week is
    `week`, else the week of the cluster's last activity (its week counts are for that week).
    Returns (section, cited posts, week, run id), or None when no such cluster exists.
    """
    run_table = models.AnalysisRun.__table__
    cluster = models.Cluster.__table__
    with engine.connect() as connection:
        query = (
            select(run_table)
            .join(cluster, cluster.c.analysis_run_id == run_table.c.id)
            .where(cluster.c.stable_id == stable_id, run_table.c.status.in_(sorted(SUCCESS)))
            .order_by(run_table.c.id.desc())
            .limit(1)
        )
        if run_id is not None:
            query = query.where(run_table.c.id == run_id)
        run = connection.execute(query).first()
        if run is None:
            return None
        if week is None:
            last = connection.execute(
                select(cluster.c.last_activity).where(
                    cluster.c.analysis_run_id == run.id, cluster.c.stable_id == stable_id
                )
            ).scalar()
            week = week_of(last or run.until or run.started_at)
        previous = _previous_week_clusters(connection, week, None, inputs.settings.min_score)
        sections, found = _cluster_sections(
            connection, run, week, None, inputs.settings, previous, only=stable_id
        )
    if not sections:
        return None
    evidence = sorted(found.values(), key=lambda e: (e.created_at, e.evidence_id))
    return sections[0], evidence, week, run.id


def refresh_reviews(engine: Engine, report: WeekReport) -> WeekReport:
    """The same report with its clusters' latest analyst verdicts read again.

    Verdicts change while a built report is being looked at (the web page keeps one built
    report per week and data state); the findings and actions that quote them are derived
    again, so nothing else about the counts changes.
    """
    with engine.connect() as connection:
        reviews = latest_reviews(connection, sorted({c.stable_id for c in report.clusters}))
    for cluster in report.clusters:
        cluster.review = reviews.get(cluster.stable_id)
    report.findings, report.actions = _findings(report)
    return report
