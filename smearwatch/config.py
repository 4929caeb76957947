"""The configuration file (TOML) and where each setting comes from.

Precedence, highest first: command-line option, environment variable (`SMEARWATCH_CONFIG`,
`SMEARWATCH_DATABASE_URL`), the config file, built-in defaults. Unknown keys are errors, not
warnings: a misspelt `alises` that silently matched nothing would hide a whole campaign.
Secrets (app passwords, tokens) are never read from here into logs or reports; collectors take
them from the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from collector import COLLECTORS, collector_class
from collector.base import example_toml, validate_settings
from collector.errors import SettingsError
from collector.formats.mapping import ColumnMapping
from collector.http import HttpPolicy

__all__ = [
    "AnalysisConfig",
    "Config",
    "ConfigError",
    "Defender",
    "SourceConfig",
    "load_config",
    "parse_duration",
]

DEFAULT_CONFIG_NAME = "smearwatch.toml"
DEFAULT_DATABASE_URL = "sqlite:///smearwatch.db"

# Keys of the shared HTTP policy a `[http]` table may set (see `collector.http.HttpPolicy`).
HTTP_KEYS: dict[str, type | tuple[type, ...]] = {
    f.name: (str,) if f.name == "user_agent" else (int, float) for f in fields(HttpPolicy)
}


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file, section and key."""


@dataclass(frozen=True)
class Defender:
    """A person smearwatch protects: the names and handles posts may use for them."""

    id: str
    name: str
    aliases: tuple[str, ...]
    handles: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceConfig:
    """One `[[sources]]` table, validated by its collector's declared settings.

    `settings` is what `collector.base.validate_settings` returned (defaults filled in,
    durations as `timedelta`); `table` is the table as written, which is what the collector is
    built from. `options` are the platform-specific keys as written.
    """

    name: str
    platform: str
    every_seconds: int = 15 * 60
    backfill_seconds: int = 7 * 24 * 3600
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    table: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisConfig:
    window_seconds: int = 60
    min_repetitions: int = 2
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path | None
    database_url: str = DEFAULT_DATABASE_URL
    defenders: tuple[Defender, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    analysis: AnalysisConfig = AnalysisConfig()
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    import_mappings: dict[str, ColumnMapping] = field(default_factory=dict)

    def http_policy(self) -> HttpPolicy:
        """The shared HTTP policy with the `[http]` overrides applied."""
        return HttpPolicy(**self.http)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"no source named {name!r} (configured: {known})")

    def defender(self, defender_id: str) -> Defender:
        for defender in self.defenders:
            if defender.id == defender_id:
                return defender
        known = ", ".join(d.id for d in self.defenders) or "none configured"
        raise ConfigError(f"no defender with id {defender_id!r} (known: {known})")


