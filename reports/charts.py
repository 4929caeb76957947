"""matplotlib charts for the report, rendered to PNG bytes that are the same on every run.

Agg backend (no display), DejaVu Sans from matplotlib's own package data (Cyrillic and Kazakh
letters), no timestamps or software strings in the PNG, and `svg.hashsalt` fixed in case a
chart is ever saved as SVG. Labels go through `reports.text.safe_text` so a hostile handle
with glyphs the font lacks never raises matplotlib's missing-glyph warning.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import lru_cache

import matplotlib
import numpy as np
from PIL import Image as PILImage

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from reports.model import DailyCount  # noqa: E402
from reports.text import safe_text  # noqa: E402

__all__ = ["PLATFORM_COLOURS", "daily_mentions_chart", "deterministic", "hourly_chart", "png"]

PLATFORM_COLOURS = {
    "bluesky": "#1f77b4",
    "telegram": "#2ca02c",
    "mastodon": "#9467bd",
    "rss": "#ff7f0e",
}
OTHER_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
DPI = 150
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "svg.hashsalt": "smearwatch",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "path.simplify": True,
}


@contextmanager
def deterministic() -> Iterator[None]:
    with matplotlib.rc_context(RC):
        yield


def png(figure: Figure) -> bytes:
    """The figure as an opaque RGB PNG without metadata that changes between runs.

    No alpha channel (the figure is opaque anyway): the PDF then needs no soft mask per image.
    The PNG is only a carrier into the PDF, which decodes and recompresses it, so it is written
    with fast compression.
    """
    figure.set_dpi(DPI)
    figure.canvas.draw()
    pixels = PILImage.fromarray(np.asarray(figure.canvas.buffer_rgba())).convert("RGB")
    plt.close(figure)
    buffer = io.BytesIO()
    pixels.save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def platform_colour(platform: str, index: int) -> str:
    return PLATFORM_COLOURS.get(platform, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def daily_mentions_chart(
    daily: Sequence[DailyCount],
    days: Sequence[date],
    defenders: Sequence[tuple[str, str]],
    baseline: dict[str, float | None],
    *,
    width_in: float = 6.6,
) -> bytes:
    """One small panel per defender: posts per day stacked by platform, baseline dashed."""
    platforms = sorted({d.platform for d in daily})
    counts: dict[tuple[str, str, date], int] = defaultdict(int)
    for item in daily:
        counts[(item.defender_id, item.platform, item.day)] += item.posts
    rows = max(1, len(defenders))
    with deterministic():
        figure, axes = plt.subplots(
            rows, 1, figsize=(width_in, 0.5 + 1.35 * rows), sharex=True, squeeze=False
        )
        labels = [d.strftime("%a %d") for d in days]
        x = list(range(len(days)))
        for axis, (defender_id, name) in zip(axes[:, 0], defenders or [("", "")], strict=False):
            bottom = [0] * len(days)
            for index, platform in enumerate(platforms):
                values = [counts[(defender_id, platform, d)] for d in days]
                axis.bar(
                    x,
                    values,
                    bottom=bottom,
                    color=platform_colour(platform, index),
                    label=platform,
                    width=0.7,
                )
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            base = baseline.get(defender_id)
            if base is not None:
                axis.axhline(base, color="#444444", linestyle="--", linewidth=1, label="baseline")
            top = max([*bottom, base or 0, 1])
            axis.set_ylim(0, top * 1.25)
            axis.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            axis.set_title(safe_text(name) or "—", loc="left")
            axis.set_ylabel("posts")
            if not daily:
                axis.text(
                    0.5, 0.5, "no mentions this week", ha="center", va="center",
                    transform=axis.transAxes, color="#666666",
                )  # fmt: skip
        axes[-1, 0].set_xticks(x, labels)
        handles, names = axes[0, 0].get_legend_handles_labels()
        if handles:
            figure.legend(
                handles, names, loc="upper right", ncol=len(names), frameon=False, fontsize=7
            )
        figure.tight_layout(rect=(0, 0, 1, 0.97 if handles else 1))
        return png(figure)


def hourly_chart(
    hourly: Sequence[tuple[datetime, int]], start: datetime, *, width_in: float = 6.6
) -> bytes:
    """Posts per hour by the cluster's accounts over the week.

    Cached: the internal and shareable variants show the same timeline.
    """
    return _hourly_chart(tuple(hourly), start, width_in)


@lru_cache(maxsize=64)
def _hourly_chart(
    hourly: tuple[tuple[datetime, int], ...], start: datetime, width_in: float
) -> bytes:
    hours = [start + timedelta(hours=h) for h in range(7 * 24)]
    lookup = dict(hourly)
    values = [lookup.get(h, 0) for h in hours]
    with deterministic():
        figure, axis = plt.subplots(figsize=(width_in, 1.6))
        # one filled step line, not 168 bar patches: the same picture at a fraction of the cost
        axis.stairs(values, range(len(hours) + 1), fill=True, color="#b22222")
        axis.set_xticks(
            range(0, len(hours), 24), [h.strftime("%a %d") for h in hours[::24]], ha="left"
        )
        axis.set_xlim(0, len(hours))
        axis.set_ylabel("posts / hour")
        axis.set_ylim(0, max([*values, 1]) * 1.15)
        axis.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        figure.subplots_adjust(left=0.08, right=0.99, bottom=0.18, top=0.95)
        return png(figure)
