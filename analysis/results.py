"""What an analysis run returns: plain dataclasses with a JSON-ready ``to_dict()``.

Mapping to storage (DESIGN.md): `AnalysisResult` -> ``analysis_run`` (params, window,
code and vocabulary version, layer stats); each `Cluster` -> ``cluster`` (stable id, score,
confidence, stance, signals, explanation); `Member` -> ``cluster_member``; `EvidenceObject`
(with its `EvidencePost` list) -> ``cluster_evidence``; `Edge` -> the network export.

Cluster ids: the engine numbers clusters 1..n within a run (``local_id``) and `match_cluster_ids`
carries ids over from earlier runs by member overlap, so that "C7" next week is still "C7".
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EvidencePost",
    "EvidenceObject",
    "Member",
    "Narrative",
    "Target",
    "Edge",
    "Cluster",
    "AnalysisResult",
    "PreviousCluster",
    "match_cluster_ids",
    "jsonable",
]


def jsonable(value: Any) -> Any:
    """Convert dataclasses, numpy scalars, timestamps and NaN into JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, pd.Timestamp | datetime):
        if pd.isna(value):
            return None
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if value is pd.NaT or value is None:
        return None
    return value


@dataclass
class EvidencePost:
    """One post that is part of the proof: who posted what, when, and how soon after the first."""

    post_pk: int
    evidence_id: str | None
    platform: str
    post_id: str | None
    account_pk: int
    handle: str | None
    created_at: datetime
    delta_s: float
    """Seconds after the first post of the cluster on this object."""


@dataclass
class EvidenceObject:
    """A shared object (URL, reposted post, text, hashtag sequence, pile-on) and its posts."""

    layer: str
    object: str
    """The URL / target post / normalised text / "#a #b" / "defender @ start" that was shared."""
    display: str
    """What a report shows: the original wording for texts, the object otherwise."""
    accounts: int
    posts: list[EvidencePost]
    first_at: datetime
    span_s: float
    outside_accounts: int
    """Accounts outside the cluster that acted on the same object in the window."""


@dataclass
class Member:
    account_pk: int
    platform: str
    author_id: str | None
    handle: str | None
    centrality: float
    posts: int
    signals: dict[str, Any]


@dataclass
class Narrative:
    """A group of near-identical texts posted by the cluster, with a representative wording."""

    key: str
    representative_text: str
    posts: int
    accounts: int
    first_at: datetime
    last_at: datetime
    smear_categories: list[str]
    supportive: bool
    evidence_ids: list[str]


@dataclass
class Target:
    defender_id: str
    name: str
    posts: int
    share: float


@dataclass
class Edge:
    """A coordination edge between two accounts, for the network drawing and the audit trail."""

    a: int
    b: int
    cluster: int | None
    weight: float
    n: int
    """Distinct shared objects (fused over layers)."""
    weighted: float
    expected: float
    excess: float
    expected_n: float
    p_value: float
    fast: bool
    n_fast: int
    min_dt_s: float
    layers: dict[str, int]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    """Per shared object: layer, object, post_pk_a, post_pk_b, dt_s (capped per edge)."""


@dataclass
class Cluster:
    local_id: int
    stable_id: str | None
    members: list[Member]
    score: int
    confidence: str
    stance: str
    components: dict[str, float]
    signals: dict[str, Any]
    targets: list[Target]
    narratives: list[Narrative]
    evidence: list[EvidenceObject]
    explanation: list[str]
    alternatives: list[str]
    first_at: datetime | None
    last_at: datetime | None

    @property
    def member_pks(self) -> set[int]:
        return {m.account_pk for m in self.members}

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


