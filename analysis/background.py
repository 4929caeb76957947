"""What the null model had to compare with, and which sparse edges stand out of the whole window.

The null model (`analysis.coordination`, step 5) estimates chance from the window itself:
``lambda_ab = d_a * d_b * C`` with ``C`` fitted to every co-acting pair of posts in the layer.
Two things follow, and this module measures both.

**Thin background.** Chance is ``C`` spread over every post of the window, so what keeps it
low is the ordinary traffic: posts that co-act with nobody. When most of a layer's co-acting
pairs are made by the pairs that co-act repeatedly (the candidate edges) *and* the null,
fitted to them, expects at least that share of what they did, ``C`` was estimated from the
campaign itself: a window made of one network's posts expects exactly what the network does,
and no pair can stand out. Per layer, the *campaign share* is the candidate edges'
repetitions divided by the layer's co-acting pairs (repetitions count a burst once, so it is a
lower bound) and the *expected share* their null expectation divided by their repetitions. A
layer where both reach ``thin_background_share`` (default 0.5) is *thin*; the run then says
that the null model had nothing to compare with, in the CLI output and in the report, instead
of letting "no cluster" read as "no coordination". (A campaign inside ordinary traffic may
make most co-actions too, but the quiet posts around it keep its expectation near zero.)

**Sparse networks.** Dense clusters (`analysis.network`) need triangles. A network seen
through a sparse sample (each account a handful of posts in the window, such as CooRTweet's
``russian_coord_tweets``: 35,125 retweets by 9,509 accounts over seven months) shows up as
pairs and short chains instead, each edge significant on its own but below the density test.
Such edges are kept when the whole window says they are not chance: the null model also tells
how many account pairs would reach a p-value by chance,

    E(t) = sum over the edge test's tails of
           sum over account pairs of
           sum over k >= k*(t) of P(Poisson(d_a d_b C_tail) = k) * reach_tail(k)

where ``k*(t)`` is the smallest count (at least ``min_repetitions``) whose tail, times the
edge test's Bonferroni factor 3, is at most ``t``. The edge test takes the smallest of the
three strata's tails (all, rare and popular objects, each with its own ``C`` summed over
layers) and of each layer's own tail (``C`` of that layer; with a single layer that tail *is*
the all-objects one and is not counted twice), so ``E`` is a union bound over those tails:
an upper limit of the chances. A chance edge must pass the whole acceptance rule, and
``min_edge_weight`` is part of it: ``reach(k)`` is the chance that ``k`` chance repetitions
weigh at least ``min_edge_weight`` together. Under the null each repetition keeps its object
and time, so its popularity weight is that of a co-acting pair of the window drawn at random
(`analysis.coordination.LayerStats.weight_hist`, rounded up to 1/100: an upper bound); on the
rare stratum every repetition weighs 1; on the popular stratum, and on a layer's own tail,
the chance of any repetition elsewhere (which could add the missing weight) is added.

Why it matters: on CooRTweet's real ``russian_coord_tweets`` (35,085 retweets, 9,509
accounts, seven months) the former count, every stratum bounded by the all-objects ``C``,
the single layer counted twice and no weight rule, expected 15.0 chance edges at ``alpha``;
shuffling the accounts of the window 200 times (the null model itself) gives 3.4 pairs
passing ``alpha`` and only 0.62 also passing ``min_edge_weight``, against 13 edges found.
This count expects 0.92, so 6 of the 13 edges are discoveries at 5% (former count: 4). It is
used only with ``sparse_chance_rule`` (off by default): on the synthetic 1M bench it lets 9
organic-only sparse clusters through (share buttons, news bots, hub fans) where the former
count lets 1, so the null model does not yet see that organic structure. The
popularity weight itself is not what holds the rest back: weighted by the object's
popularity within +-30 min of the co-action instead of over the whole window, 25 edges pass
``min_edge_weight`` and ``alpha``, but shuffles pass 2.7 of them by chance, and the false-
discovery control keeps the same 13 as the window-wide weighting.
The terms are summed from ``min_repetitions`` up (at most 25, terms under 1e-12 chances left
out); a pair so busy that its ``k*(t)`` lies beyond them adds its bound ``t / 3`` instead.
With the accepted edges that no dense cluster holds ranked by p-value, the false-discovery
rate at the i-th is ``E(p_i) / i`` (``E`` counts chance edges anywhere, so this overstates
it); the edges up to the last rank where it is at most ``sparse_fdr`` (default 0.05,
Benjamini-Hochberg's step-up rule with the null's own count of chances in place of the number
of tests) are discoveries. Connected accounts among them become a *sparse* cluster. A candidate that
the feed rule or the crowd rule explains (`analysis.engine._sparse_trial`, `analysis.crowd`)
is not reported and its edges leave the trial, which is rerun on the rest: an explained edge
is no discovery and cannot lift the threshold for the others (on the 1M bench a site's two
feeds and fans co-reposting hubs ranked first and carried two share-button readers over it).
Accounts
are grouped by their number of posts, so the sum costs (distinct activity levels)**2, not
(accounts)**2; above 512 levels they are binned on a log scale by their mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import poisson

__all__ = [
    "LayerBackground",
    "Background",
    "null_background",
    "LayerNull",
    "Tail",
    "ChanceCurve",
    "chance_edge_curve",
    "reach_probabilities",
    "layer_tails",
    "sparse_discoveries",
    "window_chance_curve",
    "NOTHING_TO_COMPARE",
]

NOTHING_TO_COMPARE = "the null model had nothing to compare with"

# The p-value of an edge is the smallest of three strata's tails, times 3 (coordination.py).
_STRATA = 3
_MAX_LEVELS = 512
_TAIL_TERMS = 25
# Terms of the chance-edge sum below this many chances are left out (millions of them add
# up to a few hundredths of an edge).
_NEGLIGIBLE = 1e-12


@dataclass
class LayerBackground:
    """One layer's co-acting pairs and the share of them made by the candidate edges."""

    layer: str
    window_pairs: int
    campaign_pairs: int
    share: float
    expected_share: float
    thin: bool

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Background:
    """The run's verdict on its null model; ``message`` is None when the background held."""

    layers: list[LayerBackground] = field(default_factory=list)
    thin: bool = False
    message: str | None = None
    expected_chance_edges: float = 0.0
    sparse_edges: int = 0

    def to_dict(self) -> dict:
        return {
            "layers": [x.to_dict() for x in self.layers],
            "thin": self.thin,
            "message": self.message,
            "expected_chance_edges": round(float(self.expected_chance_edges), 6),
            "sparse_edges": int(self.sparse_edges),
        }


