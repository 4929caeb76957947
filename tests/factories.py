"""Small builders for test records: fictional people and accounts only."""

from __future__ import annotations

from typing import Any


def record(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid smearwatch JSONL record; `n` varies ids and time."""
    base: dict[str, Any] = {
        "platform": "bluesky",
        "post_id": f"at://did:plc:test{n % 7}/app.bsky.feed.post/{n:06d}",
        "url": f"https://bsky.app/profile/user{n % 7}.bsky.social/post/{n:06d}",
        "created_at": f"2026-11-{10 + n % 10:02d}T{n % 24:02d}:15:03Z",
        "author": {
            "id": f"did:plc:test{n % 7}",
            "handle": f"user{n % 7}.bsky.social",
            "display_name": f"Тестовый Пользователь {n % 7}",
            "created_at": "2026-11-01T00:00:00Z",
        },
        "text": f"Бахыт Орманова — грантоед? Пост номер {n} #Грантоед",
        "lang": "ru",
        "links": [f"https://Example.org/a/{n % 3}?utm_source=tg&id={n % 3}#frag"],
        "hashtags": ["#Грантоед"],
        "mentions": ["@other.bsky.social"],
        "reply_to": None,
        "repost_of": None,
        "quote_of": None,
        "raw": {"uri": f"at://did:plc:test{n % 7}/app.bsky.feed.post/{n:06d}", "n": n},
    }
    base.update(overrides)
    return base
