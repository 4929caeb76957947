from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.campaigns import ScoreInputs, cluster_p_value, confidence_of, score_cluster


def inputs(**kw) -> ScoreInputs:
    base = dict(
        size=10,
        density=1.0,
        mean_edge_excess=6.0,
        young_share=0.0,
        batch_share=0.0,
        handle_share=0.0,
        rhythm_share=0.0,
        reposter_share=0.0,
        smear_share=0.0,
        support_share=0.0,
        target_share=0.0,
    )
    base.update(kw)
    return ScoreInputs(**base)


def test_documented_formula():
    score, comp = score_cluster(
        inputs(
            young_share=1.0, batch_share=0.8, smear_share=0.9, support_share=0.1, target_share=0.5
        )
    )
    # C = 1 * (1 - e^-2) = 0.8647; A = (1 + 0.8)/2 = 0.9; S = 0.8; T = 0.5
    assert comp == {"coordination": 0.8647, "accounts": 0.9, "smear": 0.8, "target": 0.5}
    assert score == round(100 * (0.4 * 0.86466 + 0.15 * 0.9 + 0.3 * 0.8 + 0.15 * 0.5))


def test_support_cancels_smear_component():
    score_s, comp = score_cluster(inputs(smear_share=0.1, support_share=0.9, target_share=1.0))
    score_h, _ = score_cluster(inputs(smear_share=0.9, support_share=0.0, target_share=1.0))
    assert comp["smear"] == 0.0 and score_s < score_h


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 1),
    st.floats(0, 50),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_score_is_bounded_and_monotone_in_smear(
    density, excess, young, smear, support, target, batch
):
    kw = dict(
        density=density,
        mean_edge_excess=excess,
        young_share=young,
        support_share=support,
        target_share=target,
        batch_share=batch,
    )
    s1, _ = score_cluster(inputs(smear_share=smear * 0.5, **kw))
    s2, _ = score_cluster(inputs(smear_share=smear, **kw))
    assert 0 <= s1 <= s2 <= 100


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (dict(size=6, p_value=1e-12, median_edge_objects=4, layers_used=2, fast_share=0), "high"),
        (dict(size=6, p_value=1e-12, median_edge_objects=4, layers_used=1, fast_share=0.6), "high"),
        (
            dict(size=6, p_value=1e-12, median_edge_objects=4, layers_used=1, fast_share=0.1),
            "medium",
        ),
        (dict(size=3, p_value=1e-7, median_edge_objects=2, layers_used=1, fast_share=0), "medium"),
        (dict(size=3, p_value=1e-3, median_edge_objects=2, layers_used=3, fast_share=1), "low"),
    ],
)
def test_confidence(kw, expected):
    assert confidence_of(min_repetitions=2, **kw) == expected


def test_cluster_p_value():
    assert cluster_p_value(0, 1.0) == 1.0
    assert cluster_p_value(10, 0.1) < 1e-15
    assert 0.2 < cluster_p_value(1, 0.5) < 0.5
