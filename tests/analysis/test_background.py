"""The null model's background: a thin one is named, a sparse network is still found."""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from analysis.background import (
    NOTHING_TO_COMPARE,
    LayerNull,
    Tail,
    chance_edge_curve,
    layer_tails,
    null_background,
    reach_probabilities,
    sparse_discoveries,
)
from analysis.coordination import coordination_edges
from analysis.engine import analyze
from analysis.params import AnalysisParams
from analysis.text import near_duplicate_groups
from tests.analysis.helpers import build, organic_background, post


def _brute_expected(activity: list[int], c: float, t: float, min_rep: int) -> float:
    """3 x the chance that each account pair reaches p <= t, summed pair by pair."""
    total = 0.0
    for da, db in itertools.combinations(activity, 2):
        lam = da * db * c
        k = max(min_rep, int(lam))
        while min(1.0, 3 * poisson.sf(k - 1, lam)) > t:
            k += 1
        while k > min_rep and min(1.0, 3 * poisson.sf(k - 2, lam)) <= t:
            k -= 1
        total += poisson.sf(k - 1, lam)
    return 3 * total


@pytest.mark.parametrize("t", [1e-9, 1e-6, 1e-4, 1e-2])
def test_chance_edge_curve_of_quiet_accounts_matches_the_pair_by_pair_sum(t: float) -> None:
    rng = np.random.default_rng(5)
    activity = [int(x) for x in rng.zipf(1.8, size=120).clip(1, 20)]
    got = chance_edge_curve(np.array(activity), [(2e-3, 3.0)], 2).at([t])[0]
    want = _brute_expected(activity, 2e-3, t, 2)
    # terms under 1e-12 chances are left out: at most 7,140 pairs x 25 terms of them
    assert got == pytest.approx(want, rel=1e-6, abs=7140 * 25 * 3e-12)


@pytest.mark.parametrize("t", [1e-6, 1e-4])
def test_busy_pairs_beyond_the_summed_terms_are_bounded_not_dropped(t: float) -> None:
    rng = np.random.default_rng(5)
    activity = [int(x) for x in rng.zipf(1.8, size=120).clip(1, 400)]
    got = chance_edge_curve(np.array(activity), [(2e-3, 3.0)], 2).at([t])[0]
    want = _brute_expected(activity, 2e-3, t, 2)
    assert want > 1e-4
    assert want * (1 - 1e-6) - 7140 * 25 * 3e-12 <= got <= want + t * 7140


def test_curves_of_several_tails_add_up() -> None:
    activity = np.array([1, 2, 2, 5, 9, 40, 40, 3])
    one = chance_edge_curve(activity, [(1e-3, 3.0)], 2)
    other = chance_edge_curve(activity, [(4e-4, 1.0)], 2)
    both = chance_edge_curve(activity, [(1e-3, 3.0), (4e-4, 1.0)], 2)
    for t in (1e-8, 1e-5, 1e-3, 0.5):
        assert both.at([t])[0] == pytest.approx(one.at([t])[0] + other.at([t])[0])


def test_more_active_accounts_expect_more_chance_edges() -> None:
    quiet = chance_edge_curve(np.full(500, 3), [(1e-5, 3.0)], 2)
    busy = chance_edge_curve(np.full(500, 30), [(1e-5, 3.0)], 2)
    assert busy.at([1e-4])[0] > 10 * quiet.at([1e-4])[0]
    assert busy.at([1.0])[0] > 1000 * quiet.at([1.0])[0]


def test_discoveries_stop_where_chance_would_explain_them() -> None:
    # 1,000 quiet accounts: the null expects almost no edge at 1e-9, some at 1e-4
    activity = np.full(1000, 4)
    accepted = pd.DataFrame({"p_value": [1e-12, 1e-11, 5e-5, 9e-5]})
    mask, at_alpha = sparse_discoveries(accepted, activity, {"repost": 1e-3}, 2, 0.05, 1e-4)
    assert mask.tolist() == [True, True, False, False]
    assert at_alpha > 1.0  # that many chance edges at the acceptance level itself


