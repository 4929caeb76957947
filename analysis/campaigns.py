"""Scored, explained flags: turn a coordinated cluster into a 0-100 score, a confidence and words.

Score formula (quoted by the report's methodology page)
-------------------------------------------------------
Four components, each between 0 and 1:

* **C, coordination strength** = ``sqrt(density) * (1 - exp(-x / 3))`` where ``density`` is the
  share of member pairs linked by a coordination edge and ``x`` the mean excess over chance
  per edge (popularity-weighted co-actions minus what the null model expects,
  `analysis.coordination`). Three co-actions beyond chance per pair give 0.63, six 0.86.
* **A, account signals** = mean of the two highest of: share of members that were young
  (< 30 days) when posting, share in the largest creation batch (3+ accounts created within 3
  days; 0 below 3), share with formulaic or sequential handles, share with a machine rhythm
  (regular intervals, round-the-clock or office-shift posting), share of near-pure reposters
  (repost ratio >= 0.8). Two independent signals agreeing count; one alone counts half.
* **S, smear share** = share of the cluster's evidence posts that use smear vocabulary, minus
  the share using support vocabulary (floored at 0). A solidarity campaign gets S = 0.
* **T, target focus** = share of the cluster's evidence posts that mention a defender.

``score = round(100 * (0.40 C + 0.15 A + 0.30 S + 0.15 T))``

The score says how much a cluster looks like a coordinated smear campaign; the stance
(hostile / supportive / unclear, `analysis.smear`) says which side it is on and is reported
beside it, so a coordinated support campaign is shown as such, with a low score.

Confidence is about the strength of the evidence, not the score:

* **high**: 5+ members, the cluster's co-actions have a Poisson tail below 1e-9 against the
  null model, the median edge rests on 3+ distinct repetitions (each act counted once), and
  the members' shared posts show two or more kinds of trace (say the same text and the same
  link, even in one act) or the edges come from the fast sub-network;
* **medium**: a cluster tail below 1e-6 and the median edge on ``min_repetitions``+ objects;
* **low**: otherwise (small or thinly evidenced clusters: a lead, not a finding).

An analyst's review (confirmed / dismissed) is stored separately and never changes the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import poisson

__all__ = [
    "ScoreInputs",
    "score_cluster",
    "confidence_of",
    "cluster_p_value",
    "WEIGHTS",
    "LAYER_PHRASES",
]

WEIGHTS = {"coordination": 0.40, "accounts": 0.15, "smear": 0.30, "target": 0.15}

LAYER_PHRASES = {
    "link": "shared the same link",
    "repost": "reposted the same post",
    "reply": "replied to the same post",
    "text": "posted the same text",
    "near_text": "posted near-identical texts",
    "hashtags": "used the same hashtag sequence",
    "pileon": "mentioned the same defender together",
}


@dataclass(frozen=True)
class ScoreInputs:
    """Everything the formula reads, already aggregated per cluster."""

    size: int
    density: float
    mean_edge_excess: float
    young_share: float
    batch_share: float
    handle_share: float
    rhythm_share: float
    reposter_share: float
    smear_share: float
    support_share: float
    target_share: float


def score_cluster(x: ScoreInputs) -> tuple[int, dict[str, float]]:
    """The 0-100 score and its components (see module docstring)."""
    coordination = math.sqrt(max(x.density, 0.0)) * (1 - math.exp(-max(x.mean_edge_excess, 0) / 3))
    signals = sorted(
        [x.young_share, x.batch_share, x.handle_share, x.rhythm_share, x.reposter_share],
        reverse=True,
    )
    accounts = (signals[0] + signals[1]) / 2
    smear = max(0.0, x.smear_share - x.support_share)
    target = x.target_share
    total = (
        WEIGHTS["coordination"] * coordination
        + WEIGHTS["accounts"] * accounts
        + WEIGHTS["smear"] * smear
        + WEIGHTS["target"] * target
    )
    components = {
        "coordination": round(coordination, 4),
        "accounts": round(accounts, 4),
        "smear": round(smear, 4),
        "target": round(target, 4),
    }
    return int(round(100 * min(max(total, 0.0), 1.0))), components


def cluster_p_value(observed: int, expected: float) -> float:
    """Poisson tail of the cluster's total co-actions against the null model's expectation."""
    if observed <= 0:
        return 1.0
    return float(poisson.sf(observed - 1, max(expected, 1e-300)))


def confidence_of(
    *,
    size: int,
    p_value: float,
    median_edge_objects: float,
    layers_used: int,
    fast_share: float,
    min_repetitions: int,
) -> str:
    """high / medium / low (see module docstring)."""
    if (
        size >= 5
        and p_value < 1e-9
        and median_edge_objects >= 3
        and (layers_used >= 2 or fast_share >= 0.5)
    ):
        return "high"
    if p_value < 1e-6 and median_edge_objects >= min_repetitions:
        return "medium"
    return "low"


def _span_words(seconds: float) -> str:
    if seconds < 90:
        return f"{int(round(seconds))} s"
    if seconds < 5400:
        return f"{int(round(seconds / 60))} min"
    return f"{seconds / 3600:.1f} h"


def explain(facts: dict[str, Any]) -> list[str]:
    """Plain-language reasons, most telling first. ``facts`` is built by `analysis.engine`."""
    lines: list[str] = []
    size = facts["size"]
    about = f" about {facts['target_name']}" if facts.get("target_name") else ""
    for k, (layer, info) in enumerate(facts["layers"]):
        phrase = LAYER_PHRASES.get(layer, f"co-acted ({layer})")
        occasions = info.get("occasions", info["objects"])
        lines.append(
            f"{info['accounts']} of the {size} accounts {phrase}{about if k == 0 else ''} "
            f"within {_span_words(info['median_span_s'])} (median) on {occasions} "
            f"occasion{'s' if occasions != 1 else ''}."
        )
    lines.append(
        f"{facts['edges']} of the {facts['possible']} member pairs are linked; together the "
        f"pairs co-acted {facts['observed']} times where chance (the null model) predicts "
        f"{facts['expected']:.1f}."
    )
    if facts.get("fast_edges"):
        lines.append(
            f"{facts['fast_edges']} links repeat within {facts['fast_window']} s "
            "(the fast sub-network)."
        )
    batch = facts.get("batch")
    if batch and batch["count"] >= 3:
        if batch["start"] == batch["end"]:
            lines.append(f"{batch['count']} were created on {batch['start']}.")
        else:
            lines.append(
                f"{batch['count']} were created between {batch['start']} and {batch['end']}."
            )
    if facts.get("young"):
        lines.append(
            f"{facts['young']} were less than {facts['young_days']} days old when posting."
        )
    if facts.get("handles"):
        lines.append(f"{facts['handles']} have formulaic or sequential handles.")
    if facts.get("rhythm"):
        lines.append(
            f"{facts['rhythm']} post with a machine-like rhythm "
            "(regular intervals, round the clock or office shifts)."
        )
    if facts.get("smear_share", 0) > 0:
        cats = ", ".join(c.replace("_", " ") for c in facts.get("smear_categories", [])[:3])
        lines.append(
            f"{round(100 * facts['smear_share'])}% of the posts use smear vocabulary"
            + (f" ({cats})." if cats else ".")
        )
    if facts.get("support_share", 0) > 0:
        lines.append(f"{round(100 * facts['support_share'])}% of the posts use support vocabulary.")
    if facts.get("target_share", 0) > 0 and facts.get("target_name"):
        lines.append(
            f"{round(100 * facts['target_share'])}% of the posts mention {facts['target_name']}."
        )
    return lines


def alternatives(facts: dict[str, Any]) -> list[str]:
    """Other explanations considered, and what the data says about each."""
    out = []
    outside = facts.get("median_outside_accounts", 0)
    if outside <= 1:
        out.append(
            "Organic reaction to a popular post or link: unlikely, the shared objects were used "
            "by almost no one outside these accounts."
        )
    else:
        out.append(
            "Organic reaction to a popular post or link: possible in part, the shared objects "
            f"were also used by a median of {int(outside)} other accounts; popular objects are "
            "down-weighted and the pairs still co-acted beyond chance."
        )
    p = facts.get("p_value", 1.0)
    p_words = "below 1e-300" if p < 1e-300 else f"{p:.1e}"
    out.append(
        "Chance meetings of very active accounts: the null model, which keeps every account's "
        f"activity, puts the probability of this much co-action at {p_words}."
    )
    if facts.get("stance") == "supportive":
        out.append(
            "A solidarity campaign: the posts support the defender; this is coordination, not "
            "a smear."
        )
    elif facts.get("stance") == "unclear":
        out.append(
            "Neither smear nor support vocabulary dominates: read the narratives before "
            "calling this an attack."
        )
    if facts.get("reposter_share", 0) >= 0.5 or facts.get("rhythm_share", 0) >= 0.5:
        out.append(
            "News feeds or automated aggregators reposting the same source: check the "
            "accounts' profiles; such feeds are coordinated but may be declared."
        )
    if facts.get("batch_share", 0) >= 0.5:
        out.append(
            "One operator running several accounts: consistent with the creation batch; the "
            "data cannot tell a single operator from a group."
        )
    return out


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0
