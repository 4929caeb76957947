"""Co-action edges: which pairs of accounts acted on the same objects, in sync, beyond chance.

Method (quoted by the report's methodology page)
------------------------------------------------
1. **Layers.** Each kind of trace is a bipartite relation between accounts and *objects*:

   ========== ==========================================================================
   link       the normalised URL a post links to (tracking parameters removed)
   repost     the post that is reposted or quoted (platform + post id)
   reply      the post that is replied to (platform + post id)
   text       the exact normalised text (texts under ``min_text_tokens`` words ignored)
   near_text  the near-duplicate group of the text (MinHash-LSH, `analysis.text`)
   hashtags   the ordered sequence of a post's hashtags (two or more)
   pileon     a defender the post mentions (from the defender matcher)
   ========== ==========================================================================

   **One act counts once.** What a post inherits from the post it reposts, forwards or
   quotes is not an action of its author. A twarc2 retweet carries ``RT @x: <text>`` and the
   original's links, hashtags and mentions; a Telegram forward carries the original's text
   and links; a Bluesky quote has its own text beside an embedded record. So a plain repost
   or forward (``repost_of`` set) is one action on the repost layer and nothing else, and a
   quote acts on the repost layer (the quoted post) and with its *own* text, links and
   hashtags: those its quoted post (when it is in the window) also carries are dropped.
   Across layers, one pair of posts makes at most one repetition for its account pair: two
   posts sharing a link, a text and a hashtag sequence count once, on the strongest layer
   (layer weight x popularity weight below), and the other layers stay as evidence. Two
   followers who happened to repost the same viral post within a minute have met once, not
   three times on the repost, link and hashtag layers. The repetition weighs as much as the
   act's least crowded trace (the largest popularity weight over the layers the two posts
   share): how crowded an act was does not depend on which of its traces is read. (Four
   solidarity groups posting one template with the defender's name are 80 accounts on the
   text, which then weighs 0.69, but each occasion is a quiet minute on the pile-on layer: a
   member of two occasions met the others twice, not 1.4 times.)

2. **Sliding windows.** Two actions on the same object co-act when ``|t1 - t2| <=
   window_seconds``. Pairs come from sorting each layer's actions by (object, time) and
   binary-searching the end of each action's window, so there are no fixed time bins (a pair
   straddling a bin boundary is not lost) and no comparison of actions on different objects.
   Each action is paired with at most ``fanout_cap`` later actions on its object (default
   50), and objects acted on by more than ``max_object_accounts`` accounts are skipped: the
   cost is at most ``fanout_cap`` pairs per action, linear in the number of posts, never
   quadratic in an object's popularity. Both only touch objects that popularity weighting
   has already made nearly worthless (below). Pairs are generated in slices of whole objects
   (at most 500,000 candidate pairs at a time), so memory stays flat.

3. **Repetition.** A pair's co-actions on one object form one *repetition* per occasion:
   co-actions more than ``occasion_gap_seconds`` (30 min) apart are separate occasions. A
   burst of copies counts once; the same text or the same defender pushed again the next day
   counts again. For each account pair and layer ``n`` is the number of repetitions and
   ``n_fast`` those whose closest co-action falls within the fast window (default
   ``window_seconds / 6``).

4. **Popularity weighting.** An object acted on by ``k`` accounts weighs
   ``w(k) = 1`` if ``k <= popular_object_accounts`` (50) else
   ``1 / (1 + ln(k / popular_object_accounts))``; a repetition weighs the smaller of ``w`` for
   the object's accounts in the whole window and ``w`` for its actions within +-window of the
   co-action (the local burst). Mentions of a defender are weighted by the local burst only:
   a defender is named every day, a crowd naming them within a minute is the signal. An
   edge's weight ``s`` is the sum of its repetitions' weights. A trending link shared by
   3,000 accounts counts 0.2: two accounts that happened to share two trending links within
   a minute reach 0.4, far below ``min_edge_weight`` (1.5).

5. **Null model and excess over chance.** The expectation is what the pair would show if
   every action kept its object and its time but the posts were shuffled across accounts,
   each account keeping its number of posts in the window (a configuration model):
   ``lambda_ab = d_a * d_b * C`` with ``d`` the account's posts in the window and
   ``C = 2 * P / (N**2 - sum d**2)``, ``P`` the number of co-acting action pairs in the layer
   (counted before the fan-out cap) and ``N`` the number of posts; ``E[s]`` likewise with
   popularity-weighted pairs. Hyperactive accounts (large ``d``) and layers full of bursts
   (large ``P``) thus expect more co-actions. Each edge keeps ``excess = s - E[s]``, the
   expected count ``lambda`` and a Poisson tail. Because trending objects make most of a
   layer's co-acting pairs, the null is stratified: repetitions on *rare* objects (weight 1)
   are tested against the rare objects' expectation, those on popular objects against
   theirs, and all together against the total; each layer is also tested on its own
   (``n_layer`` against ``lambda_layer``: after "one act counts once" a pair that meets on
   quiet near-identical texts is not drowned by the chances that layers full of viral
   bursts offered it); ``p`` is the smallest of these tails times 3. The layer tails and the
   strata are views of the same repetitions (the fused count is their sum), so the
   correction stays that of the three strata; ``alpha`` is a screening threshold whose
   organic false-positive rate ``bench/coordination.py`` measures, not a calibrated error.
   Two accounts meeting twice on links nobody else shares are then surprising even in a
   week full of viral bursts. The null is estimated from the
   same window, so it is only as good as the background it sees: a window made only of one
   campaign's posts has no organic baseline to beat. Each layer also keeps what its chance
   repetitions would weigh (``LayerStats.weight_hist``): with ``sparse_chance_rule``, edges
   outside dense clusters are judged against the number of chance edges that would pass
   this whole rule, weight included (`analysis.background`).

6. **Fusion and acceptance.** Layers are summed per pair (each post pair counts on one layer
   only, see "one act counts once"). A pair becomes a
   coordination edge when ``n >= min_repetitions``, ``s >= min_edge_weight`` and
   ``p <= alpha`` (1e-4). Its graph weight is
   ``sum_layers layer_weight * max(s_layer - E[s_layer], 0)``. It is *fast* when
   ``n_fast >= min_repetitions``. Only pairs whose summed counts could pass are widened into
   the per-layer edge table (most pairs meet once).

Every edge keeps, per repetition, the two posts (ids and times) whose co-action made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from analysis.frames import AnalysisInput
from analysis.params import AnalysisParams
from analysis.text import text_hashes

__all__ = [
    "LayerEvents",
    "LayerStats",
    "WEIGHT_BINS",
    "CoordinationResult",
    "layer_events",
    "co_action_pairs",
    "popularity_weight",
    "coordination_edges",
]

# Pair generation works on slices of whole objects holding at most this many candidate pairs,
# so peak memory stays flat however large the window is.
_CHUNK_PAIRS = 500_000

# Popularity weights of the co-acting pairs are counted in bins of 1/WEIGHT_BINS, rounded up.
WEIGHT_BINS = 100


@dataclass
class LayerEvents:
    """The actions of one layer: ``frame`` (post_pk, account, t_ms, key) and key -> label."""

    frame: pd.DataFrame
    labels: pd.Series
    sources: pd.DataFrame | None = None
    """The repost layer only: the window's posts that others pass on (post_pk, account, t_ms,
    key of the post as a repost target), i.e. each author posting what is reposted. They are
    no actions of the layer (no pairs, no null); the crowd around a burst counts them
    (`analysis.crowd`): fans who repost a post within a minute of its posting react to it
    together with its author."""

    def label_of(self, keys: np.ndarray | list[int]) -> np.ndarray:
        return self.labels.reindex(np.asarray(keys, dtype=np.int64)).to_numpy(dtype=object)


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
    null_c_rare: float = 0.0
    weight_hist: np.ndarray | None = field(default=None, repr=False)
    """Co-acting pairs by popularity weight rounded up to 1/``WEIGHT_BINS`` (index = bin):
    what a chance repetition weighs, for the chance-edge count (`analysis.background`)."""

    def to_dict(self) -> dict[str, float | int | str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "weight_hist"}


@dataclass
class CoordinationResult:
    """Edges (account pairs that could reach ``min_repetitions``), evidence and layer stats."""

    edges: pd.DataFrame
    evidence: pd.DataFrame
    layers: dict[str, LayerStats] = field(default_factory=dict)
    objects: dict[str, pd.DataFrame] = field(default_factory=dict)
    events: dict[str, LayerEvents] = field(default_factory=dict)
    candidate_pairs: int = 0


def popularity_weight(n_accounts: np.ndarray | pd.Series, reference: int) -> np.ndarray:
    """IDF-like weight of an object acted on by ``n_accounts`` accounts (see module doc)."""
    k = np.asarray(n_accounts, dtype=np.float64)
    ratio = np.maximum(k / float(reference), 1.0)
    return 1.0 / (1.0 + np.log(ratio))


def _mix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    return x ^ (x >> np.uint64(33))


def _layer(post_pk, account, t_ms, keys: np.ndarray, labels) -> LayerEvents:
    keys = np.asarray(keys).astype(np.int64)
    frame = pd.DataFrame(
        {
            "post_pk": np.asarray(post_pk, dtype=np.int64),
            "account": np.asarray(account, dtype=np.int64),
            "t_ms": np.asarray(t_ms, dtype=np.int64),
            "key": keys,
        }
    )
    # the label of each key's first action, sorted by key
    uniq, first = np.unique(keys, return_index=True)
    lab = pd.Series(np.asarray(labels, dtype=object)[first], index=uniq)
    return LayerEvents(frame, lab)


def layer_events(
    inp: AnalysisInput, params: AnalysisParams, texts: pd.DataFrame
) -> dict[str, LayerEvents]:
    """The actions of each layer with an int64 object key and a readable label per key.

    ``texts`` is `analysis.text.near_duplicate_groups` over the posts' texts (indexed by
    post_pk). What a post inherits is not an action of its author (module doc, "one act
    counts once"): a plain repost or forward (``repost_of`` set) acts on the repost layer
    only, whatever text, links, hashtags or defender mentions it carries; a quote's links
    and hashtags that its quoted post (found in the window) also has are dropped, its own
    text, links and hashtags stay. Targets of reposts and replies are keyed by (platform,
    post id); everything is keyed by stable content hashes, never by input position.
    """
    posts = inp.posts
    pk = posts["post_pk"].to_numpy()
    account = posts["account_pk"].to_numpy()
    t_ms = posts["created_at"].astype("int64").to_numpy() // 1_000_000
    platform = posts["platform"].to_numpy(dtype=object)
    multi_platform = len(pd.unique(platform)) > 1
    plain_repost = posts["repost_of"].notna().to_numpy()
    # a plain repost or forward acts only on the post it passes on: the text, links, hashtags
    # and mentions it carries are the original's (one act counts once)
    own = ~plain_repost
    by_pk = pd.DataFrame({"account": account[own], "t_ms": t_ms[own]}, index=pk[own])
    quoted = _quoted_posts(posts, plain_repost)
    out: dict[str, LayerEvents] = {}
    wanted = set(params.layers)

    def target_layer(cols: tuple[str, ...]) -> LayerEvents | None:
        parts = []
        for col in cols:
            values = posts[col].to_numpy(dtype=object)
            mask = pd.notna(values)
            if mask.any():
                parts.append((mask, values[mask]))
        if not parts:
            return None
        masks = [m for m, _ in parts]
        targets = np.concatenate([v for _, v in parts])
        if pd.api.types.infer_dtype(targets, skipna=False) != "string":
            targets = targets.astype(str).astype(object)
        plats = np.concatenate([platform[m] for m in masks])
        if multi_platform:
            targets = plats + ":" + targets
        return _layer(
            np.concatenate([pk[m] for m in masks]),
            np.concatenate([account[m] for m in masks]),
            np.concatenate([t_ms[m] for m in masks]),
            text_hashes(targets),
            targets,
        )

    if "link" in wanted and len(inp.links):
        lk = inp.links[["post_pk", "normalized_url"]].dropna().drop_duplicates()
        lk = _drop_inherited(lk, quoted, "normalized_url")
        joined = lk.join(by_pk, on="post_pk", how="inner")
        urls = joined["normalized_url"].to_numpy(dtype=object)
        out["link"] = _layer(
            joined["post_pk"], joined["account"], joined["t_ms"], text_hashes(urls), urls
        )
    if "repost" in wanted and (layer := target_layer(("repost_of", "quote_of"))) is not None:
        layer.sources = _passed_on(posts, layer, multi_platform, pk, account, t_ms, platform)
        out["repost"] = layer
    if "reply" in wanted and (layer := target_layer(("reply_to",))) is not None:
        out["reply"] = layer
    if ("text" in wanted or "near_text" in wanted) and len(texts):
        joined = texts.join(by_pk, how="inner")
        if "text" in wanted:
            out["text"] = _layer(
                joined.index,
                joined["account"],
                joined["t_ms"],
                joined["exact_key"].to_numpy(),
                joined["norm"].to_numpy(dtype=object),
            )
        if "near_text" in wanted:
            gk = joined["group_key"].to_numpy().astype(np.int64)
            layer = _layer(
                joined.index,
                joined["account"],
                joined["t_ms"],
                gk,
                np.full(len(gk), None, dtype=object),
            )
            uk = layer.labels.index.to_numpy()
            layer.labels = pd.Series(
                [f"near:{k:016x}" for k in uk.astype(np.uint64).tolist()], index=uk, dtype=object
            )
            out["near_text"] = layer
    if "hashtags" in wanted and len(inp.hashtags):
        tags = inp.hashtags[["post_pk", "tag", "position"]].dropna(subset=["tag"])
        tags = tags[tags["post_pk"].isin(by_pk.index)]
        tags = _drop_inherited(tags, quoted, "tag")
        tags = tags.sort_values(["post_pk", "position", "tag"], kind="stable")
        tpk = tags["post_pk"].to_numpy()
        starts = np.flatnonzero(np.r_[True, tpk[1:] != tpk[:-1]])
        size = np.diff(np.r_[starts, len(tpk)])
        if (size >= 2).any():
            # order-sensitive polynomial hash of the sequence, summed per post without a
            # Python loop (uint64 arithmetic wraps)
            rank = np.arange(len(tpk)) - np.repeat(starts, size)
            th = text_hashes(tags["tag"].to_numpy(dtype=object))
            term = _mix64(th + np.uint64(0x9E3779B97F4A7C15) * (rank.astype(np.uint64) + 1))
            seq = np.add.reduceat(term, starts)
            multi = size >= 2
            seq_pk, seq_key = tpk[starts][multi], seq[multi].astype(np.int64)
            joined = pd.DataFrame({"key": seq_key}, index=seq_pk).join(by_pk, how="inner")
            # readable labels only for sequences used more than once (evidence needs no more)
            dup = joined["key"].duplicated(keep=False)
            first = joined[dup].drop_duplicates("key")
            tag_lists = tags[tags["post_pk"].isin(first.index)].groupby("post_pk", sort=True)
            text_of = {pk_: " ".join("#" + t for t in grp) for pk_, grp in tag_lists["tag"]}
            layer = _layer(
                joined.index,
                joined["account"],
                joined["t_ms"],
                joined["key"].to_numpy(),
                np.full(len(joined), None, dtype=object),
            )
            layer.labels = pd.Series(
                [text_of[pk_] for pk_ in first.index], index=first["key"].to_numpy(), dtype=object
            ).sort_index()
            out["hashtags"] = layer
    if "pileon" in wanted and len(inp.mentions):
        m = inp.mentions[["post_pk", "defender_id"]].dropna().drop_duplicates()
        m = m.join(by_pk, on="post_pk", how="inner")
        labels = m["defender_id"].astype(str).to_numpy(dtype=object)
        out["pileon"] = _layer(m["post_pk"], m["account"], m["t_ms"], text_hashes(labels), labels)
    return {k: v for k, v in out.items() if len(v.frame)}


def _passed_on(
    posts: pd.DataFrame,
    layer: LayerEvents,
    multi_platform: bool,
    pk: np.ndarray,
    account: np.ndarray,
    t_ms: np.ndarray,
    platform: np.ndarray,
) -> pd.DataFrame:
    """The posts of the window that the repost layer's actions pass on, keyed like them."""
    targets = pd.concat([posts["repost_of"].dropna(), posts["quote_of"].dropna()])
    hit = np.flatnonzero(posts["post_id"].isin(targets.unique()).to_numpy())
    ids = posts["post_id"].to_numpy(dtype=object)[hit]
    if pd.api.types.infer_dtype(ids, skipna=False) != "string":
        ids = ids.astype(str).astype(object)
    if multi_platform:
        ids = platform[hit] + ":" + ids
    keys = text_hashes(ids).astype(np.int64) if len(ids) else np.zeros(0, dtype=np.int64)
    known = np.isin(keys, layer.labels.index.to_numpy())
    return pd.DataFrame(
        {
            "post_pk": pk[hit][known].astype(np.int64),
            "account": account[hit][known].astype(np.int64),
            "t_ms": t_ms[hit][known].astype(np.int64),
            "key": keys[known],
        }
    )


def _quoted_posts(posts: pd.DataFrame, plain_repost: np.ndarray) -> pd.DataFrame:
    """(post_pk, orig_pk) of every quote whose quoted post is in the window."""
    quote = posts["quote_of"].notna().to_numpy() & ~plain_repost
    if not quote.any():
        return pd.DataFrame({"post_pk": [], "orig_pk": []}, dtype=np.int64)
    q = posts.loc[quote, ["post_pk", "platform", "quote_of"]]
    orig = posts[["post_pk", "platform", "post_id"]].rename(
        columns={"post_pk": "orig_pk", "post_id": "quote_of"}
    )
    found = q.merge(orig, on=["platform", "quote_of"], how="inner")
    return found[["post_pk", "orig_pk"]].astype(np.int64)


def _drop_inherited(rows: pd.DataFrame, quoted: pd.DataFrame, column: str) -> pd.DataFrame:
    """``rows`` (post_pk, column, ...) without the values a quote shares with its original."""
    if not len(quoted) or not len(rows):
        return rows
    mine = rows[["post_pk", column]].merge(quoted, on="post_pk", how="inner")
    if not len(mine):
        return rows
    theirs = rows[["post_pk", column]].rename(columns={"post_pk": "orig_pk"})
    inherited = mine.merge(theirs, on=["orig_pk", column], how="inner")
    if not len(inherited):
        return rows
    drop = pd.MultiIndex.from_frame(inherited[["post_pk", column]])
    keep = ~pd.MultiIndex.from_frame(rows[["post_pk", column]]).isin(drop)
    return rows[keep]


_PAIR_COLUMNS = ("a", "b", "obj", "occasion", "dt_ms", "pk_a", "pk_b", "w")


def co_action_pairs(
    events: pd.DataFrame,
    *,
    window_ms: int,
    fanout_cap: int,
    max_object_accounts: int,
    popular_object_accounts: int,
    occasion_gap_ms: int | None = None,
    local_only: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, dict[str, float]]:
    """All co-acting action pairs of one layer, one row per (account pair, object).

    ``events`` has post_pk, account, t_ms and the object ``key``.

    Returns ``(pair_objects, objects, actions, counts)``:
    ``pair_objects``: one row per *repetition*: a < b (account pks), obj (code into
    ``objects``), occasion (0, 1, ... per pair and object: co-actions more than
    ``occasion_gap_ms`` apart are separate occasions; ``None`` = one occasion per object),
    dt_ms (the closest co-action of that occasion), pk_a, pk_b (its two posts), w (its
    popularity weight); sorted by (a, b, obj, occasion);
    ``objects``: per object code its key, n_accounts, n_actions, weight;
    ``actions``: per account its number of actions in the layer;
    ``counts``: totals for the null model.
    """
    key_all = events["key"].to_numpy().astype(np.int64, copy=False)
    uniques, codes = np.unique(key_all, return_inverse=True)
    obj_all = codes.astype(np.int64, copy=False).reshape(-1)
    t_all = events["t_ms"].to_numpy().astype(np.int64, copy=False)
    acc_all = events["account"].to_numpy().astype(np.int64, copy=False)
    pk_all = events["post_pk"].to_numpy().astype(np.int64, copy=False)
    # one sort by (object, time, account, post) serves everything below; a post's repeated
    # action on one object (same post and key, hence same account and time) is adjacent
    order = np.lexsort((pk_all, acc_all, t_all, obj_all))
    obj_all, t_all, acc_all, pk_all = (x[order] for x in (obj_all, t_all, acc_all, pk_all))
    del order, codes, key_all
    if len(obj_all) > 1:
        dup = np.r_[False, (pk_all[1:] == pk_all[:-1]) & (obj_all[1:] == obj_all[:-1])]
        if dup.any():
            obj_all, t_all, acc_all, pk_all = (x[~dup] for x in (obj_all, t_all, acc_all, pk_all))
        del dup
    n_obj = len(uniques)
    # distinct accounts per object, without a Python-level groupby
    acc_stride_all = int(acc_all.max()) + 1 if len(acc_all) else 1
    obj_acc = np.sort(obj_all * acc_stride_all + acc_all)
    first_pair = np.r_[True, obj_acc[1:] != obj_acc[:-1]] if len(obj_acc) else obj_acc > 0
    n_acc = np.bincount(obj_acc[first_pair] // acc_stride_all, minlength=n_obj)
    del obj_acc, first_pair
    objects = pd.DataFrame(
        {
            "key": np.asarray(uniques, dtype=np.int64),
            "n_accounts": n_acc,
            "n_actions": np.bincount(obj_all, minlength=n_obj),
        },
        index=pd.RangeIndex(n_obj, name="obj"),
    )
    objects["weight"] = popularity_weight(objects["n_accounts"], popular_object_accounts)
    acc_keys, acc_n = np.unique(acc_all, return_counts=True)
    actions = pd.Series(acc_n, index=pd.Index(acc_keys, name="account"), name="d")
    counts: dict[str, Any] = {
        "actions": len(obj_all),
        "window_pairs": 0,
        "weighted_window_pairs": 0.0,
        "rare_window_pairs": 0,
        "capped": 0,
        "skipped": 0 if local_only else int((n_acc > max_object_accounts).sum()),
    }
    empty = pd.DataFrame(
        {c: pd.Series(dtype="float32" if c == "w" else "int64") for c in _PAIR_COLUMNS}
    )
    # a defender (local_only) is a persistent object, not a trending one: never skipped; the
    # local burst weight and the fan-out cap bound its cost
    shared = (n_acc >= 2) & ((n_acc <= max_object_accounts) | local_only)
    keep = shared[obj_all]
    if not keep.any():
        return empty, objects, actions, counts
    # the rows stay sorted by (object, time, account, post)
    t, acc, pk, obj = t_all[keep], acc_all[keep], pk_all[keep], obj_all[keep]
    del t_all, acc_all, pk_all, obj_all, keep
    acc_stride = int(acc.max()) + 1
    t0 = int(t.min())
    span = int(t.max()) - t0 + window_ms + 1
    key = obj * span + (t - t0)
    end = np.searchsorted(key, key + window_ms, side="right")
    idx = np.arange(len(key))
    in_window = end - idx - 1
    # local popularity: actions on the object within +-window of this one (a burst of
    # thousands sharing a trending link is crowded; a busy defender's steady mentions are not)
    start = np.searchsorted(key, key - window_ms, side="left")
    w_local = popularity_weight(end - start, popular_object_accounts)
    weights = w_local if local_only else np.minimum(objects["weight"].to_numpy()[obj], w_local)
    counts["window_pairs"] = int(in_window.sum())
    counts["weighted_window_pairs"] = float((in_window * weights).sum())
    counts["rare_window_pairs"] = int(in_window[weights >= 1.0].sum())
    counts["weight_hist"] = np.bincount(
        np.clip(np.ceil(weights * WEIGHT_BINS - 1e-9).astype(np.int64), 1, WEIGHT_BINS),
        weights=in_window,
        minlength=WEIGHT_BINS + 1,
    )
    cnt = np.minimum(in_window, fanout_cap)
    counts["capped"] = int((in_window > fanout_cap).sum())
    if int(cnt.sum()) == 0:
        return empty, objects, actions, counts
    # slices of whole objects, each with at most _CHUNK_PAIRS candidate pairs
    obj_start = np.flatnonzero(np.r_[True, obj[1:] != obj[:-1]])
    pairs_per_obj = np.add.reduceat(cnt, obj_start)
    before = np.cumsum(pairs_per_obj) - pairs_per_obj
    chunk = before // _CHUNK_PAIRS
    cut = obj_start[np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]])]
    bounds = [*cut.tolist(), len(key)]
    parts = []
    for lo_e, hi_e in zip(bounds[:-1], bounds[1:], strict=True):
        c = cnt[lo_e:hi_e]
        total = int(c.sum())
        if total == 0:
            continue
        i = np.repeat(np.arange(lo_e, hi_e), c)
        j = i + 1 + (np.arange(total) - np.repeat(np.cumsum(c) - c, c))
        same = acc[i] == acc[j]
        i, j = i[~same], j[~same]
        if not len(i):
            continue
        swap = acc[i] > acc[j]
        lo = np.where(swap, j, i)
        hi = np.where(swap, i, j)
        del swap, same
        a, b, o = acc[lo], acc[hi], obj[i]
        pair = a * acc_stride + b
        dt = t[j] - t[i]
        ti = t[i]
        srt = np.lexsort((ti, o, pair))
        pair, a, b, o, dt, ti, i, lo, hi = (x[srt] for x in (pair, a, b, o, dt, ti, i, lo, hi))
        new_obj = np.r_[True, (pair[1:] != pair[:-1]) | (o[1:] != o[:-1])]
        if occasion_gap_ms is None:
            brk = new_obj
        else:
            # a new occasion whenever the pair's co-actions on this object pause > the gap
            brk = new_obj | np.r_[True, np.diff(ti) > occasion_gap_ms]
        run = np.cumsum(brk)
        occ = run - np.maximum.accumulate(np.where(new_obj, run, 0))
        # closest co-action per (pair, object, occasion): groups are contiguous, so one
        # stable sort on (group, dt) packed into a single int64 key is enough
        srt = np.argsort(run * (window_ms + 1) + dt, kind="stable")
        a, b, o, occ, dt, i, lo, hi, run = (x[srt] for x in (a, b, o, occ, dt, i, lo, hi, run))
        first = np.r_[True, run[1:] != run[:-1]]
        parts.append(
            (
                a[first],
                b[first],
                o[first].astype(np.int32),
                occ[first].astype(np.int32),
                dt[first].astype(np.int32),
                pk[lo[first]],
                pk[hi[first]],
                weights[i[first]].astype(np.float32),
            )
        )
    if not parts:
        return empty, objects, actions, counts
    cols = [np.concatenate([p[k] for p in parts]) for k in range(len(_PAIR_COLUMNS))]
    del parts
    # each slice is sorted by (pair, obj, occasion) and the slices hold increasing object
    # codes, so a stable sort on the pair alone completes the (pair, obj, occasion) order
    srt = np.argsort(cols[0] * acc_stride + cols[1], kind="stable")
    pair_objects = pd.DataFrame(
        {name: col[srt] for name, col in zip(_PAIR_COLUMNS, cols, strict=True)}, copy=False
    )
    return pair_objects, objects, actions, counts


