"""Posts and evidence: search, one post's stored versions and provenance, and verify.

Verify re-hashes the stored payloads of the post (current and earlier versions) with
`db.queries.iter_payload_mismatches`, the function behind `smearwatch verify`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from db.queries import iter_payload_mismatches
from smearwatch.web import queries
from smearwatch.web.csrf import checked_form

__all__ = ["goto", "post_page", "raw_payload", "search_csv", "search_page", "verify_post"]

CSV_COLUMNS = [
    "evidence_id", "platform", "post_id", "created_at", "handle", "lang", "url",
    "raw_sha256", "text",
]  # fmt: skip


def _filter(request: Request) -> tuple[queries.PostFilter, str | None]:
    params = request.query_params
    try:
        since = queries.parse_day(params.get("since", ""), "since")
        until = queries.parse_day(params.get("until", ""), "until")
    except ValueError as exc:
        return queries.PostFilter(), str(exc)
    return (
        queries.PostFilter(
            defender=params.get("defender", "").strip(),
            text=params.get("q", "").strip()[:500],
            account=params.get("account", "").strip()[:200],
            platform=params.get("platform", "").strip(),
            since=since,
            until=until,
        ),
        None,
    )


def _before(request: Request) -> tuple[datetime, int] | None:
    value = request.query_params.get("before", "")
    at, _, post_id = value.partition("_")
    if not at or not post_id.isdigit():
        return None
    try:
        return datetime.fromisoformat(at), int(post_id)
    except ValueError:
        return None


def search_page(request: Request) -> Response:
    from smearwatch.web.app import render

    where, error = _filter(request)
    with request.app.state.engine.connect() as connection:
        rows = [] if error else queries.search_posts(connection, where, before=_before(request))
        platforms = queries.platforms(connection)
    more = None
    if len(rows) == queries.PAGE:
        last = rows[-1]
        more = {**where.params(), "before": f"{last.created_at.isoformat()}_{last.id}"}
    return render(
        request,
        "posts.html",
        status_code=400 if error else 200,
        rows=rows,
        where=where,
        error=error,
        more=more,
        platforms=platforms,
        defenders=request.app.state.settings.inputs.defenders,
        export=where.params(),
        paged=_before(request) is not None,
    )


def search_csv(request: Request) -> Response:
    """The search's posts (all pages, at most `EXPORT_LIMIT`), streamed as CSV."""
    where, error = _filter(request)
    if error:
        raise HTTPException(400, error)
    engine = request.app.state.engine

    def lines() -> Iterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with engine.connect() as connection:
            for n, row in enumerate(queries.iter_search(connection, where), 1):
                writer.writerow([
                    row.evidence_id, row.platform, row.platform_id, row.created_at.isoformat(),
                    row.author_handle or "", row.lang or "", row.url or "", row.raw_sha256,
                    row.text,
                ])  # fmt: skip
                if n % 500 == 0:
                    yield out.getvalue().encode("utf-8")
                    out.seek(0)
                    out.truncate()
        yield out.getvalue().encode("utf-8")

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="smearwatch-posts.csv"'},
    )


def goto(request: Request) -> Response:
    """The evidence-id box: straight to that post's page."""
    evidence_id = request.query_params.get("evidence_id", "").strip()
    if not evidence_id:
        return RedirectResponse("/posts", status_code=303)
    return RedirectResponse(f"/posts/{quote(evidence_id, safe='')}", status_code=303)


def _detail(request: Request) -> dict[str, Any]:
    evidence_id = request.path_params["evidence_id"]
    with request.app.state.engine.connect() as connection:
        detail = queries.post_detail(connection, evidence_id)
    if detail is None:
        raise HTTPException(404, f"No post with evidence id {evidence_id}.")
    return detail


def post_page(request: Request, *, verified: dict[str, Any] | None = None) -> Response:
    from smearwatch.web.app import render

    detail = _detail(request)
    names = dict(request.app.state.settings.inputs.defenders)
    return render(request, "post.html", d=detail, p=detail["post"], verified=verified, names=names)


def raw_payload(request: Request) -> Response:
    """The stored payload byte for byte, as text (never rendered as HTML)."""
    detail = _detail(request)
    version = request.query_params.get("version")
    raw = detail["post"].raw
    if version and version.isdigit() and int(version) != detail["post"].version:
        match = [v for v in detail["versions"] if v.version == int(version)]
        if not match:
            raise HTTPException(404, f"No version {version} of this post.")
        raw = match[0].raw
    return Response(raw.encode("utf-8"), media_type="text/plain; charset=utf-8")


def _verify(engine: Any, evidence_id: str) -> dict[str, Any]:
    checked: list[int] = []
    with engine.connect() as connection:
        mismatches = list(iter_payload_mismatches(connection, [evidence_id], checked=checked))
    posts, versions = checked
    return {"posts": posts, "versions": versions, "mismatches": mismatches}


async def verify_post(request: Request) -> Response:
    await checked_form(request)
    evidence_id = request.path_params["evidence_id"]
    result = await run_in_threadpool(_verify, request.app.state.engine, evidence_id)
    if result["posts"] == 0:
        raise HTTPException(404, f"No post with evidence id {evidence_id}.")
    response = await run_in_threadpool(post_page, request, verified=result)
    if result["mismatches"]:
        response.status_code = 409
    return response