def null_background(
    edges: pd.DataFrame, window_pairs: dict[str, int], thin_share: float
) -> Background:
    """Per layer, how much of the null's material came from the pairs it was testing.

    ``edges`` is `coordination_edges`'s candidate table (columns ``n_<layer>`` and
    ``lam_<layer>``), ``window_pairs`` each layer's co-acting pairs (`LayerStats`).
    """
    out: list[LayerBackground] = []
    for layer, pairs in window_pairs.items():
        if pairs <= 0:
            continue
        n_col, lam_col = f"n_{layer}", f"lam_{layer}"
        campaign = int(edges[n_col].sum()) if n_col in edges.columns and len(edges) else 0
        expected = float(edges[lam_col].sum()) if lam_col in edges.columns and len(edges) else 0.0
        share = min(1.0, campaign / pairs)
        expected_share = min(1.0, expected / campaign) if campaign else 0.0
        thin = share >= thin_share and expected_share >= thin_share
        out.append(LayerBackground(layer, int(pairs), campaign, share, expected_share, thin))
    thin_layers = [x for x in out if x.thin]
    message = None
    if thin_layers:
        names = ", ".join(
            f"{x.layer}: {x.share:.0%} of the co-actions, {x.expected_share:.0%} expected"
            for x in thin_layers
        )
        message = (
            f"{NOTHING_TO_COMPARE[0].upper()}{NOTHING_TO_COMPARE[1:]}: almost every co-action "
            f"in this window is by accounts that co-act again and again ({names}), so chance "
            "was estimated from those same accounts and expects what they did; no pair could "
            "stand out. Analyse a longer window, or one that also holds ordinary traffic, "
            "before reading 'no cluster' as 'no coordination'."
        )
    return Background(layers=out, thin=bool(thin_layers), message=message)