def _poisson_sf(n: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """P(X >= n) for X ~ Poisson(lam); 1 where n <= 0."""
    lam = np.maximum(lam, 1e-300)
    return np.where(n <= 0, 1.0, poisson.sf(n - 1, lam))


def _empty_edges() -> pd.DataFrame:
    ints = ("a", "b", "n", "n_fast", "n_rare")
    bools = ("accepted", "fast")
    floats = ("s", "lam", "expected_s", "excess", "p_value", "weight", "min_dt_s")
    return pd.DataFrame(
        {c: pd.Series(dtype="int64") for c in ints}
        | {c: pd.Series(dtype="bool") for c in bools}
        | {c: pd.Series(dtype="float64") for c in floats}
    )


def coordination_edges(
    inp: AnalysisInput, params: AnalysisParams, texts: pd.DataFrame
) -> CoordinationResult:
    """Build every layer's co-action pairs, score them against the null, fuse and accept.

    Returns a `CoordinationResult` whose ``edges`` frame has one row per account pair that
    could be an edge (summed over layers, at least ``min_repetitions`` objects and
    ``min_edge_weight``), with per-layer columns ``n_<layer>``, ``s_<layer>``,
    ``lam_<layer>``, ``es_<layer>``, ``fast_<layer>``, the fused ``n``, ``n_rare``, ``s``,
    ``lam``, ``expected_s``, ``excess``, ``p_value``, ``n_fast``, ``weight``, ``min_dt_s``
    and the flags ``accepted`` and ``fast``; ``evidence`` lists, for accepted edges, the
    posts behind each shared object (a, b, layer, obj, object, pk_a, pk_b, t_a, t_b, dt_s,
    and ``counted``: False where the post pair already counted on a stronger layer).
    """
    window_ms = int(params.window_seconds * 1000)
    fast_ms = int(params.fast_window * 1000)
    events = layer_events(inp, params, texts)
    activity = inp.posts.groupby("account_pk", sort=True).size()
    n_posts = float(len(inp.posts))
    sum_d2 = float((activity.astype(np.float64) ** 2).sum())
    denom = max(n_posts * n_posts - sum_d2, 1.0)
    stride = int(max(activity.index.max() if len(activity) else 0, 0)) + 1
    upper: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    pair_objs: dict[str, pd.DataFrame] = {}
    nulls: dict[str, tuple[float, float, float]] = {}
    stats: dict[str, LayerStats] = {}
    objects_by_layer: dict[str, pd.DataFrame] = {}
    for name in params.layers:
        if name not in events:
            continue
        po, objects, actions, counts = co_action_pairs(
            events[name].frame,
            window_ms=window_ms,
            fanout_cap=params.fanout_cap,
            max_object_accounts=params.max_object_accounts,
            popular_object_accounts=params.popular_object_accounts,
            occasion_gap_ms=int(params.occasion_gap_seconds * 1000),
            local_only=name == "pileon",
        )
        c = 2.0 * counts["window_pairs"] / denom
        nulls[name] = (
            c,
            2.0 * counts["weighted_window_pairs"] / denom,
            2.0 * counts["rare_window_pairs"] / denom,
        )
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
            null_c_rare=nulls[name][2],
            weight_hist=counts.get("weight_hist"),
        )
        objects_by_layer[name] = objects
        if len(po):
            pair_objs[name] = po
    _one_act_once(pair_objs, params)
    for name, po in pair_objs.items():
        po = po[po["counted"].to_numpy()]
        if not len(po):
            continue
        w = po["w"].to_numpy().astype(np.float64)
        pair = po["a"].to_numpy() * stride + po["b"].to_numpy()
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        upper[name] = (
            pair[starts],
            np.diff(np.r_[starts, len(pair)]).astype(np.int32),
            np.add.reduceat(w, starts).astype(np.float32),
        )
    if not upper:
        return CoordinationResult(
            _empty_edges(), _empty_evidence(), stats, objects_by_layer, events
        )
    # Upper bounds over layers first: most pairs meet once, and only pairs that could reach
    # min_repetitions and min_edge_weight are widened into the per-layer table.
    uniq, inv = np.unique(np.concatenate([u[0] for u in upper.values()]), return_inverse=True)
    n_up = np.bincount(inv, weights=np.concatenate([u[1] for u in upper.values()]))
    s_up = np.bincount(inv, weights=np.concatenate([u[2] for u in upper.values()]))
    candidate_pairs = len(uniq)
    survivors = uniq[(n_up >= params.min_repetitions) & (s_up >= params.min_edge_weight - 1e-6)]
    del uniq, inv, n_up, s_up, upper
    layer_pairs: dict[str, pd.DataFrame] = {}
    for name, po in list(pair_objs.items()):
        pair = po["a"].to_numpy() * stride + po["b"].to_numpy()
        po = po[np.isin(pair, survivors)].reset_index(drop=True)
        pair_objs[name] = po  # only rows that can become evidence are kept
        po = po[po["counted"].to_numpy()]
        if not len(po):
            continue
        w = po["w"].to_numpy().astype(np.float64)
        pair = po["a"].to_numpy() * stride + po["b"].to_numpy()
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        dt = po["dt_ms"].to_numpy()
        layer_pairs[name] = pd.DataFrame(
            {
                "n": np.diff(np.r_[starts, len(pair)]),
                "s": np.add.reduceat(w, starts),
                "fast": np.add.reduceat((dt <= fast_ms).astype(np.int64), starts),
                "nr": np.add.reduceat((w >= 1.0).astype(np.int64), starts),
                "mindt": np.minimum.reduceat(dt, starts),
            },
            index=pd.Index(pair[starts], name="pair"),
        )
    if not layer_pairs:
        return CoordinationResult(
            _empty_edges(),
            _empty_evidence(),
            stats,
            objects_by_layer,
            events,
            candidate_pairs=candidate_pairs,
        )
    edges = pd.DataFrame(index=pd.Index(survivors, name="pair"))
    edges["a"] = survivors // stride
    edges["b"] = survivors % stride
    da = activity.reindex(edges["a"].to_numpy()).to_numpy().astype(np.float64)
    db = activity.reindex(edges["b"].to_numpy()).to_numpy().astype(np.float64)
    layer_names = [n for n in params.layers if n in layer_pairs]
    for name in layer_names:
        lp = layer_pairs[name].reindex(survivors)
        c, cw, cr = nulls[name]
        edges[f"n_{name}"] = lp["n"].fillna(0).astype(np.int64).to_numpy()
        edges[f"s_{name}"] = lp["s"].fillna(0.0).to_numpy()
        edges[f"fast_{name}"] = lp["fast"].fillna(0).astype(np.int64).to_numpy()
        edges[f"nr_{name}"] = lp["nr"].fillna(0).astype(np.int64).to_numpy()
        edges[f"mindt_{name}"] = lp["mindt"].to_numpy(dtype=np.float64)
        edges[f"lam_{name}"] = da * db * c
        edges[f"es_{name}"] = da * db * cw
        edges[f"lr_{name}"] = da * db * cr

    def fused(col: str) -> np.ndarray:
        # a post pair counts on one layer only (_one_act_once), so layers simply add up
        total = np.zeros(len(edges))
        for name in layer_names:
            total = total + edges[f"{col}_{name}"].to_numpy(dtype=np.float64)
        return total

    edges["n"] = fused("n").astype(np.int64)
    edges["s"] = fused("s")
    edges["lam"] = fused("lam")
    edges["expected_s"] = fused("es")
    edges["n_fast"] = fused("fast").astype(np.int64)
    edges["excess"] = edges["s"] - edges["expected_s"]
    n_all, lam_all = edges["n"].to_numpy(), edges["lam"].to_numpy()
    n_rare, lam_rare = fused("nr"), fused("lr")
    p_all = _poisson_sf(n_all, lam_all)
    p_rare = _poisson_sf(n_rare, lam_rare)
    p_pop = _poisson_sf(n_all - n_rare, np.maximum(lam_all - lam_rare, 0.0))
    edges["n_rare"] = n_rare.astype(np.int64)
    # and each layer on its own: a pair that meets on one quiet layer is not drowned by the
    # chance meetings other layers full of viral bursts would have offered it
    p_min = np.minimum(np.minimum(p_all, p_rare), p_pop)
    for name in layer_names:
        p_layer = _poisson_sf(
            edges[f"n_{name}"].to_numpy(), edges[f"lam_{name}"].to_numpy(dtype=np.float64)
        )
        p_min = np.minimum(p_min, p_layer)
    edges["p_value"] = np.minimum(1.0, 3.0 * p_min)
    weight = np.zeros(len(edges))
    for name in layer_names:
        lw = float(params.layer_weights.get(name, 1.0))
        weight = weight + lw * np.maximum(
            edges[f"s_{name}"].to_numpy() - edges[f"es_{name}"].to_numpy(), 0.0
        )
    edges["weight"] = weight
    edges["min_dt_s"] = edges[[f"mindt_{n}" for n in layer_names]].min(axis=1) / 1000.0
    edges = edges.drop(columns=[f"{c}_{n}" for n in layer_names for c in ("nr", "lr", "mindt")])
    edges["accepted"] = (
        (edges["n"] >= params.min_repetitions)
        & (edges["s"] >= params.min_edge_weight)
        & (edges["p_value"] <= params.alpha)
    )
    edges["fast"] = edges["accepted"] & (edges["n_fast"] >= params.min_repetitions)
    edges = edges.reset_index(drop=True)
    accepted_pairs = np.sort(
        edges.loc[edges["accepted"], "a"].to_numpy() * stride
        + edges.loc[edges["accepted"], "b"].to_numpy()
    )
    t_of = pd.Series(
        inp.posts["created_at"].astype("int64").to_numpy() // 1_000_000,
        index=inp.posts["post_pk"].to_numpy(),
    )
    evidence = _evidence(accepted_pairs, stride, pair_objs, objects_by_layer, events, t_of)
    return CoordinationResult(
        edges, evidence, stats, objects_by_layer, events, candidate_pairs=candidate_pairs
    )


