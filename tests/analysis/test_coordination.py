from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.coordination import co_action_pairs, coordination_edges, popularity_weight
from analysis.engine import analyze
from analysis.params import AnalysisParams
from analysis.text import near_duplicate_groups

from .helpers import build, organic_background, post


def events(rows: list[tuple[int, float, str]]) -> pd.DataFrame:
    """(account, seconds, object) rows as a layer's action frame."""
    return pd.DataFrame(
        {
            "post_pk": np.arange(1, len(rows) + 1),
            "account": [r[0] for r in rows],
            "t_ms": [int(r[1] * 1000) for r in rows],
            "key": [zlib.crc32(r[2].encode()) for r in rows],
        }
    )


def pairs(rows, window=60, cap=50):
    po, objects, actions, counts = co_action_pairs(
        events(rows),
        window_ms=window * 1000,
        fanout_cap=cap,
        max_object_accounts=5000,
        popular_object_accounts=50,
    )
    return po, objects, counts


def test_sliding_window_catches_pairs_across_a_minute_boundary():
    # 10:00:55 and 10:01:05 are in different fixed one-minute bins, 10 s apart
    po, _, _ = pairs([(1, 55, "u1"), (2, 65, "u1"), (1, 1055, "u2"), (2, 1065, "u2")])
    assert set(map(tuple, po[["a", "b"]].to_numpy())) == {(1, 2)}
    assert len(po) == 2
    assert (po["dt_ms"] == 10_000).all()


@pytest.mark.parametrize(("dt", "linked"), [(0, True), (59.9, True), (60, True), (60.1, False)])
def test_window_is_inclusive(dt, linked):
    po, _, _ = pairs([(1, 100, "u"), (2, 100 + dt, "u")])
    assert (len(po) == 1) is linked


def test_same_object_repeated_counts_once_and_keeps_closest_posts():
    po, _, _ = pairs([(1, 0, "u"), (2, 50, "u"), (1, 40, "u"), (2, 41, "u")])
    assert len(po) == 1
    row = po.iloc[0]
    assert row["dt_ms"] == 1000
    assert {row["pk_a"], row["pk_b"]} == {3, 4}


def test_self_pairs_are_ignored():
    po, _, _ = pairs([(1, 0, "u"), (1, 1, "u"), (1, 2, "u")])
    assert po.empty


def test_fanout_is_capped_so_cost_is_linear_in_actions():
    rows = [(i, i * 0.01, "viral") for i in range(2000)]  # 2,000 accounts in 20 s
    po, objects, counts = pairs(rows, cap=10)
    assert len(po) <= 10 * 2000
    assert counts["window_pairs"] == 2000 * 1999 // 2  # the null still sees every pair
    assert counts["capped"] > 0


def test_objects_beyond_max_accounts_are_skipped():
    rows = [(i, i * 0.01, "trend") for i in range(100)]
    po, objects, _, counts = co_action_pairs(
        events(rows),
        window_ms=60_000,
        fanout_cap=50,
        max_object_accounts=99,
        popular_object_accounts=50,
    )
    assert po.empty and counts["skipped"] == 1


def test_popularity_weight_is_one_for_rare_objects_and_decays():
    w = popularity_weight(np.array([2, 50, 500, 5000]), 50)
    assert w[0] == 1.0 and w[1] == 1.0
    assert 0.29 < w[2] < 0.31 and 0.17 < w[3] < 0.19
    assert np.all(np.diff(w) <= 0)


def _table_posts() -> list:
    posts = organic_background()
    for i in range(4):  # group A: three links, 5 s apart
        for k in range(3):
            posts.append(
                post(
                    f"a{i}",
                    3600 * k + 5 * i,
                    "",
                    pid=f"a{i}-{k}",
                    links=(f"https://a.example/{k}",),
                )
            )
    for i in range(4):  # group B: two links, 30 s apart
        for k in range(2):
            posts.append(
                post(
                    f"b{i}",
                    20_000 + 3600 * k + 30 * i,
                    "",
                    pid=f"b{i}-{k}",
                    links=(f"https://b.example/{k}",),
                )
            )
    return posts


