"""The analysis entry point: frames in, scored and explained clusters out.

``analyze(inp, params, previous)`` runs text grouping (`analysis.text`), co-action edges
against the null model (`analysis.coordination`), the multiplex graph and its communities
(`analysis.network`), account signals (`analysis.accounts`), smear vocabulary, narratives and
stance (`analysis.smear`) and the score (`analysis.campaigns`). It reads nothing but its
arguments and the bundled vocabulary, so the same frames always give the same result, in
whatever order their rows come.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis import campaigns
from analysis.accounts import account_signals, creation_batch, handle_sequences
from analysis.background import (
    LayerNull,
    null_background,
    sparse_discoveries,
    window_chance_curve,
)
from analysis.coordination import coordination_edges
from analysis.crowd import CrowdIndex, burst_share, member_posts, object_bursts
from analysis.frames import AnalysisInput
from analysis.network import (
    Community,
    centrality,
    find_communities,
    sparse_communities,
    sub_community,
)
from analysis.params import AnalysisParams
from analysis.results import (
    AnalysisResult,
    Cluster,
    Edge,
    EvidenceObject,
    EvidencePost,
    Member,
    Narrative,
    PreviousCluster,
    Target,
    match_cluster_ids,
)
from analysis.smear import Vocabulary, classify_texts, load_vocabulary, stance_of
from analysis.text import near_duplicate_groups

__all__ = ["analyze", "CODE_VERSION"]

CODE_VERSION = "analysis-1.0"


class _StepClock:
    """Wall and CPU seconds of each step and of the whole run.

    The machine that runs an analysis is often shared (a daemon beside collectors, a
    benchmark beside other jobs): wall time then measures the neighbours too, and only the
    process's CPU time says what a step itself costs."""

    def __init__(self) -> None:
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()
        self._step = (self._wall0, self._cpu0)
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def start(self) -> None:
        self._step = (time.perf_counter(), time.process_time())

    def stop(self, name: str) -> None:
        self.wall[name] = time.perf_counter() - self._step[0]
        self.cpu[name] = time.process_time() - self._step[1]

    def wall_seconds(self) -> dict[str, float]:
        total = time.perf_counter() - self._wall0
        return {k: round(v, 3) for k, v in self.wall.items()} | {"total": round(total, 3)}

    def cpu_seconds(self) -> dict[str, float]:
        total = time.process_time() - self._cpu0
        return {k: round(v, 3) for k, v in self.cpu.items()} | {"total": round(total, 3)}


