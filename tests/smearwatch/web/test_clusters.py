"""Clusters: the list, one cluster's page, its picture and exports, and the review form."""

from __future__ import annotations

import csv
import io

import networkx as nx
from click.testing import CliRunner
from sqlalchemy import select

from db import models
from smearwatch.cli import cli
from tests.reports.conftest import ATTACKERS
from tests.smearwatch.web.conftest import WebWorld, csrf_from


def test_cluster_list_shows_the_latest_run_with_review_state(web: WebWorld) -> None:
    client = web.client()
    html = client.get("/clusters").text
    for stable_id in ("C1", "C2", "C3"):
        assert f'href="/clusters/{stable_id}"' in html
    assert "unreviewed" in html
    rows = list(csv.DictReader(io.StringIO(client.get("/clusters.csv").text)))
    assert [r["stable_id"] for r in rows] == sorted(
        [r["stable_id"] for r in rows],
        key=lambda s: -float(next(x["score"] for x in rows if x["stable_id"] == s)),
    )
    c1 = next(r for r in rows if r["stable_id"] == "C1")
    assert c1["stance"] == "hostile" and c1["review"] == "unreviewed"
    assert int(c1["size"]) == len(ATTACKERS)
    hostile = client.get("/clusters?stance=supportive").text
    assert 'href="/clusters/C2"' in hostile and 'href="/clusters/C1"' not in hostile


def test_cluster_page_has_members_evidence_reasons_history(web: WebWorld) -> None:
    client = web.client()
    page = client.get("/clusters/C1")
    assert page.status_code == 200
    html = page.text
    for handle in ATTACKERS[1:]:
        assert f"{handle}.bsky.social" in html
    assert "Shared objects" in html and "Seconds after first" in html
    assert "History across analysis runs" in html
    assert "Other explanations to rule out" in html
    evidence_links = html.count('href="/posts/')
    assert evidence_links >= 3
    png = client.get("/clusters/C1/network.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    graph = nx.read_gexf(io.BytesIO(client.get("/clusters/C1/network.gexf").content))
    assert graph.number_of_nodes() == len(ATTACKERS)
    members = list(csv.DictReader(io.StringIO(client.get("/clusters/C1/members.csv").text)))
    assert {m["handle"] for m in members} >= {f"{h}.bsky.social" for h in ATTACKERS[1:]}
    assert client.get("/clusters/C99").status_code == 404


def test_review_form_writes_the_same_record_as_the_cli(web: WebWorld) -> None:
    client = web.client(reviewer="aigerim")
    page = client.get("/clusters/C1")
    token = csrf_from(page.text)
    note = 'Same operator as in March <b>really</b> "quoted"'
    sent = client.post(
        "/clusters/C1/review",
        data={"csrf_token": token, "verdict": "confirmed", "note": note, "confidence": "high",
              "reviewer": "aigerim"},
        follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 303
    with web.engine.connect() as connection:
        rows = connection.execute(select(models.Review.__table__)).all()
    assert [(r.stable_id, r.verdict, r.note, r.reviewer, r.confidence) for r in rows] == [
        ("C1", "confirmed", note, "aigerim", "high")
    ]
    after = client.get(sent.headers["location"]).text
    assert "Verdict recorded." in after
    assert "&lt;b&gt;really&lt;/b&gt;" in after and "<b>really</b>" not in after
    listed = CliRunner().invoke(cli, ["--config", str(web.world.config_path), "review", "C1"])
    assert listed.exit_code == 0, listed.output
    assert "confirmed" in listed.output and "by aigerim" in listed.output
    # the CLI's verdict shows up on the page and in the list
    CliRunner().invoke(
        cli,
        ["--config", str(web.world.config_path), "review", "C3", "--dismiss", "--note", "fans",
         "--reviewer", "cli-user"],
    )  # fmt: skip
    assert "cli-user" in client.get("/clusters/C3").text
    assert "dismissed" in client.get("/clusters?review=dismissed").text


def test_review_form_refuses_bad_input(sqlite_web: WebWorld) -> None:
    client = sqlite_web.client()
    token = csrf_from(client.get("/clusters/C1").text)
    missing = client.post("/clusters/C1/review", data={"csrf_token": token, "verdict": ""})
    assert missing.status_code == 400 and "Choose confirm or dismiss." in missing.text
    dismiss = client.post("/clusters/C1/review", data={"csrf_token": token, "verdict": "dismissed"})
    assert dismiss.status_code == 400 and "why the flag is wrong" in dismiss.text
    unknown = client.post(
        "/clusters/C42/review", data={"csrf_token": token, "verdict": "confirmed"}
    )
    assert unknown.status_code == 404
    with sqlite_web.engine.connect() as connection:
        assert connection.execute(select(models.Review.__table__)).all() == []