@pytest.mark.parametrize(
    ("window", "min_rep", "expected"),
    [
        (60, 2, [{"a0", "a1", "a2", "a3"}, {"b0", "b1", "b2", "b3"}]),
        (120, 2, [{"a0", "a1", "a2", "a3"}, {"b0", "b1", "b2", "b3"}]),
        (20, 2, [{"a0", "a1", "a2", "a3"}]),
        (60, 3, [{"a0", "a1", "a2", "a3"}]),
        # only neighbours 5 s apart link: the chain a0-a1-a2-a3 is no dense group, but three
        # links nobody else shares are more than the window's chance: a sparse cluster
        (5, 2, [{"a0", "a1", "a2", "a3"}]),
        (10, 2, [{"a0", "a1", "a2", "a3"}]),  # neighbours and second neighbours: dense
        (2, 2, []),
        (60, 4, []),
    ],
)
def test_membership_by_window_and_min_repetitions(window, min_rep, expected):
    inp = build(_table_posts())
    res = analyze(inp, AnalysisParams(window_seconds=window, min_repetitions=min_rep))
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    got = [{names[m.account_pk].removeprefix("did:") for m in c.members} for c in res.clusters]
    assert sorted(got, key=sorted) == sorted(expected, key=sorted)
    if window == 5:
        assert [c.signals["shape"] for c in res.clusters] == ["sparse"]


def _edges(posts, **kw):
    inp = build(posts).validate()
    params = AnalysisParams(**kw)
    texts = near_duplicate_groups(inp.posts.set_index("post_pk")["text"])
    return inp, coordination_edges(inp, params, texts)


def test_hyperactive_accounts_expect_more_coactions():
    posts = organic_background()
    for name, extra in (("quiet1", 0), ("quiet2", 0), ("busy1", 300), ("busy2", 300)):
        for k in range(3):
            posts.append(
                post(
                    name,
                    600 * k + (5 if name.endswith("2") else 0),
                    "",
                    pid=f"{name}-{k}",
                    links=(f"https://{name[:-1]}.example/{k}",),
                )
            )
        for k in range(extra):
            posts.append(post(name, 40_000 + 7 * k, f"filler {name} {k}", pid=f"{name}-f{k}"))
    inp, res = _edges(posts)
    pk = {a: p for p, a in zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True)}
    e = res.edges.set_index(["a", "b"])
    quiet = e.loc[tuple(sorted((pk["did:quiet1"], pk["did:quiet2"])))]
    busy = e.loc[tuple(sorted((pk["did:busy1"], pk["did:busy2"])))]
    assert quiet["n"] == busy["n"] == 3
    assert busy["lam"] > 100 * quiet["lam"]
    assert busy["p_value"] > quiet["p_value"]
    assert quiet["excess"] > busy["excess"]


def test_every_accepted_edge_is_traceable_to_post_pairs():
    posts = _table_posts()
    inp, res = _edges(posts)
    acc = res.edges[res.edges["accepted"]]
    assert len(acc) > 0
    known = set(inp.posts["post_pk"])
    owner = dict(zip(inp.posts["post_pk"], inp.posts["account_pk"], strict=True))
    for row in acc.itertuples():
        ev = res.evidence[(res.evidence["a"] == row.a) & (res.evidence["b"] == row.b)]
        assert len(ev) >= row.n
        for e in ev.itertuples():
            assert e.pk_a in known and e.pk_b in known
            assert owner[e.pk_a] == row.a and owner[e.pk_b] == row.b
            assert 0 <= e.dt_s <= 60
            assert abs((e.t_b - e.t_a) / 1000) == e.dt_s


def test_fast_subnetwork_uses_the_short_window():
    posts = _table_posts()
    _, res = _edges(posts, fast_window_seconds=10)
    acc = res.edges[res.edges["accepted"]]
    # group A posts 5 s apart: neighbours are fast; group B is 30 s apart: never fast
    assert acc["fast"].sum() >= 3
    assert acc.loc[acc["n_fast"] == 0, "fast"].eq(False).all()