def _one_act_once(pair_objs: dict[str, pd.DataFrame], params: AnalysisParams) -> None:
    """Mark, in place, which repetitions count: a post pair counts once over all layers.

    Two posts that share a link, a text and a hashtag sequence are one act of each account,
    not three: each (pk_a, pk_b) keeps the repetition of its strongest layer (layer weight x
    popularity weight; ties by layer order) as ``counted``, the others stay as evidence. The
    counted repetition's ``w`` becomes the largest popularity weight of the post pair's
    layers (module doc): the act is as quiet as its least crowded trace.
    """
    names = list(pair_objs)
    if not names:
        return
    sizes = [len(pair_objs[n]) for n in names]
    pk_a = np.concatenate([pair_objs[n]["pk_a"].to_numpy() for n in names])
    pk_b = np.concatenate([pair_objs[n]["pk_b"].to_numpy() for n in names])
    w = np.concatenate([pair_objs[n]["w"].to_numpy() for n in names])
    layer_w = np.array([float(params.layer_weights.get(n, 1.0)) for n in names])
    strength = w.astype(np.float64) * np.repeat(layer_w, sizes)
    rank = np.repeat(np.arange(len(names)), sizes)
    stride = int(pk_b.max()) + 1 if len(pk_b) else 1
    post_pair = pk_a * stride + pk_b
    order = np.lexsort((rank, -strength, post_pair))
    sorted_pair = post_pair[order]
    first = np.r_[True, sorted_pair[1:] != sorted_pair[:-1]]
    counted = np.zeros(len(post_pair), dtype=bool)
    counted[order[first]] = True
    # the act weighs as much as its least crowded trace: the largest popularity weight over
    # the layers the two posts share (a template many accounts use, with a defender named in
    # a quiet minute, is one act in a quiet minute; read as the text alone it weighed 0.69).
    # Only post pairs seen on two or more layers can change: most are seen on one.
    shared = ~(first & np.r_[first[1:], True])
    if shared.any():
        rows, lead = order[shared], first[shared]
        w[rows[lead]] = np.maximum.reduceat(w[rows], np.flatnonzero(lead))
    bounds = np.cumsum([0, *sizes])
    for k, name in enumerate(names):
        pair_objs[name]["counted"] = counted[bounds[k] : bounds[k + 1]]
        pair_objs[name]["w"] = w[bounds[k] : bounds[k + 1]]


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
            "counted": pd.Series(dtype="bool"),
        }
    )