def _canonical(inp: AnalysisInput) -> AnalysisInput:
    """Sort every frame by its keys so that row order can never change a result."""

    def srt(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
        cols = [c for c in cols if c in frame.columns]
        if not len(frame) or not cols:
            return frame
        if len(cols) == 1 and frame[cols[0]].is_monotonic_increasing:
            return frame  # already canonical: no copy of a million rows
        return frame.sort_values(cols, kind="stable").reset_index(drop=True)

    posts = srt(inp.posts, ["post_pk"])

    return AnalysisInput(
        posts=posts,
        links=srt(inp.links, ["post_pk", "normalized_url"]),
        hashtags=srt(inp.hashtags, ["post_pk", "position", "tag"]),
        mentions=srt(inp.mentions, ["post_pk", "defender_id"]),
        accounts=srt(inp.accounts, ["account_pk"]),
        defenders=srt(inp.defenders, ["defender_id"]),
        since=inp.since,
        until=inp.until,
    )


def analyze(
    inp: AnalysisInput,
    params: AnalysisParams | None = None,
    previous: Sequence[PreviousCluster | tuple[str, Any]] = (),
    *,
    vocabulary: Vocabulary | None = None,
) -> AnalysisResult:
    """Find, score and explain coordinated clusters in one window of posts.

    Args:
        inp: the window's frames (`analysis.frames`).
        params: run parameters (defaults: `AnalysisParams()`).
        previous: clusters of earlier runs as (stable_id, account_pks) for id matching.
        vocabulary: a compiled smear vocabulary (default: the bundled file).
    """
    params = params or AnalysisParams()
    vocabulary = vocabulary or load_vocabulary()
    clock = _StepClock()
    inp = _canonical(inp.validate())
    posts = inp.posts

    clock.start()
    text_src = posts.loc[posts["repost_of"].isna(), ["post_pk", "text"]]
    texts = near_duplicate_groups(
        text_src.set_index("post_pk")["text"],
        threshold=params.near_text_threshold,
        num_perm=params.minhash_perm,
        bands=params.minhash_bands,
        min_tokens=params.min_text_tokens,
        seed=params.seed,
        exact_only="near_text" not in params.layers,
    )
    clock.stop("text")

    clock.start()
    coord = coordination_edges(inp, params, texts)
    clock.stop("coordination")

    clock.start()
    graph, communities = find_communities(coord.edges, params)
    background, on_trial = _background(coord, communities, params)
    # the accounts any cluster can hold: the dense clusters' and those of the sparse trial
    trial_accounts = sorted(
        {m for c in communities for m in c.members}
        | set(on_trial["a"].tolist())
        | set(on_trial["b"].tolist())
    )
    member_events = {
        name: le.frame[le.frame["account"].isin(trial_accounts)]
        for name, le in coord.events.items()
    }
    crowd = CrowdIndex(coord.events, member_events, params.window_seconds * 1000)
    feeds = _feed_domains(inp, trial_accounts, params)
    sparse = _sparse_trial(coord, on_trial, posts, feeds, member_events, crowd, background, params)
    # one site's own feed accounts (its channel, its RSS bots) post every article within
    # seconds of each other: automation, but the site publishing, not a campaign; feeds are
    # sources, not members, and a cluster holding some is what its other members make of it
    kept = (_without_feeds(cm, feeds, params) for cm in communities + sparse)
    communities = [c for c in kept if c is not None]
    clock.stop("network")

    clock.start()
    members_all = sorted({m for c in communities for m in c.members})
    pk_index = posts.set_index("post_pk")
    # Only the evidence (and its burst share) is needed to apply the final filters, so that
    # is all a candidate gets first; the rest (the classified texts, account signals,
    # narratives, score) is built for the candidates that pass. Building every candidate in
    # full spent most of the step on clusters that were then dropped, and classifying every
    # post of every candidate's members, when only evidence posts are ever read, was the
    # largest part: at 100,000 posts (bench seed 1) 1,641 of ~8,000 posts are read.
    drafts = [
        (community, _cluster_evidence(community, coord, member_events, crowd, pk_index, params))
        for community in communities
    ]
    # a few faces in a crowd (fans who repost a popular account within seconds, among
    # dozens of others) are not a group acting on its own: see analysis.crowd
    # (a sparse cluster, a pair or a chain, is weaker evidence: its members must be most of
    # the accounts around their bursts, min_sparse_burst_share)
    drafts = [
        (community, found)
        for community, found in drafts
        # the rounded figure, the one the cluster reports (signals["burst_share"])
        if round(found.burst_share, 4)
        >= (
            params.min_sparse_burst_share if community.shape == "sparse" else params.min_burst_share
        )
    ]
    signals = account_signals(inp, sorted({m for cm, _ in drafts for m in cm.members}), params)
    classified = _classify_evidence(
        posts, pk_index, sorted({pk for _, f in drafts for pk in f.post_pks}), vocabulary
    )
    names = inp.defender_names()
    clusters: list[Cluster] = []
    for local_id, (community, found) in enumerate(drafts, start=1):
        cluster = _build_cluster(
            local_id,
            community,
            found,
            graph,
            texts,
            classified,
            pk_index,
            signals,
            inp,
            names,
            vocabulary,
            params,
        )
        _sparse_note(community, background, cluster, params)
        clusters.append(cluster)
    # most alarming first; ties by evidence strength, then by smallest member
    clusters.sort(key=lambda c: (-c.score, -c.signals["internal_weight"], min(c.member_pks)))
    node_cluster: dict[int, int] = {}
    for local_id, cluster in enumerate(clusters, start=1):
        cluster.local_id = local_id
        for m in cluster.member_pks:
            node_cluster[m] = local_id
    ids = match_cluster_ids(
        [c.member_pks for c in clusters], previous, threshold=params.stable_id_jaccard
    )
    for cluster, sid in zip(clusters, ids, strict=True):
        cluster.stable_id = sid
    clock.stop("clusters")

    edges = _edges_out(coord, node_cluster, params)
    accepted = coord.edges[coord.edges["accepted"]] if len(coord.edges) else coord.edges
    stats = {
        "posts": len(posts),
        "accounts": int(posts["account_pk"].nunique()),
        "candidate_pairs": coord.candidate_pairs,
        "candidate_edges": len(coord.edges),
        "accepted_edges": len(accepted),
        "fast_edges": int(accepted["fast"].sum()) if len(accepted) else 0,
        "clusters": len(clusters),
        "clustered_accounts": len(members_all),
        "near_duplicate_groups": int(texts["group_key"].nunique()) if len(texts) else 0,
        "background": background.to_dict(),
        "seconds": clock.wall_seconds(),
        "cpu_seconds": clock.cpu_seconds(),
    }
    return AnalysisResult(
        params=params.to_dict(),
        since=inp.since,
        until=inp.until,
        code_version=CODE_VERSION,
        vocabulary=vocabulary.to_dict(),
        stats=stats,
        layers={k: v.to_dict() for k, v in coord.layers.items()},
        clusters=clusters,
        edges=edges,
    )


def _feed_domains(inp: AnalysisInput, accounts: list[int], params: AnalysisParams) -> dict:
    """account -> the one domain nearly all its posts link to (a site's feed account).

    An account is a feed of a domain when at least ``feed_min_posts`` of its posts in the
    window, and ``feed_share`` of all of them, link to that domain and it never reposts.
    """
    posts = inp.posts[inp.posts["account_pk"].isin(accounts)]
    if not len(posts) or not len(inp.links):
        return {}
    per_account = posts.groupby("account_pk").size()
    reposting = set(posts.loc[posts["repost_of"].notna(), "account_pk"])
    lk = inp.links[inp.links["post_pk"].isin(posts["post_pk"])][["post_pk", "domain"]]
    lk = lk.dropna().drop_duplicates().merge(posts[["post_pk", "account_pk"]], on="post_pk")
    if not len(lk):
        return {}
    counts = lk.groupby(["account_pk", "domain"]).size().reset_index(name="n")
    counts = counts.sort_values(["account_pk", "n"], ascending=[True, False], kind="stable")
    top = counts.drop_duplicates("account_pk")
    out = {}
    for a, domain, n in zip(top["account_pk"], top["domain"], top["n"], strict=True):
        total = int(per_account.get(a, 0))
        if a not in reposting and n >= params.feed_min_posts and n >= params.feed_share * total:
            out[int(a)] = str(domain)
    return out


def _mostly_feeds(
    members: set[int], edges: pd.DataFrame, feeds: dict, params: AnalysisParams, shape: str
) -> bool:
    """True when the cluster is no cluster without the sites' feed accounts.

    A feed account is a source, not a co-actor: readers who share its article seconds after
    it are not coordinating with it, and a site's several feeds are the site publishing. So
    a cluster is judged on its other members and the edges among them alone: too few of them
    remain, or they do not pass the cluster's own tests without the feeds (dense: the k-core
    of ``min_member_links``, ``min_cluster_size`` and ``min_cluster_density``; sparse: every
    other member keeps an edge to another), and the feeds explain it. Counting the members
    alone let a site's two feeds carry readers over the line: on the 1M bench, news12's two
    bots (147 co-actions with each other) and three share-button readers, each linked to the
    two bots and to no other reader, were a "dense" cluster of five."""
    inside = [m for m in members if m in feeds]
    if not inside:
        return False
    rest = set(members) - set(inside)
    if len(rest) < min(params.min_cluster_size, max(len(members), 2)):
        return True
    among = edges[edges["a"].isin(rest) & edges["b"].isin(rest)]
    graph = nx.Graph()
    graph.add_nodes_from(sorted(rest))
    graph.add_edges_from(zip(among["a"].tolist(), among["b"].tolist(), strict=True))
    if shape == "sparse":
        return any(d == 0 for _, d in graph.degree())
    core = nx.k_core(graph, params.min_member_links)
    size = core.number_of_nodes()
    if size < params.min_cluster_size:
        return True
    return core.number_of_edges() / (size * (size - 1) / 2) < params.min_cluster_density


def _without_feeds(community: Community, feeds: dict, params: AnalysisParams) -> Community | None:
    """The community without its feed accounts, or None when nothing is left of it.

    What remains is judged and reported as a cluster of its own (`_mostly_feeds`; for a
    dense cluster its k-core without the feeds): its burst share, evidence and score are its
    members'. Kept as members, a site's two bots lent their own bursts (alone on the site's
    links, share 1.0) to a cluster they held with a reader and a triangle of hub fans, whose
    own bursts were among 40-60 reposters (1M bench, seed 3)."""
    members = set(community.members)
    if not members & set(feeds):
        return community
    if _mostly_feeds(members, community.edges, feeds, params, community.shape):
        return None
    rest = members - set(feeds)
    if community.shape == "dense":
        edges = community.edges
        among = edges[edges["a"].isin(rest) & edges["b"].isin(rest)]
        graph = nx.Graph()
        graph.add_edges_from(zip(among["a"].tolist(), among["b"].tolist(), strict=True))
        rest = set(nx.k_core(graph, params.min_member_links).nodes)
    return sub_community(community, rest, params)


def _background(coord, communities, params: AnalysisParams):
    """The null model's verdict on its background, and the accepted edges no dense cluster
    holds (on trial as sparse edges, `_sparse_trial`)."""
    window_pairs = {name: stats.window_pairs for name, stats in coord.layers.items()}
    background = null_background(coord.edges, window_pairs, params.thin_background_share)
    if not len(coord.edges):
        return background, coord.edges
    taken = {m for c in communities for m in c.members}
    accepted = coord.edges[coord.edges["accepted"]]
    # only edges no dense cluster holds are on trial: ranking them among the dense clusters'
    # edges would let a campaign's many strong edges carry chance pairs over the line
    return background, accepted[~accepted["a"].isin(taken) & ~accepted["b"].isin(taken)]


def _sparse_trial(
    coord,
    on_trial: pd.DataFrame,
    posts: pd.DataFrame,
    feeds: dict,
    member_events: dict[str, pd.DataFrame],
    crowd: CrowdIndex,
    background,
    params: AnalysisParams,
) -> list:
    """The sparse clusters the whole window vouches for (`analysis.background`).

    The edges on trial are ranked by p-value against the null's count of chance edges; the
    connected accounts of the discoveries are candidate clusters. A candidate that the feed
    rule (a site's feeds, or a feed and its readers) or the crowd rule (its members are not
    ``min_sparse_burst_share`` of the accounts around their bursts, `analysis.crowd`)
    explains is not reported, and its edges leave the trial, which is then rerun on the
    rest: an edge that is explained is no discovery and cannot lift the false-discovery
    threshold for the others. (On the 1M bench a site's two feeds, posting its every
    article, and fans co-reposting hubs ranked first and carried a pair of share-button
    readers over the line.)
    """
    if not len(coord.edges):
        return []
    # the whole-rule count only when asked for (params.sparse_chance_rule); the former,
    # looser count by default
    nulls = {
        name: LayerNull(stats.null_c, stats.null_c_rare, stats.weight_hist)
        if params.sparse_chance_rule
        else stats.null_c
        for name, stats in coord.layers.items()
    }
    min_weight = params.min_edge_weight if params.sparse_chance_rule else 0.0
    activity = posts.groupby("account_pk", sort=True).size().to_numpy()
    curve = window_chance_curve(
        on_trial, activity, nulls, params.min_repetitions, params.alpha, min_weight
    )
    window_ms = params.window_seconds * 1000
    trial_set = set(on_trial["a"].tolist()) | set(on_trial["b"].tolist())
    ev = coord.evidence
    ev = ev[ev["a"].isin(trial_set) & ev["b"].isin(trial_set)]
    while True:
        found, background.expected_chance_edges = sparse_discoveries(
            on_trial,
            activity,
            nulls,
            params.min_repetitions,
            params.sparse_fdr,
            params.alpha,
            min_weight,
            curve=curve,
        )
        sparse = sparse_communities(on_trial[found], params)
        held = [
            c
            for c in sparse
            if _mostly_feeds(set(c.members), c.edges, feeds, params, c.shape)
            or burst_share(c.members, ev, coord, member_events, crowd, window_ms)
            < params.min_sparse_burst_share
        ]
        if not held:
            break
        explained = {
            (a, b)
            for c in held
            for a, b in zip(c.edges["a"].tolist(), c.edges["b"].tolist(), strict=True)
        }
        keep = [
            (a, b) not in explained
            for a, b in zip(on_trial["a"].tolist(), on_trial["b"].tolist(), strict=True)
        ]
        on_trial = on_trial[np.asarray(keep, dtype=bool)]
    background.sparse_edges = sum(len(c.edges) for c in sparse)
    return sparse


def _sparse_note(community, background, cluster: Cluster, params: AnalysisParams) -> None:
    """A sparse cluster says why it is reported although it is no dense cluster."""
    cluster.signals["shape"] = community.shape
    if community.shape == "sparse":
        cluster.explanation.insert(
            0,
            "A sparse network: these accounts form no dense cluster, but their links are "
            "among the strongest edges of the window, which holds more of them than chance "
            f"allows (the null model expects {background.expected_chance_edges:.1f} chance "
            f"edges at the acceptance level; at most {params.sparse_fdr:.0%} of the edges "
            "reported this way are expected to be chance).",
        )


def _edges_out(coord, node_cluster: dict[int, int], params: AnalysisParams) -> list[Edge]:
    acc = coord.edges[coord.edges["accepted"]].sort_values(["a", "b"])
    if not len(acc):
        return []
    layer_cols = [c for c in acc.columns if c.startswith("n_") and c not in ("n_fast", "n_rare")]
    ev = coord.evidence.sort_values(["a", "b", "layer", "dt_s", "obj"], kind="stable")
    ev = ev.groupby(["a", "b"], sort=False).head(params.max_evidence_per_edge)
    items: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for a, b, layer, obj, pa, pb, dt in zip(
        ev["a"].tolist(),
        ev["b"].tolist(),
        ev["layer"].tolist(),
        ev["object"].tolist(),
        ev["pk_a"].tolist(),
        ev["pk_b"].tolist(),
        ev["dt_s"].tolist(),
        strict=True,
    ):
        items.setdefault((a, b), []).append(
            {"layer": layer, "object": str(obj), "post_pk_a": pa, "post_pk_b": pb, "dt_s": dt}
        )
    layer_counts = acc[layer_cols].to_numpy()
    names = [c[2:] for c in layer_cols]
    cols = {
        c: acc[c].tolist()
        for c in (
            "a",
            "b",
            "weight",
            "n",
            "s",
            "expected_s",
            "excess",
            "lam",
            "p_value",
            "fast",
            "n_fast",
            "min_dt_s",
        )
    }
    out = []
    for k in range(len(acc)):
        a, b = int(cols["a"][k]), int(cols["b"][k])
        ca, cb = node_cluster.get(a), node_cluster.get(b)
        out.append(
            Edge(
                a=a,
                b=b,
                cluster=ca if ca is not None and ca == cb else None,
                weight=float(cols["weight"][k]),
                n=int(cols["n"][k]),
                weighted=float(cols["s"][k]),
                expected=float(cols["expected_s"][k]),
                excess=float(cols["excess"][k]),
                expected_n=float(cols["lam"][k]),
                p_value=float(cols["p_value"][k]),
                fast=bool(cols["fast"][k]),
                n_fast=int(cols["n_fast"][k]),
                min_dt_s=float(cols["min_dt_s"][k]),
                layers={names[i]: int(v) for i, v in enumerate(layer_counts[k]) if v > 0},
                evidence=items.get((a, b), []),
            )
        )
    return out


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _share(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else 0.0


@dataclass
class _Evidence:
    """What proves a candidate cluster: its evidence objects, their posts, the layers' facts
    and the burst share (unrounded). It is all the final filters read, so it is built for
    every candidate and the rest of a cluster only for those that pass (`analyze`)."""

    objects: list[EvidenceObject]
    post_pks: set[int]
    layers: list[tuple[str, dict[str, Any]]]
    burst_share: float


def _classify_evidence(
    posts: pd.DataFrame, pk_index: pd.DataFrame, pks: list[int], vocabulary: Vocabulary
) -> pd.DataFrame:
    """`classify_texts` of the posts ``pks``, a plain repost read as the post it reposts
    (when that post is in the data).

    Only the reported clusters' evidence posts are classified: a cluster reads the verdict
    on its evidence posts alone, and the vocabulary's regexes over a text cost far more than
    anything else per post (at 100,000 posts, ~0.37 ms CPU each; all ~8,000 posts of the
    candidates' members took ~2.8 s of the 3.6 s clusters step)."""
    own = pk_index.loc[pks]
    content = pd.Series(own["text"].to_numpy(dtype=object), index=own.index.to_numpy())
    is_repost = own["repost_of"].notna().to_numpy()
    if is_repost.any():
        platforms = own["platform"].to_numpy()[is_repost].tolist()
        targets = own["repost_of"].to_numpy()[is_repost].tolist()
        wanted = set(zip(platforms, targets, strict=True))
        hit = posts[posts["post_id"].isin({t for _, t in wanted})]
        repost_texts = {
            (p, i): t
            for p, i, t in zip(hit["platform"], hit["post_id"], hit["text"], strict=True)
            if (p, i) in wanted
        }
        content[is_repost] = [repost_texts.get(k, "") for k in zip(platforms, targets, strict=True)]
    return classify_texts(content, vocabulary)


def _cluster_evidence(
    community,
    coord,
    member_events: dict[str, pd.DataFrame],
    crowd: CrowdIndex,
    pk_index: pd.DataFrame,
    params: AnalysisParams,
) -> _Evidence:
    """The evidence of one candidate cluster (`_Evidence`)."""
    members = community.members
    member_set = set(members)
    ev = coord.evidence[coord.evidence["a"].isin(member_set) & coord.evidence["b"].isin(member_set)]
    # --- evidence objects: every member post on each object that links two members
    evidence: list[EvidenceObject] = []
    evidence_pks: set[int] = set()
    layer_facts: list[tuple[str, dict[str, Any]]] = []
    for layer, lev in ev.groupby("layer", sort=True):
        objects = coord.objects[layer]
        labels = coord.events[layer].labels
        obj_codes = np.unique(lev["obj"].to_numpy())
        keys = objects["key"].to_numpy()[obj_codes]
        n_by_key = dict(
            zip(keys.tolist(), objects["n_accounts"].to_numpy()[obj_codes].tolist(), strict=True)
        )
        keys = np.unique(keys)
        inside = member_posts(lev, objects, member_events[layer], member_set)
        info = pk_index.loc[inside["post_pk"].to_numpy()]
        # plain arrays and one pass over index ranges: no per-object frame slicing
        c_pk = inside["post_pk"].to_numpy().tolist()
        c_acc = inside["account"].to_numpy()
        c_t = inside["t_ms"].to_numpy()
        c_key = inside["key"].to_numpy()
        c_eid = info["evidence_id"].to_numpy(dtype=object).tolist()
        c_plat = info["platform"].to_numpy(dtype=object).tolist()
        c_pid = info["post_id"].to_numpy(dtype=object).tolist()
        c_handle = info["handle"].to_numpy(dtype=object).tolist()
        c_text = info["text"].to_numpy(dtype=object)
        c_created = list(pd.to_datetime(info["created_at"], utc=True))
        c_acc_list = c_acc.tolist()
        c_t_list = c_t.tolist()
        gap = params.window_seconds * 1000
        spans, accounts_involved, occasions = [], set(), 0
        shares: list[float] = []
        starts = np.flatnonzero(np.r_[True, c_key[1:] != c_key[:-1]]) if len(c_key) else []
        bounds = [*list(starts), len(c_key)]
        for g0, g1 in zip(bounds[:-1], bounds[1:], strict=True):
            key = int(c_key[g0])
            t_first = c_t_list[g0]
            posts_out = [
                EvidencePost(
                    post_pk=int(c_pk[r]),
                    evidence_id=c_eid[r],
                    platform=c_plat[r],
                    post_id=c_pid[r],
                    account_pk=int(c_acc_list[r]),
                    handle=c_handle[r],
                    created_at=c_created[r],
                    delta_s=(c_t_list[r] - t_first) / 1000.0,
                )
                for r in range(g0, g1)
            ]
            evidence_pks.update(c_pk[g0:g1])
            accs = set(c_acc_list[g0:g1])
            accounts_involved |= accs
            # occasions: bursts of member posts on this object separated by more than the
            # window (the same text pushed on three days is one object, three occasions)
            tms = c_t[g0:g1]
            o_spans, o_shares = object_bursts(crowd, str(layer), key, tms, c_acc_list[g0:g1], gap)
            occasions += len(o_spans)
            spans += o_spans
            shares += o_shares
            label = str(labels.get(key, key))
            display = str(c_text[g0]) if layer in ("text", "near_text") else label
            evidence.append(
                EvidenceObject(
                    layer=str(layer),
                    object=label,
                    display=display,
                    accounts=len(accs),
                    posts=posts_out,
                    first_at=pd.Timestamp(t_first, unit="ms", tz="UTC"),
                    span_s=(int(tms[-1]) - t_first) / 1000.0,
                    outside_accounts=max(int(n_by_key.get(key, len(accs))) - len(accs), 0),
                )
            )
        layer_facts.append(
            (
                str(layer),
                {
                    "objects": len(keys),
                    "occasions": occasions,
                    "accounts": len(accounts_involved),
                    "median_span_s": campaigns.median(spans),
                    "burst_share": campaigns.median(shares),
                },
            )
        )
    burst_share = max((lf[1]["burst_share"] for lf in layer_facts), default=0.0)
    layer_facts.sort(key=lambda lf: (-lf[1]["objects"] * lf[1]["accounts"], lf[0]))
    evidence.sort(key=lambda e: (e.first_at, e.layer, e.object))
    return _Evidence(evidence, evidence_pks, layer_facts, burst_share)


def _build_cluster(
    local_id,
    community,
    found: _Evidence,
    graph,
    texts: pd.DataFrame,
    classified: pd.DataFrame,
    pk_index: pd.DataFrame,
    signals: pd.DataFrame,
    inp: AnalysisInput,
    names: dict[str, str],
    vocabulary: Vocabulary,
    params: AnalysisParams,
) -> Cluster:
    """A reported cluster: its evidence (`_cluster_evidence`) with content, targets,
    narratives, members' signals, score and explanation."""
    members = community.members
    evidence, evidence_pks, layer_facts = found.objects, found.post_pks, found.layers
    burst_share = found.burst_share

    # --- content: texts of evidence posts (a plain repost is read as the post it reposts)
    ev_posts = pk_index.loc[sorted(evidence_pks)]
    cls = classified.loc[sorted(evidence_pks)]
    with_text = cls[cls["has_text"]]
    smear_share = _share(with_text["smear"])
    support_share = _share(with_text["supportive"])
    stance = stance_of(smear_share, support_share)
    cat_cols = sorted(vocabulary.hostile)
    smear_categories = (
        with_text[cat_cols].sum().sort_values(ascending=False, kind="stable")
        if len(with_text) and cat_cols
        else pd.Series(dtype="int64")
    )
    smear_categories = [str(c) for c, v in smear_categories.items() if v > 0]

    # --- targets
    ment = inp.mentions[inp.mentions["post_pk"].isin(evidence_pks)]
    targets = []
    target_share = 0.0
    if len(ment) and len(evidence_pks):
        target_share = ment["post_pk"].nunique() / len(evidence_pks)
        counts = ment.groupby("defender_id")["post_pk"].nunique().sort_index()
        counts = counts.sort_values(ascending=False, kind="stable")
        for did, n in counts.items():
            targets.append(
                Target(str(did), names.get(str(did), str(did)), int(n), n / len(evidence_pks))
            )

    # --- narratives: near-duplicate groups among the evidence posts
    narratives: list[Narrative] = []
    tx = texts[texts.index.isin(evidence_pks)]
    if len(tx):
        joined = tx.join(ev_posts[["account_pk", "created_at", "text", "evidence_id"]])
        for key, grp in joined.groupby("group_key", sort=True):
            if len(grp) < 2:
                continue
            grp = grp.sort_values(["created_at"], kind="stable")
            top_exact = grp["exact_key"].value_counts().sort_index()
            top_exact = top_exact.sort_values(ascending=False, kind="stable").index[0]
            rep = grp[grp["exact_key"] == top_exact].iloc[0]["text"]
            gcls = cls.loc[grp.index]
            cats = [c for c in cat_cols if gcls[c].any()]
            narratives.append(
                Narrative(
                    key=f"N-{int(key) & 0xFFFFFFFFFFFFFFFF:016X}"[:14],
                    representative_text=str(rep),
                    posts=len(grp),
                    accounts=int(grp["account_pk"].nunique()),
                    first_at=grp["created_at"].iloc[0],
                    last_at=grp["created_at"].iloc[-1],
                    smear_categories=cats,
                    supportive=bool(gcls["supportive"].mean() >= 0.5),
                    evidence_ids=[str(e) for e in grp["evidence_id"].head(10)],
                )
            )
        narratives.sort(key=lambda n: (-n.posts, n.first_at, n.key))

    # --- accounts
    sig = signals.loc[members]
    size = len(members)
    batch = creation_batch(sig["created_at"], params.creation_batch_days)
    seq = set(handle_sequences(sig["handle"]))
    handle_flag = sig["formulaic_handle"] | sig.index.isin(seq)
    rhythm_flag = sig["regular_rhythm"] | sig["round_the_clock"] | sig["office_hours"]
    reposter = sig["repost_ratio"].fillna(0) >= 0.8
    batch_share = batch.count / size if batch.count >= 3 else 0.0
    cent = centrality(graph, members)
    member_out = []
    sig_rows = sig.to_dict("index")  # one conversion, not a row lookup per member
    handle_flags = handle_flag.to_dict()
    for pk in members:
        s = sig_rows[pk]
        member_out.append(
            Member(
                account_pk=int(pk),
                platform=str(s["platform"]),
                author_id=None if pd.isna(s["author_id"]) else str(s["author_id"]),
                handle=None if pd.isna(s["handle"]) else str(s["handle"]),
                centrality=cent.get(pk, 0.0),
                posts=int(s["n_posts"]),
                signals={
                    "age_days": None if pd.isna(s["age_days"]) else round(float(s["age_days"]), 1),
                    "young": bool(s["young"]),
                    "created_at": s["created_at"],
                    "in_creation_batch": pk in batch.account_pks and batch.count >= 3,
                    "formulaic_handle": bool(handle_flags[pk]),
                    "handle_reason": s["handle_reason"]
                    if isinstance(s["handle_reason"], str)
                    else ("sequence" if pk in seq else None),
                    "repost_ratio": float(s["repost_ratio"]),
                    "defender_share": float(s["defender_share"]),
                    "regular_rhythm": bool(s["regular_rhythm"]),
                    "round_the_clock": bool(s["round_the_clock"]),
                    "office_hours": bool(s["office_hours"]),
                    "interval_cv": None if pd.isna(s["interval_cv"]) else float(s["interval_cv"]),
                    "active_hours": int(s["active_hours"]) if not pd.isna(s["active_hours"]) else 0,
                },
            )
        )

    # --- score
    edges = community.edges
    mean_excess = float(edges["excess"].mean()) if len(edges) else 0.0
    inputs = campaigns.ScoreInputs(
        size=size,
        density=community.density,
        mean_edge_excess=mean_excess,
        young_share=_share(sig["young"]),
        batch_share=batch_share,
        handle_share=_share(handle_flag),
        rhythm_share=_share(rhythm_flag),
        reposter_share=_share(reposter),
        smear_share=smear_share,
        support_share=support_share,
        target_share=target_share,
    )
    score, components = campaigns.score_cluster(inputs)
    p_value = campaigns.cluster_p_value(community.observed, community.expected)
    median_objects = float(edges["n"].median()) if len(edges) else 0.0
    fast_share = community.fast_edges / len(edges) if len(edges) else 0.0
    confidence = campaigns.confidence_of(
        size=size,
        p_value=p_value,
        median_edge_objects=median_objects,
        # kinds of trace the members shared, counted or not: one act counts once in the
        # edges, but the same text, link and hashtags in one act are still three traces
        layers_used=len(layer_facts),
        fast_share=fast_share,
        min_repetitions=params.min_repetitions,
    )
    top_target = targets[0].name if targets else None
    facts = {
        "size": size,
        "layers": layer_facts,
        "target_name": top_target,
        "observed": community.observed,
        "expected": community.expected,
        "edges": len(edges),
        "possible": size * (size - 1) // 2,
        "fast_edges": community.fast_edges,
        "fast_window": params.fast_window,
        "batch": {
            "count": batch.count,
            "start": batch.start.strftime("%d %B %Y") if batch.start is not None else None,
            "end": batch.end.strftime("%d %B %Y") if batch.end is not None else None,
        },
        "young": int(sig["young"].sum()),
        "young_days": params.young_account_days,
        "handles": int(handle_flag.sum()),
        "rhythm": int(rhythm_flag.sum()),
        "smear_share": smear_share,
        "support_share": support_share,
        "smear_categories": smear_categories,
        "target_share": target_share,
        "median_outside_accounts": campaigns.median([e.outside_accounts for e in evidence]),
        "p_value": p_value,
        "stance": stance,
        "reposter_share": inputs.reposter_share,
        "rhythm_share": inputs.rhythm_share,
        "batch_share": batch_share,
    }
    times = [p.created_at for e in evidence for p in e.posts]
    return Cluster(
        local_id=local_id,
        stable_id=None,
        members=member_out,
        score=score,
        confidence=confidence,
        stance=stance,
        components=components,
        signals={
            "size": size,
            "density": round(community.density, 4),
            "internal_weight": round(community.internal_weight, 4),
            "internal_excess": round(community.internal_excess, 4),
            "observed_coactions": community.observed,
            "expected_coactions": round(community.expected, 6),
            "p_value": p_value,
            "edges": len(edges),
            "fast_edges": community.fast_edges,
            "layers": community.layers,
            "median_edge_objects": median_objects,
            "young_share": round(inputs.young_share, 4),
            "creation_batch": {
                "count": batch.count,
                "start": batch.start,
                "end": batch.end,
            },
            "formulaic_handle_share": round(inputs.handle_share, 4),
            "machine_rhythm_share": round(inputs.rhythm_share, 4),
            "reposter_share": round(inputs.reposter_share, 4),
            "smear_share": round(smear_share, 4),
            "support_share": round(support_share, 4),
            "smear_categories": smear_categories,
            "target_share": round(target_share, 4),
            "evidence_posts": len(evidence_pks),
            "burst_share": round(burst_share, 4),
        },
        targets=targets,
        narratives=narratives,
        evidence=evidence,
        explanation=campaigns.explain(facts),
        alternatives=campaigns.alternatives(facts),
        first_at=min(times) if times else None,
        last_at=max(times) if times else None,
    )
