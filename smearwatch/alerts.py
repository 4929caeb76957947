"""Same-day alerts: find the events, record each once, deliver each once per channel.

Events (B.8 of the practice notes: the weekly PDF is for analysis, not for emergencies):

* `threat` / `doxxing`: a new post that mentions a defender and contains a threat of violence
  or personal data (`analysis.harms`); one alert per post.
* `impersonation`: a new account whose handle or display name imitates a defender's; one alert
  per account and defender.
* `burst`: posts mentioning a defender in the last `burst_window` exceed both `burst_min_posts`
  and `burst_factor` times the baseline rate; one alert per defender per `burst_cooldown`.
* `cluster`: the latest analysis run has a cluster at the configured confidence and stance;
  one alert per cluster `stable_id`, so the same campaign does not alert every hour.

Exactly-once bookkeeping: each event has a key (`threat:bluesky:at://...`) that is unique in
the `alert` table, so a re-scan after a crash records nothing twice. Delivery is per channel:
each success is committed at once in `alert.delivered`, failures are retried on the next run.
A crash between an SMTP server's "250 OK" and that commit can repeat one message; no scheme
without the receiver's cooperation avoids that, and a rare repeat beats a lost alert.

What leaves the server is minimal: personal data found in a post is masked in the alert, post
texts are cut to an excerpt, and the SMTP password and webhook URL never appear in logs.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from analysis.harms import (
    find_impersonation,
    find_personal_data,
    find_threats,
    load_rules,
    mask_personal_data,
)
from db import models
from smearwatch.config import Config
from smearwatch.settings import SMTP_PASSWORD_ENV, AlertSettings

__all__ = ["AlertEvent", "AlertRunSummary", "deliver_pending", "detect", "run_alerts"]

log = logging.getLogger("smearwatch.alerts")

_POST = models.Post.__table__
_ACCOUNT = models.Account.__table__
_MENTION = models.Mention.__table__
_ALERT = models.Alert.__table__
_RUN = models.AnalysisRun.__table__
_CLUSTER = models.Cluster.__table__
PAGE = 2000
EXCERPT = 280


@dataclass
class AlertEvent:
    key: str
    kind: str
    defender_id: str | None
    severity: str
    title: str
    body: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertRunSummary:
    raised: int = 0
    delivered: int = 0
    scanned: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        text = (
            f"scanned {self.scanned:,} new post(s), raised {self.raised} alert(s), "
            f"delivered {self.delivered} message(s)"
        )
        if self.delivery_errors:
            text += f"; delivery failed: {'; '.join(self.delivery_errors[:3])}"
        return text


def _excerpt(text: str) -> str:
    text = " ".join(mask_personal_data(text).split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _defender_names(config: Config) -> dict[str, str]:
    return {d.id: d.name for d in config.defenders}


def _post_events(
    config: Config, settings: AlertSettings, rows: list[Any], mentioned: dict[int, set[str]]
) -> list[AlertEvent]:
    rules = load_rules(settings.harms_file)
    names = _defender_names(config)
    events: list[AlertEvent] = []
    seen_accounts: set[tuple[str, str]] = set()
    for row in rows:
        where = {
            "platform": row.platform,
            "post_id": row.platform_id,
            "evidence_id": row.evidence_id,
            "url": row.url,
            "author": row.author_handle,
            "created_at": row.created_at.isoformat(),
        }
        defenders = sorted(mentioned.get(row.id, ()))
        who = ", ".join(names.get(d, d) for d in defenders)
        if defenders and settings.threats:
            hits = find_threats(row.text, rules)
            if hits:
                reporting = all(h.reporting for h in hits)
                events.append(
                    AlertEvent(
                        key=f"threat:{row.platform}:{row.platform_id}",
                        kind="threat",
                        defender_id=defenders[0],
                        severity="medium" if reporting else "high",
                        title=("Reported threat" if reporting else "Threat of violence")
                        + f" against {who}",
                        body=f"{row.author_handle or 'an account'} on {row.platform}: "
                        f"\u201c{_excerpt(row.text)}\u201d\nEvidence {row.evidence_id}, "
                        f"{row.url or 'no URL'}",
                        details={
                            **where,
                            "defenders": defenders,
                            "phrases": sorted({h.rule for h in hits}),
                            "reporting": reporting,
                        },
                    )
                )
        if defenders and settings.doxxing:
            found = find_personal_data(row.text, rules)
            if found:
                kinds = sorted({h.kind.replace("_", " ") for h in found})
                events.append(
                    AlertEvent(
                        key=f"doxxing:{row.platform}:{row.platform_id}",
                        kind="doxxing",
                        defender_id=defenders[0],
                        severity="high",
                        title=f"Personal data ({', '.join(kinds)}) posted about {who}",
                        body=f"{row.author_handle or 'an account'} on {row.platform}: "
                        f"\u201c{_excerpt(row.text)}\u201d\nEvidence {row.evidence_id}, "
                        f"{row.url or 'no URL'} (personal data masked here)",
                        details={
                            **where,
                            "defenders": defenders,
                            "found": [{"kind": h.kind, "masked": h.masked} for h in found],
                        },
                    )
                )
        account = (row.platform, row.account_platform_id)
        if settings.impersonation and account not in seen_accounts:
            seen_accounts.add(account)
            for hit in find_impersonation(
                row.author_handle, row.author_display_name, config.defenders
            ):
                events.append(
                    AlertEvent(
                        key=f"impersonation:{row.platform}:{row.account_platform_id}:"
                        f"{hit.defender_id}",
                        kind="impersonation",
                        defender_id=hit.defender_id,
                        severity="high",
                        title=f"Possible impersonation of {names.get(hit.defender_id)} "
                        f"on {row.platform}",
                        body=f"Account {row.author_handle!r} ({row.author_display_name or ''}) "
                        f"imitates {hit.imitated!r}: {hit.reason} in its {hit.field}.\n"
                        f"First seen in evidence {row.evidence_id}, {row.url or 'no URL'}",
                        details={
                            **where,
                            "account_id": row.account_platform_id,
                            "imitated": hit.imitated,
                            "field": hit.field,
                            "reason": hit.reason,
                        },
                    )
                )
    return events


def _scan_posts(
    engine: Engine, config: Config, settings: AlertSettings, now: datetime, state: dict[str, Any]
) -> tuple[list[AlertEvent], int]:
    """Events in posts stored since the last scan (the watermark is a post row id)."""
    watermark = int(state.get("post_watermark", 0))
    oldest = now - timedelta(seconds=settings.max_age)
    events: list[AlertEvent] = []
    scanned = 0
    with engine.connect() as connection:
        while True:
            rows = connection.execute(
                select(
                    _POST.c.id, _POST.c.platform, _POST.c.platform_id, _POST.c.evidence_id,
                    _POST.c.url, _POST.c.text, _POST.c.author_handle,
                    _POST.c.author_display_name, _POST.c.created_at,
                    _ACCOUNT.c.platform_id.label("account_platform_id"),
                )
                .join(_ACCOUNT, _ACCOUNT.c.id == _POST.c.account_id)
                .where(_POST.c.id > watermark)
                .order_by(_POST.c.id)
                .limit(PAGE)
            ).all()  # fmt: skip
            if not rows:
                break
            watermark = rows[-1].id
            recent = [r for r in rows if r.created_at >= oldest]
            scanned += len(recent)
            mentioned: dict[int, set[str]] = defaultdict(set)
            if recent:
                for post_id, defender_id in connection.execute(
                    select(_MENTION.c.post_id, _MENTION.c.defender_id).where(
                        _MENTION.c.post_id.in_([r.id for r in recent])
                    )
                ):
                    mentioned[post_id].add(defender_id)
            events.extend(_post_events(config, settings, recent, mentioned))
    state["post_watermark"] = watermark
    return events, scanned


def _burst_events(
    engine: Engine, config: Config, settings: AlertSettings, now: datetime
) -> list[AlertEvent]:
    window = timedelta(seconds=settings.burst_window)
    baseline = timedelta(seconds=settings.burst_baseline)
    names = _defender_names(config)
    events = []
    with engine.connect() as connection:

        def count(defender_id: str, start: datetime, end: datetime) -> int:
            return connection.execute(
                select(func.count(func.distinct(_MENTION.c.post_id)))
                .join(_POST, _POST.c.id == _MENTION.c.post_id)
                .where(
                    _MENTION.c.defender_id == defender_id,
                    _POST.c.created_at > start,
                    _POST.c.created_at <= end,
                )
            ).scalar_one()

        for defender in config.defenders:
            recent = count(defender.id, now - window, now)
            if recent < settings.burst_min_posts:
                continue
            before = count(defender.id, now - baseline, now - window)
            rate = before / ((baseline - window) / window)
            if recent < settings.burst_factor * max(rate, 1.0):
                continue
            last = connection.execute(
                select(func.max(_ALERT.c.created_at)).where(
                    _ALERT.c.kind == "burst", _ALERT.c.defender_id == defender.id
                )
            ).scalar()
            if last is not None and now - last < timedelta(seconds=settings.burst_cooldown):
                continue
            events.append(
                AlertEvent(
                    key=f"burst:{defender.id}:{now:%Y-%m-%dT%H:%M}",
                    kind="burst",
                    defender_id=defender.id,
                    severity="high",
                    title=f"Burst of posts about {names[defender.id]}",
                    body=f"{recent} posts mentioned {names[defender.id]} in the last "
                    f"{window}, against a usual {rate:.1f} per {window} over the previous "
                    f"{baseline - window}.",
                    details={
                        "posts": recent,
                        "baseline_rate": round(rate, 3),
                        "window_seconds": settings.burst_window,
                        "at": now.isoformat(),
                    },
                )
            )
    return events


def _cluster_events(engine: Engine, config: Config, settings: AlertSettings) -> list[AlertEvent]:
    names = _defender_names(config)
    with engine.connect() as connection:
        run_id = connection.execute(
            select(func.max(_RUN.c.id)).where(_RUN.c.finished_at.is_not(None))
        ).scalar()
        if run_id is None:
            return []
        rows = connection.execute(
            select(_CLUSTER).where(
                _CLUSTER.c.analysis_run_id == run_id,
                _CLUSTER.c.confidence.in_(settings.cluster_confidence),
                _CLUSTER.c.stance.in_(settings.cluster_stances),
            )
        ).all()
    return [
        AlertEvent(
            key=f"cluster:{row.stable_id}",
            kind="cluster",
            defender_id=row.defender_id,
            severity="high",
            title=f"New {row.confidence}-confidence {row.stance} cluster {row.stable_id}"
            + (
                f" targeting {names.get(row.defender_id, row.defender_id)}"
                if row.defender_id
                else ""
            ),  # noqa: E501
            body=f"Cluster {row.stable_id}: {row.size} accounts, score {row.score:.2f}, active "
            f"{row.first_activity:%Y-%m-%d %H:%M} to {row.last_activity:%Y-%m-%d %H:%M} UTC. "
            "See 'smearwatch export clusters' or the next report for the evidence."
            if row.first_activity and row.last_activity
            else f"Cluster {row.stable_id}: {row.size} accounts, score {row.score:.2f}.",
            details={"analysis_run_id": run_id, "stable_id": row.stable_id, "size": row.size},
        )
        for row in rows
    ]


def detect(
    engine: Engine, config: Config, settings: AlertSettings, *, now: datetime, state: dict[str, Any]
) -> tuple[list[AlertEvent], int]:
    """All events found now; `state` (the watermark) is updated in place."""
    events, scanned = _scan_posts(engine, config, settings, now, state)
    events += _burst_events(engine, config, settings, now)
    events += _cluster_events(engine, config, settings)
    return events, scanned


def record(engine: Engine, events: list[AlertEvent], settings: AlertSettings, now: datetime) -> int:
    """Insert the events not yet recorded; logs each new alert. Returns how many were new."""
    new = 0
    for event in events:
        try:
            with engine.begin() as connection:
                known = connection.execute(
                    select(_ALERT.c.id).where(_ALERT.c.key == event.key)
                ).first()
                if known is not None:
                    continue
                connection.execute(
                    insert(_ALERT),
                    {
                        "key": event.key,
                        "kind": event.kind,
                        "defender_id": event.defender_id,
                        "severity": event.severity,
                        "title": event.title,
                        "body": event.body,
                        "details": event.details,
                        "created_at": now,
                        "channels": list(settings.channels),
                        "delivered": {},
                        "attempts": 0,
                    },
                )
        except IntegrityError:
            continue
        new += 1
        log.warning(
            "ALERT %s: %s",
            event.kind,
            event.title,
            extra={"alert": event.key, "severity": event.severity, "defender": event.defender_id},
        )
    return new


def _send_email(settings: AlertSettings, alert: Any) -> None:
    message = EmailMessage()
    message["Subject"] = f"[smearwatch] {alert.title}"
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message["Message-ID"] = f"<alert-{alert.id}-{abs(hash(alert.key)) % 10**12}@smearwatch>"
    message.set_content(
        f"{alert.title}\n\n{alert.body}\n\nSeverity: {alert.severity}\nAlert key: {alert.key}\n"
        f"Raised: {alert.created_at:%Y-%m-%d %H:%M} UTC\n"
    )
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, os.environ.get(SMTP_PASSWORD_ENV, ""))
        smtp.send_message(message)


def _post_webhook(settings: AlertSettings, alert: Any) -> None:
    payload = {
        "key": alert.key,
        "kind": alert.kind,
        "severity": alert.severity,
        "defender_id": alert.defender_id,
        "title": alert.title,
        "body": alert.body,
        "details": alert.details,
        "created_at": alert.created_at.isoformat(),
    }
    response = httpx.post(settings.webhook_url, json=payload, timeout=settings.webhook_timeout)
    response.raise_for_status()


def _describe(channel: str, exc: Exception) -> str:
    """A failure without the URL or credentials that exception messages may carry."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{channel}: HTTP {exc.response.status_code}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{channel}: SMTP {exc.smtp_code}"
    return f"{channel}: {type(exc).__name__}"


