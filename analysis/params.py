"""Parameters of one analysis run; stored with the run so every result can be reproduced."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AnalysisParams", "LAYERS", "DEFAULT_LAYER_WEIGHTS"]

# The co-action layers, in the order reports list them.
LAYERS = ("link", "repost", "reply", "text", "near_text", "hashtags", "pileon")

# How much one co-action beyond chance in each layer counts in the fused graph. Sharing the same
# link or reposting the same post is the classic trace; copy-paste text is as strong; the
# near-duplicate layer overlaps with exact text, hashtag sequences and pile-ons are weaker
# because ordinary users do them too.
DEFAULT_LAYER_WEIGHTS = {
    "link": 1.0,
    "repost": 1.0,
    "reply": 0.8,
    "text": 1.0,
    "near_text": 0.8,
    "hashtags": 0.7,
    "pileon": 0.6,
}


@dataclass(frozen=True)
class AnalysisParams:
    """Knobs of the engine. Defaults are the ones measured in ``bench/coordination.py``."""

    window_seconds: int = 60
    """Two actions on the same object co-act when |t1 - t2| <= window_seconds (sliding)."""
    min_repetitions: int = 2
    """Repetitions (distinct objects, or one object on separate occasions; summed over
    layers) before two accounts are linked."""
    fast_window_seconds: int | None = None
    """The "fast" sub-network window; default window_seconds / 6 (10 s for 60 s)."""
    layers: tuple[str, ...] = LAYERS
    layer_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LAYER_WEIGHTS))
    popular_object_accounts: int = 50
    """Objects acted on by more accounts than this (in the window, or within +-window of the
    action) are down-weighted, w = 1 / (1 + ln(n / this))."""
    max_object_accounts: int = 5000
    """Objects shared by more accounts are skipped entirely (a trending link says nothing)."""
    fanout_cap: int = 50
    """Each action is paired with at most this many later actions on the same object."""
    min_edge_weight: float = 1.5
    """Minimum popularity-weighted co-action count of an edge (2 unpopular objects = 2.0)."""
    alpha: float = 1e-4
    """Per-edge significance against the null model (Poisson tail of observed vs expected)."""
    min_text_tokens: int = 5
    near_text_threshold: float = 0.6
    minhash_perm: int = 64
    minhash_bands: int = 16
    occasion_gap_seconds: int = 1800
    """A pair's co-actions on one object more than this apart are separate occasions (the
    same text pushed again the next day is a second repetition; a burst of copies is one)."""
    min_cluster_size: int = 3
    min_member_links: int = 2
    """Each member must be linked to this many other members (k-core); chains fall apart."""
    min_cluster_density: float = 0.3
    """Share of a community's possible member pairs that must be coordination edges."""
    min_burst_share: float = 0.5
    """A cluster is reported only if, on its best layer, its members make at least this share
    of the accounts acting on the object within +-window of their typical co-action (engine):
    a few fans inside a crowd reposting a popular post are not a group acting on its own."""
    min_sparse_burst_share: float = 0.8
    """The same for a sparse cluster (a pair or a chain), weaker evidence: on the 1M bench,
    pairs of fans reposting a popular account had 0.53-0.75; the pairs of CooRTweet's real
    networks 0.83-1.0 (retweets in russian_coord_tweets, links in german_elections). The margin
    is thin by construction, not by tuning: a pair's share is the median over its bursts of
    2 / (accounts around the burst), so it takes few values. With two bursts, 1.0 is no
    outsider, 0.83 one outsider in one burst, 0.75 two in one, 0.67 one in each. 0.8 reads
    "at most one other account around one of the pair's bursts"; for pairs any threshold
    between 0.75 and 0.83 makes the same decisions."""
    feed_min_posts: int = 20
    feed_share: float = 0.9
    """Feed accounts (``feed_min_posts``+ posts, ``feed_share`` of them linking to one
    domain, no reposts) are sources, not co-actors: they are never members of a cluster. A
    cluster that held some is what its other members and the edges among them make of it
    (its burst share, evidence and score theirs), and is not reported when they are too few
    or fail its shape's tests without the feeds (a site's several feeds, or feeds and readers
    who shared their articles but are not linked to each other)."""
    louvain_resolution: float = 1.0
    merge_density: float = 0.3
    """Louvain parts of one component are merged back when this dense between them."""
    sparse_fdr: float = 0.05
    """Accepted edges outside any dense cluster still make a (sparse) cluster of the accounts
    they connect when the window's false-discovery rate at their p-value is at most this (the
    null's expected chance edges / edges found, `analysis.background`); 0 turns it off."""
    sparse_chance_rule: bool = False
    """Count the sparse test's chance edges under the whole acceptance rule (a chance edge
    must also reach min_edge_weight; each stratum with its own C; `analysis.background`)
    instead of the looser bound. On CooRTweet's russian_coord_tweets it expects 0.92
    chance edges instead of 15.0 and reports 12 accounts instead of 8 (200 shuffles of the
    accounts: 0.62); on the synthetic 1M bench it also lets through organic-only sparse
    pairs (share buttons, news bots, hub fans) that the looser bound held back, so it is off
    until the null model sees that organic structure."""
    thin_background_share: float = 0.5
    """A layer whose co-acting pairs come at least this much from the candidate edges gave the
    null model nothing to compare with; the run says so (`analysis.background`)."""
    seed: int = 7
    young_account_days: int = 30
    creation_batch_days: int = 3
    local_utc_offset_hours: int = 5
    """Posting-rhythm signals are read in this zone (Kazakhstan: UTC+5 since March 2024)."""
    stable_id_jaccard: float = 0.3
    """Member overlap needed to carry a cluster id over from an earlier run."""
    max_evidence_per_edge: int = 20

    @property
    def fast_window(self) -> int:
        if self.fast_window_seconds is not None:
            return int(self.fast_window_seconds)
        return max(1, int(self.window_seconds) // 6)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        data["fast_window_seconds"] = self.fast_window
        return data
