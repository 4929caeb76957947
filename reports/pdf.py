"""The weekly PDF, laid out with reportlab platypus from a `WeekReport`.

Fonts are DejaVu Sans / Sans Bold / Sans Mono from matplotlib's package data, registered as
TrueType and embedded as subsets, so Cyrillic and Kazakh letters (ә ғ қ ң ө ұ ү һ і) render
without any system font. Every string that came from a post or an account passes through
`reports.text` before it reaches a Paragraph, and table cells are clipped, so hostile text can
neither inject markup nor make a row taller than a page.

The bytes are reproducible: reportlab's invariant mode plus a creation date fixed to the
report's generated-at time (the week's end, or SOURCE_DATE_EPOCH), and charts that are
themselves deterministic PNGs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import matplotlib
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, TimeStamp
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports import charts
from reports.model import ClusterSection, WeekReport
from reports.network import cluster_graph, network_chart
from reports.text import para_text, safe_text, set_glyph_check

__all__ = ["FONT", "FONT_BOLD", "FONT_MONO", "register_fonts", "render_pdf"]

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_MONO = "DejaVuSansMono"
PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
BODY_W = PAGE_W - 2 * MARGIN
CELL_LIMIT = 300  # characters in a table cell: no row may outgrow a page
QUOTE_LIMIT = 900
INK = colors.HexColor("#1c2833")
MUTED = colors.HexColor("#5d6d7e")
RULE = colors.HexColor("#d5d8dc")
BANNER = {"internal": colors.HexColor("#922b21"), "shareable": colors.HexColor("#1f618d")}
_HEADER = ParagraphStyle("header", fontName=FONT, fontSize=7, leading=8.6, textColor=INK)
LIGHTS = {
    "red": colors.HexColor("#e74c3c"),
    "amber": colors.HexColor("#f5b041"),
    "green": colors.HexColor("#58d68d"),
}


@cache
def register_fonts() -> None:
    """Register DejaVu from matplotlib's data folder and tell `reports.text` what it can draw."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular = TTFont(FONT, str(folder / "DejaVuSans.ttf"))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_MONO, str(folder / "DejaVuSansMono.ttf")))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )
    # Characters beyond the Basic Multilingual Plane (most emoji) are replaced even where
    # DejaVu has a glyph: reportlab writes their ToUnicode entries in a form PDF readers
    # reject, which would make the copied or extracted text of the page unreliable.
    glyphs = frozenset(c for c in regular.face.charToGlyph if c <= 0xFFFF)
    set_glyph_check(glyphs.__contains__)


# --------------------------------------------------------------------------- styles


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "muted": ParagraphStyle("muted", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.6),
        "mono": ParagraphStyle("mono", parent=base, fontName=FONT_MONO, fontSize=6.6, leading=8),
        "h1": ParagraphStyle(
            "h1", parent=base, fontName=FONT_BOLD, fontSize=15, leading=19, spaceAfter=6
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        ),  # fmt: skip
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=9.5,
            leading=12,
            spaceBefore=6,
            spaceAfter=2,
        ),  # fmt: skip
        "quote": ParagraphStyle(
            "quote",
            parent=base,
            fontSize=8.5,
            leading=11,
            leftIndent=8,
            borderPadding=(3, 4),
            backColor=colors.HexColor("#f4f6f7"),
            borderColor=RULE,
            borderWidth=0.5,
            spaceBefore=3,
            spaceAfter=1,
        ),  # fmt: skip
        "caption": ParagraphStyle(
            "caption", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED, spaceAfter=6
        ),
        "cover_title": ParagraphStyle(
            "cover_title", parent=base, fontName=FONT_BOLD, fontSize=24, leading=30
        ),
        "banner": ParagraphStyle(
            "banner",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=12,
            leading=16,
            textColor=colors.white,
            alignment=TA_CENTER,
        ),  # fmt: skip
        "bullet": ParagraphStyle(
            "bullet", parent=base, leftIndent=12, bulletIndent=2, spaceAfter=2
        ),
    }


# --------------------------------------------------------------------------- canvas


