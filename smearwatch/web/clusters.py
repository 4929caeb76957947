"""Clusters: the list of the latest run, one cluster's page, its picture, its review form.

A cluster's page is `reports.model.build_cluster_section`: the report's own reading of the
cluster (members, edges, shared objects, reasons), with all details even when the cluster is
below the report's threshold. Confirm/dismiss writes through `db.reviews.record_review`, the
function behind `smearwatch review`.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

import networkx as nx
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from db.reviews import CONFIDENCES, VERDICTS, cluster_exists, record_review, review_history
from reports.model import ClusterSection, build_cluster_section
from reports.network import cluster_graph, network_chart
from smearwatch.web import queries
from smearwatch.web.csrf import checked_form

__all__ = [
    "cluster_list_csv",
    "cluster_list_page",
    "cluster_page",
    "members_csv",
    "network_gexf",
    "network_png",
    "review_post",
]

STANCES = ("hostile", "mixed", "neutral", "supportive")
REVIEW_STATES = ("unreviewed", "confirmed", "dismissed")
LIST_COLUMNS = [
    "stable_id", "defender_id", "score", "confidence", "stance", "size",
    "first_activity", "last_activity", "review", "reviewer", "reviewed_at",
]  # fmt: skip
NOTE_LIMIT = 5000


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    stance = params.get("stance") or None
    review = params.get("review") or None
    score = params.get("min_score") or ""
    try:
        min_score = float(score) if score else None
    except ValueError:
        raise HTTPException(400, f"min_score: {score!r} is not a number") from None
    return {
        "stance": stance if stance in STANCES else None,
        "review": review if review in REVIEW_STATES else None,
        "min_score": min_score,
    }


def _listing(request: Request) -> tuple[int | None, list[dict[str, Any]], dict[str, Any]]:
    filters = _filters(request)
    run = request.query_params.get("run")
    with request.app.state.engine.connect() as connection:
        run_id, rows = queries.cluster_list(
            connection, run_id=int(run) if run and run.isdigit() else None, **filters
        )
    return run_id, rows, filters


def cluster_list_page(request: Request) -> Response:
    from smearwatch.web.app import render

    run_id, rows, filters = _listing(request)
    return render(
        request,
        "clusters.html",
        run_id=run_id,
        clusters=rows,
        filters=filters,
        stances=STANCES,
        states=REVIEW_STATES,
        query=request.url.query,
        min_score=request.app.state.settings.inputs.settings.min_score,
        names=dict(request.app.state.settings.inputs.defenders),
    )


def _csv(columns: list[str], rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def cluster_list_csv(request: Request) -> Response:
    run_id, rows, _ = _listing(request)
    return _csv(LIST_COLUMNS, rows, f"smearwatch-clusters-run{run_id or 0}.csv")


def _section(request: Request) -> tuple[ClusterSection, list[Any], Any, int]:
    stable_id = request.path_params["stable_id"]
    run = request.query_params.get("run")
    found = build_cluster_section(
        request.app.state.engine,
        request.app.state.settings.inputs,
        stable_id,
        run_id=int(run) if run and run.isdigit() else None,
    )
    if found is None:
        raise HTTPException(404, f"No cluster {stable_id} in any successful analysis run.")
    return found


def cluster_page(request: Request, *, message: str | None = None, status: int = 200) -> Response:
    from smearwatch.web.app import current_user, render

    section, evidence, week, run_id = _section(request)
    with request.app.state.engine.connect() as connection:
        history = queries.cluster_history(connection, section.stable_id)
        reviews = review_history(connection, section.stable_id)
    names = dict(request.app.state.settings.inputs.defenders)
    return render(
        request,
        "cluster.html",
        status_code=status,
        c=section,
        evidence={e.evidence_id: e for e in evidence},
        week=week,
        run_id=run_id,
        history=history,
        reviews=list(reversed(reviews)),
        defender_name=names.get(section.defender_id or "", section.defender_id or "—"),
        verdicts=VERDICTS,
        confidences=CONFIDENCES,
        reviewer=current_user(request) or request.app.state.settings.reviewer or "",
        message=message,
        run_query=f"?run={run_id}",
    )


def _graph(section: ClusterSection) -> nx.Graph:
    labels = {a.account_pk: a.handle or f"#{a.account_pk}" for a in section.accounts}
    return cluster_graph(section.accounts, section.edges, labels)


def network_png(request: Request) -> Response:
    """The report's network picture of the cluster (matplotlib, drawn on this server)."""
    section, *_ = _section(request)
    return Response(
        network_chart(_graph(section), width_in=7.5, height_in=4.2), media_type="image/png"
    )


