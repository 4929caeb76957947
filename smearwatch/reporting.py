"""The shell's side of the report: turn the loaded `Config` into the report's plain inputs.

`reports/` and the web pages take a `reports.settings.ReportInputs` and never read the config
themselves (data flows config -> ... -> reports). The `[reports]` table is validated here, so
a misspelt key is a `ConfigError` naming the file, as for every other section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from reports.settings import ReportInputs, ReportSettings, SourceSchedule
from reports.weeks import Week
from smearwatch import __version__
from smearwatch.config import Config, ConfigError

__all__ = ["base_dir", "key_file", "report_inputs", "report_settings", "write_week_report"]

EXTRA_KEYS = {"key_file"}  # [reports] keys that are not ReportSettings fields


def base_dir(config: Config) -> Path:
    return config.path.parent if config.path else Path.cwd()


def report_settings(config: Config) -> ReportSettings:
    """`[reports]` as a `ReportSettings`; unknown keys are a `ConfigError`."""
    section = dict(config.sections.get("reports", {}))
    known = set(ReportSettings.__dataclass_fields__)
    unknown = sorted(set(section) - known - EXTRA_KEYS)
    if unknown:
        where = config.path or "(defaults)"
        raise ConfigError(
            f"{where}: [reports] unknown key(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(known | EXTRA_KEYS))})"
        )
    return ReportSettings(**{k: v for k, v in section.items() if k in known})


def key_file(config: Config) -> Path:
    """`[reports] key_file`, else `report.key` beside the SQLite file (or the config)."""
    configured = config.sections.get("reports", {}).get("key_file")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else base_dir(config) / path
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "report.key"
    return base_dir(config) / "report.key"


def report_inputs(config: Config) -> ReportInputs:
    """The report's inputs from the configuration (raises `ConfigError` on a bad [reports])."""
    return ReportInputs(
        defenders=tuple((d.id, d.name) for d in config.defenders),
        sources=tuple(SourceSchedule(s.name, s.platform, s.every_seconds) for s in config.sources),
        window_seconds=config.analysis.window_seconds,
        min_repetitions=config.analysis.min_repetitions,
        settings=report_settings(config),
        version=__version__,
        base_dir=base_dir(config),
        key_file=key_file(config),
    )


def write_week_report(engine: Engine, config: Config, week: Week, **options: Any) -> Any:
    """`reports.build.write_report` with the inputs of `config` (an unknown defender is a
    `ConfigError` naming the configured ones, as everywhere in the CLI)."""
    from reports.build import write_report

    defender = options.get("defender")
    if defender is not None:
        config.defender(defender)
    return write_report(engine, report_inputs(config), week, **options)