_DURATION_RE = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any, where: str) -> int:
    """Seconds in '15m', '7d', '1h30m' or a plain number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.isdigit():
            return int(text)
        parts = _DURATION_RE.findall(text)
        if parts and "".join(n + u for n, u in parts).lower() == text.lower():
            return sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    raise ConfigError(f"{where}: {value!r} is not a duration (examples: '90s', '15m', '7d')")


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {what}, got {type(value).__name__} {value!r}")
    return value


def _string_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    _expect(value, list, where, "a list of strings")
    items = []
    for item in value:
        _expect(item, str, where, "a list of strings")
        if item.strip():
            items.append(item.strip())
    return tuple(items)


def _unknown(keys: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _parse_defender(entry: Any, index: int, path: str) -> Defender:
    where = f"{path}: [[defenders]] #{index + 1}"
    _expect(entry, dict, where, "a table")
    _unknown(entry, {"id", "name", "aliases", "handles"}, where)
    if not entry.get("id"):
        raise ConfigError(f"{where}: missing required key 'id'")
    defender_id = _expect(entry["id"], str, f"{where}: id", "a string")
    where = f"{path}: defender '{defender_id}'"
    name = _expect(entry.get("name", defender_id), str, f"{where}: name", "a string")
    aliases = _string_tuple(entry.get("aliases", []), f"{where}: aliases")
    if name and name not in aliases:
        aliases = (name, *aliases)
    handles_value = _expect(entry.get("handles", {}), dict, f"{where}: handles", "a table")
    handles = {
        platform: _string_tuple(value, f"{where}: handles.{platform}")
        for platform, value in handles_value.items()
    }
    return Defender(id=defender_id, name=name, aliases=aliases, handles=handles)


_COMMON_KEYS = {"name", "platform", "every", "backfill", "enabled"}


def _parse_source(entry: Any, index: int, path: str) -> SourceConfig:
    """Validate one `[[sources]]` table through its collector's declared settings.

    The collector registry is the only list of platforms and keys, so a new collector needs
    no change here; its `SettingsError` (which names the source and the key) becomes a
    `ConfigError` that also names the file.
    """
    where = f"{path}: [[sources]] #{index + 1}"
    _expect(entry, dict, where, "a table")
    name = entry.get("name")
    if not name:
        raise ConfigError(f"{where}: missing required key 'name'")
    if not isinstance(name, str):
        raise ConfigError(f"{where}: name: expected a string, got {type(name).__name__}")
    try:
        settings = validate_settings(collector_class(entry), entry)
    except SettingsError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None
    return SourceConfig(
        name=settings["name"],
        platform=settings["platform"],
        every_seconds=int(settings["every"].total_seconds()),
        backfill_seconds=int(settings["backfill"].total_seconds()),
        enabled=settings["enabled"],
        options={k: v for k, v in entry.items() if k not in _COMMON_KEYS},
        settings=settings,
        table=dict(entry),
    )


def _parse_http(table: Any, where: str) -> dict[str, Any]:
    _expect(table, dict, where, "a table")
    _unknown(table, set(HTTP_KEYS), where)
    for key, value in table.items():
        _expect(
            value,
            HTTP_KEYS[key],
            f"{where}: {key}",
            "a number" if key != "user_agent" else "a string",
        )
        if key != "user_agent" and value < 0:
            raise ConfigError(f"{where}: {key} must not be negative")
    if table.get("max_attempts", 1) < 1 or table.get("per_host_limit", 1) < 1:
        raise ConfigError(f"{where}: max_attempts and per_host_limit must be at least 1")
    return dict(table)


def _parse_import(table: Any, where: str) -> dict[str, ColumnMapping]:
    _expect(table, dict, where, "a table")
    _unknown(table, {"mappings"}, where)
    mappings_table = _expect(table.get("mappings", {}), dict, f"{where}.mappings", "a table")
    mappings: dict[str, ColumnMapping] = {}
    for name, mapping in mappings_table.items():
        here = f"{where}.mappings.{name}"
        _expect(mapping, dict, here, "a table")
        try:
            mappings[name] = ColumnMapping.from_table(name, mapping)
        except ValueError as exc:
            raise ConfigError(f"{here}: {exc}") from None
    return mappings


def _resolve_sqlite_path(url: str, base: Path) -> str:
    """Relative SQLite paths are relative to the config file, not to wherever cron started us."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database url {url!r} is not a database URL") from exc
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    database = parsed.database
    if database == ":memory:" or database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str((base / database).resolve())).render_as_string(
        hide_password=False
    )


TOP_LEVEL_KEYS = {
    "database", "analysis", "defenders", "sources", "reports", "daemon", "alerts", "http", "import",
}  # fmt: skip