def network_gexf(request: Request) -> Response:
    section, _, _, run_id = _section(request)
    graph = _graph(section)
    text = "\n".join(nx.generate_gexf(graph)) + "\n"
    return Response(
        text.encode("utf-8"),
        media_type="application/gexf+xml",
        headers={
            "content-disposition": (
                f'attachment; filename="smearwatch-{section.stable_id}-run{run_id}.gexf"'
            )
        },
    )


MEMBER_COLUMNS = [
    "cluster_id", "platform", "account_id", "handle", "display_name", "account_created_at",
    "posts_in_week", "cluster_posts", "centrality", "signals",
]  # fmt: skip


def members_csv(request: Request) -> Response:
    import orjson

    section, _, week, run_id = _section(request)
    rows = [
        {
            "cluster_id": section.stable_id,
            "platform": a.platform,
            "account_id": a.platform_id,
            "handle": a.handle,
            "display_name": a.display_name,
            "account_created_at": a.created_at.isoformat() if a.created_at else None,
            "posts_in_week": a.posts_in_week,
            "cluster_posts": a.cluster_posts,
            "centrality": f"{a.centrality:.4f}",
            "signals": orjson.dumps(a.signals, option=orjson.OPT_SORT_KEYS).decode(),
        }
        for a in section.accounts
    ]
    return _csv(MEMBER_COLUMNS, rows, f"smearwatch-{section.stable_id}-run{run_id}-members.csv")


def _record(
    engine: Any, stable_id: str, verdict: str, note: str, reviewer: str, confidence: str | None
) -> bool:
    with engine.begin() as connection:
        if not cluster_exists(connection, stable_id):
            return False
        record_review(
            connection, stable_id, verdict, note=note, reviewer=reviewer, confidence=confidence
        )
    return True


async def review_post(request: Request) -> Response:
    """Confirm or dismiss with a note: the same `review` row as `smearwatch review`."""
    from smearwatch.web.app import current_user

    form = await checked_form(request)
    stable_id = request.path_params["stable_id"]
    verdict = str(form.get("verdict") or "")
    confidence = str(form.get("confidence") or "") or None
    note = str(form.get("note") or "").strip()
    user = current_user(request)
    reviewer = user or str(form.get("reviewer") or "").strip()[:128]
    problem = None
    if verdict not in VERDICTS:
        problem = "Choose confirm or dismiss."
    elif confidence is not None and confidence not in CONFIDENCES:
        problem = "Unknown confidence."
    elif len(note) > NOTE_LIMIT:
        problem = f"The note is longer than {NOTE_LIMIT:,} characters."
    elif verdict == "dismissed" and not note:
        problem = "Say in the note why the flag is wrong."
    if problem:
        return await run_in_threadpool(cluster_page, request, message=problem, status=400)
    engine = request.app.state.engine
    if not await run_in_threadpool(_record, engine, stable_id, verdict, note, reviewer, confidence):
        raise HTTPException(404, f"No cluster {stable_id} in any analysis run.")
    run = request.query_params.get("run")
    suffix = f"?run={run}&saved=1" if run and run.isdigit() else "?saved=1"
    return RedirectResponse(f"/clusters/{quote(stable_id)}{suffix}#review", status_code=303)
