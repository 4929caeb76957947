"""The crowd around a cluster's bursts: is the group acting on its own, or a few faces in a crowd?

A cluster's *burst share* is, on its best layer, the median share of members among all accounts
acting on the object within +-window of the members' burst (one value per *occasion*: a burst
of member posts on one object, separated from the next by more than the window). A campaign
acts on its own objects (share near 1); fans of a popular account who repost it within seconds
are a few faces among the dozens who repost the same post in the same minute. (Counted over 30
minutes instead, a real retweet network, CooRTweet's russian_coord_tweets, fell below the
threshold too.) On the repost layer the author posting the reposted post is one of those
accounts when the post falls within +-window of the burst: reposts within a minute of a post's
appearance are reactions to it, and its author is part of that minute. Without it, fans who
repost a hub within seconds of its post (notifications) looked like a group of their own: on
the 1M bench (seed 2) seven hub fans were half of the accounts reposting around their bursts
(share 0.5, just reported); with the hub's posts their median share is 0.41 (0.29-0.60 per
burst). A campaign reposting its seed within seconds loses one account's worth of share (20
of 21); a network retweeting posts minutes or hours old loses nothing (in russian_coord_tweets
the originals that are in the data are 15 minutes to 14 hours older than the pairs'
retweets). The engine reports a dense cluster
only from ``min_burst_share`` up and a sparse one (a pair or a chain, weaker evidence) from
``min_sparse_burst_share`` up; the sparse trial applies the same test before it ranks edges
(`analysis.engine`), so that edges the crowd explains cannot vouch for others.

`CrowdIndex` indexes only the objects the given accounts touched (their events, every account's
actions on those objects); `object_bursts` is the per-object computation the cluster's evidence
and `burst_share` share, so the reported figure and the trial's test are the same number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import campaigns

__all__ = ["CrowdIndex", "object_bursts", "member_posts", "burst_share"]


class CrowdIndex:
    """How many accounts acted on an object around a burst of members' posts."""

    def __init__(self, events, member_events, window_ms: int) -> None:
        self.window_ms = int(window_ms)
        self.sorted: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, le in events.items():
            keys = np.unique(member_events[name]["key"].to_numpy())
            f = le.frame
            f = f[np.isin(f["key"].to_numpy(), keys)]
            if le.sources is not None and len(le.sources):
                # a reposted post's author posting it is one of the accounts around a
                # burst of reposts that follows within the window (module doc)
                src = le.sources[np.isin(le.sources["key"].to_numpy(), keys)]
                f = pd.concat([f, src[f.columns]], ignore_index=True)
            order = np.lexsort((f["t_ms"].to_numpy(), f["key"].to_numpy()))
            self.sorted[name] = (
                f["key"].to_numpy()[order],
                f["t_ms"].to_numpy()[order],
                f["account"].to_numpy()[order],
            )

    def accounts(self, layer: str, key: int, lo: int, hi: int) -> int:
        """Distinct accounts acting on ``key`` from ``lo - window`` to ``hi + window`` (>= 1)."""
        keys, t, acc = self.sorted[layer]
        a, b = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
        i = a + np.searchsorted(t[a:b], lo - self.window_ms, "left")
        j = a + np.searchsorted(t[a:b], hi + self.window_ms, "right")
        return max(len(np.unique(acc[i:j])), 1)


def object_bursts(
    crowd: CrowdIndex, layer: str, key: int, tms: np.ndarray, accs: list[int], gap_ms: int
) -> tuple[list[float], list[float]]:
    """Spans (s) and burst shares of the occasions of members' posts on one object.

    ``tms`` are the members' post times on the object in increasing order, ``accs`` their
    accounts; an occasion is a run of posts with pauses of at most ``gap_ms`` by at least two
    members (the same text pushed on three days is one object, three occasions).
    """
    spans: list[float] = []
    shares: list[float] = []
    cuts = [0, *(np.flatnonzero(np.diff(tms) > gap_ms) + 1).tolist(), len(tms)]
    for b0, b1 in zip(cuts[:-1], cuts[1:], strict=True):
        n_members = len(set(accs[b0:b1]))
        if n_members >= 2:
            lo, hi = int(tms[b0]), int(tms[b1 - 1])
            spans.append((hi - lo) / 1e3)
            shares.append(n_members / crowd.accounts(layer, key, lo, hi))
    return spans, shares


def member_posts(
    layer_evidence: pd.DataFrame,
    objects: pd.DataFrame,
    member_events: pd.DataFrame,
    member_set: set[int],
) -> pd.DataFrame:
    """Every member post on the objects of one layer's evidence rows, by (key, time, post)."""
    keys = np.unique(objects["key"].to_numpy()[np.unique(layer_evidence["obj"].to_numpy())])
    inside = member_events[
        member_events["key"].isin(keys) & member_events["account"].isin(member_set)
    ]
    return inside.drop_duplicates("post_pk").sort_values(["key", "t_ms", "post_pk"])


def burst_share(
    members: list[int] | set[int],
    evidence: pd.DataFrame,
    coord,
    member_events: dict[str, pd.DataFrame],
    crowd: CrowdIndex,
    window_ms: int,
) -> float:
    """The burst share of a group of accounts (module doc): the best layer's median."""
    member_set = set(members)
    ev = evidence[evidence["a"].isin(member_set) & evidence["b"].isin(member_set)]
    best = 0.0
    for layer, lev in ev.groupby("layer", sort=True):
        inside = member_posts(lev, coord.objects[layer], member_events[layer], member_set)
        c_key = inside["key"].to_numpy()
        c_t = inside["t_ms"].to_numpy()
        c_acc = inside["account"].to_numpy().tolist()
        shares: list[float] = []
        starts = np.flatnonzero(np.r_[True, c_key[1:] != c_key[:-1]]) if len(c_key) else []
        bounds = [*list(starts), len(c_key)]
        for g0, g1 in zip(bounds[:-1], bounds[1:], strict=True):
            shares += object_bursts(
                crowd, str(layer), int(c_key[g0]), c_t[g0:g1], c_acc[g0:g1], window_ms
            )[1]
        best = max(best, campaigns.median(shares))
    return best
