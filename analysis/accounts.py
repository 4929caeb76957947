"""Account signals: the forensics an analyst checks by hand, computed for cluster members.

None of these proves anything alone (young accounts and number-suffixed handles are common),
so they only raise a cluster's score and appear in its explanation; they never create a
cluster. Per account:

* ``age_days``: median account age at the time of its posts (NaN when the platform gives no
  creation date); ``young`` when below ``young_account_days``.
* ``formulaic_handle``: a handle that looks machine-made: a name followed by 3+ digits (not
  a year), a
  random-looking string (long runs of consonants or interleaved letters and digits), or
  hex-like; the reason is kept.
* ``repost_ratio``: share of the account's posts that are plain reposts.
* ``defender_share``: share of its posts that mention a defender.
* Rhythm, read in the local time zone: ``interval_cv`` (coefficient of variation of the gaps
  between posts; below 0.3 with 6+ posts is machine-regular), ``active_hours`` (distinct
  local hours), ``round_the_clock`` (20+ distinct hours with 20+ posts), ``office_hours``
  (90%+ of 10+ posts on weekdays 09-18: a shift pattern).

Per cluster: ``creation_batch`` finds the largest group of members created within
``creation_batch_days`` of each other, and ``handle_sequences`` the members whose handles are
the same once digits are removed (patriot_01, patriot_02, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.frames import AnalysisInput
from analysis.params import AnalysisParams

__all__ = [
    "account_signals",
    "creation_batch",
    "handle_sequences",
    "handle_pattern",
    "CreationBatch",
]

_NAME_DIGITS = re.compile(r"^[a-z]+[._-]?[a-z]*[._-]?\d{3,}$")
# a birth year or "2000" after a name is what people choose; "1001", "19874" are counters
_YEAR_SUFFIX = re.compile(r"(?<!\d)(19\d\d|20[0-2]\d)$")
_HEX = re.compile(r"^[0-9a-f]{8,}$")
_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_ALNUM_SWITCH = re.compile(r"[a-z]\d|\d[a-z]")


def _local_part(handle: str) -> str:
    h = handle.strip().lstrip("@").lower()
    h = h.split("@", 1)[0]
    # bluesky-style handles: the first label is the chosen name, the rest the provider
    return h.split(".", 1)[0] if "." in h else h


def handle_pattern(handle: str | None) -> str | None:
    """Why a handle looks machine-made, or None. Deterministic and cheap."""
    if not isinstance(handle, str) or not handle.strip():
        return None
    h = _local_part(handle)
    if _HEX.match(h) and any(c.isdigit() for c in h):
        return "hex-like string"
    if _NAME_DIGITS.match(h) and not _YEAR_SUFFIX.search(h):
        return "name followed by digits"
    if len(h) >= 8 and _CONSONANTS.search(h):
        return "random-looking letters"
    if len(h) >= 8 and len(_ALNUM_SWITCH.findall(h)) >= 3:
        return "letters and digits interleaved"
    return None


def account_signals(
    inp: AnalysisInput, account_pks: list[int] | np.ndarray, params: AnalysisParams
) -> pd.DataFrame:
    """One row per account in ``account_pks`` (index account_pk) with the signals above."""
    wanted = pd.Index(sorted({int(a) for a in account_pks}), name="account_pk")
    posts = inp.posts[inp.posts["account_pk"].isin(wanted)]
    accounts = inp.accounts.drop_duplicates("account_pk").set_index("account_pk")
    accounts = accounts.reindex(wanted)
    out = pd.DataFrame(index=wanted)
    out["platform"] = accounts["platform"]
    out["author_id"] = accounts["author_id"]
    out["handle"] = accounts["handle"]
    out["created_at"] = accounts["created_at"]
    g = posts.groupby("account_pk", sort=True)
    out["n_posts"] = g.size().reindex(wanted).fillna(0).astype(np.int64)
    created = accounts["created_at"].reindex(posts["account_pk"]).to_numpy()
    age = (posts["created_at"].to_numpy() - created) / np.timedelta64(1, "D")
    age_s = pd.Series(np.asarray(age, dtype=np.float64), index=posts.index)
    out["age_days"] = age_s.groupby(posts["account_pk"]).median().reindex(wanted)
    out["young"] = out["age_days"] < params.young_account_days
    reasons = out["handle"].map(handle_pattern)
    out["formulaic_handle"] = reasons.notna()
    out["handle_reason"] = reasons
    out["repost_ratio"] = g["repost_of"].apply(lambda s: float(s.notna().mean())).reindex(wanted)
    mentioned = posts["post_pk"].isin(inp.mentions["post_pk"]) if len(inp.mentions) else False
    ment = pd.Series(mentioned, index=posts.index).astype(float)
    out["defender_share"] = ment.groupby(posts["account_pk"]).mean().reindex(wanted)
    local = posts["created_at"] + pd.Timedelta(hours=params.local_utc_offset_hours)
    hours = local.dt.hour
    weekday = local.dt.day_of_week
    office = ((weekday < 5) & (hours >= 9) & (hours < 18)).astype(float)
    out["active_hours"] = hours.groupby(posts["account_pk"]).nunique().reindex(wanted)
    office_share = office.groupby(posts["account_pk"]).mean().reindex(wanted)
    out["office_hours"] = (office_share >= 0.9) & (out["n_posts"] >= 10)
    out["round_the_clock"] = (out["active_hours"] >= 20) & (out["n_posts"] >= 20)
    ordered = posts.sort_values(["account_pk", "created_at"])
    gaps = ordered.groupby("account_pk")["created_at"].diff().dt.total_seconds()
    gstats = gaps.groupby(ordered["account_pk"]).agg(["mean", "std"])
    cv = (gstats["std"] / gstats["mean"]).reindex(wanted)
    out["interval_cv"] = cv
    out["regular_rhythm"] = (cv < 0.3) & (out["n_posts"] >= 6)
    for col in ("young", "office_hours", "round_the_clock", "regular_rhythm"):
        out[col] = out[col].fillna(False).astype(bool)
    return out


@dataclass(frozen=True)
class CreationBatch:
    """The largest group of accounts created within a few days of each other."""

    count: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    account_pks: tuple[int, ...]


def creation_batch(created: pd.Series, days: int) -> CreationBatch:
    """Largest set of accounts (index = account_pk) created within ``days`` of each other."""
    s = created.dropna().sort_values(kind="stable")
    if len(s) < 2:
        return CreationBatch(len(s), None, None, tuple(int(i) for i in s.index))
    t = pd.to_datetime(s, utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    end = np.searchsorted(t, t + days * 86_400 * 10**9, side="right")
    sizes = end - np.arange(len(t))
    best = int(np.argmax(sizes))
    sel = s.iloc[best : end[best]]
    return CreationBatch(
        int(sizes[best]), sel.iloc[0], sel.iloc[-1], tuple(sorted(int(i) for i in sel.index))
    )


def handle_sequences(handles: pd.Series) -> list[int]:
    """Members (index) whose handles coincide once digits are removed, in groups of 3+."""
    base = handles.dropna().map(lambda h: re.sub(r"[\d._-]+", "", _local_part(str(h))))
    base = base[base.str.len() >= 3]
    counts = base.value_counts()
    common = counts[counts >= 3].index
    return sorted(int(i) for i in base[base.isin(common)].index)
