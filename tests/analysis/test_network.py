from __future__ import annotations

import itertools

import pandas as pd

from analysis.network import build_graph, find_communities
from analysis.params import AnalysisParams


def edges_frame(pairs: list[tuple[int, int]], n: int = 3) -> pd.DataFrame:
    rows = [
        {
            "a": min(a, b),
            "b": max(a, b),
            "n": n,
            "s": float(n),
            "lam": 0.01,
            "expected_s": 0.01,
            "excess": n - 0.01,
            "p_value": 1e-6,
            "n_fast": 0,
            "weight": n - 0.01,
            "accepted": True,
            "fast": False,
            "min_dt_s": 3.0,
            "n_link": n,
        }
        for a, b in pairs
    ]
    return pd.DataFrame(rows)


def clique(nodes):
    return list(itertools.combinations(nodes, 2))


def test_dense_component_is_one_cluster():
    _, comms = find_communities(edges_frame(clique(range(1, 11))), AnalysisParams())
    assert [c.members for c in comms] == [list(range(1, 11))]
    assert comms[0].density == 1.0 and comms[0].layers == {"link": 45}


def test_bridged_cliques_are_split_and_chains_dropped():
    pairs = clique(range(1, 9)) + clique(range(20, 28)) + [(8, 20)]
    pairs += [(100 + i, 101 + i) for i in range(10)]  # a sparse chain of chance edges
    _, comms = find_communities(edges_frame(pairs), AnalysisParams())
    assert sorted(c.members for c in comms) == [list(range(1, 9)), list(range(20, 28))]


def test_communities_do_not_depend_on_edge_order():
    pairs = clique(range(1, 9)) + clique(range(20, 28)) + [(8, 20), (3, 24)]
    e = edges_frame(pairs)
    _, a = find_communities(e, AnalysisParams())
    _, b = find_communities(e.sample(frac=1, random_state=4), AnalysisParams())
    assert [c.members for c in a] == [c.members for c in b]


def test_small_groups_below_min_size_are_not_clusters():
    _, comms = find_communities(edges_frame([(1, 2)]), AnalysisParams())
    assert comms == []
    params = AnalysisParams(min_cluster_size=2, min_member_links=1)
    _, comms = find_communities(edges_frame([(1, 2)]), params)
    assert [c.members for c in comms] == [[1, 2]]


def test_chains_are_peeled_but_triangles_kept():
    _, comms = find_communities(edges_frame([(1, 2), (2, 3), (3, 4), (4, 5)]), AnalysisParams())
    assert comms == []
    _, comms = find_communities(edges_frame([(1, 2), (2, 3), (1, 3), (3, 4)]), AnalysisParams())
    assert [c.members for c in comms] == [[1, 2, 3]]


def test_graph_keeps_layer_counts():
    g = build_graph(edges_frame([(1, 2)]), ("link", "text"))
    assert g.edges[1, 2]["n_link"] == 3 and "n_text" not in g.edges[1, 2]
