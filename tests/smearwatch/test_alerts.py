"""Alerts end to end: planted posts in the database, a local SMTP server (aiosmtpd) and a local
webhook receiver on 127.0.0.1; each event alerts exactly once, delivery retried until done."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from db.engine import open_database
from smearwatch.alerts import run_alerts
from smearwatch.config import load_config
from smearwatch.matching import MentionStep
from smearwatch.pipeline import import_file
from smearwatch.settings import AlertSettings

from .alert_helpers import Hook, Inbox
from .collect_helpers import DEFENDERS, query

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def post(n: int, text: str, minutes_ago: float, author: str = "acc") -> dict[str, Any]:
    return {
        "platform": "telegram",
        "post_id": f"chan/{n}",
        "url": f"https://t.me/chan/{n}",
        "created_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "author": {"id": f"{author}{n % 7}", "handle": f"{author}{n % 7}"},
        "text": text,
    }


def setup(tmp_path: Path, db_url: str, smtp_port: int, webhook: str) -> tuple[Any, Any]:
    path = tmp_path / "smearwatch.toml"
    path.write_text(
        DEFENDERS
        + f"""
[alerts]
burst_window = "1h"
burst_baseline = "7d"
burst_min_posts = 10
burst_factor = 5
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_from = "smearwatch@ngo.example"
smtp_to = ["duty@ngo.example"]
smtp_starttls = false
webhook_url = "{webhook}"
""",
        encoding="utf-8",
    )
    config = load_config(path, database_url=db_url)
    engine = open_database(db_url)
    posts = [post(i, f"Орманова опять в новостях, выпуск {i}", i * 3) for i in range(14)]
    posts.append(post(100, "Орманова, мы знаем где ты живёшь. Тебе конец.", 5, "angry"))
    posts += [post(200 + i, f"Орманова выступила в суде {i}", 60 * 24 * 3 + i) for i in range(3)]
    data = tmp_path / "planted.jsonl"
    data.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in posts), encoding="utf-8")
    import_file(engine, data, mentions=MentionStep(config.defenders))
    return config, engine


def test_a_planted_burst_and_threat_alert_once_each_on_every_channel(
    tmp_path: Path, db_url: str, smtp: tuple[Inbox, int], hook: Hook, caplog
) -> None:
    inbox, port = smtp
    config, engine = setup(tmp_path, db_url, port, hook.url)
    settings = AlertSettings.from_config(config)
    hook.fail_next = 1  # the first webhook delivery fails and is retried on the next run
    state: dict[str, Any] = {}
    first = run_alerts(engine, config, settings, now=NOW, state=state)
    assert first.raised == 2 and first.delivery_errors == ["webhook: HTTP 500"]
    for minutes in (2, 4):  # later runs: nothing new, the failed delivery is retried once
        summary = run_alerts(
            engine, config, settings, now=NOW + timedelta(minutes=minutes), state=first.state
        )
        assert summary.raised == 0 and not summary.delivery_errors
    kinds = sorted(row[0] for row in query(db_url, "SELECT kind FROM alert"))
    assert kinds == ["burst", "threat"]
    assert len(inbox.messages) == 2
    subjects = sorted(
        m.content.decode().split("Subject: ")[1].split("\n")[0] for m in inbox.messages
    )
    assert subjects[0].startswith("[smearwatch] Burst of posts about Bakhyt Ormanova")
    assert subjects[1].startswith("[smearwatch] Threat of violence against Bakhyt Ormanova")
    assert sorted(h["kind"] for h in hook.received) == ["burst", "threat"]
    assert "SECRET-TOKEN" not in caplog.text
    engine.dispose()
