"""The network picture of a cluster: accounts as nodes, coordination edges between them.

Layout is a seeded spring layout over nodes and edges in a fixed order, so the same cluster
always gives the same picture. Fast edges (co-action within the window) are drawn red and
thick; slower repeated co-action grey. Node size follows the account's posts in the week.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from reports.charts import deterministic, png
from reports.model import AccountRow, Edge
from reports.text import clip, safe_text

__all__ = ["cluster_graph", "network_chart"]

MAX_LABELS = 25
CACHE_SIZE = 64  # pictures kept for the next variant of the same report
_CACHE: dict[tuple[Any, ...], bytes] = {}


def cluster_graph(
    accounts: Sequence[AccountRow], edges: Sequence[Edge], labels: dict[int, str]
) -> nx.Graph:
    graph = nx.Graph()
    for account in sorted(accounts, key=lambda a: a.account_pk):
        graph.add_node(
            account.account_pk,
            label=labels.get(account.account_pk, str(account.account_pk)),
            platform=account.platform,
            posts=account.posts_in_week,
        )
    for edge in sorted(edges, key=lambda e: (e.a, e.b)):
        if edge.a in graph and edge.b in graph:
            graph.add_edge(
                edge.a,
                edge.b,
                weight=edge.weight,
                fast=edge.fast,
                shared_objects=edge.shared_objects,
                min_dt_seconds=edge.min_dt_seconds,
            )
    return graph


def network_chart(graph: nx.Graph, *, width_in: float = 6.6, height_in: float = 3.6) -> bytes:
    """The picture of `graph`; the same drawn content (e.g. both variants) is drawn once."""
    labelled = graph.number_of_nodes() <= MAX_LABELS
    key = (
        tuple(
            (n, d.get("posts", 0), d.get("label") if labelled else None)
            for n, d in graph.nodes(data=True)
        ),
        tuple((a, b, d.get("weight"), bool(d.get("fast"))) for a, b, d in graph.edges(data=True)),
        width_in,
        height_in,
    )
    cached = _CACHE.get(key)
    if cached is None:
        cached = _draw(graph, width_in, height_in)
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    return cached


def _draw(graph: nx.Graph, width_in: float, height_in: float) -> bytes:
    from matplotlib import pyplot as plt

    with deterministic():
        figure, axis = plt.subplots(figsize=(width_in, height_in))
        axis.set_axis_off()
        if graph.number_of_nodes() == 0:
            axis.text(0.5, 0.5, "no accounts", ha="center", va="center")
            return png(figure)
        k = 1.5 / max(graph.number_of_nodes(), 1) ** 0.5
        position = nx.spring_layout(graph, seed=7, k=k, iterations=100)
        slow = [(a, b) for a, b, d in graph.edges(data=True) if not d.get("fast")]
        fast = [(a, b) for a, b, d in graph.edges(data=True) if d.get("fast")]
        nx.draw_networkx_edges(graph, position, edgelist=slow, ax=axis, edge_color="#9a9a9a",
                               width=0.8)  # fmt: skip
        nx.draw_networkx_edges(graph, position, edgelist=fast, ax=axis, edge_color="#c0392b",
                               width=1.8)  # fmt: skip
        sizes = [60 + 25 * min(graph.nodes[n].get("posts", 0), 20) for n in graph.nodes]
        nx.draw_networkx_nodes(graph, position, ax=axis, node_size=sizes, node_color="#34495e",
                               alpha=0.9)  # fmt: skip
        if graph.number_of_nodes() <= MAX_LABELS:
            labels = {n: clip(safe_text(graph.nodes[n]["label"]), 24) for n in graph.nodes}
            ys = [y for _, y in position.values()]
            lift = 0.04 * ((max(ys) - min(ys)) or 1)
            above = {n: (x, y + lift) for n, (x, y) in position.items()}
            nx.draw_networkx_labels(graph, above, labels=labels, ax=axis, font_size=6,
                                    font_family="DejaVu Sans",
                                    verticalalignment="bottom")  # fmt: skip
        axis.margins(0.12)
        figure.tight_layout()
        return png(figure)
