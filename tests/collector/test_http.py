"""The shared HTTP policy, exercised against a real server on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collector.errors import (
    AccessRefused,
    AuthFailed,
    MalformedResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
)
from collector.http import HttpClient, HttpPolicy, rate_limit_wait, retry_after_seconds, safe_url

from .conftest import FAST, fixture_text, hits

FORBIDDEN_HTML = fixture_text("bluesky", "403_forbidden.html")


def recording_client(**overrides: object) -> tuple[HttpClient, list[float]]:
    """A client whose waits are recorded instead of slept (for waits of whole seconds)."""
    waits: list[float] = []
    policy = HttpPolicy(**{**_fast_fields(), **overrides})  # type: ignore[arg-type]
    return HttpClient(policy, sleep=waits.append), waits


def test_json_ok_and_user_agent(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/ok", headers={"User-Agent": FAST.user_agent}).respond_with_json(
        {"ok": True}
    )
    data, response = http.get_json(server.url_for("/ok"))
    assert data == {"ok": True}
    assert response.status_code == 200


def test_429_retry_after_then_success(
    server: HTTPServer, http: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.expect_oneshot_request("/rl").respond_with_json(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        status=429,
        headers={"Retry-After": "0.05"},
    )
    server.expect_oneshot_request("/rl").respond_with_json({"posts": []})
    caplog.set_level(logging.INFO, logger="collector.http")
    started = time.monotonic()
    data, _ = http.get_json(server.url_for("/rl"))
    assert data == {"posts": []}
    assert time.monotonic() - started >= 0.05
    assert hits(server, "/rl") == 2
    assert any(
        "HTTP 429" in r.getMessage() and "Retry-After" in r.getMessage() for r in caplog.records
    )


def test_429_bluesky_ratelimit_reset_epoch(server: HTTPServer) -> None:
    client, waits = recording_client()
    # Two seconds ahead: with one, a slow machine sometimes reached the reset second before
    # the client read the header, and then there was rightly nothing to wait for.
    reset = int(time.time()) + 2
    server.expect_oneshot_request("/x").respond_with_json(
        {"error": "RateLimitExceeded"},
        status=429,
        headers={
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": "3000;w=300",
        },
    )
    server.expect_oneshot_request("/x").respond_with_json({})
    client.get_json(server.url_for("/x"))
    assert len(waits) == 1 and 0 < waits[0] <= 2.5
    client.close()


def test_remaining_zero_on_success_delays_next_request(server: HTTPServer) -> None:
    """Mastodon dialect: X-RateLimit-Reset is an ISO time; Remaining 0 means wait for it."""
    client, waits = recording_client()
    reset = (datetime.now(UTC) + timedelta(seconds=1.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    server.expect_oneshot_request("/a").respond_with_json(
        [],
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
    )
    server.expect_oneshot_request("/b").respond_with_json([])
    client.get_json(server.url_for("/a"))
    assert waits == []
    client.get_json(server.url_for("/b"))
    assert len(waits) == 1 and 0.5 < waits[0] <= 1.6
    client.close()


def test_retry_after_longer_than_max_wait_fails_fast(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/slow").respond_with_json(
        {"error": "Too many requests"}, status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimited) as info:
        http.get(server.url_for("/slow"))
    assert info.value.retry_after == pytest.approx(3600)
    assert "3600s" in str(info.value)
    assert hits(server, "/slow") == 1


def test_429_without_hints_exhausts_into_rate_limited(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/rl").respond_with_json({"error": "Too many requests"}, status=429)
    with pytest.raises(RateLimited):
        http.get(server.url_for("/rl"))
    assert hits(server, "/rl") == FAST.max_attempts


def test_5xx_then_success(server: HTTPServer, http: HttpClient) -> None:
    server.expect_oneshot_request("/f").respond_with_data("Bad Gateway", status=502)
    server.expect_oneshot_request("/f").respond_with_data("oops", status=503)
    server.expect_oneshot_request("/f").respond_with_json({"feed": []})
    data, _ = http.get_json(server.url_for("/f"))
    assert data == {"feed": []}
    assert hits(server, "/f") == 3


def test_persistent_5xx_gives_upstream_unavailable(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/down").respond_with_data("err", status=500)
    with pytest.raises(UpstreamUnavailable, match="HTTP 500.*4 attempts"):
        http.get(server.url_for("/down"))
    assert hits(server, "/down") == FAST.max_attempts


def _sleepy(seconds: float, body: str = "{}"):
    def handler(request: Request) -> Response:
        time.sleep(seconds)
        return Response(body, content_type="application/json")

    return handler


def test_timeout_then_success(server: HTTPServer) -> None:
    client = HttpClient(HttpPolicy(**{**_fast_fields(), "timeout": 0.2}))
    server.expect_oneshot_request("/t").respond_with_handler(_sleepy(0.6))
    server.expect_oneshot_request("/t").respond_with_json({"ok": 1})
    data, _ = client.get_json(server.url_for("/t"))
    assert data == {"ok": 1}
    client.close()


def test_timeouts_exhaust(server: HTTPServer) -> None:
    client = HttpClient(HttpPolicy(**{**_fast_fields(), "timeout": 0.1, "max_attempts": 2}))
    server.expect_request("/t").respond_with_handler(_sleepy(0.4))
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        client.get(server.url_for("/t"))
    client.close()


def test_connection_refused() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = HttpClient(HttpPolicy(**{**_fast_fields(), "max_attempts": 2}))
    with pytest.raises(UpstreamUnavailable, match="connection failed"):
        client.get(f"http://127.0.0.1:{port}/x")
    client.close()


def test_malformed_json(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/m").respond_with_data(
        '{"posts": [{"uri": "at://x"', content_type="application/json"
    )
    with pytest.raises(MalformedResponse, match="malformed JSON"):
        http.get_json(server.url_for("/m"))
    assert hits(server, "/m") == 1


def test_html_where_json_expected(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/h").respond_with_data(
        "<html><head><title>Maintenance</title></head></html>", content_type="text/html"
    )
    with pytest.raises(MalformedResponse, match="HTML page.*Maintenance"):
        http.get_json(server.url_for("/h"))


def test_403_html_is_access_refused_not_parse_error(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/xrpc/app.bsky.feed.searchPosts").respond_with_data(
        FORBIDDEN_HTML, status=403, content_type="text/html"
    )
    with pytest.raises(AccessRefused) as info:
        http.get_json(server.url_for("/xrpc/app.bsky.feed.searchPosts"), params={"q": "x"})
    assert "access refused" in str(info.value)
    assert "403 Forbidden" in str(info.value)
    assert info.value.status == 403
    assert hits(server, "/xrpc/app.bsky.feed.searchPosts") == 1


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthFailed), (404, NotFound), (400, RequestRejected)]
)
def test_client_errors_are_not_retried(
    server: HTTPServer, http: HttpClient, status: int, error: type[Exception]
) -> None:
    server.expect_request("/e").respond_with_json(
        {"error": "AuthenticationRequired", "message": "Authentication Required"}, status=status
    )
    with pytest.raises(error) as info:
        http.get(server.url_for("/e"))
    assert info.value.code == "AuthenticationRequired"  # type: ignore[attr-defined]
    assert hits(server, "/e") == 1


def test_secrets_never_in_messages(server: HTTPServer, http: HttpClient) -> None:
    server.expect_request("/s").respond_with_json({"error": "invalid"}, status=401)
    with pytest.raises(AuthFailed) as info:
        http.get(
            server.url_for("/s"),
            params={"access_token": "SECRET-TOKEN", "q": "ok"},
            headers={"Authorization": "Bearer SECRET-JWT"},
        )
    assert "SECRET" not in str(info.value)
    assert "q=ok" in str(info.value)


def test_per_host_concurrency_limit(server: HTTPServer) -> None:
    client = HttpClient(HttpPolicy(**{**_fast_fields(), "per_host_limit": 2}))
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def handler(request: Request) -> Response:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return Response("{}", content_type="application/json")

    server.expect_request("/c").respond_with_handler(handler)
    threads = [threading.Thread(target=client.get, args=(server.url_for("/c"),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hits(server, "/c") == 6
    assert state["max"] == 2
    client.close()


def test_min_interval_between_requests_to_one_host(server: HTTPServer) -> None:
    client, waits = recording_client(min_interval=0.5)
    server.expect_request("/p").respond_with_json({})
    client.get(server.url_for("/p"))
    client.get(server.url_for("/p"))
    assert len(waits) == 1 and 0.3 < waits[0] <= 0.5
    client.close()


def test_safe_url() -> None:
    url = "https://user:pw@example.org:8443/api?access_token=abc&q=%D0%B0&token=x"
    assert safe_url(url) == "https://example.org:8443/api?q=%D0%B0"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ratelimit-remaining": "0", "ratelimit-reset": "1772447100"}, (0, 300.0)),  # epoch
        ({"ratelimit-remaining": "5", "ratelimit-reset": "30"}, (5, 30.0)),  # IETF delta
        (
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2026-03-02T10:25:00.000000Z"},
            (0, 300.0),
        ),  # Mastodon ISO
        ({"x-ratelimit-remaining": "10", "x-ratelimit-reset": "42"}, (10, 42.0)),  # Reddit
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1772447100"}, (0, 300.0)),  # X
        ({}, (None, None)),
    ],
)
def test_rate_limit_dialects(headers: dict[str, str], expected: tuple) -> None:
    now = datetime(2026, 3, 2, 10, 20, tzinfo=UTC).timestamp()
    import httpx

    assert rate_limit_wait(httpx.Headers(headers), now) == expected


def test_retry_after_http_date() -> None:
    import httpx

    now = datetime(2026, 3, 2, 10, 20, tzinfo=UTC).timestamp()
    headers = httpx.Headers({"Retry-After": "Mon, 02 Mar 2026 10:20:30 GMT"})
    assert retry_after_seconds(headers, now) == 30.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"}), now) == 7.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"}), now) is None


def _fast_fields() -> dict[str, object]:
    return {f: getattr(FAST, f) for f in FAST.__dataclass_fields__}
