"""SQLAlchemy models: the evidence tables, the collection bookkeeping and the analysis results.

Evidence (`post`, `post_version`, `account`) is kept apart from interpretation (`mention`,
`cluster*`, `review`): labels are written by analysis runs and analysts and never overwrite
what was received. Every change here needs an Alembic migration; `tests/db/test_migrations.py`
fails when the two disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no zone-aware type; storing naive UTC there and re-attaching UTC on the way
    out keeps comparisons and the co-action windows correct on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Account(Base):
    """An author; `handle` is the latest seen, each post keeps the handle it had at capture."""

    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("platform", "platform_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(512))
    handle: Mapped[str | None] = mapped_column(String(512))
    display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class ImportBatch(Base):
    """One imported file: its name and SHA-256 prove which bytes the posts came from."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(64))
    importer_version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    known: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Source(Base):
    """A configured `[[sources]]` entry; its cursor moves only with the posts it covers."""

    __tablename__ = "source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    cursor: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CollectionRun(Base):
    __tablename__ = "collection_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Post(Base):
    """The current version of a post; earlier versions of an edited post live in `post_version`.

    A post the platform no longer serves keeps its row with `deleted_at` set (a tombstone).

    `raw` is the payload as received (canonical JSON or verbatim text) and `raw_sha256` its
    hash; the normalised columns beside it are derived from it and may be rebuilt.
    """

    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("platform", "platform_id"),
        # With the platform: the week report's daily counts per platform over five weeks
        # read this index alone, not a million post rows (see migration 0007).
        Index("ix_post_created_at", "created_at", "platform"),
        Index("ix_post_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(512))
    evidence_id: Mapped[str] = mapped_column(String(24), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    author_handle: Mapped[str | None] = mapped_column(String(512))
    author_display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    collected_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(String(512))
    repost_of: Mapped[str | None] = mapped_column(String(512))
    quote_of: Mapped[str | None] = mapped_column(String(512))
    raw: Mapped[str] = mapped_column(Text)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the record exactly as it stood in an import file (the JSONL line), if any.
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    collector: Mapped[str] = mapped_column(String(128))
    source_name: Mapped[str | None] = mapped_column(String(128))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    collection_run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_run.id"))
    provenance: Mapped[dict[str, Any] | None]
    # A tombstone: when a re-read found the post gone, and how (request, status, run). The row
    # and its versions stay: a deleted post is still evidence.
    deleted_at: Mapped[datetime | None]
    deletion: Mapped[dict[str, Any] | None]


class PostVersion(Base):
    """A superseded version of an edited post, kept whole: edits are evidence."""

    __tablename__ = "post_version"
    __table_args__ = (UniqueConstraint("post_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    collected_at: Mapped[datetime]
    superseded_at: Mapped[datetime]
    collector: Mapped[str] = mapped_column(String(128))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    collection_run_id: Mapped[int | None] = mapped_column(ForeignKey("collection_run.id"))


class PostLink(Base):
    __tablename__ = "post_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    normalized_url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(255))


class PostHashtag(Base):
    __tablename__ = "post_hashtag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tag: Mapped[str] = mapped_column(String(512))


class PostTag(Base):
    """Accounts a post tags (@mentions in metadata), as the platform gave them."""

    __tablename__ = "post_tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    handle: Mapped[str] = mapped_column(String(512))


class Mention(Base):
    """A defender found in a post: which alias matched, and where."""

    __tablename__ = "mention"
    __table_args__ = (
        Index("ix_mention_defender", "defender_id", "post_id"),
        # With the defender: joining a week's posts to who they mention reads the index
        # alone (migration 0007).
        Index("ix_mention_post_id", "post_id", "defender_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    defender_id: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(Text)
    matched_text: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(64))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)


class PostSmearTerms(Base):
    """The report's smear terms found in a post's text under one vocabulary: a stored answer.

    Finding the terms in a week's ~100,000 mention texts took seconds of every cold week
    report (reading the texts, then the matcher), though a post's terms change only with its
    text or the vocabulary. `smearwatch analyze` stores them for the mention posts of its
    window (`reports.terms.store_post_terms`); the report takes a row only when `vocabulary`
    is its vocabulary's key and `content_sha256` the post's current one, and matches the text
    itself otherwise, so an edit, a re-import or a changed vocabulary is never answered from
    a stale row. A tombstone keeps its text, so its row stays right; a removed post takes its
    rows with it (ON DELETE CASCADE).
    """

    __tablename__ = "post_smear_terms"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    vocabulary: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    # JSON list of the report terms found, in the vocabulary's order; "[]" when none.
    terms: Mapped[str] = mapped_column(Text)


class State(Base):
    """Small key/value facts about the database itself (e.g. the matcher fingerprint)."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AnalysisRun(Base):
    """One run of the coordination analysis: its window, parameters and rule versions."""

    __tablename__ = "analysis_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None]
    until: Mapped[datetime | None]
    code_version: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any] | None]
    vocabulary: Mapped[dict[str, Any] | None]
    stats: Mapped[dict[str, Any] | None]
    layers: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class Cluster(Base):
    """A group of accounts that acted in concert, with its score and the reasons for it.

    `stable_id` ("C7") is carried over between runs by member overlap, so a cluster keeps its
    name from week to week; the row itself belongs to one run.
    """

    __tablename__ = "cluster"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_run_id: Mapped[int] = mapped_column(
        ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True
    )
    stable_id: Mapped[str] = mapped_column(String(32), index=True)
    local_id: Mapped[int] = mapped_column(Integer)
    defender_id: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    score: Mapped[float]
    confidence: Mapped[str] = mapped_column(String(16))
    stance: Mapped[str] = mapped_column(String(16))
    first_activity: Mapped[datetime | None]
    last_activity: Mapped[datetime | None]
    components: Mapped[dict[str, Any] | None]
    signals: Mapped[dict[str, Any] | None]
    targets: Mapped[list[Any] | None] = mapped_column(JSON)
    narratives: Mapped[list[Any] | None] = mapped_column(JSON)
    explanation: Mapped[list[Any] | None] = mapped_column(JSON)
    alternatives: Mapped[list[Any] | None] = mapped_column(JSON)


class ClusterMember(Base):
    __tablename__ = "cluster_member"
    __table_args__ = (UniqueConstraint("cluster_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    centrality: Mapped[float]
    posts: Mapped[int] = mapped_column(Integer)
    signals: Mapped[dict[str, Any] | None]


class ClusterEvidence(Base):
    """A shared object and the posts that prove a cluster, ready to cite.

    `posts` lists the evidence posts (post row id, evidence id, account, time, seconds after
    the first) so a report can quote them without re-running the analysis.
    """

    __tablename__ = "cluster_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("cluster.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(Text)
    display: Mapped[str] = mapped_column(Text)
    accounts: Mapped[int] = mapped_column(Integer)
    outside_accounts: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime | None]
    span_seconds: Mapped[float]
    posts: Mapped[list[Any] | None] = mapped_column(JSON)


class CoordinationEdge(Base):
    """Two accounts linked by repeated co-action, with the measured excess over chance."""

    __tablename__ = "coordination_edge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_run_id: Mapped[int] = mapped_column(
        ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True
    )
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("cluster.id", ondelete="CASCADE"), index=True
    )
    account_a: Mapped[int] = mapped_column(ForeignKey("account.id"))
    account_b: Mapped[int] = mapped_column(ForeignKey("account.id"))
    weight: Mapped[float]
    shared_objects: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float]
    excess: Mapped[float]
    p_value: Mapped[float]
    fast: Mapped[bool]
    min_dt_seconds: Mapped[float]
    layers: Mapped[dict[str, Any] | None]
    evidence: Mapped[list[Any] | None] = mapped_column(JSON)


class Review(Base):
    """An analyst's verdict on a cluster, kept beside (never over) the automated score."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stable_id: Mapped[str] = mapped_column(String(32), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class JobState(Base):
    """One scheduled daemon job: its last result and next run, so both survive a restart.

    `failures` counts consecutive failed runs (the back-off of a failing source grows with it);
    `detail` keeps what a job needs to resume, e.g. the weekly slot the report last covered.
    """

    __tablename__ = "job_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_message: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None]
    detail: Mapped[dict[str, Any] | None]


class Alert(Base):
    """A same-day alert, recorded once per event (`key`) and delivered once per channel.

    `channels` are the channels configured when the alert was raised and `delivered` maps each
    delivered channel to its time, so a failed delivery is retried and a done one never repeated.
    """

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    defender_id: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    channels: Mapped[list[Any] | None] = mapped_column(JSON)
    delivered: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebUser(Base):
    """An analyst who may log in to `smearwatch serve`; only an Argon2 hash of the password.

    Accounts are made with `smearwatch user add NAME` (never through the web pages), so a web
    login cannot create another one.
    """

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