def test_a_layer_is_thin_when_its_repeat_pairs_make_the_co_actions_and_their_expectation() -> None:
    edges = pd.DataFrame(
        {
            "n_repost": [10, 10, 5],
            "lam_repost": [9.0, 8.0, 4.0],
            "n_link": [0, 0, 1],
            "lam_link": [0.0, 0.0, 0.9],
            "n_text": [4, 4, 0],
            "lam_text": [0.01, 0.01, 0.0],
        }
    )
    bg = null_background(edges, {"repost": 30, "link": 1000, "text": 8, "reply": 0}, 0.5)
    by = {x.layer: x for x in bg.layers}
    assert set(by) == {"repost", "link", "text"}  # a layer without co-actions says nothing
    assert by["repost"].share == pytest.approx(25 / 30)
    assert by["repost"].expected_share == pytest.approx(21 / 25) and by["repost"].thin
    assert not by["link"].thin  # most co-actions are someone else's
    assert not by["text"].thin  # all co-actions are the pairs', but chance expects none of it
    assert bg.thin and NOTHING_TO_COMPARE in bg.message.lower()
    assert "repost: 83% of the co-actions, 84% expected" in bg.message


def _campaign(accounts: int = 8, targets: int = 12) -> list:
    """One network retweeting the same posts within seconds, on separate hours."""
    out = []
    for k in range(targets):
        for i in range(accounts):
            out.append(
                post(f"net{i}", 3600 * k + 3 * i, "", pid=f"net{i}-rt{k}", repost_of=f"src-{k}")
            )
    return out


def test_a_window_with_no_organic_background_says_the_null_had_nothing_to_compare_with() -> None:
    res = analyze(build(_campaign()))
    bg = res.stats["background"]
    assert bg["thin"]
    assert NOTHING_TO_COMPARE in bg["message"].lower()
    assert [x["layer"] for x in bg["layers"] if x["thin"]] == ["repost"]
    # chance was fitted to the campaign itself: it expects what the campaign does
    assert res.clusters == []


def test_the_same_campaign_in_ordinary_traffic_is_found_and_the_background_holds() -> None:
    rng = random.Random(2)
    background = organic_background(n_accounts=300, posts_each=8)
    # ordinary reposts of many posts, at their own times
    background += [
        post(f"org{i}", rng.uniform(-20000, 60000), "", pid=f"org{i}-rt", repost_of=f"pop-{i % 97}")
        for i in range(300)
    ]
    res = analyze(build(background + _campaign()))
    assert not res.stats["background"]["thin"] and res.stats["background"]["message"] is None
    members = {m.handle.split(".")[0] for c in res.clusters for m in c.members}
    assert members == {f"net{i}" for i in range(8)}


def _scattered_retweeters(rng: random.Random) -> list:
    """2,000 accounts retweeting 1-5 of 6,000 posts each at random times over a week."""
    out = []
    for i in range(2000):
        for k in range(rng.randint(1, 5)):
            t = rng.uniform(0, 7 * 86400)
            out.append(
                post(f"u{i}", round(t, 1), "", pid=f"u{i}-{k}", repost_of=f"o{rng.randrange(6000)}")
            )
    return out


def _sparse_world(seed: int = 4) -> list:
    """2,000 accounts with a handful of retweets each over a week, no two meeting twice by
    design, plus one pair that retweets four posts within seconds of each other."""
    rng = random.Random(seed)
    out = _scattered_retweeters(rng)
    for k in range(4):
        t = 86400 * (k + 1) + 1000
        out.append(post("pair_a", t, "", pid=f"pa-{k}", repost_of=f"hot-{k}"))
        out.append(post("pair_b", t + 4, "", pid=f"pb-{k}", repost_of=f"hot-{k}"))
        out.append(post(f"u{k}", t + 40000, "", pid=f"late-{k}", repost_of=f"hot-{k}"))
    return out


def test_a_pair_the_whole_window_vouches_for_is_a_sparse_cluster() -> None:
    res = analyze(build(_sparse_world()))
    assert len(res.clusters) == 1
    (cluster,) = res.clusters
    assert {m.handle.split(".")[0] for m in cluster.members} == {"pair_a", "pair_b"}
    assert cluster.signals["shape"] == "sparse"
    assert cluster.explanation[0].startswith("A sparse network")
    assert res.stats["background"]["sparse_edges"] == 1


def test_sparse_clusters_can_be_turned_off() -> None:
    res = analyze(build(_sparse_world()), AnalysisParams(sparse_fdr=0.0))
    assert res.clusters == []


