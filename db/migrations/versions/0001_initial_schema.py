"""Initial schema: evidence tables, collection bookkeeping, analysis results.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=512), nullable=False),
        sa.Column("handle", sa.String(length=512), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("platform", "platform_id", name=op.f("uq_account_platform")),
    )
    op.create_table(
        "analysis_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_version", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("vocabulary", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("layers", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_run")),
    )
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("importer_version", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("known", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_batch_file_sha256"), ["file_sha256"], unique=False
        )

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stable_id", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_stable_id"), ["stable_id"], unique=False)

    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("name", name=op.f("uq_source_name")),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_state")),
    )
    op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_run_id", sa.Integer(), nullable=False),
        sa.Column("stable_id", sa.String(length=32), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("defender_id", sa.String(length=128), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("stance", sa.String(length=16), nullable=False),
        sa.Column("first_activity", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True),
        sa.Column("components", sa.JSON(), nullable=True),
        sa.Column("signals", sa.JSON(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("narratives", sa.JSON(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=True),
        sa.Column("alternatives", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["analysis_run_id"],
            ["analysis_run.id"],
            name=op.f("fk_cluster_analysis_run_id_analysis_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster")),
    )
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_analysis_run_id"), ["analysis_run_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cluster_stable_id"), ["stable_id"], unique=False)

    op.create_table(
        "collection_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_collection_run_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_run")),
    )
    with op.batch_alter_table("collection_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_run_source_id"), ["source_id"], unique=False
        )

    op.create_table(
        "cluster_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("display", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("outside_accounts", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("span_seconds", sa.Double(), nullable=False),
        sa.Column("posts", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_cluster_evidence_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_evidence")),
    )
    with op.batch_alter_table("cluster_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_evidence_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "cluster_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("centrality", sa.Double(), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_cluster_member_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_cluster_member_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_member")),
        sa.UniqueConstraint("cluster_id", "account_id", name=op.f("uq_cluster_member_cluster_id")),
    )
    with op.batch_alter_table("cluster_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_member_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "coordination_edge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_run_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("account_a", sa.Integer(), nullable=False),
        sa.Column("account_b", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("shared_objects", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("excess", sa.Double(), nullable=False),
        sa.Column("p_value", sa.Double(), nullable=False),
        sa.Column("fast", sa.Boolean(), nullable=False),
        sa.Column("min_dt_seconds", sa.Double(), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_a"], ["account.id"], name=op.f("fk_coordination_edge_account_a_account")
        ),
        sa.ForeignKeyConstraint(
            ["account_b"], ["account.id"], name=op.f("fk_coordination_edge_account_b_account")
        ),
        sa.ForeignKeyConstraint(
            ["analysis_run_id"],
            ["analysis_run.id"],
            name=op.f("fk_coordination_edge_analysis_run_id_analysis_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_coordination_edge_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordination_edge")),
    )
    with op.batch_alter_table("coordination_edge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coordination_edge_analysis_run_id"), ["analysis_run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coordination_edge_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=512), nullable=False),
        sa.Column("evidence_id", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("author_handle", sa.String(length=512), nullable=True),
        sa.Column("author_display_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=32), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("reply_to", sa.String(length=512), nullable=True),
        sa.Column("repost_of", sa.String(length=512), nullable=True),
        sa.Column("quote_of", sa.String(length=512), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("collector", sa.String(length=128), nullable=False),
        sa.Column("source_name", sa.String(length=128), nullable=True),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("collection_run_id", sa.Integer(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_post_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["collection_run_id"],
            ["collection_run.id"],
            name=op.f("fk_post_collection_run_id_collection_run"),
        ),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_post_import_batch_id_import_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post")),
        sa.UniqueConstraint("platform", "platform_id", name=op.f("uq_post_platform")),
    )
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.create_index("ix_post_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_post_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "mention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("defender_id", sa.String(length=128), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("matched_text", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_mention_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mention")),
    )
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.create_index("ix_mention_defender", ["defender_id", "post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mention_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_hashtag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_hashtag_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_hashtag")),
    )
    with op.batch_alter_table("post_hashtag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_hashtag_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("normalized_url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_link_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_link")),
    )
    with op.batch_alter_table("post_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_link_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_tag_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_tag")),
    )
    with op.batch_alter_table("post_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_tag_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collector", sa.String(length=128), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("collection_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["collection_run_id"],
            ["collection_run.id"],
            name=op.f("fk_post_version_collection_run_id_collection_run"),
        ),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_post_version_import_batch_id_import_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_version_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_version")),
        sa.UniqueConstraint("post_id", "version", name=op.f("uq_post_version_post_id")),
    )
    with op.batch_alter_table("post_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_version_post_id"), ["post_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("post_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_version_post_id"))

    op.drop_table("post_version")
    with op.batch_alter_table("post_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_tag_post_id"))

    op.drop_table("post_tag")
    with op.batch_alter_table("post_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_link_post_id"))

    op.drop_table("post_link")
    with op.batch_alter_table("post_hashtag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_hashtag_post_id"))

    op.drop_table("post_hashtag")
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mention_post_id"))
        batch_op.drop_index("ix_mention_defender")

    op.drop_table("mention")
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_evidence_id"))
        batch_op.drop_index("ix_post_created_at")
        batch_op.drop_index("ix_post_account_created")

    op.drop_table("post")
    with op.batch_alter_table("coordination_edge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coordination_edge_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_coordination_edge_analysis_run_id"))

    op.drop_table("coordination_edge")
    with op.batch_alter_table("cluster_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_member_account_id"))

    op.drop_table("cluster_member")
    with op.batch_alter_table("cluster_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_evidence_cluster_id"))

    op.drop_table("cluster_evidence")
    with op.batch_alter_table("collection_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_run_source_id"))

    op.drop_table("collection_run")
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_stable_id"))
        batch_op.drop_index(batch_op.f("ix_cluster_analysis_run_id"))

    op.drop_table("cluster")
    op.drop_table("state")
    op.drop_table("source")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_stable_id"))

    op.drop_table("review")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_file_sha256"))

    op.drop_table("import_batch")
    op.drop_table("analysis_run")
    op.drop_table("account")
