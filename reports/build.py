"""`smearwatch report`: build the week's model once, then write each variant into its folder.

Layout of the output folder (default `reports/<week>/` beside the config):

    <out>/internal/smearwatch-2026-W47-internal.pdf   full handles, URLs
    <out>/internal/{clusters,accounts,evidence}.csv, network.gexf, summary.json, MANIFEST.sha256
    <out>/shareable/...                                the same, pseudonymised

Keeping each variant in its own folder means the shareable folder can be sent as a whole
without picking files, and each manifest covers exactly what travels together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from reports.exports import write_exports
from reports.model import WeekReport, build_week_report
from reports.pdf import render_pdf
from reports.pseudonym import Pseudonymiser, load_or_create_key
from reports.settings import ReportInputs
from reports.variants import make_shareable
from reports.weeks import Week

__all__ = ["VARIANTS", "ReportOutput", "default_out_dir", "write_report"]

VARIANTS = ("internal", "shareable")
MANIFEST = "MANIFEST.sha256"


@dataclass(frozen=True)
class ReportOutput:
    variant: str
    folder: Path
    pdf: Path
    files: list[Path]
    pages: int


def default_out_dir(inputs: ReportInputs, week: Week, defender: str | None = None) -> Path:
    name = week.label + (f"-{defender}" if defender else "")
    return inputs.base_dir / "reports" / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_variant(report: WeekReport, folder: Path) -> ReportOutput:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f"-{report.defender_filter}" if report.defender_filter else ""
    pdf = folder / f"smearwatch-{report.week.label}{suffix}-{report.variant}.pdf"
    pages = render_pdf(report, pdf)
    files = [pdf, *write_exports(report, folder)]
    lines = [f"{_sha256(p)}  {p.name}\n" for p in sorted(files, key=lambda p: p.name)]
    manifest = folder / MANIFEST
    manifest.write_bytes("".join(lines).encode("utf-8"))
    return ReportOutput(report.variant, folder, pdf, [*files, manifest], pages)


def write_report(
    engine: Engine,
    inputs: ReportInputs,
    week: Week,
    *,
    defender: str | None = None,
    out_dir: Path | None = None,
    variants: tuple[str, ...] = VARIANTS,
) -> list[ReportOutput]:
    """Build the week's report and write the requested variants; return what was written.

    Raises:
        UnknownDefender: unknown defender.
        OSError, ValueError: the report key file cannot be read or created.
    """
    out_dir = out_dir or default_out_dir(inputs, week, defender)
    report = build_week_report(engine, inputs, week, defender=defender)
    outputs = []
    for variant in variants:
        if variant == "internal":
            outputs.append(_write_variant(report, out_dir / "internal"))
        elif variant == "shareable":
            pseudonymiser = Pseudonymiser(load_or_create_key(inputs.key_path()))
            shared = make_shareable(report, pseudonymiser)
            outputs.append(_write_variant(shared, out_dir / "shareable"))
        else:
            raise ValueError(f"unknown report variant {variant!r} (known: {', '.join(VARIANTS)})")
    return outputs
