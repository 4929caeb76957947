from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.results import PreviousCluster, match_cluster_ids


def test_ids_carry_over_by_member_overlap():
    previous = [("C3", {1, 2, 3, 4}), ("C5", {10, 11, 12})]
    ids = match_cluster_ids([{10, 11, 12, 13}, {1, 2, 3}, {50, 51}], previous)
    assert ids == ["C5", "C3", "C6"]


def test_one_previous_id_is_used_once_best_overlap_wins():
    previous = [PreviousCluster("C1", frozenset({1, 2, 3, 4, 5, 6}))]
    ids = match_cluster_ids([{1, 2}, {1, 2, 3, 4, 5}], previous)
    assert ids == ["C2", "C1"]


def test_below_threshold_gets_a_new_id():
    ids = match_cluster_ids([{1, 20, 21, 22}], [("C9", {1, 2, 3, 4})], threshold=0.3)
    assert ids == ["C10"]


def test_no_previous_starts_at_one_or_given_number():
    assert match_cluster_ids([{1}, {2}], []) == ["C1", "C2"]
    assert match_cluster_ids([{1}], [], next_number=40) == ["C40"]


def test_members_may_be_any_hashable_keys():
    prev = [("C2", {("bluesky", "did:a"), ("bluesky", "did:b")})]
    assert match_cluster_ids([{("bluesky", "did:a"), ("bluesky", "did:b")}], prev) == ["C2"]


sets = st.lists(st.frozensets(st.integers(0, 30), min_size=1, max_size=8), max_size=6)


@settings(max_examples=80, deadline=None)
@given(sets, sets)
def test_ids_are_unique_and_identical_sets_keep_their_id(current, prev_sets):
    previous = [(f"C{i + 1}", s) for i, s in enumerate(prev_sets)]
    ids = match_cluster_ids(current, previous)
    assert len(ids) == len(set(ids)) == len(current)
    # a current set identical to a unique previous set, with no rival at Jaccard 1, keeps its id
    for i, s in enumerate(current):
        same = [sid for sid, p in previous if p == s]
        if len(same) == 1 and sum(1 for c in current if c == s) == 1:
            assert ids[i] == same[0]