def test_chance_meetings_of_sparse_accounts_make_no_cluster() -> None:
    # the same world without the pair: whatever pairs meet twice by chance stay unreported
    posts = [p for p in _sparse_world() if not p.post_id.startswith(("pa-", "pb-", "late-"))]
    res = analyze(build(posts))
    assert res.clusters == []
    assert not res.stats["background"]["thin"]


# --- the chance count of the full acceptance rule (min_edge_weight, strata with their own C)


def _hist(weights: dict[float, float], bins: int = 100) -> np.ndarray:
    """Co-acting pairs by weight (weight -> pairs) as `LayerStats.weight_hist` counts them."""
    out = np.zeros(bins + 1)
    for w, n in weights.items():
        out[int(np.ceil(w * bins - 1e-9))] += n
    return out


def test_reach_is_the_chance_that_k_drawn_weights_add_up_to_the_edge_weight() -> None:
    assert reach_probabilities(_hist({1.0: 10}), 1.5, 4).tolist() == [0.0, 1.0, 1.0, 1.0]
    assert reach_probabilities(_hist({0.5: 10}), 1.5, 4).tolist() == [0.0, 0.0, 1.0, 1.0]
    # half rare (1.0), half popular (0.5): two draws miss 1.5 only when both are popular
    q = reach_probabilities(_hist({1.0: 5, 0.5: 5}), 1.5, 3)
    assert q.tolist() == pytest.approx([0.0, 0.75, 1.0])
    assert reach_probabilities(_hist({0.3: 1}), 0.0, 3) is None
    assert reach_probabilities(None, 1.5, 3) is None


def _brute_expected_reach(activity, c: float, t: float, reach: np.ndarray) -> float:
    """sum over pairs and k >= k*(t) of P(X = k) * reach[k - 2]."""
    total = 0.0
    for da, db in itertools.combinations(activity, 2):
        lam = da * db * c
        for k in range(2, 2 + len(reach)):
            if min(1.0, 3 * poisson.sf(k - 1, lam)) <= t:
                total += poisson.pmf(k, lam) * reach[k - 2]
        total += poisson.sf(1 + len(reach), lam) if 3 * poisson.sf(1 + len(reach), lam) <= t else 0
    return total


def test_a_tail_with_reach_counts_only_chance_edges_that_also_reach_the_weight() -> None:
    rng = np.random.default_rng(5)
    activity = [int(x) for x in rng.zipf(1.8, size=80).clip(1, 20)]
    reach = np.linspace(0.2, 1.0, 25)
    for t in (1e-6, 1e-4, 1e-2):
        got = chance_edge_curve(np.array(activity), [Tail(2e-3, 1.0, reach)], 2).at([t])[0]
        want = _brute_expected_reach(activity, 2e-3, t, reach)
        assert got == pytest.approx(want, rel=1e-6, abs=3160 * 25 * 1e-12)
        plain = chance_edge_curve(np.array(activity), [(2e-3, 1.0)], 2).at([t])[0]
        assert got <= plain


def test_one_layer_is_tested_once_and_each_stratum_with_its_own_c() -> None:
    one = layer_tails({"repost": LayerNull(1e-3, 2e-4, _hist({1.0: 20, 0.4: 80}))}, 2, 1.5)
    assert [round(t.c, 6) for t in one] == [1e-3, 2e-4, 8e-4]  # all, rare, popular
    assert one[1].reach is None  # two rare repetitions weigh 2 >= 1.5
    assert one[0].reach[0] == pytest.approx(0.2**2)  # 1.0 + 0.4 misses 1.5: both rare
    assert one[2].reach[0] == 0.0 and one[2].c_other == pytest.approx(2e-4)
    two = layer_tails(
        {
            "repost": LayerNull(1e-3, 2e-4, _hist({1.0: 20})),
            "link": LayerNull(5e-4, 0.0, _hist({0.5: 9})),
        },
        2,
        1.5,
    )
    assert len(two) == 5 and two[-1].c_other == pytest.approx(1e-3)
    # the C alone (no strata, no weights): the three strata bounded by it, as before
    legacy = layer_tails({"repost": 1e-3}, 2, 1.5)
    assert [(t.c, t.multiplicity) for t in legacy] == [(1e-3, 3.0), (1e-3, 1.0)]


