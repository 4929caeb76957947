from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from analysis.accounts import account_signals, creation_batch, handle_pattern, handle_sequences
from analysis.params import AnalysisParams

from .helpers import T0, build, post


@pytest.mark.parametrize(
    ("handle", "formulaic"),
    [
        ("aigerim19874.bsky.social", True),
        ("patriot_kz1001", True),
        ("@xkcdqwrtz@mastodon.social", True),
        ("a1b2c3d4e5.bsky.social", True),
        ("3fa9c0de7b.bsky.social", True),
        ("dana_writes.bsky.social", False),
        ("marat.law", False),
        ("anna.kesler.bsky.social", False),
        (None, False),
        ("ivan2000", False),
    ],
)
def test_handle_pattern(handle, formulaic):
    assert (handle_pattern(handle) is not None) is formulaic


def test_handle_sequences_need_three_alike():
    s = pd.Series({1: "patriot_01", 2: "patriot_02", 3: "patriot_77.bsky.social", 4: "dana"})
    assert handle_sequences(s) == [1, 2, 3]
    assert handle_sequences(pd.Series({1: "a1", 2: "b2"})) == []


def test_creation_batch_finds_largest_group_within_days():
    created = pd.Series(
        pd.to_datetime(
            ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-03", "2025-01-01", None], utc=True
        ),
        index=[10, 11, 12, 13, 14, 15],
    )
    batch = creation_batch(created, 3)
    assert batch.count == 4 and batch.account_pks == (10, 11, 12, 13)
    assert creation_batch(created, 0).count == 2


def test_account_signals():
    posts = []
    young = T0 - timedelta(days=5)
    for k in range(30):  # every 15 min, round the clock for ~7 hours... regular rhythm
        posts.append(
            post(
                "bot1",
                900 * k,
                f"text {k}",
                pid=f"b{k}",
                created=young,
                handle="qzxwvbnm12.bsky.social",
            )
        )
    for k, t in enumerate((0, 40, 3000, 3100, 9000, 20000, 20010, 26000, 40000, 41000)):
        posts.append(
            post("rt", t, "", pid=f"r{k}", repost_of=f"x{k}", created=T0 - timedelta(days=900))
        )
    inp = build(posts, {("bluesky", "b1"): ["ormanova"], ("bluesky", "b2"): ["ormanova"]})
    pks = dict(zip(inp.accounts["author_id"], inp.accounts["account_pk"], strict=True))
    sig = account_signals(inp.validate(), list(pks.values()), AnalysisParams())
    bot = sig.loc[pks["did:bot1"]]
    assert bot["young"] and 5 <= bot["age_days"] <= 5.3
    assert bot["formulaic_handle"]
    assert bot["regular_rhythm"] and bot["interval_cv"] == pytest.approx(0.0)
    assert bot["defender_share"] == pytest.approx(2 / 30)
    assert bot["repost_ratio"] == 0
    rt = sig.loc[pks["did:rt"]]
    assert rt["repost_ratio"] == 1.0 and not rt["young"] and not rt["regular_rhythm"]


def test_round_the_clock_and_office_hours():
    posts = [
        post("night", 3600 * h + 60 * d, f"t{h} {d}", pid=f"n{h}-{d}")
        for h in range(24)
        for d in range(2)
    ]
    # office: Mon-Fri 09-18 at UTC+5 = 04-13 UTC; T0 is Friday 10:00 UTC (15:00 local)
    posts += [post("office", -6 * 3600 + 600 * k, f"o{k}", pid=f"o{k}") for k in range(12)]
    inp = build(posts)
    pks = dict(zip(inp.accounts["author_id"], inp.accounts["account_pk"], strict=True))
    sig = account_signals(inp.validate(), list(pks.values()), AnalysisParams())
    assert sig.loc[pks["did:night"], "round_the_clock"]
    assert not sig.loc[pks["did:night"], "office_hours"]
    assert sig.loc[pks["did:office"], "office_hours"]
