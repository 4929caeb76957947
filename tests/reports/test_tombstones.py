"""A report whose cited posts were deleted on their platform after collection: the stored copy
is still cited, hashed and verifiable, and marked with when the deletion was noticed."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pypdf
from click.testing import CliRunner
from sqlalchemy import select

from db import models
from db.store import mark_deleted
from reports.build import write_report
from reports.weeks import parse_week
from smearwatch.cli import cli
from tests.reports.conftest import World

W47 = parse_week("2026-W47")
NOTICED = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_deleted_evidence_is_cited_and_marked(world: World) -> None:
    first = write_report(world.engine, world.inputs, W47, out_dir=world.tmp / "before")
    before = next(o.pdf for o in first if o.variant == "internal")
    cited = [r["evidence_id"] for r in _csv(before.parent / "evidence.csv")]
    by_evidence = {e: p for p, e in world.evidence.items()}
    gone = by_evidence[cited[0]]
    post = models.Post.__table__
    with world.engine.connect() as connection:
        platform = connection.execute(
            select(post.c.platform).where(post.c.platform_id == gone)
        ).scalar_one()
    with world.engine.begin() as connection:
        marked = mark_deleted(
            connection, platform, [gone], when=NOTICED, deletion={"method": "recheck"}
        )
    assert marked == 1
    outputs = write_report(world.engine, world.inputs, W47, out_dir=world.tmp / "after")
    pdf = next(o.pdf for o in outputs if o.variant == "internal")
    rows = {r["evidence_id"]: r for r in _csv(pdf.parent / "evidence.csv")}
    assert list(rows) == cited  # the same posts are cited
    assert rows[cited[0]]["deleted_at"] == "2026-11-24T06:30:00Z"
    assert all(rows[e]["deleted_at"] == "" for e in cited[1:])
    assert rows[cited[0]]["raw_sha256"] == world.hashes[cited[0]]
    text = re.sub(
        r"\s+", " ", "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(pdf).pages)
    )
    assert "deleted, noticed 2026-11-24 06:30:00" in text
    result = CliRunner().invoke(
        cli, ["--config", str(world.config_path), "verify", cited[0]], catch_exceptions=False
    )
    assert result.exit_code == 0 and "all match their SHA-256" in result.output
    # marking again keeps the first notice
    with world.engine.begin() as connection:
        again = mark_deleted(
            connection, platform, [gone], when=datetime(2026, 12, 1, tzinfo=UTC), deletion={}
        )
    assert again == 0
