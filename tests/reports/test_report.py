"""The weekly report read back from its bytes: sections, scripts, evidence, determinism."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pandas as pd
import pypdf
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from db import models
from reports.build import write_report
from reports.model import build_week_report
from reports.pdf import render_pdf
from reports.weeks import Week, last_complete_week, parse_week
from smearwatch.cli import cli
from tests.reports.conftest import ATTACKERS, BYSTANDER, KAZAKH_LETTERS, World, build_world

W47 = parse_week("2026-W47")
SECTIONS = [
    "smearwatch weekly report",
    "Content warning",
    "1. Bottom line",
    "Key findings",
    "What changed since last week",
    "Recommended actions",
    "2. Week at a glance",
    "Collection health",
    "Cluster C1",
    "Narratives and example posts",
    "Accounts",
    "Network",
    "Alternative explanations considered",
    "4. Defender watch",
    "5. Methodology and limitations",
    "Annex A. Evidence index",
]


def _text(pdf: Path) -> str:
    reader = pypdf.PdfReader(pdf)
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _pdf(outputs: list, variant: str) -> Path:
    return next(o.pdf for o in outputs if o.variant == variant)


def test_weeks_are_exact_utc_intervals() -> None:
    week = parse_week("2026-W47")
    assert week.start.isoformat() == "2026-11-16T00:00:00+00:00"
    assert week.end.isoformat() == "2026-11-23T00:00:00+00:00"
    assert parse_week("2026W01").start.isoformat() == "2025-12-29T00:00:00+00:00"
    assert week.shifted(-1).label == "2026-W46"
    assert last_complete_week(W47.start).label == "2026-W46"
    with pytest.raises(ValueError):
        parse_week("2026-W54")
    with pytest.raises(ValueError):
        parse_week("last week")


def test_internal_report_reads_back(world: World) -> None:
    outputs = write_report(world.engine, world.inputs, W47, out_dir=world.tmp / "out")
    pdf = _pdf(outputs, "internal")
    text = _text(pdf)
    flat = _flat(text)
    for title in SECTIONS:
        assert title in flat, title
    assert "Бахыт Орманова" in text or "Орманова" in text
    for letter in KAZAKH_LETTERS:
        assert letter in text, letter
    assert "patriot01kz.bsky.social" in flat
    # every annexed hash is the database's, and every cited evidence id is annexed
    evidence_csv = _csv(pdf.parent / "evidence.csv")
    assert evidence_csv
    for row in evidence_csv:
        assert world.hashes[row["evidence_id"]] == row["raw_sha256"]
        assert row["evidence_id"] in flat
        assert row["raw_sha256"][:16] in flat
    reader = pypdf.PdfReader(pdf)
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font.get("/DescendantFonts")
            descriptor = (
                descendant[0].get_object()["/FontDescriptor"]
                if descendant
                else font.get("/FontDescriptor")
            )
            if descriptor is not None:
                descriptor = descriptor.get_object()
                assert "/FontFile2" in descriptor, font["/BaseFont"]
                fonts.add(str(font["/BaseFont"]).split("+")[-1])
    assert {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"} <= fonts
    assert 6 <= len(reader.pages) <= 15
    assert outputs[0].pages == len(reader.pages)


def test_manifest_lists_every_file_with_its_hash(sqlite_world: World) -> None:
    outputs = write_report(sqlite_world.engine, sqlite_world.inputs, W47, variants=("internal",))
    folder = outputs[0].folder
    assert folder == sqlite_world.tmp / "reports" / "2026-W47" / "internal"
    lines = (folder / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    names = {p.name for p in folder.iterdir()} - {"MANIFEST.sha256"}
    assert set(listed) == names
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    with (folder / "clusters.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[:7] == [
        "cluster_id", "platform", "account_id", "handle", "score", "confidence", "signals"
    ]  # fmt: skip
    assert "<gexf" in (folder / "network.gexf").read_text(encoding="utf-8")


def test_same_data_gives_identical_bytes(sqlite_world: World, monkeypatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = write_report(
        sqlite_world.engine, sqlite_world.inputs, W47, out_dir=sqlite_world.tmp / "a"
    )
    second = write_report(
        sqlite_world.engine, sqlite_world.inputs, W47, out_dir=sqlite_world.tmp / "b"
    )
    for one, two in zip(first, second, strict=True):
        for a, b in zip(one.files, two.files, strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name
    assert b"/CreationDate (D:20261123000000" in first[0].pdf.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    third = write_report(
        sqlite_world.engine, sqlite_world.inputs, W47, out_dir=sqlite_world.tmp / "c",
        variants=("internal",),
    )  # fmt: skip
    assert b"/CreationDate (D:20270115" in third[0].pdf.read_bytes()


def test_hostile_text_is_shown_literally_and_safely(sqlite_world: World) -> None:
    outputs = write_report(sqlite_world.engine, sqlite_world.inputs, W47, variants=("internal",))
    flat = _flat(_text(outputs[0].pdf))
    assert "<b>Орманова</b> & <para>грантоед</para>" in flat  # markup shown, not obeyed
    assert "\x07" not in flat and "\x1b" not in flat and "\u202e" not in flat
    assert "иностранный агент" in flat
    assert "грантоедгрантоед" in flat and "…" in flat  # the 10,000-char word, cut
    assert "שלום" in flat or "עולם" in flat or "םולש" in flat
    assert "empty text" in flat


def test_empty_week_gives_a_valid_report_that_says_so(db_url: str, tmp_path: Path) -> None:
    world = build_world(db_url, tmp_path, analysis=False)
    try:
        outputs = write_report(world.engine, world.inputs, parse_week("2025-W10"))
    finally:
        world.engine.dispose()
    for output in outputs:
        flat = _flat(_text(output.pdf))
        assert "No data for this week" in flat
        assert "No successful analysis run covers this week" in flat
        assert "No post is cited in this report" in flat
        assert output.pages >= 5


def test_report_without_any_database_content(tmp_path: Path) -> None:
    from db.engine import open_database
    from smearwatch.config import load_config
    from smearwatch.reporting import report_inputs

    config_path = tmp_path / "smearwatch.toml"
    config_path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "x.db"}"\n', encoding="utf-8")
    config = load_config(config_path)
    engine = open_database(config.database_url)
    try:
        report = build_week_report(engine, report_inputs(config), W47)
        pages = render_pdf(report, tmp_path / "empty.pdf")
    finally:
        engine.dispose()
    assert pages >= 5
    assert "No data for this week" in _flat(_text(tmp_path / "empty.pdf"))


def test_shareable_variant_pseudonymises_attackers(world: World) -> None:
    outputs = write_report(world.engine, world.inputs, W47, out_dir=world.tmp / "w47")
    shared = _pdf(outputs, "shareable")
    folder = shared.parent
    everything = _flat(_text(shared)) + "".join(
        p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix != ".pdf"
    )
    for handle in [*ATTACKERS, BYSTANDER]:
        assert handle not in everything, handle
    assert "ormanova.private@example.org" not in everything
    assert "701 123 45 67" not in everything
    assert "personal data redacted" in everything
    assert "@[account]" not in everything.split("пишите", 1)[-1][:60]
    pseudonyms = set(re.findall(r"acct-[0-9a-f]{10}", everything))
    assert len(pseudonyms) >= len(ATTACKERS)
    # hashes stay comparable with the internal report
    internal = list(_csv(world.tmp / "w47/internal/evidence.csv"))
    shared_rows = _csv(folder / "evidence.csv")
    assert {r["raw_sha256"] for r in shared_rows} <= {r["raw_sha256"] for r in internal}
    # the same key gives the same pseudonyms in another week (C1 started in W46)
    w46 = write_report(
        world.engine, world.inputs, parse_week("2026-W46"), out_dir=world.tmp / "w46",
        variants=("shareable",),
    )  # fmt: skip

    def c1_accounts(path: Path) -> set[tuple[str, str]]:
        return {(r["account_id"], r["handle"]) for r in _csv(path) if r["cluster_id"] == "C1"}

    earlier = c1_accounts(w46[0].folder / "clusters.csv")
    assert earlier and earlier == c1_accounts(folder / "clusters.csv")
    assert all(a.startswith("acct-") for a, _ in earlier)
    key_file = world.tmp / "keys" / "report.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_shareable_pseudonyms_are_stable_across_weeks(sqlite_world: World) -> None:
    from reports.pseudonym import Pseudonymiser, load_or_create_key
    from reports.variants import make_shareable

    key = load_or_create_key(sqlite_world.inputs.key_path())
    assert load_or_create_key(sqlite_world.inputs.key_path()) == key
    labels = []
    for week in (parse_week("2026-W46"), W47):
        report = build_week_report(sqlite_world.engine, sqlite_world.inputs, week)
        shared = make_shareable(report, Pseudonymiser(key))
        labels.append(dict(shared.pseudonyms))
    pk = sqlite_world.accounts[ATTACKERS[0]]
    assert labels[1][pk].startswith("acct-")
    # C1 is active in W47 only; C3's accounts in W46; both derive from the same key
    other = Pseudonymiser(key).account("bluesky", f"did:plc:{ATTACKERS[0]}")
    assert labels[1][pk] == other
    assert Pseudonymiser(b"another key").account("bluesky", f"did:plc:{ATTACKERS[0]}") != other


def test_defender_filter_and_cli(world: World) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "--config", str(world.config_path), "report", "--week", "2026-W47",
            "--defender", "kesler", "--variant", "internal", "--out", str(world.tmp / "k"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "smearwatch-2026-W47-kesler-internal.pdf" in result.output
    flat = _flat(_text(world.tmp / "k" / "internal" / "smearwatch-2026-W47-kesler-internal.pdf"))
    assert "Anna Kesler" in flat
    assert "Cluster C1" not in flat
    bad = runner.invoke(cli, ["--config", str(world.config_path), "report", "--week", "2026-W99"])
    assert bad.exit_code == 2
    unknown = runner.invoke(
        cli, ["--config", str(world.config_path), "report", "--defender", "nobody"]
    )
    assert unknown.exit_code == 1 and "no defender" in unknown.output


def test_export_clusters_cli(world: World) -> None:
    out = world.tmp / "clusters.csv"
    result = CliRunner().invoke(
        cli, ["--config", str(world.config_path), "export", "clusters", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = _csv(out)
    assert {r["cluster_id"] for r in rows} == {"C1", "C2", "C3"}
    assert f"Wrote {len(rows)} member account(s) of 3 cluster(s)" in result.output
    assert list(rows[0])[:7] == [
        "cluster_id", "platform", "account_id", "handle", "score", "confidence", "signals"
    ]  # fmt: skip


def test_week_model_counts(sqlite_world: World) -> None:
    report = build_week_report(sqlite_world.engine, sqlite_world.inputs, W47)
    assert [c.stable_id for c in report.flagged] == ["C1"]
    assert report.flagged[0].status == "escalating"
    assert report.flagged[0].posts_prev_week == 1
    assert [d["stable_id"] for d in report.dormant] == ["C3"]
    assert {c.stable_id for c in report.clusters if not c.flagged} == {"C2"}
    assert report.totals["young_accounts"] == len(ATTACKERS)
    assert report.baseline_weeks == ["2026-W45", "2026-W46"]
    watch = {w.defender_id: w for w in report.watch}
    assert watch["ormanova"].light == "red" and watch["kesler"].light == "green"
    terms = dict(report.smear_terms)
    assert terms["грантоед"] > 0 and terms["иностранный агент"] > 0
    assert report.generated_at == W47.end
    assert isinstance(report.week, Week)


def test_a_run_without_organic_background_says_so_in_the_report(sqlite_world: World) -> None:
    """The run's verdict on its null model is repeated where the analyst reads first."""
    from analysis.background import null_background

    edges = pd.DataFrame({"n_repost": [12] * 28, "lam_repost": [12.0] * 28})
    background = null_background(edges, {"repost": 336}, 0.5).to_dict()
    run = models.AnalysisRun.__table__
    with sqlite_world.engine.begin() as connection:
        stats = connection.execute(select(run.c.stats)).scalar_one()
        connection.execute(update(run).values(stats={**stats, "background": background}))
    outputs = write_report(sqlite_world.engine, sqlite_world.inputs, W47)
    flat = _flat(_text(_pdf(outputs, "internal")))
    assert "Caution. The null model had nothing to compare with" in flat
    assert "This run: The null model had nothing to compare with" in flat
    assert "repost: 100% of the co-actions, 100% expected" in flat


def test_a_run_with_a_background_adds_no_caution(sqlite_world: World) -> None:
    outputs = write_report(sqlite_world.engine, sqlite_world.inputs, W47)
    flat = _flat(_text(_pdf(outputs, "internal")))
    assert "Caution." not in flat and "nothing to compare with" in flat  # methodology only
