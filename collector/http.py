"""The one HTTP policy every collector uses.

Why one client: the platforms we read are run by volunteers (Mastodon), by companies that ban
noisy clients (Bluesky, Telegram) or by small newsrooms. Politeness, identification and
rate-limit handling must therefore be the same everywhere and tested once, not re-invented per
collector.

What the policy does:

* timeouts on every request and a descriptive `User-Agent`;
* retries with capped exponential backoff and jitter, for transport errors (connection refused,
  reset, timeouts) and for HTTP 429 and 5xx only; 401/403/404 and other 4xx are never retried;
* `Retry-After` (seconds or HTTP date) and every rate-limit header dialect of
  `/work/shared/platforms.md`: `RateLimit-*` (Bluesky: reset in epoch seconds; IETF draft:
  reset in seconds), `X-RateLimit-*` (Mastodon: ISO-8601 reset; Reddit, spelt
  `X-Ratelimit-*`: seconds until reset) and `x-rate-limit-*` (X: epoch seconds). When a
  response says `Remaining: 0`, the next request to that host waits for the reset instead of
  earning a 429;
* a per-host concurrency limit and a minimum interval between requests to one host;
* every wait is logged with its reason; a server that asks for a pause longer than
  `max_wait` gets a `RateLimited` error at once rather than a hung collector;
* a 403 with an HTML body is reported as "access refused" with the page title, not as a JSON
  parse error.

Secrets never leave this module in messages or logs: `safe_url` removes credentials from URLs,
and headers (where tokens travel) are never logged.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson

from collector.errors import (
    AccessRefused,
    AuthFailed,
    CollectorError,
    MalformedResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "HttpClient",
    "HttpPolicy",
    "rate_limit_wait",
    "retry_after_seconds",
    "safe_url",
]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = (
    "smearwatch/0.1 (research monitor of smear campaigns against human-rights defenders; "
    "read-only; contact: set http.user_agent in smearwatch.toml)"
)

# Query parameters that may carry credentials; they are dropped from every URL we report.
_SECRET_PARAMS = frozenset(
    {
        "access_token",
        "token",
        "key",
        "api_key",
        "apikey",
        "password",
        "secret",
        "client_secret",
        "sig",
        "signature",
        "auth",
        "session",
    }
)
_RATE_LIMIT_PREFIXES = ("ratelimit-", "x-ratelimit-", "x-rate-limit-")
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Tunables of the shared client. Tests shrink the waits; production keeps the defaults."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    # Longest single pause we accept from a server (Retry-After, rate-limit reset). Beyond it
    # the run fails with RateLimited and the scheduler's next run tries again.
    max_wait: float = 900.0
    per_host_limit: int = 2
    min_interval: float = 0.5
    user_agent: str = DEFAULT_USER_AGENT


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user info and credential-like query parameters, fit for logs and DB."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in _SECRET_PARAMS
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, doseq=True), ""))


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds asked for by `Retry-After` (delta seconds or an HTTP date), if any."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _reset_seconds(value: str, now: float) -> float | None:
    """Decode a rate-limit reset in any dialect: ISO time, epoch (s or ms) or delta seconds."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if number > 1e12:  # epoch milliseconds
        return max(0.0, number / 1000 - now)
    if number > 1e9:  # epoch seconds (Bluesky, X); no real window is 31 years long
        return max(0.0, number - now)
    return max(0.0, number)  # seconds until reset (IETF draft, Reddit)


def rate_limit_wait(headers: Mapping[str, str], now: float) -> tuple[int | None, float | None]:
    """`(remaining, seconds until reset)` from whichever rate-limit dialect the server speaks."""
    for prefix in _RATE_LIMIT_PREFIXES:
        remaining_text = headers.get(prefix + "remaining")
        reset_text = headers.get(prefix + "reset")
        if remaining_text is None and reset_text is None:
            continue
        remaining: int | None
        try:
            remaining = int(float(remaining_text)) if remaining_text is not None else None
        except ValueError:
            remaining = None
        reset = _reset_seconds(reset_text, now) if reset_text is not None else None
        return remaining, reset
    return None, None