def _busy_world(seed: int = 11) -> list:
    """300 busy accounts (5-30 retweets each) in two hours, 40% of them of 20 popular posts:
    a window where shuffled accounts do meet twice by chance."""
    rng = random.Random(seed)
    out = []
    for i in range(300):
        for k in range(rng.randint(5, 30)):
            target = f"pop{rng.randrange(20)}" if rng.random() < 0.4 else f"o{rng.randrange(2000)}"
            t = rng.uniform(0, 7200)
            out.append(post(f"u{i}", round(t, 1), "", pid=f"u{i}-{k}", repost_of=target))
    return out


def test_the_chance_count_bounds_what_shuffled_accounts_produce() -> None:
    # the null model is a shuffle of posts across accounts, each keeping its activity: the
    # chance count must not be below what such shuffles pass, and not far above it
    inp = build(_busy_world())
    params = AnalysisParams(alpha=1e-2, min_edge_weight=1.5)
    posts = inp.posts
    texts = near_duplicate_groups(pd.Series([], dtype=object), exact_only=True)
    rng = np.random.default_rng(3)
    passed = []
    for _ in range(30):
        shuffled = dataclasses.replace(
            inp, posts=posts.assign(account_pk=rng.permutation(posts["account_pk"].to_numpy()))
        )
        edges = coordination_edges(shuffled, params, texts).edges
        passed.append(int(edges["accepted"].sum()) if len(edges) else 0)
    coord = coordination_edges(inp, params, texts)
    nulls = {k: LayerNull(s.null_c, s.null_c_rare, s.weight_hist) for k, s in coord.layers.items()}
    activity = posts.groupby("account_pk").size().to_numpy()
    none = pd.DataFrame({"p_value": []})
    _, expected = sparse_discoveries(none, activity, nulls, 2, 0.05, 1e-2, 1.5)
    _, loose = sparse_discoveries(none, activity, {k: v.c for k, v in nulls.items()}, 2, 0.05, 1e-2)
    shuffled_mean = float(np.mean(passed))
    assert shuffled_mean > 1.0  # the world does produce chance edges at this alpha
    assert shuffled_mean * 0.8 <= expected <= 3.0 * shuffled_mean
    # the weight rule and the strata's own C: about 4 chance edges instead of about 107
    assert expected < loose / 10


def _pairs_among_popular_posts(seed: int = 6) -> list:
    """1,500 accounts over two days, 60% of their retweets of three popular posts, and eight
    busy pairs (60 retweets of their own each) that each retweet two quiet posts together."""
    rng = random.Random(seed)

    def target() -> str:
        return f"pop{rng.randrange(3)}" if rng.random() < 0.6 else f"o{rng.randrange(6000)}"

    out = []
    for i in range(1500):
        for k in range(rng.randint(2, 8)):
            t = round(rng.uniform(0, 2 * 86400), 1)
            out.append(post(f"u{i}", t, "", pid=f"u{i}-{k}", repost_of=target()))
    for j in range(8):
        for who in (f"na{j}", f"nb{j}"):
            for k in range(60):
                t = round(rng.uniform(0, 2 * 86400), 1)
                out.append(post(who, t, "", pid=f"{who}-own{k}", repost_of=target()))
        for k in range(2):
            t = 3000 + 9000 * j + 40000 * k
            out.append(post(f"na{j}", t, "", pid=f"na{j}-{k}", repost_of=f"q{j}-{k}"))
            out.append(post(f"nb{j}", t + 5, "", pid=f"nb{j}-{k}", repost_of=f"q{j}-{k}"))
    return out


def test_busy_pairs_are_not_drowned_by_chance_meetings_on_popular_posts() -> None:
    # most co-actions of the window are on three popular posts, which weigh about 0.2 each:
    # two accounts meeting twice on them by chance stay far below min_edge_weight, so they
    # are not chances of an edge (counted as chances, 13.8 of them drowned all eight pairs)
    res = analyze(build(_pairs_among_popular_posts()), AnalysisParams(sparse_chance_rule=True))
    found = {m.handle.split(".")[0] for c in res.clusters for m in c.members}
    assert found == {f"n{x}{j}" for x in "ab" for j in range(8)}
    assert res.stats["background"]["expected_chance_edges"] < 0.05
    assert all(c.signals["shape"] == "sparse" for c in res.clusters)
    # the former count (the default) expects 13.8 chance edges and reports none of them
    assert analyze(build(_pairs_among_popular_posts())).clusters == []


# --- explained candidates leave the sparse trial, which is rerun on the rest