class _ReportCanvas(Canvas):
    """Draws banner, header and "page x of y" once the page count is known; fixes the date."""

    report: WeekReport
    epoch: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["invariant"] = 1
        super().__init__(*args, **kwargs)
        stamp = TimeStamp(1)
        stamp.t = self.epoch
        stamp.lt = time.gmtime(self.epoch)
        stamp.YMDhms = tuple(stamp.lt)[:6]
        self._doc._timeStamp = stamp
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for number, state in enumerate(self._saved, start=1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        report = self.report
        settings = report.settings
        label = (
            settings.classification
            if report.variant == "internal"
            else settings.shareable_classification
        )
        self.saveState()
        self.setFillColor(BANNER.get(report.variant, INK))
        self.rect(0, PAGE_H - 9 * mm, PAGE_W, 9 * mm, stroke=0, fill=1)
        self.setFillColor(colors.white)
        self.setFont(FONT_BOLD, 8.5)
        self.drawCentredString(PAGE_W / 2, PAGE_H - 6 * mm, safe_text(label))
        self.setFillColor(MUTED)
        self.setFont(FONT, 7)
        window = (
            f"{report.week.label} · {report.week.start:%Y-%m-%d %H:%M} – "
            f"{report.week.end:%Y-%m-%d %H:%M} UTC"
        )
        self.drawString(MARGIN, PAGE_H - 13 * mm, window)
        self.drawRightString(PAGE_W - MARGIN, PAGE_H - 13 * mm, report.report_id)
        self.setStrokeColor(RULE)
        self.line(MARGIN, 12 * mm, PAGE_W - MARGIN, 12 * mm)
        self.drawString(MARGIN, 8 * mm, f"smearwatch {report.version} · {report.variant} variant")
        self.drawRightString(PAGE_W - MARGIN, 8 * mm, f"page {number} of {total}")
        self.restoreState()


# --------------------------------------------------------------------------- helpers


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A Paragraph from markup we wrote ourselves (never from post text directly)."""
    return Paragraph(text, style)


def _cell(value: Any, style: ParagraphStyle, limit: int = CELL_LIMIT) -> Paragraph:
    return Paragraph(para_text(value, limit=limit) or "—", style)


def _signal_text(key: str, value: Any) -> str:
    """A signal's value as an analyst reads it: words, not Python reprs or 2.02e+03."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key == "p_value" and value < 1e-15:
            return "< 1e-15 (far beyond chance)"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "; ".join(
            f"{str(k).replace('_', ' ')} {_signal_text(str(k), v)}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return ", ".join(_signal_text(key, v) for v in value)
    if isinstance(value, str) and key.endswith("categories"):
        return value.replace("_", " ")
    return str(value)


def _fmt(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(pattern) + " UTC" if value else "—"


def _eid_link(evidence_id: str, known: set[str]) -> str:
    safe = para_text(evidence_id)
    if evidence_id in known:
        return f'<a href="#{safe}" color="#1f618d">{safe}</a>'
    return safe


def _table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    header: bool = True,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    rows = [list(r) for r in rows]
    if header and rows:
        rows[0] = [
            Paragraph(f"<b>{c}</b>", _HEADER) if isinstance(c, str) and c else c for c in rows[0]
        ]
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 7),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eaeded")),
            ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
        ]
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _image(data: bytes, width: float) -> Image:
    reader = ImageReader(BytesIO(data))
    w, h = reader.getSize()
    return Image(BytesIO(data), width=width, height=width * h / w)


class _Anchor(Flowable):
    """An invisible named destination, so evidence ids can link to their annex row."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.width = self.height = 0

    def draw(self) -> None:
        self.canv.bookmarkHorizontal(self.name, 0, 0)


class _Figures:
    def __init__(self) -> None:
        self.number = 0

    def caption(self, text: str, style: ParagraphStyle) -> Paragraph:
        self.number += 1
        return _p(f"<b>Figure {self.number}.</b> {text}", style)


# --------------------------------------------------------------------------- pages


def _cover(report: WeekReport, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    settings = report.settings
    label = (
        settings.classification
        if report.variant == "internal"
        else (settings.shareable_classification)
    )
    banner = Table([[_p(para_text(label), s["banner"])]], colWidths=[BODY_W])
    banner.setStyle(
        TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), BANNER.get(report.variant, INK)),
            ("TOPPADDING", (0, 0), (-1, -1), 8),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
        ])
    )  # fmt: skip
    if report.defender_filter:
        covered = para_text(report.defender_name(report.defender_filter))
    elif report.defenders:
        covered = "all watched defenders: " + ", ".join(
            para_text(name) for _, name in report.defenders
        )
    else:
        covered = "no defenders configured"
    variant = (
        "Internal variant: full account handles and post URLs. Do not forward outside the "
        "organisation."
        if report.variant == "internal"
        else "Shareable variant: accounts in clusters are shown as keyed pseudonyms (stable across "
        "weeks), bystanders are removed, post URLs and personal data in quotes are withheld. "
        "Evidence ids and SHA-256 hashes match the internal report."
    )
    facts = [
        ["Week", f"{report.week.label}"],
        [
            "UTC window",
            f"{report.week.start:%a %Y-%m-%d %H:%M} to {report.week.end:%a %Y-%m-%d %H:%M} "
            "(end exclusive)",
        ],
        ["Defenders covered", covered],
        ["Generated at", _fmt(report.generated_at)],
        ["smearwatch version", para_text(report.version)],
        ["Report id", report.report_id],
        ["Distribution", para_text(report.settings.distribution) or "as decided by the analyst"],
    ]
    table = _table(
        [[_p(f"<b>{k}</b>", s["small"]), _p(v, s["small"])] for k, v in facts],
        [40 * mm, BODY_W - 40 * mm],
        header=False,
    )
    warning = Table(
        [[_p(
            "<b>Content warning.</b> This report quotes abusive, defamatory and threatening "
            "posts about real people, in the original language. Images are not reproduced. "
            "Read it in a safe setting and take breaks; aggregates are given first so that the "
            "quotes can be skipped.",
            s["small"],
        )]],
        colWidths=[BODY_W],
    )  # fmt: skip
    warning.setStyle(
        TableStyle([
            ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#b9770e")),
            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fef5e7")),
            ("TOPPADDING", (0, 0), (-1, -1), 6),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ])
    )  # fmt: skip
    story: list[Flowable] = [
        Spacer(1, 14 * mm),
        banner,
        Spacer(1, 14 * mm),
        _p("smearwatch weekly report", s["cover_title"]),
        _p("Coordinated online smear activity against human-rights defenders", s["h2"]),
        Spacer(1, 6 * mm),
        table,
        Spacer(1, 8 * mm),
        warning,
        Spacer(1, 5 * mm),
        _p(variant, s["small"]),
    ]
    if not report.has_data:
        story += [
            Spacer(1, 6 * mm),
            _p(
                "<b>No data for this week.</b> No post mentioning a watched defender was "
                "stored for this week and no cluster was active. Check collection health on the "
                "next pages before reading this as a quiet week.",
                s["body"],
            ),
        ]
    story.append(PageBreak())
    return story


def _background_note(report: WeekReport) -> str | None:
    """The run's own words when its null model had no organic background to compare with."""
    if report.analysis is None:
        return None
    background = report.analysis.stats.get("background")
    if not isinstance(background, dict):
        return None
    message = background.get("message")
    return message if isinstance(message, str) and message else None


def _bottom_line(report: WeekReport, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    known = {e.evidence_id for e in report.evidence}
    story: list[Flowable] = [_p("1. Bottom line", s["h1"]), _p("Key findings", s["h2"])]
    for number, finding in enumerate(report.findings, start=1):
        evidence = ", ".join(_eid_link(e, known) for e in finding.evidence_ids) or "—"
        story.append(
            _p(
                f"<b>{number}.</b> {para_text(finding.text)}<br/>"
                f'<font color="#5d6d7e" size="7.5">Confidence: {para_text(finding.confidence)}'
                f" · Evidence: {evidence}</font>",
                s["bullet"],
            )
        )
    note = _background_note(report)
    if note:
        # an empty week of clusters must not read as "no coordination" when chance had no
        # baseline to be measured against
        story.append(_p(f"<b>Caution.</b> {para_text(note)}", s["bullet"]))
    story.append(_p("What changed since last week", s["h2"]))
    rows: list[list[Any]] = [
        ["cluster", "change", "defender", "score now / before", "posts now / before"]
    ]
    for cluster in report.flagged:
        before = f"{cluster.prev_score:.0f}" if cluster.prev_score is not None else "—"
        rows.append([
            cluster.stable_id, cluster.status,
            _cell(report.defender_name(cluster.defender_id), s["cell"]),
            f"{cluster.score:.0f} / {before}",
            f"{cluster.posts_in_week:,} / {cluster.posts_prev_week:,}",
        ])  # fmt: skip
    for item in report.dormant:
        rows.append([
            item["stable_id"], "dormant",
            _cell(report.defender_name(item.get("defender_id")), s["cell"]),
            f"— / {item['score']:.0f}", f"0 / {item['posts']:,}",
        ])  # fmt: skip
    if len(rows) == 1:
        story.append(_p("No flagged cluster this week or last week.", s["body"]))
    else:
        story.append(_table(rows, [22 * mm, 24 * mm, 60 * mm, 35 * mm, 35 * mm]))
        story.append(
            _p(
                "new: not active last week; escalating: at least 1.5× the posts (and 5 more) or "
                "a score 10 points higher than last week; dormant: flagged last week, no "
                "activity this week.",
                s["muted"],
            )
        )
    story.append(_p("Recommended actions", s["h2"]))
    for action in report.actions:
        story.append(Paragraph(para_text(action), s["bullet"], bulletText="•"))
    story.append(
        _p(
            "Calls for violence, doxxing, threats and impersonation need same-day action through "
            "the alert channel; this weekly report is for analysis and follow-up.",
            s["muted"],
        )
    )
    story.append(PageBreak())
    return story


def _count_table(
    title: str, items: Sequence[tuple[str, int]], s: dict[str, ParagraphStyle], width: float
) -> Table:
    rows: list[list[Any]] = [[title, "posts"]]
    rows += [[_cell(k, s["cell"], 60), f"{v:,}"] for k, v in items] or [["none", ""]]
    return _table(rows, [width - 14 * mm, 14 * mm])


def _glance(report: WeekReport, s: dict[str, ParagraphStyle], figures: _Figures) -> list[Flowable]:
    totals = report.totals
    share = totals.get("young_share")
    story: list[Flowable] = [_p("2. Week at a glance", s["h1"])]
    facts = [
        ["Posts mentioning a watched defender", f"{totals['posts']:,}"],
        ["Unique accounts posting them", f"{totals['unique_accounts']:,}"],
        [
            "Share of those accounts younger than 30 days when posting",
            f"{share:.0%} ({totals['young_accounts']:,} of {totals['accounts_with_age']:,} "
            "with a known creation date)"
            if share is not None
            else "unknown (no account creation dates)",
        ],
        ["Posts using smear vocabulary", f"{totals['posts_with_smear_terms']:,}"],
        ["Clusters active / flagged", f"{len(report.clusters)} / {len(report.flagged)}"],
    ]
    story.append(
        _table(
            [[_p(k, s["small"]), _p(v, s["small"])] for k, v in facts],
            [95 * mm, BODY_W - 95 * mm],
            header=False,
        )
    )
    story.append(Spacer(1, 4 * mm))
    defenders = report.defenders or [("", "no defenders configured")]
    chart = charts.daily_mentions_chart(
        report.daily, report.week.days(), defenders, report.baseline_daily
    )
    baseline = (
        f"mean daily mentions over {', '.join(report.baseline_weeks)} (weeks with no collected "
        "posts are left out)"
        if report.baseline_weeks
        else "none: no earlier week in the previous four has collected posts"
    )
    story += [
        _image(chart, BODY_W),
        figures.caption(
            "Posts per day mentioning each defender, stacked by platform. Source: stored posts "
            f"with a defender mention, {report.week.label} (UTC days). Dashed line: baseline, "
            f"{baseline}.",
            s["caption"],
        ),
    ]
    third = BODY_W / 3 - 2 * mm
    trio = Table(
        [[
            _count_table("smear term", report.smear_terms, s, third),
            _count_table("hashtag", [("#" + k, v) for k, v in report.hashtags], s, third),
            _count_table("linked domain", report.domains, s, third),
        ]],
        colWidths=[third + 3 * mm] * 3,
    )  # fmt: skip
    trio.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    story += [
        CondPageBreak(60 * mm),
        _p("Terms, hashtags and domains", s["h2"]),
        trio,
        _p(
            f"Smear terms: {para_text(report.vocabulary_origin)}; a post counts once per term. "
            "Counts cover posts mentioning a watched defender in the week.",
            s["muted"],
        ),
    ]
    story += [CondPageBreak(50 * mm), _p("Collection health", s["h2"])]
    if report.sources:
        rows: list[list[Any]] = [
            ["source", "platform", "runs", "ok", "errors", "fetched", "gaps", "last error"]
        ]
        for source in report.sources:
            gaps = "; ".join(f"{a:%a %H:%M}–{b:%a %H:%M}" for a, b in source.gaps[:3])
            if len(source.gaps) > 3:
                gaps += f" (+{len(source.gaps) - 3})"
            rows.append([
                _cell(source.name, s["cell"], 40), source.platform, source.runs, source.ok,
                source.errors, f"{source.fetched:,}", _cell(gaps or "none", s["cell"]),
                _cell(source.last_error or "—", s["cell"], 160),
            ])  # fmt: skip
        story.append(
            _table(rows, [26 * mm, 17 * mm, 11 * mm, 9 * mm, 12 * mm, 15 * mm, 40 * mm, 48 * mm])
        )
        story.append(
            _p(
                "A gap is an interval with no collection run longer than twice the source's "
                "configured interval (at least an hour; three hours when unknown), including the "
                "start and end of the week.",
                s["muted"],
            )
        )
    else:
        story.append(
            _p(
                "No collector runs are recorded for this week (no configured source ran). "
                "Posts below came only from imported files.",
                s["body"],
            )
        )
    if report.imports:
        rows = [["imported file", "SHA-256 (first 16)", "finished", "status", "posts in week"]]
        for item in report.imports:
            rows.append([
                _cell(item.file_name, s["cell"], 80), item.file_sha256[:16],
                _fmt(item.finished_at), item.status, f"{item.posts_in_week:,}",
            ])  # fmt: skip
        story.append(Spacer(1, 2 * mm))
        story.append(_table(rows, [55 * mm, 35 * mm, 38 * mm, 16 * mm, 34 * mm]))
    elif not report.sources:
        story.append(_p("No imported file holds posts of this week either.", s["body"]))
    story.append(PageBreak())
    return story


def _verdict(cluster: ClusterSection) -> str:
    if not cluster.review:
        return "not yet reviewed"
    review = cluster.review
    parts = [f"<b>{para_text(review.get('verdict'))}</b>"]
    if review.get("reviewer"):
        parts.append("by " + para_text(review["reviewer"]))
    if isinstance(review.get("created_at"), datetime):
        parts.append(review["created_at"].strftime("%Y-%m-%d"))
    note = review.get("note")
    text = " ".join(parts)
    return text + (f"<br/>{para_text(note, limit=400)}" if note else "")


def _cluster(
    report: WeekReport,
    cluster: ClusterSection,
    number: int,
    s: dict[str, ParagraphStyle],
    figures: _Figures,
) -> list[Flowable]:
    known = {e.evidence_id for e in report.evidence}
    targets = ", ".join(
        para_text(t.get("name") or report.defender_name(t.get("defender_id")))
        for t in cluster.targets
    ) or para_text(report.defender_name(cluster.defender_id))
    story: list[Flowable] = [
        _p(f"3.{number} Cluster {para_text(cluster.stable_id)} — {para_text(cluster.stance)}, "
           f"targeting {targets}", s["h1"]),
    ]  # fmt: skip
    facts = [
        ["Status vs last week", para_text(cluster.status)],
        ["First / last activity",
         f"{_fmt(cluster.first_activity)} / {_fmt(cluster.last_activity)}"],
        ["Accounts", f"{cluster.size:,}"],
        ["Posts by these accounts this week / last week",
         f"{cluster.posts_in_week:,} / {cluster.posts_prev_week:,}"],
    ]  # fmt: skip
    story.append(
        _table([[_p(k, s["small"]), _p(v, s["small"])] for k, v in facts],
               [70 * mm, BODY_W - 70 * mm], header=False)
    )  # fmt: skip
    judgement = _table(
        [
            ["Automated assessment", "Analyst verdict"],
            [
                _p(
                    f"Signal strength <b>{cluster.score:.0f}/100</b> (not a probability)<br/>"
                    f"Automated confidence: <b>{para_text(cluster.confidence)}</b><br/>"
                    f"Stance: {para_text(cluster.stance)}",
                    s["small"],
                ),
                _p(_verdict(cluster), s["small"]),
            ],
        ],
        [BODY_W / 2, BODY_W / 2],
    )
    story += [Spacer(1, 3 * mm), judgement]
    if cluster.explanation:
        story.append(_p("Why it was flagged", s["h2"]))
        story += [
            Paragraph(para_text(line, limit=600), s["bullet"], bulletText="•")
            for line in cluster.explanation[:10]
        ]
    signals = [(f"component: {k}", v) for k, v in sorted(cluster.components.items())]
    signals += sorted(cluster.signals.items())
    if signals:
        story.append(_p("Signals behind the score", s["h3"]))
        rows: list[list[Any]] = [["signal", "value"]]
        for key, value in signals[:30]:
            shown = _signal_text(str(key), value)
            rows.append(
                [_cell(str(key).replace("_", " "), s["cell"], 80), _cell(shown, s["cell"], 200)]
            )
        story.append(_table(rows, [70 * mm, BODY_W - 70 * mm]))
    if cluster.hourly:
        story += [
            CondPageBreak(45 * mm),
            _p("Timeline", s["h3"]),
            _image(charts.hourly_chart(cluster.hourly, report.week.start), BODY_W),
            figures.caption(
                f"Posts per hour by the {cluster.size} accounts of {para_text(cluster.stable_id)}, "
                f"{report.week.label} (UTC). Source: all their stored posts in the week.",
                s["caption"],
            ),
        ]
    if cluster.narratives:
        story.append(_p("Narratives and example posts", s["h2"]))
        story.append(
            _p(
                "Quotes are in the original language, exactly as stored (unprintable characters "
                "removed, long posts cut). No translation has been made; translate before quoting "
                "to bodies that need English, French or Spanish.",
                s["muted"],
            )
        )
    for narrative in cluster.narratives:
        categories = ", ".join(para_text(c) for c in narrative.smear_categories) or "—"
        block: list[Flowable] = [
            _p(
                f"<b>{para_text(narrative.key or 'narrative')}</b> — {narrative.posts:,} posts by "
                f"{narrative.accounts:,} accounts, {_fmt(narrative.first_at)} to "
                f"{_fmt(narrative.last_at)}; smear categories: {categories}"
                + (" (supportive)" if narrative.supportive else ""),
                s["small"],
            )
        ]
        if not narrative.examples and narrative.representative_text:
            block.append(
                _p(para_text(narrative.representative_text, limit=QUOTE_LIMIT), s["quote"])
            )
        for example in narrative.examples:
            text = (
                para_text(example.text, limit=QUOTE_LIMIT)
                or "<i>[empty text: a repost or media-only post]</i>"
            )
            block += [
                _p(text, s["quote"]),
                _p(
                    f"{_fmt(example.created_at, '%Y-%m-%d %H:%M:%S')} · "
                    f"{para_text(report.account_label(example.account_pk, example.handle))} · "
                    f"lang {para_text(example.lang or '?')} · "
                    f"{_eid_link(example.evidence_id, known)}",
                    s["muted"],
                ),
            ]
        story.append(KeepTogether(block[:3]))
        story += block[3:]
    if cluster.evidence:
        story.append(_p("Shared objects that link the accounts", s["h2"]))
        rows = [
            ["layer", "shared object", "accounts (outside)", "span", "posts (seconds after first)"]
        ]
        for obj in cluster.evidence:
            cites = ", ".join(
                f"{_eid_link(p['evidence_id'], known)} (+{float(p.get('delta_s') or 0):.0f}s)"
                for p in obj.posts
            )
            rows.append([
                _cell(obj.kind.replace("_", " "), s["cell"], 30),
                _cell(obj.display, s["cell"], 160),
                f"{obj.accounts} ({obj.outside_accounts})",
                f"{obj.span_seconds:,.0f} s",
                _p(cites or "—", s["cell"]),
            ])  # fmt: skip
        story.append(_table(rows, [20 * mm, 52 * mm, 20 * mm, 16 * mm, BODY_W - 108 * mm]))
    story += [CondPageBreak(40 * mm), _p("Accounts", s["h2"])]
    rows = [
        ["account", "platform id", "created", "age at week start", "posts in week", "centrality"]
    ]
    limit = report.settings.accounts_per_cluster
    for account in cluster.accounts[:limit]:
        age = account.age_days(report.week.start)
        rows.append([
            _cell(report.account_label(account.account_pk, account.handle), s["cell"], 80),
            _p(para_text(account.platform_id, limit=80), s["mono"]),
            account.created_at.strftime("%Y-%m-%d") if account.created_at else "unknown",
            f"{age:,.0f} days" if age is not None else "—",
            f"{account.posts_in_week:,}",
            f"{account.centrality:.2f}",
        ])  # fmt: skip
    story.append(_table(rows, [46 * mm, 52 * mm, 20 * mm, 22 * mm, 18 * mm, 18 * mm]))
    if len(cluster.accounts) > limit:
        story.append(
            _p(f"{len(cluster.accounts) - limit:,} more accounts in clusters.csv.", s["muted"])
        )
    if cluster.edges:
        labels = {
            a.account_pk: report.account_label(a.account_pk, a.handle) for a in cluster.accounts
        }
        graph = cluster_graph(cluster.accounts, cluster.edges, labels)
        params = report.analysis.parameters if report.analysis else {}
        window = params.get("window_seconds", report.analysis_window[0])
        repetitions = params.get("min_repetitions", report.analysis_window[1])
        fast = sum(1 for e in cluster.edges if e.fast)
        story += [
            CondPageBreak(95 * mm),
            _p("Network", s["h3"]),
            _image(network_chart(graph), BODY_W * 0.92),
            figures.caption(
                f"Coordination network of {para_text(cluster.stable_id)}: "
                f"{graph.number_of_nodes()} "
                f"accounts, {graph.number_of_edges()} edges ({fast} fast, red). An edge means "
                f"at least {para_text(repetitions)} distinct shared objects within a "
                f"{para_text(window)}-second co-action window"
                f" in analysis run {report.analysis.run_id if report.analysis else '?'} "
                f"({_fmt(report.analysis.since if report.analysis else None, '%Y-%m-%d')} to "
                f"{_fmt(report.analysis.until if report.analysis else None, '%Y-%m-%d')}). "
                "Node size: posts in the week."
                + (" Labels are pseudonyms." if report.pseudonyms else ""),
                s["caption"],
            ),
        ]
    story.append(_p("Alternative explanations considered", s["h2"]))
    if cluster.alternatives:
        story += [
            Paragraph(para_text(line, limit=600), s["bullet"], bulletText="•")
            for line in cluster.alternatives[:10]
        ]
    else:
        story.append(_p("None recorded by the analysis for this cluster.", s["body"]))
    return story


def _clusters(
    report: WeekReport, s: dict[str, ParagraphStyle], figures: _Figures
) -> list[Flowable]:
    story: list[Flowable] = []
    if not report.flagged:
        story += [
            _p("3. Flagged clusters", s["h1"]),
            _p(
                "No cluster was flagged this week."
                if report.analysis
                else "No successful analysis run covers this week, so no cluster could be "
                "flagged. Run 'smearwatch analyze' and generate the report again.",
                s["body"],
            ),
        ]
    for number, cluster in enumerate(report.flagged, start=1):
        if number > 1:
            story.append(PageBreak())
        story += _cluster(report, cluster, number, s, figures)
    others = [c for c in report.clusters if not c.flagged]
    if others:
        if not report.flagged:
            story.append(Spacer(1, 4 * mm))
        story += [CondPageBreak(40 * mm), _p("Other coordinated activity (not flagged)", s["h2"])]
        rows: list[list[Any]] = [
            ["cluster", "stance", "defender", "accounts", "score", "why not flagged"]
        ]
        for cluster in others:
            why = (
                "supportive stance"
                if cluster.stance == "supportive"
                else f"score below {report.settings.min_score:.0f}"
            )
            rows.append([
                cluster.stable_id, cluster.stance,
                _cell(report.defender_name(cluster.defender_id), s["cell"]),
                cluster.size, f"{cluster.score:.0f}", why,
            ])  # fmt: skip
        story.append(_table(rows, [18 * mm, 20 * mm, 50 * mm, 18 * mm, 14 * mm, BODY_W - 120 * mm]))
    story.append(PageBreak())
    return story


def _watch(report: WeekReport, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("4. Defender watch", s["h1"])]
    rows: list[list[Any]] = [[
        "", "defender", "mentions", "last week", "baseline / week", "accounts",
        "smear share", "open clusters", "why",
    ]]  # fmt: skip
    extra = []
    for index, row in enumerate(report.watch, start=1):
        change = row.mentions - row.mentions_prev
        rows.append([
            "", _cell(row.name, s["cell"], 60), f"{row.mentions:,} ({change:+,})",
            f"{row.mentions_prev:,}",
            f"{row.baseline_week:,.0f}" if row.baseline_week is not None else "—",
            f"{row.unique_accounts:,}",
            f"{row.smear_share:.0%}" if row.smear_share is not None else "—",
            _cell(", ".join(row.open_clusters) or "none", s["cell"]),
            _cell(row.reason, s["cell"]),
        ])  # fmt: skip
        extra.append(("BACKGROUND", (0, index), (0, index), LIGHTS[row.light]))
    if len(rows) == 1:
        story.append(_p("No defenders configured.", s["body"]))
    else:
        story.append(
            _table(
                rows,
                [
                    5 * mm,
                    32 * mm,
                    20 * mm,
                    15 * mm,
                    18 * mm,
                    15 * mm,
                    15 * mm,
                    22 * mm,
                    BODY_W - 142 * mm,
                ],
                extra=extra,
            )
        )
    story.append(
        _p(
            "<b>Traffic light rule.</b> Red: a flagged cluster targets the defender with high "
            "automated confidence or a score of 70 or more. Amber: any other flagged cluster, or "
            "mentions at least twice the weekly baseline (and 10 or more), or at least a quarter "
            "of 5 or more mentions using smear vocabulary. Green: none of these. The light is a "
            "reading aid, not a risk assessment.",
            s["small"],
        )
    )
    story.append(PageBreak())
    return story


def _methodology(report: WeekReport, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("5. Methodology and limitations", s["h1"])]
    story.append(_p("Sources and access routes", s["h2"]))
    routes = {
        "bluesky": "Bluesky API: keyword search logged in as a research account, watched "
        "accounts' feeds through the public AppView without login",
        "mastodon": "Mastodon public API (hashtag and account timelines)",
        "telegram": "Telegram public web preview of channels (t.me/s/…)",
        "rss": "RSS/Atom feeds of news sites",
    }
    lines = [
        f"{para_text(name)} ({para_text(platform)}): {routes.get(platform, 'collector')}"
        for name, platform in report.configured_sources
    ]
    if report.imports:
        lines.append(
            f"{len(report.imports)} analyst export file(s) imported; each file's SHA-256 is "
            "recorded (collection health table)."
        )
    if not lines:
        lines.append("No sources configured and no imports: nothing was collected.")
    story += [Paragraph(line, s["bullet"], bulletText="•") for line in lines]
    if any(platform in ("bluesky", "mastodon") for _, platform in report.configured_sources):
        story.append(_p("What platform search cannot see", s["h2"]))
        story.append(
            _p(
                "Platform search matches whole words and does not stem Russian or Kazakh, so "
                "every declined form of a name (Ормановой, Ормановаға, Ormanovaga) is searched "
                "as a query of its own, under a request budget per run. Bluesky search is done "
                "logged in, and a logged-in search hides the posts of accounts that block the "
                "research account: an account that blocked it is absent from search results "
                "and is only seen when it is read as a watched account (through the public "
                "AppView, where blocks do not apply) or when others reply to or quote it. A "
                "name written inside a longer hashtag (#ОрмановаПредатель) cannot be found by "
                "search at all. Mastodon search finds only posts of authors who opted in to "
                "search; hashtag timelines find exact tags only. Counts in this report are "
                "therefore lower bounds.",
                s["body"],
            )
        )
    story.append(_p("Defender matching", s["h2"]))
    story.append(
        _p(
            "A post counts as a mention when a configured alias of a defender is found in its "
            "text, hashtags, tagged accounts or links. Aliases are expanded to Russian "
            "declensions, Kazakh suffixes and Latin/Cyrillic transliterations; other people "
            "with the same surname are excluded where the context shows it.",
            s["body"],
        )
    )
    story.append(_p("Coordination analysis", s["h2"]))
    analysis = report.analysis
    if analysis is None:
        story.append(_p("No successful analysis run covers this week.", s["body"]))
    else:
        story.append(
            _p(
                f"Analysis run {analysis.run_id} ({para_text(analysis.status)}), window "
                f"{_fmt(analysis.since)} to {_fmt(analysis.until)}, finished "
                f"{_fmt(analysis.finished_at)}, code version "
                f"{para_text(analysis.code_version or 'unknown')}.",
                s["body"],
            )
        )
        story.append(
            _p(
                "Accounts are linked when they repeatedly act on the same object (a link, a "
                "repost, identical or near-identical text, a hashtag sequence, a pile-on under "
                "one post) within a short co-action window, more often than their overall "
                "activity would make likely by chance. Linked accounts are grouped into "
                "clusters; each cluster gets an automated signal strength from 0 to 100 that "
                "combines how tight the coordination is, account signals (such as age) and "
                "content signals (such as smear vocabulary). The score is not a probability "
                "that anyone is guilty of anything.",
                s["body"],
            )
        )
        story.append(
            _p(
                "One act counts once. What a post inherits from the post it reposts, forwards "
                "or quotes (its text, links, hashtags and mentions) is not counted as a "
                "separate action of the account passing it on: a repost or forward counts "
                "only as a repost of the original, while a quote's own added text and links "
                "count. Two posts count at most once for a pair of accounts, on the strongest "
                "trace they share (a shared link, text and hashtag in the same two posts are "
                "one repetition, not three); the other traces are kept as evidence. That "
                "repetition weighs as much as its least crowded trace: a template text many "
                "accounts use, posted with a defender's name in an otherwise quiet minute, "
                "is one act in a quiet minute.",
                s["body"],
            )
        )
        story.append(
            _p(
                "Chance is estimated from the analysed window itself: what two accounts would "
                "share if every post kept its object and time but the posts were shuffled "
                "across accounts. It is only as good as the ordinary traffic it sees; when "
                "almost every co-action in the window is by accounts that co-act again and "
                "again, the run says that the null model had nothing to compare with. Pairs "
                "and short chains of accounts that form no dense cluster are reported as "
                "sparse clusters only when the window holds more such links than chance "
                "allows (at most 5% of them expected to be chance); links explained "
                "otherwise (a site's own feed accounts, or a few faces in a crowd reposting "
                "the same post) are taken out before that count, so they cannot vouch for "
                "others. A site's own feed accounts are sources, not co-actors, and never "
                "members: a cluster that held some is what its other members and the links "
                "among them make of it, so readers who shared the site's articles seconds "
                "after its feeds are no cluster with them. A cluster must also be most of "
                "the accounts acting on its objects around its bursts (a few fans in a crowd "
                "of readers are not a group acting on its own); whoever posted a reposted "
                "post within that minute is one of those accounts, since reposts seconds "
                "after a post appears react to it.",
                s["body"],
            )
        )
        note = _background_note(report)
        if note:
            story.append(_p(f"<b>This run:</b> {para_text(note)}", s["body"]))
        definition = _score_definition()
        if definition:
            story.append(_p("Score definition (from the analysis code)", s["h3"]))
            story.append(_p(para_text(definition, limit=3000), s["small"]))
        params = sorted(analysis.parameters.items())
        if params:
            story.append(_p("Parameters of this run", s["h3"]))
            rows: list[list[Any]] = [["parameter", "value"]]
            for key, value in params[:60]:
                rows.append([_cell(key, s["cell"], 80), _cell(value, s["cell"], 200)])
            story.append(_table(rows, [70 * mm, BODY_W - 70 * mm]))
        if analysis.layers:
            story.append(
                _p(
                    "Layers: " + ", ".join(para_text(k) for k in sorted(analysis.layers)),
                    s["small"],
                )
            )
        story.append(_p(f"Smear vocabulary: {para_text(analysis.vocabulary_origin)}.", s["small"]))
    story.append(
        _p(
            f"Report settings: clusters are flagged when not supportive and their score is at "
            f"least {report.settings.min_score:.0f}; accounts are 'young' when created less "
            "than 30 days before the post.",
            s["small"],
        )
    )
    story.append(_p("Known blind spots", s["h2"]))
    blind = [
        "Private groups, closed chats and direct messages are not collected.",
        "Posts deleted before collection are missing; posts deleted after it are kept as evidence.",
        "Platform search and API limits mean collection is a sample, not a census; "
        "collection gaps are listed under collection health.",
        "Matching covers Russian, Kazakh and English spellings of the configured aliases; "
        "nicknames and misspellings not in the alias list are missed.",
        "Images and video are not analysed; text inside images is not read.",
        "Right-to-left scripts are shown in stored order without shaping; characters the font "
        "cannot draw (some emoji) appear as □. The evidence holds the exact text.",
        "Coordination is behaviour, not intent: organic outrage, fandoms, share buttons and "
        "news links can look coordinated. Each cluster lists the alternatives considered.",
    ]
    story += [Paragraph(para_text(line), s["bullet"], bulletText="•") for line in blind]
    story.append(_p("Confidence language", s["h2"]))
    story.append(
        _p(
            "'Automated confidence' (low, medium, high) describes how much evidence the "
            "analysis found for coordination. It is kept separate from the analyst's verdict, "
            "which is recorded by a person after review. Neither is a statement about who is "
            "behind the accounts.",
            s["body"],
        )
    )
    story.append(PageBreak())
    return story


def _score_definition() -> str | None:
    """The score formula as documented by the analysis, when that module is installed."""
    try:
        from analysis import campaigns  # type: ignore[attr-defined]
    except ImportError:
        return None
    for name in ("SCORE_DEFINITION", "score_definition"):
        value = getattr(campaigns, name, None)
        if callable(value):
            value = value()
        if isinstance(value, str) and value.strip():
            return value.strip()
    doc = campaigns.__doc__ or ""
    return doc.strip() or None


def _annex(report: WeekReport, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p("Annex A. Evidence index", s["h1"])]
    if not report.evidence:
        story.append(_p("No post is cited in this report.", s["body"]))
    else:
        story.append(
            _p(
                "Every post cited above. SHA-256 is the hash of the raw payload as collected "
                "(first 16 hex digits here, the full hash in evidence.csv); check it with "
                "'smearwatch verify EVIDENCE-ID'. Handles are as at capture. Times are UTC. "
                "A post its author deleted later is marked with when the deletion was "
                "noticed; the copy cited is the one collected.",
                s["small"],
            )
        )
        rows: list[list[Any]] = [
            [
                "evidence id",
                "platform / URL",
                "author id / handle",
                "created / collected",
                "SHA-256",
            ]
        ]
        for row in report.evidence:
            url = row.url or ("withheld (shareable)" if report.pseudonyms else "—")
            rows.append([
                [_Anchor(row.evidence_id), _p(para_text(row.evidence_id), s["mono"])],
                _p(f"{para_text(row.platform)}<br/>{para_text(url, limit=200)}", s["mono"]),
                _p(f"{para_text(row.author_id, limit=90)}<br/>"
                   f"{para_text(report.account_label(row.account_pk, row.handle), limit=90)}",
                   s["mono"]),
                _p(f"{row.created_at:%Y-%m-%d %H:%M:%S}<br/>{row.collected_at:%Y-%m-%d %H:%M:%S}"
                   + (f"<br/>deleted, noticed {row.deleted_at:%Y-%m-%d %H:%M:%S}"
                      if row.deleted_at else ""),
                   s["mono"]),
                _p(row.raw_sha256[:16], s["mono"]),
            ])  # fmt: skip
        story.append(_table(rows, [28 * mm, 51 * mm, 42 * mm, 30 * mm, 27 * mm]))
    story.append(_p("Annex C. Custody statement", s["h2"]))
    story.append(
        _p(
            f"Generated by smearwatch {para_text(report.version)} for {report.week.label} "
            f"({report.variant} variant), report id {report.report_id}, dated "
            f"{_fmt(report.generated_at)} (the end of the week unless SOURCE_DATE_EPOCH was "
            "set). The same database content always gives the same bytes. The SHA-256 of this "
            "PDF and of every export beside it is listed in MANIFEST.sha256 in the same folder.",
            s["small"],
        )
    )
    return story


# --------------------------------------------------------------------------- entry point


def render_pdf(report: WeekReport, path: Path) -> int:
    """Write the report to `path`; return the number of pages."""
    register_fonts()
    s = _styles()
    figures = _Figures()
    story: list[Flowable] = []
    story += _cover(report, s)
    story += _bottom_line(report, s)
    story += _glance(report, s, figures)
    story += _clusters(report, s, figures)
    story += _watch(report, s)
    story += _methodology(report, s)
    story += _annex(report, s)
    pages: list[int] = []

    def count(canvas: Canvas, _doc: Any) -> None:
        pages.append(canvas.getPageNumber())

    frame = Frame(MARGIN, 16 * mm, BODY_W, PAGE_H - 16 * mm - 18 * mm, id="body")
    document = BaseDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"smearwatch weekly report {report.week.label} ({report.variant})",
        author="smearwatch",
        subject=report.report_id,
        creator=f"smearwatch {report.version}",
        invariant=1,
    )
    document.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=count)])
    canvas_class = type(
        "ReportCanvas",
        (_ReportCanvas,),
        {"report": report, "epoch": report.generated_at.timestamp()},
    )
    with _binary_streams():
        document.build(story, canvasmaker=canvas_class)
    return len(pages)


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Write streams Flate-compressed only, not also ASCII85-encoded.

    ASCII85 makes every image and font stream a quarter larger, and without reportlab's C
    accelerator it is encoded in pure Python: the slowest step of a report with many charts.
    """
    previous = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = previous
