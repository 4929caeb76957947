"""A full-text index on post text for the web search (`db.fulltext`): FTS5 trigrams on SQLite,
a pg_trgm GIN index on PostgreSQL. Built over the posts already stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from db import fulltext

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fulltext.create(op.get_bind())


def downgrade() -> None:
    fulltext.drop(op.get_bind())
