"""The files beside the PDF: clusters, accounts and cited evidence as CSV, the network as
GEXF, and a JSON summary. Written byte-for-byte reproducibly (sorted rows, "\\n" line ends,
no wall-clock time), so the manifest of two runs on the same data is identical.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from reports.model import WeekReport
from reports.network import cluster_graph

__all__ = ["CLUSTER_COLUMNS", "cluster_rows", "write_exports"]

CLUSTER_COLUMNS = [
    "cluster_id", "platform", "account_id", "handle", "score", "confidence", "signals",
    "defender_id", "stance", "flagged", "status", "centrality", "posts_in_week",
]  # fmt: skip
ACCOUNT_COLUMNS = [
    "platform", "account_id", "handle", "display_name", "created_at", "age_days_at_week_start",
    "clusters", "posts_in_week",
]  # fmt: skip
EVIDENCE_COLUMNS = [
    "evidence_id", "clusters", "platform", "post_id", "url", "author_id", "handle_at_capture",
    "created_at", "collected_at", "raw_sha256", "lang", "text", "deleted_at",
]  # fmt: skip


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))


def cluster_rows(report: WeekReport) -> list[dict[str, Any]]:
    """One row per (cluster, account), as `smearwatch export clusters` also writes them."""
    rows = []
    for cluster in report.clusters:
        for account in cluster.accounts:
            rows.append(
                {
                    "cluster_id": cluster.stable_id,
                    "platform": account.platform,
                    "account_id": account.platform_id,
                    "handle": report.account_label(account.account_pk, account.handle),
                    "score": f"{cluster.score:.1f}",
                    "confidence": cluster.confidence,
                    "signals": _json(account.signals),
                    "defender_id": cluster.defender_id or "",
                    "stance": cluster.stance,
                    "flagged": "yes" if cluster.flagged else "no",
                    "status": cluster.status,
                    "centrality": f"{account.centrality:.4f}",
                    "posts_in_week": account.posts_in_week,
                }
            )
    return rows


def _account_rows(report: WeekReport) -> list[dict[str, Any]]:
    merged: dict[int, dict[str, Any]] = {}
    for cluster in report.clusters:
        for account in cluster.accounts:
            row = merged.setdefault(
                account.account_pk,
                {
                    "platform": account.platform,
                    "account_id": account.platform_id,
                    "handle": report.account_label(account.account_pk, account.handle),
                    "display_name": account.display_name or "",
                    "created_at": _time(account.created_at),
                    "age_days_at_week_start": (
                        f"{age:.1f}"
                        if (age := account.age_days(report.week.start)) is not None
                        else ""
                    ),
                    "clusters": [],
                    "posts_in_week": account.posts_in_week,
                },
            )
            row["clusters"].append(cluster.stable_id)
    rows = sorted(merged.values(), key=lambda r: (r["platform"], r["account_id"]))
    for row in rows:
        row["clusters"] = " ".join(sorted(set(row["clusters"])))
    return rows


def _evidence_rows(report: WeekReport) -> list[dict[str, Any]]:
    return [
        {
            "evidence_id": row.evidence_id,
            "clusters": " ".join(row.clusters),
            "platform": row.platform,
            "post_id": row.post_id,
            "url": row.url or "",
            "author_id": row.author_id,
            "handle_at_capture": report.account_label(row.account_pk, row.handle),
            "created_at": _time(row.created_at),
            "collected_at": _time(row.collected_at),
            "raw_sha256": row.raw_sha256,
            "lang": row.lang or "",
            "text": row.text,
            "deleted_at": _time(row.deleted_at),
        }
        for row in report.evidence
    ]


def _network(report: WeekReport) -> nx.Graph:
    graph = nx.Graph()
    for cluster in report.clusters:
        labels = {
            a.account_pk: report.account_label(a.account_pk, a.handle) for a in cluster.accounts
        }
        part = cluster_graph(cluster.accounts, cluster.edges, labels)
        for node, data in part.nodes(data=True):
            clusters = graph.nodes[node]["clusters"] + " " if node in graph else ""
            graph.add_node(
                f"n{node}" if not report.pseudonyms else labels[node],
                **{**data, "clusters": (clusters + cluster.stable_id).strip()},
            )
        for a, b, data in part.edges(data=True):
            key_a = f"n{a}" if not report.pseudonyms else labels[a]
            key_b = f"n{b}" if not report.pseudonyms else labels[b]
            graph.add_edge(key_a, key_b, cluster=cluster.stable_id, **data)
    ordered = nx.Graph()
    ordered.add_nodes_from(sorted(graph.nodes(data=True)))
    ordered.add_edges_from(sorted((min(a, b), max(a, b), d) for a, b, d in graph.edges(data=True)))
    return ordered


def _write_gexf(path: Path, graph: nx.Graph, when: datetime) -> None:
    text = "\n".join(nx.generate_gexf(graph)) + "\n"
    text = re.sub(r'lastmodifieddate="[^"]*"', f'lastmodifieddate="{when:%Y-%m-%d}"', text)
    path.write_bytes(text.encode("utf-8"))


def _summary(report: WeekReport) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "variant": report.variant,
        "week": report.week.label,
        "start": _time(report.week.start),
        "end": _time(report.week.end),
        "generated_at": _time(report.generated_at),
        "smearwatch_version": report.version,
        "defenders": [{"id": d, "name": n} for d, n in report.defenders],
        "defender_filter": report.defender_filter,
        "totals": report.totals,
        "baseline_daily": report.baseline_daily,
        "baseline_weeks": report.baseline_weeks,
        "smear_terms": report.smear_terms,
        "hashtags": report.hashtags,
        "domains": report.domains,
        "analysis_run": report.analysis.run_id if report.analysis else None,
        "analysis_parameters": report.analysis.parameters if report.analysis else None,
        "clusters": [
            {
                "cluster_id": c.stable_id,
                "defender_id": c.defender_id,
                "stance": c.stance,
                "score": c.score,
                "confidence": c.confidence,
                "flagged": c.flagged,
                "status": c.status,
                "size": c.size,
                "posts_in_week": c.posts_in_week,
                "posts_prev_week": c.posts_prev_week,
                "first_activity": _time(c.first_activity),
                "last_activity": _time(c.last_activity),
                "review": (c.review or {}).get("verdict"),
                "evidence_ids": c.cited,
            }
            for c in report.clusters
        ],
        "dormant": [
            {k: (_time(v) if isinstance(v, datetime) else v) for k, v in d.items()}
            for d in report.dormant
        ],
        "defender_watch": [
            {
                "defender_id": w.defender_id,
                "mentions": w.mentions,
                "mentions_prev": w.mentions_prev,
                "baseline_week": w.baseline_week,
                "smear_share": w.smear_share,
                "open_clusters": w.open_clusters,
                "light": w.light,
                "reason": w.reason,
            }
            for w in report.watch
        ],
        "findings": [
            {"text": f.text, "confidence": f.confidence, "evidence_ids": f.evidence_ids}
            for f in report.findings
        ],
        "actions": report.actions,
        "sources": [
            {"name": s.name, "runs": s.runs, "errors": s.errors, "gaps": len(s.gaps)}
            for s in report.sources
        ],
        "imports": [
            {"file": i.file_name, "sha256": i.file_sha256, "posts_in_week": i.posts_in_week}
            for i in report.imports
        ],
        "evidence_count": len(report.evidence),
    }


def write_exports(report: WeekReport, folder: Path) -> list[Path]:
    """Write the CSV, GEXF and JSON files into `folder`; return their paths."""
    paths = {
        "clusters": folder / "clusters.csv",
        "accounts": folder / "accounts.csv",
        "evidence": folder / "evidence.csv",
        "network": folder / "network.gexf",
        "summary": folder / "summary.json",
    }
    _write_csv(paths["clusters"], CLUSTER_COLUMNS, cluster_rows(report))
    _write_csv(paths["accounts"], ACCOUNT_COLUMNS, _account_rows(report))
    _write_csv(paths["evidence"], EVIDENCE_COLUMNS, _evidence_rows(report))
    _write_gexf(paths["network"], _network(report), report.generated_at)
    paths["summary"].write_bytes(
        orjson.dumps(
            _summary(report),
            option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
        )
        + b"\n"
    )
    return list(paths.values())
