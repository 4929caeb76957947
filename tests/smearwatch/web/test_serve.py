"""`smearwatch serve` as a process: binds 127.0.0.1, serves the pages, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from tests.smearwatch.web.browser import _free_port
from tests.smearwatch.web.conftest import PASSWORD, WebWorld, make_user


def _serve(web: WebWorld, *args: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [sys.executable, "-m", "smearwatch.cli", "--config", str(web.world.config_path),
               "serve", "--port", str(port), *args]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/static/style.css", timeout=1)
            return process, base
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode()) from None
            time.sleep(0.2)
    process.kill()
    raise AssertionError("smearwatch serve did not answer within 60 s")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    # uvicorn shuts down cleanly, then re-raises the signal it caught (so: killed by SIGTERM)
    assert process.returncode in (0, -signal.SIGTERM), err.decode()
    return err.decode()


def test_serve_binds_localhost_and_serves_the_week(sqlite_web: WebWorld) -> None:
    process, base = _serve(sqlite_web)
    try:
        week = httpx.get(base + "/", follow_redirects=True, timeout=60)
        assert week.status_code == 200 and "Week 2026-W47" in week.text
        assert "server" not in week.headers
    finally:
        err = _stop(process)
    assert "http://127.0.0.1:" in err and "no login" in err


def test_serve_with_login(sqlite_web: WebWorld) -> None:
    make_user(sqlite_web)
    process, base = _serve(sqlite_web, "--login")
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.get("/clusters").status_code == 303
            page = client.get("/login")
            import re

            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            sent = client.post(
                "/login",
                data={"name": "amina", "password": PASSWORD, "csrf_token": token, "next": "/"},
            )
            assert sent.status_code == 303
            assert client.get("/clusters").status_code == 200
    finally:
        _stop(process)
