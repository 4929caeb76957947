"""What a cold week report reads fast: stored smear terms per post, two covering indexes.

- `post_smear_terms` (`db.models.PostSmearTerms`): the report's smear terms per post and
  vocabulary, stored by `smearwatch analyze` (`reports.terms`). Starts empty: until the next
  analysis the report matches the texts itself, as before.
- `ix_post_created_at` on (created_at, platform) instead of (created_at) and
  `ix_mention_post_id` on (post_id, defender_id) instead of (post_id): the report's five
  weeks of daily mention counts per defender and platform are then read from the two
  indexes alone. On bench/web.py's 1,001,000 posts (SQLite) that query took 2.2-2.5 s of
  CPU with the old indexes and 1.05-1.15 s with these; building them took 1.4 s of CPU.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _index(table: str, name: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(name)
        batch_op.create_index(name, columns, unique=False)


def upgrade() -> None:
    op.create_table(
        "post_smear_terms",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("vocabulary", sa.String(length=32), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["post.id"],
            name=op.f("fk_post_smear_terms_post_id_post"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "vocabulary", name=op.f("pk_post_smear_terms")),
    )
    _index("post", "ix_post_created_at", ["created_at", "platform"])
    _index("mention", "ix_mention_post_id", ["post_id", "defender_id"])


def downgrade() -> None:
    _index("mention", "ix_mention_post_id", ["post_id"])
    _index("post", "ix_post_created_at", ["created_at"])
    op.drop_table("post_smear_terms")