_POLITENESS = "politeness interval"


@dataclass
class _Host:
    semaphore: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    not_before: float = 0.0
    reason: str = ""


def _error_code(response: httpx.Response) -> tuple[str | None, str | None]:
    """The platform's error code and message from a JSON error body, when there is one."""
    if "json" not in response.headers.get("content-type", "") and not response.content.startswith(
        b"{"
    ):
        return None, None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error")
    message = body.get("message") or body.get("error_description")
    code = code if isinstance(code, str) else None
    message = message[:200] if isinstance(message, str) else None
    return code, message


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    head = response.content[:512].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html"))


def _html_title(response: httpx.Response) -> str | None:
    match = _HTML_TITLE.search(response.content[:4096])
    if not match:
        return None
    title = re.sub(r"\s+", " ", match.group(1).decode("utf-8", "replace")).strip()
    return title[:120] or None


class HttpClient:
    """A thread-safe wrapper around one `httpx.Client` that applies `HttpPolicy`.

    `sleep`, `clock` and `rng` are injectable so tests can observe the waits without sleeping
    for real (though our own tests use tiny real waits against a real local server).
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout, connect=self.policy.connect_timeout),
            headers={"User-Agent": self.policy.user_agent},
            follow_redirects=True,
            transport=transport,
        )
        self._hosts: dict[str, _Host] = {}
        self._hosts_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        response = self.request("GET", url, **kwargs)
        return self.decode_json(response), response

    def post_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        response = self.request("POST", url, **kwargs)
        return self.decode_json(response), response

    @staticmethod
    def decode_json(response: httpx.Response) -> Any:
        """Parse a JSON body; anything else is a `MalformedResponse` that says what came."""
        url = safe_url(response.request.url)
        if _is_html(response):
            title = _html_title(response)
            raise MalformedResponse(
                f"expected JSON from {url} but got an HTML page"
                + (f" ({title!r})" if title else ""),
                url=url,
                status=response.status_code,
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponse(
                f"malformed JSON from {url} (HTTP {response.status_code}, "
                f"{len(response.content)} bytes): {exc}",
                url=url,
                status=response.status_code,
            ) from None

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send with the policy; return a 2xx/304 response or raise a `CollectorError`."""
        request = self._client.build_request(method, url, params=params, headers=headers, json=json)
        shown = safe_url(request.url)
        host = self._host(request.url)
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_host(host, shown)
            with host.semaphore:
                self._defer(host, policy.min_interval, _POLITENESS)
                try:
                    response = self._client.send(request)
                except httpx.TransportError as exc:
                    problem = _describe_transport_error(exc)
                    if attempt >= policy.max_attempts:
                        raise UpstreamUnavailable(
                            f"{shown}: {problem} (gave up after {attempt} attempts)", url=shown
                        ) from None
                    self._defer(
                        host, self._backoff(attempt), f"{problem}, backoff; retry {attempt}"
                    )
                    continue
            self._note_rate_limit(host, response)
            status = response.status_code
            if status < 400:
                return response
            if status == 429 or status >= 500:
                wait, reason = self._retry_wait(response, attempt, shown)
                self._defer(host, wait, f"{reason}; retry {attempt}")
                continue
            raise self._client_error(response, shown)

    # -- policy details --------------------------------------------------------------------
    def _host(self, url: httpx.URL) -> _Host:
        key = f"{url.scheme}://{url.host}:{url.port or ''}"
        with self._hosts_lock:
            host = self._hosts.get(key)
            if host is None:
                host = _Host(threading.BoundedSemaphore(max(1, self.policy.per_host_limit)))
                self._hosts[key] = host
            return host

    def _defer(self, host: _Host, seconds: float, reason: str) -> None:
        """Push the host's next allowed request time out to `now + seconds` (never earlier).

        Waits are kept per host rather than per request so that every thread talking to a
        host that asked for a pause honours it, not only the one that received the 429.
        """
        until = self._clock() + seconds
        with host.lock:
            if until > host.not_before:
                host.not_before, host.reason = until, reason

    def _wait_for_host(self, host: _Host, shown: str) -> None:
        with host.lock:
            wait = host.not_before - self._clock()
            reason = host.reason
        if wait > self.policy.max_wait:
            raise RateLimited(
                f"{shown}: the server asked us to wait {wait:.0f}s ({reason}), more than the "
                f"{self.policy.max_wait:.0f}s we accept; the next run will try again",
                url=shown,
                retry_after=wait,
            )
        if wait > 0:
            level = logging.DEBUG if reason == _POLITENESS else logging.INFO
            log.log(level, "waiting %.3fs before %s: %s", wait, shown, reason)
            self._sleep(wait)

    def _note_rate_limit(self, host: _Host, response: httpx.Response) -> None:
        """Remember an exhausted quota so the next request waits for the reset."""
        remaining, reset = rate_limit_wait(response.headers, self._clock())
        if remaining is not None and remaining <= 0 and reset:
            self._defer(host, reset, "rate-limit quota exhausted (Remaining: 0), waiting for reset")

    def _retry_wait(self, response: httpx.Response, attempt: int, shown: str) -> tuple[float, str]:
        """How long to wait before retrying a 429/5xx, or the error if we should not."""
        status = response.status_code
        now = self._clock()
        asked = retry_after_seconds(response.headers, now)
        source = "Retry-After"
        if asked is None and status == 429:
            _, asked = rate_limit_wait(response.headers, now)
            source = "rate-limit reset header"
        what = "rate limited (HTTP 429)" if status == 429 else f"server error (HTTP {status})"
        if asked is not None and asked > self.policy.max_wait:
            message = (
                f"{shown}: {what}; the server asks for {asked:.0f}s, more than the "
                f"{self.policy.max_wait:.0f}s we accept; the next run will try again"
            )
            if status == 429:
                raise RateLimited(message, url=shown, status=status, retry_after=asked)
            raise UpstreamUnavailable(message, url=shown, status=status)
        if attempt >= self.policy.max_attempts:
            message = f"{shown}: {what}, still after {attempt} attempts"
            if status == 429:
                raise RateLimited(message, url=shown, status=status, retry_after=asked)
            raise UpstreamUnavailable(message, url=shown, status=status)
        if asked is not None:
            return asked, f"{what}, {source} {asked:.3g}s"
        return self._backoff(attempt), f"{what}, backoff"

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter in [50 %, 100 %] of the step."""
        step = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1))
        return step * (0.5 + self._rng() / 2)

    def _client_error(self, response: httpx.Response, shown: str) -> CollectorError:
        status = response.status_code
        code, message = _error_code(response)
        detail = f" ({code}: {message})" if code and message else f" ({code or message})"
        if not (code or message):
            detail = ""
        if status == 403:
            if _is_html(response):
                title = _html_title(response)
                detail = f" (HTML page: {title!r})" if title else " (HTML page)"
            return AccessRefused(
                f"access refused by {response.request.url.host}: HTTP 403 for {shown}{detail}",
                url=shown,
                status=status,
                code=code,
            )
        if status == 401:
            return AuthFailed(
                f"authentication failed: HTTP 401 for {shown}{detail}",
                url=shown,
                status=status,
                code=code,
            )
        if status in (404, 410):
            return NotFound(
                f"not found: HTTP {status} for {shown}{detail}", url=shown, status=status, code=code
            )
        return RequestRejected(
            f"request rejected: HTTP {status} for {shown}{detail}",
            url=shown,
            status=status,
            code=code,
        )


def _describe_transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return f"transport error ({type(exc).__name__})"
