"""This week's page shows the report model's figures, and its downloads are the report's."""

from __future__ import annotations

import csv
import io
import re

import networkx as nx
import pypdf

from reports.model import build_week_report
from reports.weeks import parse_week
from tests.smearwatch.web.conftest import WebWorld

W47 = parse_week("2026-W47")


def _cells(html: str, row_label: str) -> list[str]:
    """The cells of the table row whose first cell is `row_label`, tags removed."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells and cells[0] == row_label:
            return cells
    raise AssertionError(f"no row {row_label!r}")


def test_week_page_has_the_report_figures(web: WebWorld) -> None:
    report = build_week_report(web.engine, web.world.inputs, W47)
    page = web.client().get("/week/2026-W47")
    assert page.status_code == 200
    html = page.text
    assert f"<b>{report.totals['mentions']:,}</b><span>mentions</span>" in html
    assert f"<b>{report.totals['unique_accounts']:,}</b><span>accounts mentioning</span>" in html
    for row in report.watch:
        cells = _cells(html, row.name)
        assert cells[1] == row.light
        assert cells[2] == f"{row.mentions:,}"
        assert cells[3] == f"{row.mentions_prev:,}"
    # per defender per day: the model's daily counts summed over platforms
    for defender_id, name in report.defenders:
        expected = [
            sum(d.posts for d in report.daily if d.defender_id == defender_id and d.day == day)
            for day in W47.days()
        ]
        rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f"<td>{name}</td>" in r]
        daily = [
            re.sub(r"<[^>]+>", "", c) for c in re.findall(r'<td class="num">(.*?)</td>', rows[1])
        ]
        assert [int(x.replace(",", "")) for x in daily[:7]] == expected
        assert int(daily[7].replace(",", "")) == sum(expected)
    # the flagged new cluster is listed, with a link to its page
    assert 'href="/clusters/C1"' in html
    assert "Review cluster(s) C1" in html


def test_week_page_reads_verdicts_again_but_keeps_the_built_report(sqlite_web: WebWorld) -> None:
    client = sqlite_web.client()
    first = client.get("/week/2026-W47").text
    assert "not yet reviewed" in first
    cache = client.app.state.weeks
    built = list(cache._reports.values())
    page = client.get("/clusters/C1")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post(
        "/clusters/C1/review", data={"csrf_token": token, "verdict": "confirmed", "note": "ok"}
    )
    second = client.get("/week/2026-W47").text
    assert "analyst verdict: confirmed" in second
    assert list(cache._reports.values()) == built  # same report object, not rebuilt


def test_week_downloads_come_from_the_report_code(web: WebWorld) -> None:
    client = web.client()
    report = build_week_report(web.engine, web.world.inputs, W47)
    daily = list(csv.DictReader(io.StringIO(client.get("/week/2026-W47/daily.csv").text)))
    assert {r["defender_id"] for r in daily} == {d for d, _ in report.defenders}
    for row in daily:
        assert int(row["week"]) == next(
            w.mentions for w in report.watch if w.defender_id == row["defender_id"]
        )
    clusters = client.get("/week/2026-W47/export/clusters.csv")
    assert clusters.status_code == 200 and "C1" in clusters.text
    gexf = client.get("/week/2026-W47/export/network.gexf")
    graph = nx.read_gexf(io.BytesIO(gexf.content))
    assert graph.number_of_nodes() >= len(web.world.attackers)
    pdf = client.get("/week/2026-W47/report.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Cluster C1" in text
    chart = client.get("/week/2026-W47/daily.png")
    assert chart.content.startswith(b"\x89PNG")
    assert client.get("/week/2026-W47/export/secrets.txt").status_code == 404


def test_home_opens_the_week_of_the_newest_post_and_bad_weeks_are_404(web: WebWorld) -> None:
    client = web.client()
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/week/2026-W47"
    assert client.get("/week/2026-W99").status_code == 404
    assert client.get("/week/2026-W47?defender=nobody").status_code == 404
    one = client.get("/week/2026-W47?defender=kesler").text
    assert "Anna Kesler" in one and "Week 2026-W47 · Anna Kesler" in one


def test_the_default_week_is_prepared_in_advance(sqlite_web: WebWorld) -> None:
    client = sqlite_web.client()
    cache = client.app.state.weeks
    cache.warm_in_background().join(timeout=120)
    assert [key[0] for key in cache._reports] == ["2026-W47"]
    client.get("/week/2026-W47")
    assert len(cache._reports) == 1  # the page used the prepared report


def test_a_week_not_built_yet_answers_at_once_and_reloads_until_ready(
    sqlite_web: WebWorld, monkeypatch
) -> None:
    """The page never waits for a slow build: it says the report is being prepared, reloads
    itself (meta refresh, no script), and shows the built report's figures once it exists."""
    import threading

    from smearwatch.web import week as week_module

    release = threading.Event()
    built = []

    def slow_build(*args, **kwargs):
        assert release.wait(60)
        built.append(kwargs.get("defender"))
        return build_week_report(*args, **kwargs)

    monkeypatch.setattr(week_module, "build_week_report", slow_build)
    client = sqlite_web.client()
    cache = client.app.state.weeks
    cache.page_wait = 0.05
    first = client.get("/week/2026-W47?defender=kesler")
    assert first.status_code == 202
    assert "being prepared" in first.text and "Anna Kesler" in first.text
    assert '<meta http-equiv="refresh" content="2">' in first.text
    again = client.get("/week/2026-W47?defender=kesler")  # the same build, not a second one
    assert again.status_code == 202
    release.set()
    report = cache.get(W47, "kesler")  # waits for the build under way
    page = client.get("/week/2026-W47?defender=kesler")
    assert page.status_code == 200 and "being prepared" not in page.text
    assert f"<b>{report.totals['mentions']:,}</b><span>mentions</span>" in page.text
    assert built == ["kesler"]  # one build served every visit
    assert cache.last_build_seconds is not None


def test_a_failed_build_shows_its_error_and_the_next_visit_builds_again(
    sqlite_web: WebWorld, monkeypatch
) -> None:
    from smearwatch.web import week as week_module

    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return build_week_report(*args, **kwargs)

    monkeypatch.setattr(week_module, "build_week_report", failing)
    from starlette.testclient import TestClient

    app = sqlite_web.client().app
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    broken = client.get("/week/2026-W47")
    assert broken.status_code == 500
    assert client.get("/week/2026-W47").status_code == 200
    assert len(calls) == 2


def test_builds_share_daily_counts_until_the_data_changes(sqlite_web: WebWorld) -> None:
    """One daily cache per data fingerprint: the week before reuses the weeks both count;
    new data starts a new cache (a count kept from before could be wrong)."""
    from tests.reports.conftest import _post, _write_jsonl

    client = sqlite_web.client()
    cache = client.app.state.weeks
    cache.get(W47)
    fingerprint, daily = cache._daily
    assert len(daily) == 5  # W43..W47
    cache.get(W47.shifted(-1))
    assert cache._daily == (fingerprint, daily) and len(daily) == 6
    from smearwatch.matching import MentionStep
    from smearwatch.pipeline import import_file

    world = sqlite_web.world
    new = _post(99_001, "citizen1", W47.start, "Орманова снова в суде")
    import_file(
        world.engine,
        _write_jsonl(sqlite_web.tmp / "new.jsonl", [new]),
        mentions=MentionStep(world.config.defenders),
    )
    cache.get(W47)
    assert cache._daily[0] != fingerprint and len(cache._daily[1]) == 5
