"""Co-action edges: which pairs of accounts acted on the same objects, in sync, beyond chance.

Method (quoted by the report's methodology page)
------------------------------------------------
1. **Layers.** Each kind of trace is a bipartite relation between accounts and *objects*:

   ========== ==========================================================================
   link       the normalised URL a post links to (tracking parameters removed)
   repost     the post that is reposted or quoted
   reply      the post that is replied to
   text       the exact normalised text (texts under ``min_text_tokens`` words ignored)
   near_text  the near-duplicate group of the text (MinHash-LSH, `analysis.text`)
   hashtags   the ordered sequence of a post's hashtags (two or more)
   pileon     a defender mentioned, split into *episodes* wherever the defender's
              mentions pause for longer than ``pileon_episode_gap_seconds``
   ========== ==========================================================================

2. **Sliding windows.** Two actions on the same object co-act when ``|t1 - t2| <=
   window_seconds``. Pairs come from sorting each layer's actions by (object, time) and
   binary-searching the end of each action's window, so there are no fixed time bins (a pair
   straddling a bin boundary is not lost) and no comparison of actions on different objects.
   Each action is paired with at most ``fanout_cap`` later actions on its object, and objects
   acted on by more than ``max_object_accounts`` accounts are skipped: the cost is at most
   ``fanout_cap`` pairs per action, linear in the number of posts, never quadratic in an
   object's popularity. Both only touch objects that popularity weighting has already made
   nearly worthless (below).

3. **Repetition.** For each account pair and layer, ``n`` is the number of *distinct* objects
   they co-acted on (one object counts once, however often they posted it), ``n_fast`` the
   number of those with a co-action within the fast window (default ``window_seconds / 6``).

4. **Popularity weighting.** An object acted on by ``k`` accounts weighs
   ``w = 1`` if ``k <= popular_object_accounts`` else ``1 / (1 + ln(k / popular_object_accounts))``;
   an edge's weight ``s`` is the sum of its objects' weights. A trending link shared by
   3,000 accounts counts 0.2: two accounts that both happened to share two trending links
   within a minute reach 0.4, far below ``min_edge_weight``.

5. **Null model and excess over chance.** The expectation is what the pair would show if
   every action kept its object and its time but the posts were shuffled across accounts,
   each account keeping its number of posts in the window (a configuration model):
   ``lambda_ab = d_a * d_b * C`` with ``d`` the account's posts in the window and
   ``C = 2 * P / (N**2 - sum d**2)``, ``P`` the number of co-acting action pairs in the layer
   (counted before the fan-out cap) and ``N`` the number of posts; ``E[s]`` likewise with
   popularity-weighted pairs. Hyperactive accounts (large ``d``) and layers full of bursts
   (large ``P``) thus expect more co-actions. Each edge keeps ``excess = s - E[s]``, the
   expected count ``lambda`` and a Poisson tail. Because trending objects make most of a
   layer's co-acting pairs, the null is stratified: co-actions on *rare* objects (weight 1)
   are tested against the rare objects' expectation, those on popular objects against
   theirs, and all together against the total; ``p`` is the smallest of the three tails,
   Bonferroni-corrected (times 3). Two accounts meeting twice on links nobody else shares
   are then surprising even in a week full of viral bursts. The null is
   estimated from the same window, so it is only as good as the background it sees: a window
   made only of one campaign's posts has no organic baseline to beat.

6. **Fusion and acceptance.** Layers are summed per pair (for exact and near-identical text,
   which see the same posts, only the larger of the two counts). A pair becomes a
   coordination edge when ``n >= min_repetitions`` distinct objects, ``s >= min_edge_weight``
   and ``p <= alpha``. Its graph weight is ``sum_layers layer_weight * max(excess_layer, 0)``.
   It is *fast* when ``n_fast >= min_repetitions``.

Every edge keeps, per object, the two posts (ids and times) whose co-action made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import poisson

from analysis.frames import AnalysisInput
from analysis.params import AnalysisParams

__all__ = [
    "LayerStats",
    "CoordinationResult",
    "layer_events",
    "co_action_pairs",
    "popularity_weight",
    "coordination_edges",
]


@dataclass
class LayerStats:
    """What the null model of one layer was built from; stored with the run."""

    name: str
    actions: int
    objects: int
    accounts: int
    window_pairs: int
    candidate_pairs: int
    capped_actions: int
    skipped_objects: int
    null_c: float

    def to_dict(self) -> dict[str, float | int | str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class CoordinationResult:
    """Edges (one row per account pair with any co-action), their evidence and layer stats."""

    edges: pd.DataFrame
    evidence: pd.DataFrame
    layers: dict[str, LayerStats] = field(default_factory=dict)
    objects: dict[str, pd.DataFrame] = field(default_factory=dict)
    events: dict[str, pd.DataFrame] = field(default_factory=dict)


def popularity_weight(n_accounts: np.ndarray | pd.Series, reference: int) -> np.ndarray:
    """IDF-like weight of an object acted on by ``n_accounts`` accounts (see module doc)."""
    k = np.asarray(n_accounts, dtype=np.float64)
    ratio = np.maximum(k / float(reference), 1.0)
    return 1.0 / (1.0 + np.log(ratio))


def _events(post_pk, account, t_ms, label) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "post_pk": np.asarray(post_pk, dtype=np.int64),
            "account": np.asarray(account, dtype=np.int64),
            "t_ms": np.asarray(t_ms, dtype=np.int64),
            "label": np.asarray(label, dtype=object),
        }
    )


def layer_events(
    inp: AnalysisInput, params: AnalysisParams, texts: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The actions of each layer: post_pk, account, t_ms (epoch ms) and the object label.

    ``texts`` is `analysis.text.near_duplicate_groups` over the posts' texts (indexed by
    post_pk). Plain reposts carry no text of their own and are not text actions.
    """
    posts = inp.posts
    t_ms = posts["created_at"].astype("int64").to_numpy() // 1_000_000
    base = pd.DataFrame(
        {"post_pk": posts["post_pk"].to_numpy(), "account": posts["account_pk"].to_numpy()}
    )
    base["t_ms"] = t_ms
    base["platform"] = posts["platform"].to_numpy()
    by_pk = base.set_index("post_pk")
    out: dict[str, pd.DataFrame] = {}
    wanted = set(params.layers)

    def target(col: str) -> pd.DataFrame:
        mask = posts[col].notna().to_numpy()
        sub = base[mask]
        return _events(
            sub["post_pk"],
            sub["account"],
            sub["t_ms"],
            (sub["platform"] + ":" + posts.loc[mask, col].astype(str).to_numpy()).to_numpy(),
        )

    if "link" in wanted:
        links = inp.links
        if len(links):
            lk = links[["post_pk", "normalized_url"]].dropna().drop_duplicates()
            joined = lk.join(by_pk, on="post_pk", how="inner")
            out["link"] = _events(
                joined["post_pk"], joined["account"], joined["t_ms"], joined["normalized_url"]
            )
    if "repost" in wanted:
        out["repost"] = pd.concat([target("repost_of"), target("quote_of")], ignore_index=True)
    if "reply" in wanted:
        out["reply"] = target("reply_to")
    if ("text" in wanted or "near_text" in wanted) and len(texts):
        plain_repost = posts["repost_of"].notna().to_numpy()
        own = posts.loc[~plain_repost, "post_pk"]
        tx = texts[texts.index.isin(own)]
        joined = tx.join(by_pk, how="inner")
        if "text" in wanted:
            out["text"] = _events(
                joined.index, joined["account"], joined["t_ms"], joined["norm"].to_numpy()
            )
        if "near_text" in wanted:
            # label: the group's key; readable representatives come from `analysis.smear`
            out["near_text"] = _events(
                joined.index,
                joined["account"],
                joined["t_ms"],
                ("near:" + joined["group_key"].astype(str)).to_numpy(),
            )
    if "hashtags" in wanted and len(inp.hashtags):
        tags = inp.hashtags.dropna(subset=["tag"]).sort_values(["post_pk", "position", "tag"])
        seq = tags.groupby("post_pk", sort=True)["tag"].agg(list)
        seq = seq[seq.str.len() >= 2]
        if len(seq):
            labels = seq.map(lambda ts: " ".join("#" + t for t in ts))
            joined = pd.DataFrame({"label": labels}).join(by_pk, how="inner")
            out["hashtags"] = _events(
                joined.index, joined["account"], joined["t_ms"], joined["label"]
            )
    if "pileon" in wanted and len(inp.mentions):
        m = inp.mentions[["post_pk", "defender_id"]].dropna().drop_duplicates()
        m = m.join(by_pk, on="post_pk", how="inner").sort_values(["defender_id", "t_ms", "post_pk"])
        gap = params.pileon_episode_gap_seconds * 1000
        new_def = m["defender_id"].ne(m["defender_id"].shift())
        new_ep = new_def | (m["t_ms"].diff().fillna(gap + 1) > gap)
        episode = new_ep.cumsum()
        start = m["t_ms"].groupby(episode).transform("min")
        stamp = pd.to_datetime(start, unit="ms", utc=True).dt.strftime("%Y-%m-%dT%H:%MZ")
        label = (m["defender_id"].astype(str) + " @ " + stamp).to_numpy()
        out["pileon"] = _events(m["post_pk"], m["account"], m["t_ms"], label)
    return {k: v for k, v in out.items() if len(v)}


