"""Small pieces of the PDF layout that analysts read directly."""

from __future__ import annotations

from reports.pdf import _signal_text


def test_signal_values_read_as_words_not_python_reprs() -> None:
    assert _signal_text("smear_categories", ["foreign_agent", "grant_eater"]) == (
        "foreign agent, grant eater"
    )
    assert _signal_text("creation_batch", {"count": 24, "start": "2026-11-10T03:03:00Z"}) == (
        "count 24; start 2026-11-10T03:03:00Z"
    )
    assert _signal_text("layers", {"link": 248, "near_text": 1200}) == "link 248; near text 1,200"
    assert _signal_text("internal_excess", 2020.4) == "2,020"
    assert _signal_text("density", 0.89912) == "0.899"
    # a Poisson tail that underflows is not "0": it is beyond what a float can say
    assert _signal_text("p_value", 0.0) == "< 1e-15 (far beyond chance)"
    assert _signal_text("p_value", 0.0123) == "0.0123"
    assert "{" not in _signal_text("anything", {"a": [1, 2], "b": {"c": 3}})