@dataclass
class AnalysisResult:
    params: dict[str, Any]
    since: datetime | None
    until: datetime | None
    code_version: str
    vocabulary: dict[str, Any]
    stats: dict[str, Any]
    layers: dict[str, dict[str, Any]]
    clusters: list[Cluster]
    edges: list[Edge]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def member_rows(self) -> list[dict[str, Any]]:
        """One row per cluster member: the columns of ``smearwatch export clusters``."""
        rows = []
        for c in self.clusters:
            for m in c.members:
                flags = [k for k, v in m.signals.items() if v is True]
                rows.append(
                    {
                        "cluster_id": c.stable_id,
                        "platform": m.platform,
                        "account_id": m.author_id,
                        "handle": m.handle,
                        "score": c.score,
                        "confidence": c.confidence,
                        "stance": c.stance,
                        "signals": ";".join(sorted(c.signals["layers"]) + flags),
                    }
                )
        return rows

    def graph(self) -> Any:
        """The coordination network as a networkx graph with scalar attributes only, ready
        for ``nx.write_gexf`` / ``nx.write_graphml`` (Gephi)."""
        import networkx as nx

        g = nx.Graph()
        member = {m.account_pk: (c, m) for c in self.clusters for m in c.members}
        nodes = sorted({e.a for e in self.edges} | {e.b for e in self.edges} | set(member))
        for pk in nodes:
            c, m = member.get(pk, (None, None))
            g.add_node(
                int(pk),
                cluster=c.stable_id if c else "",
                handle=(m.handle or "") if m else "",
                platform=m.platform if m else "",
                score=c.score if c else 0,
                stance=c.stance if c else "",
            )
        for e in self.edges:
            attrs = {
                "weight": float(e.weight),
                "n": int(e.n),
                "excess": float(e.excess),
                "expected": float(e.expected),
                "p_value": float(e.p_value),
                "fast": bool(e.fast),
                "min_dt_s": float(e.min_dt_s),
            }
            attrs.update({f"n_{k}": int(v) for k, v in e.layers.items()})
            g.add_edge(int(e.a), int(e.b), **attrs)
        return g


@dataclass(frozen=True)
class PreviousCluster:
    """A stored cluster from an earlier run: its stable id and member keys."""

    stable_id: str
    members: frozenset[Hashable]


_NUM_RE = re.compile(r"(\d+)$")


def match_cluster_ids(
    current: Sequence[Iterable[Hashable]],
    previous: Sequence[PreviousCluster | tuple[str, Iterable[Hashable]]],
    *,
    threshold: float = 0.3,
    prefix: str = "C",
    next_number: int | None = None,
) -> list[str]:
    """Stable ids for ``current`` member sets, reusing earlier ids by member overlap.

    Pairs (current, previous) are ranked by Jaccard similarity of their member sets (ties:
    larger intersection, then previous id, then current position) and matched one-to-one,
    greedily, while the similarity is at least ``threshold``. Unmatched current clusters get
    new ids ``{prefix}{n}`` numbered after the largest number among the previous ids (or from
    ``next_number``). Only clusters sharing a member are compared (an inverted index), so the
    cost grows with the members, not with the product of the cluster counts.

    Pure function: the caller passes stored ids and members (e.g. account pks or
    (platform, author_id) tuples, as long as both sides use the same keys).
    """
    prev = [
        p if isinstance(p, PreviousCluster) else PreviousCluster(p[0], frozenset(p[1]))
        for p in previous
    ]
    cur = [frozenset(c) for c in current]
    index: dict[Hashable, list[int]] = {}
    for pi, p in enumerate(prev):
        for m in p.members:
            index.setdefault(m, []).append(pi)
    candidates = []
    for ci, members in enumerate(cur):
        overlap: dict[int, int] = {}
        for m in members:
            for pi in index.get(m, ()):
                overlap[pi] = overlap.get(pi, 0) + 1
        for pi, inter in overlap.items():
            union = len(members) + len(prev[pi].members) - inter
            jac = inter / union if union else 0.0
            if jac >= threshold:
                candidates.append((-jac, -inter, prev[pi].stable_id, ci, pi))
    candidates.sort()
    ids: list[str | None] = [None] * len(cur)
    used: set[int] = set()
    for _, _, _, ci, pi in candidates:
        if ids[ci] is None and pi not in used:
            ids[ci] = prev[pi].stable_id
            used.add(pi)
    if next_number is None:
        numbers = [int(m.group(1)) for p in prev if (m := _NUM_RE.search(p.stable_id))]
        next_number = max(numbers, default=0) + 1
    out = []
    for sid in ids:
        if sid is None:
            sid = f"{prefix}{next_number}"
            next_number += 1
        out.append(sid)
    return out
