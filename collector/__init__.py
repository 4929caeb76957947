"""Collectors: read posts from public platforms and analysts' export files.

Nothing in this package imports the rest of smearwatch: a collector yields `Post` records and
never touches the database or the analysis.

`COLLECTORS` maps a `[[sources]]` table's `platform` to its collector class; adding a platform
is one module and one entry here. `build_collector` validates a table and builds the collector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.base import Collector, CollectorContext
from collector.bluesky import BlueskyCollector
from collector.errors import SettingsError
from collector.mastodon import MastodonCollector
from collector.rss import RssCollector
from collector.telegram import TelegramCollector

COLLECTORS: dict[str, type[Collector]] = {
    "bluesky": BlueskyCollector,
    "mastodon": MastodonCollector,
    "telegram": TelegramCollector,
    "rss": RssCollector,
}


def collector_class(table: Mapping[str, Any]) -> type[Collector]:
    """The collector class for a `[[sources]]` table, or a `SettingsError` naming the source."""
    name = table.get("name")
    label = f"source {name!r}" if isinstance(name, str) and name else "a [[sources]] entry"
    platform = table.get("platform")
    if not platform:
        raise SettingsError(f"{label}: required key 'platform' is missing")
    try:
        return COLLECTORS[platform]
    except (KeyError, TypeError):
        known = ", ".join(sorted(COLLECTORS))
        raise SettingsError(f"{label}: unknown platform {platform!r} (known: {known})") from None


def build_collector(table: Mapping[str, Any], context: CollectorContext) -> Collector:
    return collector_class(table)(table, context)


__all__ = ["COLLECTORS", "build_collector", "collector_class"]
