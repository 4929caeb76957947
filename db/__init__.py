"""Storage: SQLAlchemy models, engine set-up, Alembic migrations and bulk idempotent upserts."""
