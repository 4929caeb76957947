"""A local server that plays Bluesky search and a Mastodon hashtag timeline with synthetic posts.

Used by the collect benchmark and by the kill test: it serves as many posts as asked for, in
pages, optionally slowly, optionally with new posts arriving while a collection runs (the case
where cursors and high-water marks are easiest to get wrong). It records every post id it
served, so a test can check that each one was stored exactly once.

Only the behaviour the collectors rely on is played: app-password sessions, `searchPosts`
newest first with an opaque cursor and `since`, Mastodon's `min_id` paging (the statuses
just above `min_id`, newest first, with a `Link` header), and the look-ups of the recheck
(`getPosts`, `GET /api/v1/statuses/:id`). All content is fictional.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from bench.local_server import JsonHandler, LocalServer

__all__ = ["PASSWORD", "IDENTIFIER", "FakePlatforms", "TAG"]

PASSWORD = "bench-app-password-0000"
IDENTIFIER = "research-account.example"
TAG = "грантоед"

_TEXTS = (
    "Бахыт Орманова снова получает гранты из-за рубежа? #грантоед",
    "Орманова — иностранный агент, говорят источники https://example.kz/news/{n}",
    "Bakhyt Ormanova's 'human rights' work is paid from abroad #грантоед",
    "Ерлан Темирханов и Анна Кеслер опять выступают против суда",
    "Орманова шетелдік агент пе? Сот шешімі күтілуде #грантоед",
)


def _time_key(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


class FakePlatforms(LocalServer):
    """Synthetic posts numbered 0..total-1; post i was created at `start + i / rate` seconds
    (or at `created_at(i)`, which must not decrease with i), with a text of a few kinds (or
    `text(i)` where that is not None: planted posts).

    `visible` posts are listed at first; each request makes `arrive_per_request` more
    visible, up to `total`, until `freeze()` is called.

    With a `clock` (a callable returning an aware datetime, e.g. the daemon's fake clock) the
    posts arrive in time instead: a post is listed once the clock has passed its creation
    time. The posts are then built when served rather than up front, so an hour at 100 posts/s
    (the soak benchmark) costs no memory in the server.
    """

    def __init__(
        self,
        total: int,
        *,
        visible: int | None = None,
        arrive_per_request: int = 0,
        delay: float = 0.0,
        start: datetime | None = None,
        accounts: int = 200,
        rate: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        created_at: Callable[[int], datetime] | None = None,
        text: Callable[[int], str | None] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.total = total
        self.rate = rate
        self.clock = clock
        self._created_at = created_at
        self._text = text
        if visible is None:
            visible = 0 if clock is not None else total
        self.visible = visible
        self.arrive_per_request = arrive_per_request
        self.delay = delay
        self.start = start or (datetime.now(UTC) - timedelta(seconds=total / rate + 3600))
        self.accounts = accounts
        self.served_bluesky: set[int] = set()
        self.served_mastodon: set[int] = set()
        self.requests = 0
        self._lock = threading.Lock()
        # Built up front when the posts are all known now; built on demand for a clock.
        self._bsky: list[bytes] | None = None
        self._masto: list[bytes] | None = None
        self._ids: Any = range(total)
        if clock is None:
            self._bsky = [self._bluesky_post(i) for i in range(total)]
            self._masto = [self._mastodon_status(i) for i in range(total)]
            self._ids = [self.status_id(i) for i in range(total)]
        super().__init__(self._handler())

    # -- lifecycle -----------------------------------------------------------------------
    def freeze(self) -> None:
        """No more arrivals: from now on the listing is final."""
        self.arrive_per_request = 0

    def all_visible(self) -> None:
        with self._lock:
            self.visible = self.total

    # -- the posts -----------------------------------------------------------------------
    def created(self, i: int) -> datetime:
        if self._created_at is not None:
            return self._created_at(i)
        return self.start + timedelta(seconds=i / self.rate)

    def text(self, i: int) -> str:
        planted = self._text(i) if self._text is not None else None
        return planted if planted is not None else _TEXTS[i % len(_TEXTS)].format(n=i % 97)

    def bluesky_json(self, i: int) -> bytes:
        return self._bsky[i] if self._bsky is not None else self._bluesky_post(i)

    def mastodon_json(self, i: int) -> bytes:
        return self._masto[i] if self._masto is not None else self._mastodon_status(i)

    def first_above(self, status_id: int) -> int:
        """The index of the first status whose id is greater than `status_id`."""
        if self.clock is None:
            return bisect.bisect_right(self._ids, status_id)
        return bisect.bisect_right(self._ids, status_id, key=self.status_id)

    def bluesky_uri(self, i: int) -> str:
        return f"at://did:plc:benchaccount{i % self.accounts:06d}/app.bsky.feed.post/3bench{i:08d}"

    def mastodon_uri(self, i: int) -> str:
        return (
            f"https://mastodon.example/users/bench{i % self.accounts}/statuses/{self.status_id(i)}"
        )

    def status_id(self, i: int) -> int:
        return (int(self.created(i).timestamp() * 1000) << 16) + i

    def _bluesky_post(self, i: int) -> bytes:
        account = i % self.accounts
        did = f"did:plc:benchaccount{account:06d}"
        created = _time_key(self.created(i))
        view = {
            "uri": self.bluesky_uri(i),
            "cid": f"bafyreibench{i:08d}",
            "author": {
                "did": did,
                "handle": f"bench-{account}.bsky.social",
                "displayName": f"Аккаунт {account}",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "labels": [],
            },
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": created,
                "langs": ["ru"],
                "text": self.text(i),
            },
            "replyCount": 0,
            "repostCount": i % 7,
            "likeCount": i % 13,
            "quoteCount": 0,
            "indexedAt": created,
            "labels": [],
        }
        return orjson.dumps(view)

    def _mastodon_status(self, i: int) -> bytes:
        account = i % self.accounts
        created = _time_key(self.created(i))
        text = self.text(i)
        status = {
            "id": str(self.status_id(i)),
            "created_at": created,
            "in_reply_to_id": None,
            "visibility": "public",
            "language": "ru",
            "uri": self.mastodon_uri(i),
            "url": f"https://mastodon.example/@bench{account}/{self.status_id(i)}",
            "content": f"<p>{text}</p>",
            "reblog": None,
            "account": {
                "id": str(1000 + account),
                "username": f"bench{account}",
                "acct": f"bench{account}",
                "display_name": f"Bench {account}",
                "created_at": "2026-01-01T00:00:00.000Z",
                "uri": f"https://mastodon.example/users/bench{account}",
                "url": f"https://mastodon.example/@bench{account}",
            },
            "mentions": [],
            "tags": [{"name": TAG, "url": "https://mastodon.example/tags/x"}],
            "card": None,
        }
        return orjson.dumps(status)

    def served_uris(self) -> dict[str, set[str]]:
        """Every post id served so far, per platform, as the collectors store them."""
        with self._lock:
            return {
                "bluesky": {self.bluesky_uri(i) for i in self.served_bluesky},
                "mastodon": {self.mastodon_uri(i) for i in self.served_mastodon},
            }

    # -- serving -------------------------------------------------------------------------
    def due(self) -> int:
        """With a clock: how many posts have been created by now (capped by `total`)."""
        assert self.clock is not None
        elapsed = (self.clock() - self.start).total_seconds()
        if elapsed < 0:
            return 0
        return min(self.total, math.floor(elapsed * self.rate) + 1)

    def served_count(self) -> tuple[int, int]:
        with self._lock:
            return len(self.served_bluesky), len(self.served_mastodon)

    def _tick(self) -> int:
        with self._lock:
            self.requests += 1
            if self.clock is not None:
                self.visible = max(self.visible, self.due())
            if self.arrive_per_request:
                self.visible = min(self.total, self.visible + self.arrive_per_request)
            return self.visible

    def _handler(self) -> type[JsonHandler]:
        platforms = self

        class Handler(JsonHandler):
            _send = JsonHandler.send_json

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = orjson.loads(self.rfile.read(length) or b"{}")
                if self.path != "/xrpc/com.atproto.server.createSession":
                    self._send(404, b'{"error":"NotFound"}')
                elif body != {"identifier": IDENTIFIER, "password": PASSWORD}:
                    self._send(401, b'{"error":"AuthenticationRequired"}')
                else:
                    self._send(
                        200,
                        orjson.dumps(
                            {
                                "did": "did:plc:research0000000000000000",
                                "handle": IDENTIFIER,
                                "accessJwt": "bench-access",
                                "refreshJwt": "bench-refresh",
                                "active": True,
                            }
                        ),
                    )

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                args = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if platforms.delay:
                    time.sleep(platforms.delay)
                visible = platforms._tick()
                path = unquote(parts.path)
                if path == "/xrpc/app.bsky.feed.searchPosts":
                    self._search(args, visible)
                elif path == f"/api/v1/timelines/tag/{TAG}":
                    self._tag(args, visible, parts.path)
                elif path == "/xrpc/app.bsky.feed.getPosts":
                    self._get_posts(parse_qs(parts.query).get("uris", []), visible)
                elif path.startswith("/api/v1/statuses/"):
                    self._status(path.rsplit("/", 1)[1], visible)
                else:
                    self._send(404, b'{"error":"NotFound"}')

            def _search(self, args: dict[str, str], visible: int) -> None:
                if self.headers.get("Authorization") != "Bearer bench-access":
                    self._send(401, b'{"error":"AuthenticationRequired"}')
                    return
                limit = min(int(args.get("limit", 25)), 100)
                below = int(args["cursor"]) if "cursor" in args else visible
                since = args.get("since")
                chosen = []
                i = min(below, visible) - 1
                while i >= 0 and len(chosen) < limit:
                    if since is None or _time_key(platforms.created(i)) >= since:
                        chosen.append(i)
                    else:
                        i = -1
                        break
                    i -= 1
                with platforms._lock:
                    platforms.served_bluesky.update(chosen)
                body = b'{"posts":[' + b",".join(platforms.bluesky_json(j) for j in chosen) + b"]"
                if chosen and i >= 0:
                    body += b',"cursor":"' + str(chosen[-1]).encode() + b'"'
                self._send(200, body + b"}")

            def _get_posts(self, uris: list[str], visible: int) -> None:
                """The posts among `uris` that exist (the AppView leaves out the rest)."""
                found = []
                for uri in uris[:25]:
                    number = uri.rsplit("/3bench", 1)[-1]
                    i = int(number) if number.isdigit() else -1
                    if 0 <= i < visible and platforms.bluesky_uri(i) == uri:
                        found.append(platforms.bluesky_json(i))
                self._send(200, b'{"posts":[' + b",".join(found) + b"]}")

            def _status(self, status_id: str, visible: int) -> None:
                """One status by id, or Mastodon's 404 for a status it does not have."""
                number = int(status_id) if status_id.isdigit() else -1
                i = platforms.first_above(number - 1) if number >= 0 else visible
                if i < visible and platforms.status_id(i) == number:
                    self._send(200, platforms.mastodon_json(i))
                else:
                    self._send(404, b'{"error":"Record not found"}')

            def _tag(self, args: dict[str, str], visible: int, raw_path: str) -> None:
                limit = min(int(args.get("limit", 20)), 40)
                min_id = int(args.get("min_id", 0))
                # statuses with id > min_id, the oldest `limit` of them, sent newest first
                first = min(platforms.first_above(min_id), visible)
                chosen = list(range(first, min(visible, first + limit)))[::-1]
                with platforms._lock:
                    platforms.served_mastodon.update(chosen)
                headers = {}
                if chosen:
                    url = f"{platforms.url}{raw_path}"
                    newest, oldest = platforms.status_id(chosen[0]), platforms.status_id(chosen[-1])
                    headers["Link"] = (
                        f'<{url}?max_id={oldest}>; rel="next", <{url}?min_id={newest}>; rel="prev"'
                    )
                body = b"[" + b",".join(platforms.mastodon_json(j) for j in chosen) + b"]"
                self._send(200, body, headers)

        return Handler