SENDERS = {"email": _send_email, "webhook": _post_webhook}


def deliver_pending(
    engine: Engine, settings: AlertSettings, now: datetime
) -> tuple[int, list[str]]:
    """Send every undelivered (alert, channel) pair; each success is committed at once."""
    delivered, errors = 0, []
    with engine.connect() as connection:
        # A week of retries; after that an operator looks at 'smearwatch status' anyway.
        alerts = connection.execute(
            select(_ALERT)
            .where(_ALERT.c.created_at >= now - timedelta(days=7))
            .order_by(_ALERT.c.id)
        ).all()
    for alert in alerts:
        done = dict(alert.delivered or {})
        pending = [c for c in (alert.channels or []) if c not in done]
        if not pending:
            continue
        failure = None
        for channel in pending:
            sender = SENDERS.get(channel)
            configured = channel in settings.channels
            if sender is None or not configured:
                continue  # the channel was removed from the config since: nothing to do
            try:
                sender(settings, alert)
            except Exception as exc:  # noqa: BLE001 - any failure is retried next run
                failure = _describe(channel, exc)
                errors.append(failure)
                log.warning("alert %s: delivery failed (%s); retried next run", alert.id, failure)
                continue
            done[channel] = now.isoformat()
            delivered += 1
            with engine.begin() as connection:
                connection.execute(
                    update(_ALERT).where(_ALERT.c.id == alert.id).values(delivered=dict(done))
                )
        with engine.begin() as connection:
            connection.execute(
                update(_ALERT)
                .where(_ALERT.c.id == alert.id)
                .values(attempts=alert.attempts + 1, last_error=failure)
            )
    return delivered, errors


def run_alerts(
    engine: Engine,
    config: Config,
    settings: AlertSettings,
    *,
    now: datetime,
    state: dict[str, Any],
) -> AlertRunSummary:
    """Detect, record and deliver: the daemon's alerts job."""
    summary = AlertRunSummary(state=dict(state))
    events, summary.scanned = detect(engine, config, settings, now=now, state=summary.state)
    summary.raised = record(engine, events, settings, now)
    summary.delivered, summary.delivery_errors = deliver_pending(engine, settings, now)
    return summary