def _feeds_and_a_busy_pair(extra: int, sites: int = 6, seed: int = 4) -> list:
    """The sparse world's 2,000 retweeters, ``sites`` news sites whose two feed accounts
    post each of 25 articles within seconds, and a pair who retweet two posts within seconds
    of each other and ``extra`` other posts each at their own times."""
    rng = random.Random(seed)
    out = _scattered_retweeters(rng)
    for s in range(sites):
        for k in range(25):
            url = f"https://site{s}.example/{k}"
            for i in range(2):
                t = 20000.0 * k + 1000 * s + 3 * i
                out.append(post(f"site{s}_feed{i}", t, f"заголовок {k} {url}", links=(url,)))
    for who in ("pair_a", "pair_b"):
        for k in range(extra):
            t = round(rng.uniform(0, 7 * 86400), 1)
            out.append(post(who, t, "", pid=f"{who}-x{k}", repost_of=f"o{rng.randrange(6000)}"))
    for k in range(2):
        t = 86400 * (k + 1) + 5000
        out.append(post("pair_a", t, "", pid=f"pa-{k}", repost_of=f"hot-{k}"))
        out.append(post("pair_b", t + 4, "", pid=f"pb-{k}", repost_of=f"hot-{k}"))
    return out


def _trial(posts: list):
    """The sparse trial's first ranking: the on-trial edges' p-values and the chance curve."""
    from analysis.background import window_chance_curve
    from analysis.engine import _background
    from analysis.network import find_communities

    inp = build(posts).validate()
    params = AnalysisParams()
    texts = near_duplicate_groups(inp.posts.set_index("post_pk")["text"])
    coord = coordination_edges(inp, params, texts)
    _, communities = find_communities(coord.edges, params)
    _, on_trial = _background(coord, communities, params)
    nulls = {name: stats.null_c for name, stats in coord.layers.items()}
    activity = inp.posts.groupby("account_pk").size().to_numpy()
    curve = window_chance_curve(on_trial, activity, nulls, params.min_repetitions, params.alpha)
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    return inp, names, on_trial, curve, params


def test_feeds_explained_by_the_feed_rule_cannot_vouch_for_a_pair() -> None:
    inp, names, on_trial, curve, params = _trial(_feeds_and_a_busy_pair(extra=160))
    pair = [
        p
        for a, p in zip(on_trial["a"], on_trial["p_value"], strict=True)
        if names[a] == "did:pair_a"
    ]
    assert len(pair) == 1 and len(on_trial) == 7  # the pair and each site's two feeds
    expected = float(curve.at(pair)[0])
    # ranked behind the six feed edges (p near 0) the pair would pass the 5% false-discovery
    # line (expected chance edges / 7 edges found); on its own it does not
    assert expected / 7 <= params.sparse_fdr < expected
    # the feeds are explained (a site publishing), leave the trial, and the pair on its own
    # is not vouched for: nothing is reported
    assert analyze(inp, params).clusters == []


def test_a_pair_the_window_vouches_for_on_its_own_is_found_beside_feeds() -> None:
    inp, names, on_trial, curve, params = _trial(_feeds_and_a_busy_pair(extra=40))
    pair = [
        p
        for a, p in zip(on_trial["a"], on_trial["p_value"], strict=True)
        if names[a] == "did:pair_a"
    ]
    assert float(curve.at(pair)[0]) <= params.sparse_fdr
    res = analyze(inp, params)
    assert [{names[m] for m in c.member_pks} for c in res.clusters] == [
        {"did:pair_a", "did:pair_b"}
    ]
    assert res.clusters[0].signals["shape"] == "sparse"


@pytest.mark.parametrize(("age", "found"), [(10.0, False), (4 * 3600.0, True)])
def test_a_pair_reposting_posts_within_seconds_of_their_posting_is_no_sparse_cluster(
    age: float, found: bool
) -> None:
    # the sparse world's pair, the four posts it reposts now in the window: posted by one
    # account ``age`` seconds before the pair's reposts (the 1M bench's hub-fan pair: alone
    # in its minute but for the hub, whose post it reacted to)
    posts = _sparse_world() + [
        post("hub", 86400 * (k + 1) + 1000 - age, f"мнение хаба номер {k}", pid=f"hot-{k}")
        for k in range(4)
    ]
    res = analyze(build(posts))
    got = [{m.handle.split(".")[0] for m in c.members} for c in res.clusters]
    assert got == ([{"pair_a", "pair_b"}] if found else [])
