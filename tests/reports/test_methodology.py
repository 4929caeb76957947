"""The methodology page says what platform search cannot see (issue 16, item 7)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pypdf

from reports.build import write_report
from reports.weeks import parse_week
from smearwatch.config import SourceConfig
from smearwatch.reporting import report_inputs
from tests.reports.conftest import World

W47 = parse_week("2026-W47")


def _flat_pdf(path: Path) -> str:
    text = "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


def _internal(outputs: list) -> Path:
    return next(o.pdf for o in outputs if "internal" in o.pdf.name)


def test_bluesky_source_names_the_block_and_stemming_limits(sqlite_world: World) -> None:
    config = dataclasses.replace(
        sqlite_world.config, sources=(SourceConfig(name="bluesky", platform="bluesky"),)
    )
    inputs = report_inputs(config)
    outputs = write_report(sqlite_world.engine, inputs, W47, out_dir=sqlite_world.tmp / "b")
    flat = _flat_pdf(_internal(outputs))
    assert "What platform search cannot see" in flat
    assert "block the research account" in flat
    assert "does not stem Russian or Kazakh" in flat
    assert "public AppView" in flat


def test_no_search_source_no_search_caveat(sqlite_world: World) -> None:
    outputs = write_report(
        sqlite_world.engine, sqlite_world.inputs, W47, out_dir=sqlite_world.tmp / "n"
    )
    assert "What platform search cannot see" not in _flat_pdf(_internal(outputs))