def load_config(path: str | Path | None = None, *, database_url: str | None = None) -> Config:
    """Read the config from `path`, `$SMEARWATCH_CONFIG` or ./smearwatch.toml (if present).

    Raises:
        ConfigError: unreadable file, invalid TOML, unknown keys or wrong types.
    """
    explicit = path or os.environ.get("SMEARWATCH_CONFIG")
    config_path: Path | None
    if explicit:
        config_path = Path(explicit)
        if not config_path.exists():
            raise ConfigError(
                f"config file {config_path} does not exist (run 'smearwatch init' to write one)"
            )
    else:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        config_path = candidate if candidate.exists() else None
    data: dict[str, Any] = {}
    where = str(config_path) if config_path else "(defaults)"
    if config_path:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot be read: {exc}") from exc
    _unknown(data, TOP_LEVEL_KEYS, where)
    base = config_path.parent if config_path else Path.cwd()

    database = _expect(data.get("database", {}), dict, f"{where}: [database]", "a table")
    _unknown(database, {"url"}, f"{where}: [database]")
    url = (
        database_url
        or os.environ.get("SMEARWATCH_DATABASE_URL")
        or database.get("url")
        or DEFAULT_DATABASE_URL
    )
    url = _resolve_sqlite_path(_expect(url, str, f"{where}: database.url", "a string"), base)

    analysis_table = _expect(data.get("analysis", {}), dict, f"{where}: [analysis]", "a table")
    window = analysis_table.get("window_seconds", 60)
    repetitions = analysis_table.get("min_repetitions", 2)
    _expect(window, int, f"{where}: analysis.window_seconds", "a whole number of seconds")
    _expect(repetitions, int, f"{where}: analysis.min_repetitions", "a whole number")
    if window <= 0 or repetitions < 1:
        raise ConfigError(
            f"{where}: [analysis] window_seconds must be > 0 and min_repetitions >= 1"
        )
    analysis = AnalysisConfig(
        window_seconds=window,
        min_repetitions=repetitions,
        options={
            k: v
            for k, v in analysis_table.items()
            if k not in {"window_seconds", "min_repetitions"}
        },
    )

    defenders_list = _expect(
        data.get("defenders", []), list, f"{where}: defenders", "[[defenders]]"
    )
    defenders = tuple(_parse_defender(d, i, where) for i, d in enumerate(defenders_list))
    ids = [d.id for d in defenders]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{where}: defender id(s) used twice: {', '.join(duplicates)}")

    sources_list = _expect(data.get("sources", []), list, f"{where}: sources", "[[sources]]")
    sources = tuple(_parse_source(s, i, where) for i, s in enumerate(sources_list))
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{where}: source name(s) used twice: {', '.join(duplicates)}")

    sections = {
        key: _expect(data.get(key, {}), dict, f"{where}: [{key}]", "a table")
        for key in ("reports", "daemon", "alerts")
    }
    config = Config(
        path=config_path,
        database_url=url,
        defenders=defenders,
        sources=sources,
        analysis=analysis,
        sections=sections,
        http=_parse_http(data.get("http", {}), f"{where}: [http]"),
        import_mappings=_parse_import(data.get("import", {}), f"{where}: [import]"),
    )
    from smearwatch.settings import validate_sections  # here: settings imports this module

    validate_sections(config)
    return config


CONFIG_TEMPLATE = """\
# smearwatch configuration. Written by 'smearwatch init'; edit it to suit your monitoring.
# Secrets (app passwords, tokens) never go here: they come from environment variables.

[database]
# SQLite (the default) keeps everything in one file next to this config. For production use
# PostgreSQL, e.g. "postgresql+psycopg://smearwatch@localhost/smearwatch".
url = "sqlite:///smearwatch.db"

[analysis]
window_seconds = 60      # two accounts co-act when they share an object within this window
min_repetitions = 2      # shared objects (or repeat occasions) before two accounts are linked

# One table per defender you protect. Aliases are the names posts may use, in Latin and
# Cyrillic; declensions, Kazakh suffixes and transliterations are derived from them.
# [[defenders]]
# id = "ormanova"
# name = "Bakhyt Ormanova"
# aliases = ["Bakhyt Ormanova", "Бахыт Орманова", "Орманова"]
# handles = { bluesky = "ormanova.bsky.social", telegram = "ormanova_law" }

# One table per source to collect from; 'every' is the interval, 'backfill' how far the first
# run reaches back. To use a block, remove the leading "# " from each of its lines; lines that
# still start with "#" then are optional settings, shown with their defaults.
"""


def _source_examples() -> str:
    """Commented `[[sources]]` blocks written from each collector's declared settings, so the
    template can never drift from what the config accepts."""
    blocks = []
    for cls in COLLECTORS.values():
        lines = example_toml(cls).splitlines()
        blocks.append("\n".join(f"# {line}" for line in lines))
    return "\n#\n".join(blocks) + "\n"


CONFIG_TEMPLATE += _source_examples()
