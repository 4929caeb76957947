"""Turning `smearwatch import` options into the reader to use for one file.

`--map`/`--mapping` select the custom column mapping; `--platform`, `--timezone` and `--channel`
configure the tools' readers that need them (a 4CAT export of an unknown datasource, a
spreadsheet with times without a zone, a Telegram Desktop export). With `--format auto` the
file is recognised first and the options are applied to the reader found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from collector.files import (
    FORMATS,
    ExportReader,
    ImportFormatError,
    detect_format,
    open_export,
    reader_for,
)
from collector.formats.mapping import ColumnMapping, parse_zone
from smearwatch.config import Config, ConfigError

__all__ = ["resolve_reader"]


def resolve_reader(
    path: str | Path,
    fmt: str,
    config: Config | None,
    *,
    maps: Sequence[str] = (),
    mapping_name: str | None = None,
    platform: str | None = None,
    timezone: str | None = None,
    channel: str | None = None,
) -> str | ExportReader:
    """A format name for `import_file`, or a configured reader.

    Raises:
        ConfigError: a bad --map, an unknown --mapping, a bad --timezone.
        ImportFormatError: the file cannot be opened or recognised.
    """
    try:
        zone = parse_zone(timezone) if timezone else None
    except ValueError as exc:
        raise ConfigError(f"--timezone: {exc}") from None
    if maps or mapping_name:
        if fmt not in ("auto", "custom"):
            raise ConfigError(f"--map and --mapping go with --format custom, not {fmt}")
        mapping = _mapping(config, maps, mapping_name, platform, timezone)
        return reader_for("custom", mapping=mapping)
    if fmt == "custom":
        raise ConfigError("--format custom needs --map FIELD=COLUMN ... or --mapping NAME")
    if platform is None and zone is None and channel is None:
        return fmt
    if fmt == "auto":
        with open_export(path) as export:
            fmt = detect_format(export)
    options = {"platform": platform.lower() if platform else None, "timezone": zone}
    options["channel"] = channel
    reader = reader_for(fmt, **options)
    if reader is FORMATS[fmt]:
        raise ImportFormatError(
            str(path), f"format {fmt} takes no --platform, --timezone or --channel option"
        )
    return reader


def _mapping(
    config: Config | None,
    maps: Sequence[str],
    name: str | None,
    platform: str | None,
    timezone: str | None,
) -> ColumnMapping:
    try:
        if name:
            known = config.import_mappings if config else {}
            if name not in known:
                listed = ", ".join(sorted(known)) or "none in the config"
                raise ConfigError(f"--mapping {name}: no [import.mappings.{name}] ({listed})")
            base = known[name]
            columns = dict(base.columns)
            if maps:
                extra = ColumnMapping.from_pairs(name, maps, platform=platform or base.platform)
                columns.update(extra.columns)
            return ColumnMapping(
                name,
                columns,
                platform=platform.lower() if platform else base.platform,
                timezone=parse_zone(timezone) if timezone else base.timezone,
                list_separator=base.list_separator,
            )
        return ColumnMapping.from_pairs("command-line", maps, platform=platform, zone=timezone)
    except ValueError as exc:
        raise ConfigError(f"column mapping: {exc}") from None
