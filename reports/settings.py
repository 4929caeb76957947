"""What the shell tells the report model and the web pages: plain values, no config parsing.

Data flows one way (config -> ... -> reports): `reports/` must not read `smearwatch.config`.
`smearwatch.reporting.report_inputs` builds a `ReportInputs` from the loaded `Config`; tests
and benchmarks may build one by hand. Nothing here touches files or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ReportInputs", "ReportSettings", "SourceSchedule", "UnknownDefender"]


class UnknownDefender(ValueError):
    """A defender id that the configuration does not know; the message lists the known ones."""


@dataclass(frozen=True)
class ReportSettings:
    """`[reports]` settings that change what the report contains."""

    min_score: float = 40.0
    evidence_objects_per_cluster: int = 6
    posts_per_evidence_object: int = 6
    examples_per_narrative: int = 3
    narratives_per_cluster: int = 4
    accounts_per_cluster: int = 40
    top_terms: int = 12
    classification: str = "CONFIDENTIAL — internal, do not forward"
    shareable_classification: str = "RESTRICTED — shareable version, accounts pseudonymised"
    distribution: str = ""


@dataclass(frozen=True)
class SourceSchedule:
    """A configured source as the collection-health section sees it."""

    name: str
    platform: str
    every_seconds: int | None = None


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report needs from the configuration, already resolved.

    `base_dir` is where default report folders go (beside the config file); `key_file` is the
    pseudonymisation key of the shareable variant (created on first use).
    """

    defenders: tuple[tuple[str, str], ...] = ()  # (id, name)
    sources: tuple[SourceSchedule, ...] = ()
    window_seconds: int = 60
    min_repetitions: int = 2
    settings: ReportSettings = field(default_factory=ReportSettings)
    version: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    key_file: Path | None = None

    def check_defender(self, defender_id: str) -> None:
        """Raise `UnknownDefender` unless `defender_id` is configured."""
        if any(known == defender_id for known, _ in self.defenders):
            return
        known = ", ".join(d for d, _ in self.defenders) or "none configured"
        raise UnknownDefender(f"no defender with id {defender_id!r} (known: {known})")

    def key_path(self) -> Path:
        return self.key_file or self.base_dir / "report.key"
