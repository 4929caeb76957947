from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.engine import open_database
from db.reviews import latest_reviews, record_review

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_latest_verdict_is_the_newest_by_time_then_by_id(db_url: str) -> None:
    """A back-dated verdict written later does not override a newer one; a tie in time goes
    to the later row. Reports and web pages both read this."""
    engine = open_database(db_url)
    with engine.begin() as connection:
        record_review(connection, "C1", "dismissed", note="first", now=NOW)
        record_review(connection, "C1", "confirmed", note="second", now=NOW + timedelta(hours=1))
        record_review(connection, "C1", "dismissed", note="back-dated", now=NOW)
        record_review(connection, "C2", "confirmed", note="a", now=NOW)
        record_review(connection, "C2", "dismissed", note="b, same second", now=NOW)
    with engine.connect() as connection:
        found = latest_reviews(connection, ["C1", "C2", "C3"])
    assert found["C1"]["note"] == "second"
    assert found["C1"]["verdict"] == "confirmed"
    assert found["C2"]["note"] == "b, same second"
    assert "C3" not in found
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_more_clusters_than_one_in_list_takes(db_url: str) -> None:
    engine = open_database(db_url)
    ids = [f"C{n}" for n in range(2500)]
    with engine.begin() as connection:
        for n, stable_id in enumerate(ids):
            if n % 2:
                record_review(connection, stable_id, "confirmed", now=NOW)
    with engine.connect() as connection:
        found = latest_reviews(connection, ids)
    assert sorted(found) == sorted(ids[1::2])
    engine.dispose()
