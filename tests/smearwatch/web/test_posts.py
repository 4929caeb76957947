"""Posts and evidence: search filters, paging, CSV, the post page, verify."""

from __future__ import annotations

import csv
import hashlib
import io

from sqlalchemy import update

from db import models
from smearwatch.web.queries import PAGE
from tests.smearwatch.web.conftest import EDITED_AFTER, EDITED_BEFORE, WebWorld, csrf_from


def _evidence(html: str) -> list[str]:
    import re

    return re.findall(r'<a class="mono" href="/posts/([^"]+)">', html)


def test_search_filters(web: WebWorld) -> None:
    client = web.client()
    everything = client.get("/posts").text
    assert len(_evidence(everything)) == PAGE
    kesler = _evidence(client.get("/posts?defender=kesler").text)
    cyrillic = _evidence(client.get("/posts", params={"q": "исправленный"}).text)
    assert cyrillic == [web.edited_evidence]
    for typed in ("ИСПРАВЛЕННЫЙ", "Исправленный вариант"):  # Cyrillic case folded
        assert _evidence(client.get("/posts", params={"q": typed}).text) == [web.edited_evidence]
    assert _evidence(client.get("/posts", params={"account": "CITIZEN.EDITOR"}).text) == [
        web.edited_evidence
    ]
    by_account = _evidence(client.get("/posts", params={"account": "citizen.editor"}).text)
    assert by_account == [web.edited_evidence]
    assert _evidence(client.get("/posts?platform=mastodon").text) == []
    assert _evidence(client.get("/posts", params={"q": "FIRST VARIANT"}).text) == []
    assert web.edited_evidence not in _evidence(client.get("/posts", params={"q": "ALERT"}).text)
    assert web.hostile_evidence in _evidence(client.get("/posts", params={"q": "ALERT"}).text)
    one_day = _evidence(client.get("/posts?since=2026-11-18&until=2026-11-19").text)
    assert web.hostile_evidence in one_day and web.edited_evidence in one_day
    assert set(kesler).isdisjoint({web.hostile_evidence, web.edited_evidence})
    bad = client.get("/posts?since=18.11.2026")
    assert bad.status_code == 400 and "since" in bad.text
    # a LIKE wildcard in the query is a literal character
    assert _evidence(client.get("/posts", params={"q": "%"}).text) == []


def test_paging_and_csv_cover_every_match_once(web: WebWorld) -> None:
    client = web.client()
    seen: list[str] = []
    url = "/posts?defender=ormanova"
    import html as html_lib
    import re

    while url:
        page = client.get(url).text
        seen.extend(_evidence(page))
        older = re.search(r'<a href="(/posts\?[^"]+)">older', page)
        url = html_lib.unescape(older.group(1)) if older else ""
    assert len(seen) == len(set(seen)) > PAGE
    rows = list(csv.DictReader(io.StringIO(client.get("/posts.csv?defender=ormanova").text)))
    assert [r["evidence_id"] for r in rows] == seen
    assert next(r for r in rows if r["evidence_id"] == web.hostile_evidence)["text"].startswith(
        "Орманова <script>"
    )


def test_post_page_shows_versions_payload_hashes_and_provenance(web: WebWorld) -> None:
    client = web.client()
    page = client.get(f"/posts/{web.edited_evidence}")
    assert page.status_code == 200
    html = page.text
    assert EDITED_AFTER in html and EDITED_BEFORE in html
    assert "Earlier versions" in html and "Version 1" in html
    assert "edited.jsonl" in html and "hostile.jsonl" in html  # both import files
    raw = client.get(f"/posts/{web.edited_evidence}/raw").text
    assert hashlib.sha256(raw.encode("utf-8")).hexdigest() in html
    earlier = client.get(f"/posts/{web.edited_evidence}/raw?version=1").text
    assert hashlib.sha256(earlier.encode("utf-8")).hexdigest() in html
    assert client.get("/posts/E-0000000000000000").status_code == 404
    go = client.get(
        "/posts/go", params={"evidence_id": web.edited_evidence}, follow_redirects=False
    )
    assert go.headers["location"] == f"/posts/{web.edited_evidence}"


def test_verify_uses_the_stored_hashes_and_reports_tampering(web: WebWorld) -> None:
    client = web.client()
    token = csrf_from(client.get(f"/posts/{web.edited_evidence}").text)
    good = client.post(f"/posts/{web.edited_evidence}/verify", data={"csrf_token": token})
    assert good.status_code == 200
    assert "Verified" in good.text and "1 stored payload(s) and 1 earlier version(s)" in good.text
    with web.engine.begin() as connection:
        connection.execute(
            update(models.Post.__table__)
            .where(models.Post.__table__.c.evidence_id == web.edited_evidence)
            .values(raw='{"tampered": true}')
        )
    bad = client.post(f"/posts/{web.edited_evidence}/verify", data={"csrf_token": token})
    assert bad.status_code == 409
    assert "Verification FAILED" in bad.text
    assert hashlib.sha256(b'{"tampered": true}').hexdigest() in bad.text
