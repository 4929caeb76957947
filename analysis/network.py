"""The multiplex coordination graph, its communities and per-community metrics.

Accepted co-action edges of all layers are fused into one weighted networkx graph (weight =
sum over layers of layer weight x excess over chance, `analysis.coordination`), keeping each
layer's counts as edge attributes so a report can draw or filter any single layer. Communities
are Louvain communities (``networkx.community.louvain_communities``, fixed seed) of each
connected component, after which parts that Louvain split out of one near-clique are merged
back when the density of edges between them is at least ``merge_density`` (modularity splits
near-cliques along random weight fluctuations; a real boundary, such as two campaigns bridged
by one shared account, has almost no edges across it). Graphs are built in sorted node and
edge order so that the result never depends on the order the posts arrived in.

A community is reported as a cluster only when, after peeling off members linked to fewer
than ``min_member_links`` other members (its k-core), it has at least ``min_cluster_size``
members and a density (coordination edges / possible member pairs) of at least
``min_cluster_density``. Planted campaigns are near-cliques; accounts that met by chance on
trending objects form sparse chains that fail the density test even when a few chance edges
survive the per-edge test. Pairs and chains are reported only when the whole window vouches for
their edges (`sparse_communities`, the false-discovery test of `analysis.background`).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from analysis.params import AnalysisParams

__all__ = ["Community", "build_graph", "find_communities", "sparse_communities", "sub_community"]


@dataclass
class Community:
    """A candidate cluster: members and the numbers that decide whether it is reported."""

    members: list[int]
    edges: pd.DataFrame
    density: float
    internal_weight: float
    internal_excess: float
    expected: float
    observed: int
    layers: dict[str, int]
    fast_edges: int
    shape: str = "dense"
    """"dense" (passed the size, k-core and density tests) or "sparse" (pairs and chains kept
    by the window's false-discovery test, `analysis.background`)."""


def build_graph(edges: pd.DataFrame, layers: list[str] | tuple[str, ...]) -> nx.Graph:
    """A weighted undirected graph of the accepted edges, nodes and edges in sorted order."""
    acc = edges[edges["accepted"]].sort_values(["a", "b"])
    graph = nx.Graph()
    graph.add_nodes_from(sorted(set(acc["a"].tolist()) | set(acc["b"].tolist())))
    layer_cols = [f"n_{name}" for name in layers if f"n_{name}" in acc.columns]
    for row in acc.itertuples(index=False):
        attrs = {
            "weight": float(max(row.weight, 1e-9)),
            "n": int(row.n),
            "excess": float(row.excess),
            "p_value": float(row.p_value),
            "fast": bool(row.fast),
        }
        for col in layer_cols:
            attrs[col] = int(getattr(row, col))
        graph.add_edge(int(row.a), int(row.b), **attrs)
    return graph


def find_communities(
    edges: pd.DataFrame, params: AnalysisParams
) -> tuple[nx.Graph, list[Community]]:
    """Louvain communities of the fused graph that pass the size and density tests.

    Returns the graph and the reported communities, largest internal weight first (ties by
    smallest member id), each with its internal edges.
    """
    graph = build_graph(edges, params.layers)
    if graph.number_of_edges() == 0:
        return graph, []
    found: list[set[int]] = []
    for component in sorted(nx.connected_components(graph), key=lambda c: min(c)):
        if len(component) < params.min_cluster_size:
            continue
        sub = graph.subgraph(sorted(component))
        parts = nx.community.louvain_communities(
            sub, weight="weight", resolution=params.louvain_resolution, seed=params.seed
        )
        for part in _merge_dense_parts(sub, [set(p) for p in parts], params):
            # every member must be linked to at least `min_member_links` other members:
            # peels chains of chance edges down to nothing, keeps triangles and denser
            core = nx.k_core(sub.subgraph(sorted(part)), params.min_member_links)
            if core.number_of_nodes():
                found.append(set(core.nodes))
    acc = edges[edges["accepted"]]
    out: list[Community] = []
    for members in found:
        if len(members) < params.min_cluster_size:
            continue
        community = _community(members, acc, params)
        if community.density >= params.min_cluster_density:
            out.append(community)
    out.sort(key=lambda c: (-round(c.internal_weight, 9), c.members[0]))
    return graph, out


def _community(
    members: set[int], acc: pd.DataFrame, params: AnalysisParams, shape: str = "dense"
) -> Community:
    """The accepted edges among ``members`` and the numbers a cluster is judged by."""
    layer_cols = [f"n_{n}" for n in params.layers if f"n_{n}" in acc.columns]
    size = len(members)
    inside = acc[acc["a"].isin(members) & acc["b"].isin(members)]
    possible = size * (size - 1) / 2
    return Community(
        members=sorted(members),
        edges=inside.sort_values(["a", "b"]).reset_index(drop=True),
        density=float(len(inside) / possible) if possible else 0.0,
        internal_weight=float(inside["weight"].sum()),
        internal_excess=float(inside["excess"].sum()),
        expected=float(inside["lam"].sum()),
        observed=int(inside["n"].sum()),
        layers={
            col[2:]: int((inside[col] > 0).sum()) for col in layer_cols if (inside[col] > 0).any()
        },
        fast_edges=int(inside["fast"].sum()),
        shape=shape,
    )


def sub_community(community: Community, members: set[int], params: AnalysisParams) -> Community:
    """The part of ``community`` that ``members`` make, with the same shape and only its
    edges among them (a cluster without the feed accounts it held, `analysis.engine`)."""
    return _community(set(members), community.edges, params, shape=community.shape)


def sparse_communities(strong: pd.DataFrame, params: AnalysisParams) -> list[Community]:
    """Connected accounts of the discovered edges (`analysis.background.sparse_discoveries`,
    among the accepted edges no dense cluster holds): the pairs and chains of a network seen
    through a sparse sample."""
    if not len(strong):
        return []
    graph = nx.Graph()
    graph.add_edges_from(zip(strong["a"].tolist(), strong["b"].tolist(), strict=True))
    out = []
    for component in sorted(nx.connected_components(graph), key=lambda c: min(c)):
        # only the discovered edges make the cluster: a weaker accepted edge between two of its
        # accounts is not evidence the window vouches for
        out.append(_community(set(component), strong, params, shape="sparse"))
    out.sort(key=lambda c: (-round(c.internal_weight, 9), c.members[0]))
    return out


def _merge_dense_parts(
    graph: nx.Graph, parts: list[set[int]], params: AnalysisParams
) -> list[set[int]]:
    """Undo Louvain's over-splitting of near-cliques.

    Modularity rewards splitting a near-clique along random fluctuations of its weights (a
    planted group where each occasion involves a random 80% of members is split in two or
    three). Two parts are merged back while the density of edges *between* them is at least
    ``merge_density`` (default 0.3): a real boundary, such as two campaigns bridged by one
    shared account, has a between-density near zero.
    """
    parts = sorted((set(p) for p in parts), key=lambda p: min(p))
    while len(parts) > 1:
        where = {n: i for i, p in enumerate(parts) for n in p}
        between: dict[tuple[int, int], int] = {}
        for u, v in graph.edges():
            i, j = where[u], where[v]
            if i != j:
                key = (min(i, j), max(i, j))
                between[key] = between.get(key, 0) + 1
        best, best_density = None, params.merge_density
        for (i, j), count in sorted(between.items()):
            density = count / (len(parts[i]) * len(parts[j]))
            if density >= best_density and (best is None or density > best_density):
                best, best_density = (i, j), density
        if best is None:
            break
        i, j = best
        merged = parts[i] | parts[j]
        parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [merged]
        parts.sort(key=lambda p: min(p))
    return parts


def centrality(graph: nx.Graph, members: list[int]) -> dict[int, float]:
    """Weighted degree of each member inside its cluster, scaled to the busiest member = 1."""
    sub = graph.subgraph(members)
    deg = dict(sub.degree(weight="weight"))
    top = max(deg.values(), default=0.0) or 1.0
    return {int(n): float(np.round(deg.get(n, 0.0) / top, 4)) for n in members}
