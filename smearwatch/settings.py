"""The `[daemon]` and `[alerts]` tables: their keys, defaults and validation.

They live apart from `config.py` so the daemon's settings can grow without touching the shared
loader; `load_config` calls `validate_sections` so a misspelt key fails at start like any other
(an ignored `smtp_too = ...` would silently drop every alert e-mail).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from smearwatch.config import Config, ConfigError, parse_duration

__all__ = ["AlertSettings", "DaemonSettings", "validate_sections"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SMTP_PASSWORD_ENV = "SMEARWATCH_SMTP_PASSWORD"

# key: (kind, default). Durations are given as strings ("15m") and stored as seconds.
_DAEMON_KEYS: dict[str, tuple[str, Any]] = {
    "jitter": ("duration", None),  # default: a tenth of each source's interval, at most 60 s
    "analysis_every": ("duration", "1h"),
    "analysis_window": ("duration", "7d"),
    "report_weekday": ("str", "mon"),
    "report_time": ("str", "07:00"),
    "timezone": ("str", "Asia/Almaty"),
    "report_dir": ("str", "reports"),
    "housekeeping_every": ("duration", "1d"),
    "retention": ("duration", "90d"),
    "misfire_grace": ("duration", "1h"),
    "backoff_max": ("duration", "6h"),
    "failure_threshold": ("duration", "6h"),
    "heartbeat": ("duration", "30s"),
    "shutdown_timeout": ("duration", "8s"),
    "workers": ("int", 4),
    "log_format": ("str", "plain"),
    "log_file": ("str", ""),
}

_ALERT_KEYS: dict[str, tuple[str, Any]] = {
    "enabled": ("bool", True),
    "every": ("duration", "2m"),
    "max_age": ("duration", "2d"),
    "cluster_confidence": ("strings", ["high"]),
    "cluster_stances": ("strings", ["hostile"]),
    "burst_window": ("duration", "1h"),
    "burst_baseline": ("duration", "7d"),
    "burst_factor": ("number", 5.0),
    "burst_min_posts": ("int", 10),
    "burst_cooldown": ("duration", "24h"),
    "harms_file": ("str", ""),
    "threats": ("bool", True),
    "doxxing": ("bool", True),
    "impersonation": ("bool", True),
    "smtp_host": ("str", ""),
    "smtp_port": ("int", 587),
    "smtp_from": ("str", ""),
    "smtp_to": ("strings", []),
    "smtp_starttls": ("bool", True),
    "smtp_username": ("str", ""),
    "smtp_timeout": ("duration", "10s"),
    "webhook_url": ("str", ""),
    "webhook_timeout": ("duration", "10s"),
}


def _parse_table(
    table: dict[str, Any], keys: dict[str, tuple[str, Any]], where: str
) -> dict[str, Any]:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(keys))})"
        )
    values: dict[str, Any] = {}
    for key, (kind, default) in keys.items():
        value = table.get(key, default)
        here = f"{where}: {key}"
        if value is None:
            values[key] = None
        elif kind == "duration":
            values[key] = parse_duration(value, here)
        elif kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{here}: expected a whole number >= 0, got {value!r}")
            values[key] = value
        elif kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{here}: expected a number > 0, got {value!r}")
            values[key] = float(value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{here}: expected true or false, got {value!r}")
            values[key] = value
        elif kind == "strings":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{here}: expected a list of strings, got {value!r}")
            values[key] = tuple(v.strip() for v in value if v.strip())
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{here}: expected a string, got {value!r}")
            values[key] = value.strip()
    return values


@dataclass(frozen=True)
class DaemonSettings:
    """The schedule and operating limits of `smearwatch daemon` (all durations in seconds)."""

    jitter: int | None
    analysis_every: int
    analysis_window: int
    report_weekday: str
    report_time: time
    timezone: zoneinfo.ZoneInfo
    report_dir: Path
    housekeeping_every: int
    retention: int
    misfire_grace: int
    backoff_max: int
    failure_threshold: int
    heartbeat: int
    shutdown_timeout: int
    workers: int
    log_format: str
    log_file: Path | None

    @classmethod
    def from_config(cls, config: Config) -> DaemonSettings:
        where = f"{config.path or '(defaults)'}: [daemon]"
        v = _parse_table(config.sections.get("daemon", {}), _DAEMON_KEYS, where)
        weekday = v["report_weekday"].lower()[:3]
        if weekday not in WEEKDAYS:
            raise ConfigError(f"{where}: report_weekday {v['report_weekday']!r} is not a weekday")
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", v["report_time"])
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ConfigError(f"{where}: report_time {v['report_time']!r} is not HH:MM")
        try:
            tz = zoneinfo.ZoneInfo(v["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: unknown time zone {v['timezone']!r}") from None
        if v["log_format"] not in ("plain", "json"):
            raise ConfigError(f"{where}: log_format must be 'plain' or 'json'")
        if v["workers"] < 1 or v["heartbeat"] < 1 or v["analysis_every"] < 1:
            raise ConfigError(f"{where}: workers, heartbeat and analysis_every must be > 0")
        base = config.path.parent if config.path else Path.cwd()
        return cls(
            jitter=v["jitter"],
            analysis_every=v["analysis_every"],
            analysis_window=v["analysis_window"],
            report_weekday=weekday,
            report_time=time(int(match[1]), int(match[2])),
            timezone=tz,
            report_dir=(base / v["report_dir"]).resolve(),
            housekeeping_every=max(1, v["housekeeping_every"]),
            retention=v["retention"],
            misfire_grace=max(1, v["misfire_grace"]),
            backoff_max=max(1, v["backoff_max"]),
            failure_threshold=v["failure_threshold"],
            heartbeat=v["heartbeat"],
            shutdown_timeout=v["shutdown_timeout"],
            workers=v["workers"],
            log_format=v["log_format"],
            log_file=(base / v["log_file"]).resolve() if v["log_file"] else None,
        )


@dataclass(frozen=True)
class AlertSettings:
    """What raises an alert and where it goes. The SMTP password comes from the environment."""

    enabled: bool
    every: int
    max_age: int
    cluster_confidence: tuple[str, ...]
    cluster_stances: tuple[str, ...]
    burst_window: int
    burst_baseline: int
    burst_factor: float
    burst_min_posts: int
    burst_cooldown: int
    harms_file: Path | None
    threats: bool
    doxxing: bool
    impersonation: bool
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_to: tuple[str, ...]
    smtp_starttls: bool
    smtp_username: str
    smtp_timeout: int
    webhook_url: str
    webhook_timeout: int

    @classmethod
    def from_config(cls, config: Config) -> AlertSettings:
        where = f"{config.path or '(defaults)'}: [alerts]"
        v = _parse_table(config.sections.get("alerts", {}), _ALERT_KEYS, where)
        if v["smtp_host"] and (not v["smtp_from"] or not v["smtp_to"]):
            raise ConfigError(f"{where}: smtp_host needs smtp_from and smtp_to")
        if v["webhook_url"] and not re.match(r"https?://", v["webhook_url"]):
            raise ConfigError(f"{where}: webhook_url must start with http:// or https://")
        if v["burst_window"] <= 0 or v["burst_baseline"] <= v["burst_window"]:
            raise ConfigError(f"{where}: burst_baseline must be longer than burst_window > 0")
        base = config.path.parent if config.path else Path.cwd()
        v["harms_file"] = (base / v["harms_file"]).resolve() if v["harms_file"] else None
        v["every"] = max(1, v["every"])
        return cls(**v)

    @property
    def channels(self) -> tuple[str, ...]:
        """The delivery channels beyond the log line, as configured now."""
        found = []
        if self.smtp_host:
            found.append("email")
        if self.webhook_url:
            found.append("webhook")
        return tuple(found)


def validate_sections(config: Config) -> None:
    """Raise `ConfigError` for a bad `[daemon]` or `[alerts]` table (called by `load_config`)."""
    DaemonSettings.from_config(config)
    AlertSettings.from_config(config)


def config_secrets(path: Path) -> list[str]:
    """What the config file itself holds that is a secret (a database password; a webhook URL,
    since many webhook services put their token in it), for the file-permission warning."""
    import tomllib

    from sqlalchemy.engine import make_url

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    url = data.get("database", {}).get("url")
    try:
        if isinstance(url, str) and make_url(url).password:
            found.append("database.url (a password)")
    except Exception:  # noqa: BLE001 - load_config reports bad URLs; here only secrets matter
        pass
    if data.get("alerts", {}).get("webhook_url"):
        found.append("alerts.webhook_url")
    return found