def _levels(activity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct activity levels and how many accounts have each (log-binned above 512)."""
    vals, counts = np.unique(np.asarray(activity, dtype=np.float64), return_counts=True)
    if len(vals) <= _MAX_LEVELS:
        return vals, counts.astype(np.float64)
    edges = np.unique(np.geomspace(vals[0], vals[-1] + 1, _MAX_LEVELS + 1))
    idx = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, len(edges) - 2)
    n = np.bincount(idx, weights=counts)
    mean = np.bincount(idx, weights=counts * vals) / np.maximum(n, 1)
    keep = n > 0
    return mean[keep], n[keep]


@dataclass(frozen=True)
class LayerNull:
    """What one layer's null model was fitted to (`analysis.coordination.LayerStats`).

    ``c``: its ``C`` over all co-acting pairs; ``c_rare``: over those on rare objects (weight
    1); ``weight_hist``: its co-acting pairs by popularity weight, rounded up to bins of
    ``1 / (len - 1)``. Without ``c_rare`` the strata are bounded by ``c``; without
    ``weight_hist`` a chance edge is taken to reach ``min_edge_weight`` always.
    """

    c: float
    c_rare: float | None = None
    weight_hist: np.ndarray | None = None


@dataclass(frozen=True)
class Tail:
    """One of the edge test's tails, for the chance-edge count.

    ``c`` is its ``C`` (``lambda = d_a d_b c``), counted ``multiplicity`` times;
    ``reach[i]`` is the chance that ``min_repetitions + i`` chance repetitions on this tail
    also reach ``min_edge_weight`` (None: always), and ``c_other`` the ``C`` of the other
    repetitions that could add weight (the bound adds the chance that any occurs).
    """

    c: float
    multiplicity: float = 1.0
    reach: np.ndarray | None = None
    c_other: float = 0.0


def reach_probabilities(
    weight_hist: np.ndarray | None, min_edge_weight: float, terms: int = _TAIL_TERMS
) -> np.ndarray | None:
    """P(S_k >= min_edge_weight) for k = 1 .. terms, S_k the sum of k weights drawn from
    ``weight_hist`` (bins of 1 / (len - 1), each weight rounded up: an upper bound).

    Under the null each chance repetition keeps its object and time, so its weight is that of
    a co-acting pair of the window drawn at random. Returned indexed by k - 1; None when every
    edge reaches the weight anyway.
    """
    if weight_hist is None or min_edge_weight <= 0:
        return None
    hist = np.clip(np.asarray(weight_hist, dtype=np.float64), 0.0, None)
    total = hist.sum()
    if total <= 0:
        return None
    bins = len(hist) - 1
    top = int(np.ceil(min_edge_weight * bins - 1e-9))
    p = hist / total
    # dist[i]: P(S = i / bins) for i < top, dist[top]: P(S >= top / bins)
    dist = np.zeros(top + 1)
    dist[0] = 1.0
    out = np.empty(terms)
    for k in range(terms):
        full = np.convolve(dist[:top], p)
        new = np.zeros(top + 1)
        new[:top] = full[:top]
        new[top] = full[top:].sum() + dist[top]
        dist = new
        out[k] = min(1.0, dist[top])
    return out


def layer_tails(
    layer_nulls: dict[str, float | LayerNull], min_repetitions: int, min_edge_weight: float
) -> list[Tail]:
    """The edge test's tails (`analysis.coordination`, step 5) as the chance-edge count sees
    them: all objects, rare objects and popular objects (each stratum with its own ``C``),
    and each layer on its own when there are several (with one layer its tail is the
    all-objects tail itself). A chance edge must also reach ``min_edge_weight``: on the
    rare stratum each repetition weighs 1; elsewhere the chance is that of the co-acting
    pairs' weights (`reach_probabilities`), plus that of any repetition on the other
    strata or layers (which could add the missing weight)."""
    nulls = {
        k: v if isinstance(v, LayerNull) else LayerNull(float(v)) for k, v in layer_nulls.items()
    }
    c_all = sum(x.c for x in nulls.values())

    def reach(hist: np.ndarray | None) -> np.ndarray | None:
        q = reach_probabilities(hist, min_edge_weight, _TAIL_TERMS + min_repetitions)
        return None if q is None else q[min_repetitions - 1 :]

    legacy = any(x.c_rare is None for x in nulls.values())
    if legacy:
        # C alone: the former count, every stratum bounded by it and every layer's tail
        tails = [Tail(c_all, float(_STRATA))]
    else:
        c_rare = sum(float(x.c_rare or 0.0) for x in nulls.values())
        hists = [x.weight_hist for x in nulls.values()]
        whole = None if any(h is None for h in hists) else np.sum(hists, axis=0)
        popular = None
        if whole is not None:
            # the rare stratum's pairs (weight 1) are in the last bin
            popular = whole.astype(np.float64).copy()
            rare_pairs = sum(
                float(np.sum(x.weight_hist)) * (float(x.c_rare or 0.0) / x.c)
                for x in nulls.values()
                if x.c > 0
            )
            popular[-1] = max(popular[-1] - rare_pairs, 0.0)
        tails = [
            Tail(c_all, 1.0, reach(whole)),
            Tail(c_rare, 1.0),
            Tail(max(c_all - c_rare, 0.0), 1.0, reach(popular), c_other=c_rare),
        ]
    if len(nulls) > 1 or legacy:
        tails += [
            Tail(x.c, 1.0, reach(x.weight_hist), c_other=max(c_all - x.c, 0.0))
            for x in nulls.values()
        ]
    return tails


@dataclass
class ChanceCurve:
    """E(t), the null's expected chance edges at p threshold t, as two step functions: the
    chances summed term by term (``thresholds``, ``expected``) plus, for pairs whose count at
    t lies beyond the summed terms, the bound t / 3 each (``open_levels``, weights ``above``
    of the pairs whose last summed level exceeds each)."""

    thresholds: np.ndarray
    expected: np.ndarray
    open_levels: np.ndarray
    above: np.ndarray

    def at(self, t: np.ndarray | list[float]) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(len(t))
        if len(self.thresholds):
            pos = np.searchsorted(self.thresholds, t, side="right") - 1
            out += np.where(pos >= 0, self.expected[np.maximum(pos, 0)], 0.0)
        if len(self.open_levels):
            first = np.searchsorted(self.open_levels, t, side="right")
            busy = np.where(
                first < len(self.above), self.above[np.minimum(first, len(self.above) - 1)], 0.0
            )
            out += t / _STRATA * busy
        return out


def chance_edge_curve(
    activity: np.ndarray,
    nulls: Sequence[Tail | tuple[float, float]],
    min_repetitions: int,
    max_threshold: float = 1.0,
) -> ChanceCurve:
    """The null's expected number of chance edges as a function of the p threshold.

    ``nulls`` lists the edge test's tails (`Tail`, or (C, how many tails use it)); the curve
    holds thresholds up to ``max_threshold``.
    """
    tails = [x if isinstance(x, Tail) else Tail(float(x[0]), float(x[1])) for x in nulls]
    tails = [x for x in tails if x.c > 0 and x.multiplicity > 0]
    if not tails or len(activity) < 2:
        return ChanceCurve(*(np.zeros(0) for _ in range(4)))
    vals, counts = _levels(activity)
    i, j = np.triu_indices(len(vals))
    product = vals[i] * vals[j]
    weight = np.where(i == j, counts[i] * (counts[i] - 1) / 2.0, counts[i] * counts[j])
    keep = weight > 0
    product, weight = product[keep], weight[keep]
    all_levels, all_increments, open_levels, open_weights = [], [], [], []
    for tail in tails:
        c, multiplicity = tail.c, tail.multiplicity
        lam = product * c
        # P(X = k) from k = min_repetitions up, by the stable recurrence, until past the
        # mode every level adds less than _NEGLIGIBLE chances (or _TAIL_TERMS terms)
        pmf_k = poisson.pmf(min_repetitions, lam)
        rows, k = [pmf_k], min_repetitions
        while len(rows) < _TAIL_TERMS and (k <= lam.max() or (weight * pmf_k).max() > _NEGLIGIBLE):
            k += 1
            pmf_k = pmf_k * lam / k
            rows.append(pmf_k)
        pmf = np.vstack(rows)
        beyond = poisson.sf(k, lam)  # P(X > last k)
        # P(X >= k), summed from the top so that tiny tails keep their precision
        tails = beyond[None, :] + np.cumsum(pmf[::-1], axis=0)[::-1]
        # an edge seen k times has p = 3 * tail; reaching threshold t first at k* adds
        # P(X >= k*) chances, so each k adds P(X = k) chances below it
        increments = weight[None, :] * pmf
        if tail.reach is not None or tail.c_other > 0:
            # a chance edge must also reach min_edge_weight (Tail): k repetitions on this
            # tail do with chance reach[k], or with help from any repetition elsewhere
            reach = np.ones(len(rows)) if tail.reach is None else tail.reach
            reach = reach[np.minimum(np.arange(len(rows)), len(reach) - 1)]
            helped = -np.expm1(-product * tail.c_other)
            increments = increments * np.minimum(1.0, reach[:, None] + helped[None, :])
        increments[-1] += weight * beyond
        levels = np.minimum(1.0, _STRATA * tails)
        # higher levels never count below max_threshold; negligible terms are left out
        low = (levels <= max_threshold) & (increments > _NEGLIGIBLE)
        all_levels.append(levels[low])
        all_increments.append(multiplicity * increments[low])
        # pairs so busy that even the last term's level is above a threshold: their k* lies
        # beyond the terms, and they add at most threshold / 3 chances each (bounded above)
        still = levels[-1] > 0
        open_levels.append(levels[-1][still])
        open_weights.append(multiplicity * weight[still])
    levels = np.concatenate(all_levels)
    order = np.argsort(levels, kind="stable")
    last = np.concatenate(open_levels)
    last_order = np.argsort(last, kind="stable")
    above = np.cumsum(np.concatenate(open_weights)[last_order][::-1])[::-1]
    return ChanceCurve(
        levels[order], np.cumsum(np.concatenate(all_increments)[order]), last[last_order], above
    )


def window_chance_curve(
    accepted: pd.DataFrame,
    activity: np.ndarray,
    layer_nulls: dict[str, float | LayerNull],
    min_repetitions: int,
    alpha: float,
    min_edge_weight: float = 0.0,
) -> ChanceCurve:
    """The chance curve of the edge test's tails, up to the largest p-value of ``accepted``."""
    nulls = layer_tails(layer_nulls, min_repetitions, min_edge_weight)
    top = max([alpha, *accepted["p_value"].tolist()]) if len(accepted) else alpha
    return chance_edge_curve(activity, nulls, min_repetitions, max_threshold=top)


def sparse_discoveries(
    accepted: pd.DataFrame,
    activity: np.ndarray,
    layer_nulls: dict[str, float | LayerNull],
    min_repetitions: int,
    fdr: float,
    alpha: float,
    min_edge_weight: float = 0.0,
    curve: ChanceCurve | None = None,
) -> tuple[np.ndarray, float]:
    """Which accepted edges the whole window says are not chance (see module docstring).

    Returns a boolean mask over ``accepted`` (rows in its order) and the expected number of
    chance edges at ``alpha``. ``layer_nulls`` is each layer's null (`LayerNull`, or its
    ``C`` alone: `LayerStats.null_c`, and then the strata are bounded by it). ``curve`` is a
    chance curve computed before (`window_chance_curve`) for a superset of ``accepted``: a
    trial that is rerun on fewer edges needs no new one.
    """
    if curve is None:
        curve = window_chance_curve(
            accepted, activity, layer_nulls, min_repetitions, alpha, min_edge_weight
        )
    at_alpha = float(curve.at([alpha])[0])
    mask = np.zeros(len(accepted), dtype=bool)
    if not len(accepted) or fdr <= 0:
        return mask, at_alpha
    p = accepted["p_value"].to_numpy(dtype=np.float64)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rate = curve.at(ranked) / np.arange(1, len(ranked) + 1)
    ok = np.flatnonzero(rate <= fdr)
    if len(ok):
        mask[order[: ok[-1] + 1]] = True
    return mask, at_alpha