def test_text_layers_are_not_double_counted():
    base = "Бахыт Орманова иностранный агент и грантоед отрабатывает деньги"
    posts = organic_background()
    for i in range(3):
        for k in range(2):
            posts.append(post(f"c{i}", 5000 * k + i, base + f" {k}", pid=f"c{i}-{k}"))
    _, res = _edges(posts)
    e = res.edges[res.edges["n_text"] > 0]
    assert len(e) == 3
    # the same two posts are one act: two occasions make two repetitions, not four
    assert (e["n"] == 2).all()
    near = [c for c in e.columns if c == "n_near_text"]
    assert (e["n"] == e[["n_text", *near]].sum(axis=1)).all()
    # the near-duplicate layer saw the same post pairs: kept as evidence, not counted
    ev = res.evidence
    assert set(ev.loc[ev["layer"] == "near_text", "counted"]) == {False}
    assert ev.loc[ev["layer"] == "text", "counted"].all()


action = st.tuples(st.integers(1, 8), st.integers(0, 600), st.sampled_from(["u1", "u2", "u3"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(action, min_size=0, max_size=40), st.randoms(use_true_random=False))
def test_pairs_do_not_depend_on_row_order(rows, rnd):
    def canon(rows_):
        if not rows_:
            return []
        po, *_ = co_action_pairs(
            events(rows_).assign(post_pk=lambda d: [hash_row(r) for r in rows_]),
            window_ms=60_000,
            fanout_cap=50,
            max_object_accounts=5000,
            popular_object_accounts=50,
        )
        return sorted(map(tuple, po[["a", "b", "obj", "dt_ms"]].to_numpy().tolist()))

    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert canon(rows) == canon(shuffled)


def hash_row(r) -> int:
    return zlib.crc32(repr(r).encode())


@settings(max_examples=60, deadline=None)
@given(st.lists(action, min_size=1, max_size=60), st.integers(1, 5))
def test_pair_count_is_bounded_by_the_fanout_cap(rows, cap):
    po, _, _ = pairs(rows, cap=cap)
    assert len(po) <= cap * len(rows)
    assert (po["a"] < po["b"]).all()
    assert (po["dt_ms"] <= 60_000).all()


def test_same_object_on_separate_occasions_repeats_but_a_burst_counts_once():
    rows = [(1, 0, "t"), (2, 5, "t"), (1, 9, "t"), (2, 12, "t")]  # one burst of copies
    rows += [(1, 86_400, "t"), (2, 86_410, "t")]  # pushed again the next day
    po, *_ = co_action_pairs(
        events(rows),
        window_ms=60_000,
        fanout_cap=50,
        max_object_accounts=5000,
        popular_object_accounts=50,
        occasion_gap_ms=1_800_000,
    )
    assert po["occasion"].tolist() == [0, 1]
    assert po["dt_ms"].tolist() == [3000, 10_000]
    once, *_ = co_action_pairs(
        events(rows),
        window_ms=60_000,
        fanout_cap=50,
        max_object_accounts=5000,
        popular_object_accounts=50,
        occasion_gap_ms=None,
    )
    assert len(once) == 1


def test_local_burst_weight_spares_a_steady_object_but_not_a_crowd():
    steady = [(i, 600 * i, "d") for i in range(1, 200)]  # a defender named every 10 minutes
    steady += [(1000, 100_000, "d"), (1001, 100_010, "d")]
    crowd = [(i, 99_990 + (i - 2000) * 0.05, "d") for i in range(2000, 2400)]  # 400 in 20 s

    def weights(rows, local_only):
        po, *_ = co_action_pairs(
            events(rows),
            window_ms=60_000,
            fanout_cap=1000,
            max_object_accounts=5000,
            popular_object_accounts=50,
            local_only=local_only,
        )
        return po

    po = weights(steady, True)
    pair = po[(po["a"] == 1000) & (po["b"] == 1001)]
    assert float(pair["w"].iloc[0]) == 1.0
    po = weights(steady + crowd, True)
    pair = po[(po["a"] == 1000) & (po["b"] == 1001)]
    assert float(pair["w"].iloc[0]) < 0.5


def test_repeated_pileon_on_a_busy_defender_is_found():
    posts = organic_background()
    mentions = {}
    for k in range(200):  # the defender is named by ordinary people every few minutes
        p = post(f"fan{k % 50}", -20_000 + 300 * k, f"news about her today {k}", pid=f"n{k}")
        posts.append(p)
        mentions[("bluesky", p.post_id)] = ["ormanova"]
    for occasion in range(3):  # five accounts pile on within a minute, three times
        for i in range(5):
            p = post(
                f"troll{i}",
                5000 * occasion + 9 * i,
                f"позор {i} {occasion}",
                pid=f"t{i}-{occasion}",
            )
            posts.append(p)
            mentions[("bluesky", p.post_id)] = ["ormanova"]
    inp = build(posts, mentions)
    res = analyze(inp, AnalysisParams(min_repetitions=3))
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    got = [{names[m.account_pk].removeprefix("did:") for m in c.members} for c in res.clusters]
    assert got == [{f"troll{i}" for i in range(5)}]
    assert res.clusters[0].signals["layers"] == {"pileon": 10}


def test_a_much_named_defender_is_never_skipped_as_trending():
    rows = [(i, 3600 * i, "d") for i in range(1, 30)] + [(100, 50, "d"), (101, 60, "d")]
    common = dict(
        window_ms=60_000, fanout_cap=50, max_object_accounts=10, popular_object_accounts=50
    )
    skipped, *_ = co_action_pairs(events(rows), **common)
    kept, *_ = co_action_pairs(events(rows), local_only=True, **common)
    assert skipped.empty
    assert set(map(tuple, kept[["a", "b"]].to_numpy().tolist())) == {(100, 101)}


def _shared_template(named: bool) -> tuple[list, dict]:
    """Four solidarity groups (the generator's ``support`` kind) post one template text with
    the same two hashtags: 84 accounts over the week, so the template is a popular object
    (w = 0.66). Each occasion is 21 accounts within 45 s; sup_a and sup_b take part in two
    occasions only. With ``named`` every post also names the defender (a quiet minute on the
    pile-on layer: w = 1)."""
    from .helpers import SUPPORT_TEXT

    posts, mentions = organic_background(), {}
    for g in range(4):
        group = [f"g{g}m{i}" for i in range(20)]
        for occ in range(3):
            who = group + (["sup_a", "sup_b"] if g == 0 and occ < 2 else [])
            for i, name in enumerate(who):
                p = post(
                    name,
                    30_000 * g + 9_000 * occ + 2 * i,
                    SUPPORT_TEXT,
                    pid=f"{name}-{g}-{occ}",
                    hashtags=("freeormanova", "біргеміз"),
                )
                posts.append(p)
                if named:
                    mentions[("bluesky", p.post_id)] = ["ormanova"]
    return posts, mentions


@pytest.mark.parametrize("named", [True, False])
def test_an_act_weighs_as_much_as_its_least_crowded_trace(named: bool) -> None:
    posts, mentions = _shared_template(named)
    inp = build(posts, mentions).validate()
    params = AnalysisParams()
    texts = near_duplicate_groups(inp.posts.set_index("post_pk")["text"])
    coord = coordination_edges(inp, params, texts)
    names = dict(zip(inp.accounts["author_id"], inp.accounts["account_pk"], strict=True))
    a, b = sorted((names["did:sup_a"], names["did:sup_b"]))
    edge = coord.edges[(coord.edges["a"] == a) & (coord.edges["b"] == b)]
    if named:
        # two acts in quiet minutes: the template's popularity does not make them lighter
        # (read as the text alone, each weighed w(84) = 0.66 and the pair was no candidate)
        assert len(edge) == 1 and bool(edge["accepted"].iloc[0])
        assert float(edge["s"].iloc[0]) == pytest.approx(2.0)
        res = analyze(inp, params)
        assert any({a, b} <= c.member_pks for c in res.clusters)
    else:
        # no quiet trace: the popular template weighs what popularity weighting says
        assert float(popularity_weight(np.array([84]), 50)[0]) * 2 < params.min_edge_weight
        assert edge.empty or not bool(edge["accepted"].iloc[0])