def _evidence(
    accepted_pairs: np.ndarray,
    stride: int,
    pair_objs: dict[str, pd.DataFrame],
    objects: dict[str, pd.DataFrame],
    events: dict[str, LayerEvents],
    t_of: pd.Series,
) -> pd.DataFrame:
    if not len(accepted_pairs):
        return _empty_evidence()
    parts = []
    for name, po in pair_objs.items():
        pair = po["a"].to_numpy() * stride + po["b"].to_numpy()
        sel = po[np.isin(pair, accepted_pairs)]
        if not len(sel):
            continue
        obj = sel["obj"].to_numpy()
        keys = objects[name]["key"].to_numpy()[obj]
        parts.append(
            pd.DataFrame(
                {
                    "a": sel["a"].to_numpy(),
                    "b": sel["b"].to_numpy(),
                    "layer": name,
                    "obj": obj,
                    "object": events[name].label_of(keys),
                    "pk_a": sel["pk_a"].to_numpy(),
                    "pk_b": sel["pk_b"].to_numpy(),
                    "t_a": t_of.reindex(sel["pk_a"].to_numpy()).to_numpy(),
                    "t_b": t_of.reindex(sel["pk_b"].to_numpy()).to_numpy(),
                    "dt_s": sel["dt_ms"].to_numpy() / 1000.0,
                    "counted": sel["counted"].to_numpy(),
                }
            )
        )
    if not parts:
        return _empty_evidence()
    return pd.concat(parts, ignore_index=True)