def co_action_pairs(
    events: pd.DataFrame,
    *,
    window_ms: int,
    fanout_cap: int,
    max_object_accounts: int,
    popular_object_accounts: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """All co-acting action pairs of one layer, one row per (account pair, object).

    Returns ``(pair_objects, objects, actions, counts)``:
    ``pair_objects``: a < b (account pks), obj (code), dt_ms (the pair's closest co-action on
    that object), pk_a, pk_b (the two posts), t_a, t_b;
    ``objects``: per object code its label, n_accounts, n_actions, weight;
    ``actions``: per account its action count ``d``;
    ``counts``: totals for the null model.
    """
    ev = events.drop_duplicates(["account", "label", "post_pk"])
    codes, uniques = pd.factorize(ev["label"], sort=True)
    ev = ev.assign(obj=codes)
    n_acc = ev.groupby("obj", sort=True)["account"].nunique()
    n_act = ev.groupby("obj", sort=True).size()
    objects = pd.DataFrame(
        {"label": np.asarray(uniques, dtype=object), "n_accounts": n_acc.to_numpy()},
        index=pd.RangeIndex(len(uniques), name="obj"),
    )
    objects["n_actions"] = n_act.to_numpy()
    objects["weight"] = popularity_weight(objects["n_accounts"], popular_object_accounts)
    actions = ev.groupby("account", sort=True).size().rename("d")
    counts = {"actions": len(ev), "window_pairs": 0, "capped": 0, "skipped": 0}
    shared = objects.index[
        (objects["n_accounts"] >= 2) & (objects["n_accounts"] <= max_object_accounts)
    ]
    counts["skipped"] = int((objects["n_accounts"] > max_object_accounts).sum())
    ev = ev[ev["obj"].isin(shared)]
    empty = pd.DataFrame(
        {
            c: pd.Series(dtype="int64")
            for c in ("a", "b", "obj", "dt_ms", "pk_a", "pk_b", "t_a", "t_b")
        }
    )
    if not len(ev):
        counts["weighted_window_pairs"] = 0
        counts["rare_window_pairs"] = 0
        return empty, objects, actions, counts
    ev = ev.sort_values(["obj", "t_ms", "account", "post_pk"], kind="stable")
    obj = ev["obj"].to_numpy().astype(np.int64)
    t = ev["t_ms"].to_numpy()
    acc = ev["account"].to_numpy()
    pk = ev["post_pk"].to_numpy()
    t0 = int(t.min())
    span = int(t.max()) - t0 + window_ms + 1
    key = obj * span + (t - t0)
    end = np.searchsorted(key, key + window_ms, side="right")
    idx = np.arange(len(key))
    in_window = end - idx - 1
    weights = objects["weight"].to_numpy()[obj]
    counts["window_pairs"] = int(in_window.sum())
    counts["rare_window_pairs"] = int(in_window[weights >= 1.0].sum())
    counts["weighted_window_pairs"] = float((in_window * weights).sum())
    cnt = np.minimum(in_window, fanout_cap)
    counts["capped"] = int((in_window > fanout_cap).sum())
    total = int(cnt.sum())
    if total == 0:
        return empty, objects, actions, counts
    i = np.repeat(idx, cnt)
    offsets = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    j = i + 1 + offsets
    del offsets
    keep = acc[i] != acc[j]
    i, j = i[keep], j[keep]
    swap = acc[i] > acc[j]
    lo = np.where(swap, j, i)
    hi = np.where(swap, i, j)
    a, b = acc[lo], acc[hi]
    dt = t[j] - t[i]
    o = obj[i]
    # one row per (a, b, object): the closest co-action
    order = np.lexsort((pk[lo], dt, o, b, a))
    a, b, o, dt, lo, hi = a[order], b[order], o[order], dt[order], lo[order], hi[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (o[1:] != o[:-1])]
    pair_objects = pd.DataFrame(
        {
            "a": a[first],
            "b": b[first],
            "obj": o[first],
            "dt_ms": dt[first],
            "pk_a": pk[lo[first]],
            "pk_b": pk[hi[first]],
            "t_a": t[lo[first]],
            "t_b": t[hi[first]],
        }
    )
    return pair_objects, objects, actions, counts


def _poisson_sf(n: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """P(X >= n) for X ~ Poisson(lam); 1 where n <= 0."""
    lam = np.maximum(lam, 1e-300)
    return np.where(n <= 0, 1.0, poisson.sf(n - 1, lam))


def coordination_edges(
    inp: AnalysisInput, params: AnalysisParams, texts: pd.DataFrame
) -> CoordinationResult:
    """Build every layer's co-action pairs, score them against the null, fuse and accept.

    Returns a `CoordinationResult` whose ``edges`` frame has one row per account pair that
    co-acted at least once, with per-layer columns ``n_<layer>``, ``s_<layer>``,
    ``lam_<layer>``, ``es_<layer>``, ``fast_<layer>``, the fused ``n``, ``s``, ``lam``,
    ``expected_s``, ``excess``, ``p_value``, ``n_fast``, ``weight``, ``min_dt_s`` and the
    flags ``accepted`` and ``fast``; ``evidence`` lists, for accepted edges, the posts behind
    each shared object (a, b, layer, object, pk_a, pk_b, t_a, t_b, dt_s).
    """
    window_ms = int(params.window_seconds * 1000)
    fast_ms = int(params.fast_window * 1000)
    events = layer_events(inp, params, texts)
    activity = inp.posts.groupby("account_pk", sort=True).size()
    n_posts = float(len(inp.posts))
    sum_d2 = float((activity.astype(np.float64) ** 2).sum())
    per_layer: list[pd.DataFrame] = []
    pair_objs: dict[str, pd.DataFrame] = {}
    stats: dict[str, LayerStats] = {}
    objects_by_layer: dict[str, pd.DataFrame] = {}
    for name in params.layers:
        if name not in events:
            continue
        po, objects, actions, counts = co_action_pairs(
            events[name],
            window_ms=window_ms,
            fanout_cap=params.fanout_cap,
            max_object_accounts=params.max_object_accounts,
            popular_object_accounts=params.popular_object_accounts,
        )
        denom = max(n_posts * n_posts - sum_d2, 1.0)
        c = 2.0 * counts["window_pairs"] / denom
        c_rare = 2.0 * counts["rare_window_pairs"] / denom
        cw = 2.0 * counts["weighted_window_pairs"] / denom
        stats[name] = LayerStats(
            name=name,
            actions=int(counts["actions"]),
            objects=len(objects),
            accounts=len(actions),
            window_pairs=int(counts["window_pairs"]),
            candidate_pairs=len(po),
            capped_actions=int(counts["capped"]),
            skipped_objects=int(counts["skipped"]),
            null_c=c,
        )
        objects_by_layer[name] = objects
        if not len(po):
            continue
        po["w"] = objects["weight"].to_numpy()[po["obj"].to_numpy()]
        po["fast"] = po["dt_ms"] <= fast_ms
        po["rare"] = po["w"] >= 1.0
        pair_objs[name] = po
        g = po.groupby(["a", "b"], sort=True)
        agg = pd.DataFrame(
            {
                f"n_{name}": g.size(),
                f"s_{name}": g["w"].sum(),
                f"fast_{name}": g["fast"].sum(),
                f"nr_{name}": g["rare"].sum(),
                f"mindt_{name}": g["dt_ms"].min(),
            }
        )
        da = activity.reindex(agg.index.get_level_values(0)).to_numpy().astype(np.float64)
        db = activity.reindex(agg.index.get_level_values(1)).to_numpy().astype(np.float64)
        agg[f"lam_{name}"] = da * db * c
        agg[f"es_{name}"] = da * db * cw
        agg[f"lr_{name}"] = da * db * c_rare
        per_layer.append(agg)
    if not per_layer:
        ints = ("a", "b", "n", "n_fast")
        bools = ("accepted", "fast")
        floats = ("s", "lam", "expected_s", "excess", "p_value", "weight", "min_dt_s")
        edges = pd.DataFrame(
            {c: pd.Series(dtype="int64") for c in ints}
            | {c: pd.Series(dtype="bool") for c in bools}
            | {c: pd.Series(dtype="float64") for c in floats}
        )
        return CoordinationResult(edges, _empty_evidence(), stats, objects_by_layer, events)
    edges = pd.concat(per_layer, axis=1, join="outer", sort=True)
    layer_names = [n for n in params.layers if f"n_{n}" in edges.columns]
    for name in layer_names:
        for col in ("n", "s", "fast", "lam", "es", "nr", "lr"):
            edges[f"{col}_{name}"] = edges[f"{col}_{name}"].fillna(0)
        edges[f"n_{name}"] = edges[f"n_{name}"].astype(np.int64)
        edges[f"fast_{name}"] = edges[f"fast_{name}"].astype(np.int64)
        edges[f"nr_{name}"] = edges[f"nr_{name}"].astype(np.int64)

    def fused(col: str) -> pd.Series:
        total = pd.Series(0.0, index=edges.index)
        text_like = [n for n in ("text", "near_text") if n in layer_names]
        for name in layer_names:
            if name not in text_like:
                total = total + edges[f"{col}_{name}"]
        if text_like:
            # exact and near-identical text see the same posts: count the larger only
            pick = edges[[f"n_{n}" for n in text_like]].to_numpy().argmax(axis=1)
            vals = edges[[f"{col}_{n}" for n in text_like]].to_numpy()
            total = total + vals[np.arange(len(edges)), pick]
        return total

    edges["n"] = fused("n").astype(np.int64)
    edges["s"] = fused("s")
    edges["lam"] = fused("lam")
    edges["expected_s"] = fused("es")
    edges["n_fast"] = fused("fast").astype(np.int64)
    edges["excess"] = edges["s"] - edges["expected_s"]
    n_all, lam_all = edges["n"].to_numpy(), edges["lam"].to_numpy()
    n_rare, lam_rare = fused("nr").to_numpy(), fused("lr").to_numpy()
    p_all = _poisson_sf(n_all, lam_all)
    p_rare = _poisson_sf(n_rare, lam_rare)
    p_pop = _poisson_sf(n_all - n_rare, np.maximum(lam_all - lam_rare, 0.0))
    edges["n_rare"] = n_rare.astype(np.int64)
    edges["p_value"] = np.minimum(1.0, 3.0 * np.minimum(np.minimum(p_all, p_rare), p_pop))
    edges = edges.drop(columns=[f"{c}_{n}" for n in layer_names for c in ("nr", "lr")])
    weight = pd.Series(0.0, index=edges.index)
    for name in layer_names:
        lw = float(params.layer_weights.get(name, 1.0))
        weight = weight + lw * (edges[f"s_{name}"] - edges[f"es_{name}"]).clip(lower=0)
    edges["weight"] = weight
    mindt = edges[[f"mindt_{n}" for n in layer_names]].min(axis=1)
    edges["min_dt_s"] = mindt / 1000.0
    edges = edges.drop(columns=[f"mindt_{n}" for n in layer_names])
    edges["accepted"] = (
        (edges["n"] >= params.min_repetitions)
        & (edges["s"] >= params.min_edge_weight)
        & (edges["p_value"] <= params.alpha)
    )
    edges["fast"] = edges["accepted"] & (edges["n_fast"] >= params.min_repetitions)
    edges = edges.reset_index().rename(columns={"level_0": "a", "level_1": "b"})
    evidence = _evidence(edges[edges["accepted"]], pair_objs, objects_by_layer)
    return CoordinationResult(edges, evidence, stats, objects_by_layer, events)


def _empty_evidence() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": pd.Series(dtype="int64"),
            "b": pd.Series(dtype="int64"),
            "layer": pd.Series(dtype="object"),
            "obj": pd.Series(dtype="int64"),
            "object": pd.Series(dtype="object"),
            "pk_a": pd.Series(dtype="int64"),
            "pk_b": pd.Series(dtype="int64"),
            "t_a": pd.Series(dtype="int64"),
            "t_b": pd.Series(dtype="int64"),
            "dt_s": pd.Series(dtype="float64"),
        }
    )


def _evidence(
    accepted: pd.DataFrame,
    pair_objs: dict[str, pd.DataFrame],
    objects: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    if not len(accepted):
        return _empty_evidence()
    keys = pd.MultiIndex.from_frame(accepted[["a", "b"]])
    parts = []
    for name, po in pair_objs.items():
        sel = po[pd.MultiIndex.from_frame(po[["a", "b"]]).isin(keys)]
        if not len(sel):
            continue
        parts.append(
            pd.DataFrame(
                {
                    "a": sel["a"].to_numpy(),
                    "b": sel["b"].to_numpy(),
                    "layer": name,
                    "obj": sel["obj"].to_numpy(),
                    "object": objects[name]["label"].to_numpy()[sel["obj"].to_numpy()],
                    "pk_a": sel["pk_a"].to_numpy(),
                    "pk_b": sel["pk_b"].to_numpy(),
                    "t_a": sel["t_a"].to_numpy(),
                    "t_b": sel["t_b"].to_numpy(),
                    "dt_s": sel["dt_ms"].to_numpy() / 1000.0,
                }
            )
        )
    if not parts:
        return _empty_evidence()
    return pd.concat(parts, ignore_index=True)
