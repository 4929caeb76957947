"""Sharing a JSON-lines file between workers: every line in exactly one batch, numbered right."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.formats import base
from collector.formats.base import physical_line_batches, physical_lines

LIMIT = 40  # MAX_RECORD_BYTES for these tests, so that over-long lines are cheap to make

line_text = st.one_of(
    st.text(alphabet='ab{}" щ', min_size=1, max_size=30),  # an ordinary line
    st.sampled_from(["", " ", "\t", "  \r"]),  # blank
    st.text(alphabet="xy", min_size=LIMIT + 1, max_size=3 * LIMIT),  # over-long
)


def _file(lines: list[str], bom: bool, final_newline: bool) -> bytes:
    data = "\n".join(lines).encode()
    if final_newline:
        data += b"\n"
    return (b"\xef\xbb\xbf" if bom else b"") + data


# The patched limit is the same for every example, so sharing the fixture is fine.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(line_text, max_size=40),
    bom=st.booleans(),
    final_newline=st.booleans(),
    size=st.integers(1, 6),
    parts=st.integers(1, 3),
)
def test_parts_together_give_every_line_once_with_its_number(
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    bom: bool,
    final_newline: bool,
    size: int,
    parts: int,
) -> None:
    monkeypatch.setattr(base, "MAX_RECORD_BYTES", LIMIT)
    data = _file(lines, bom, final_newline)
    expected = list(physical_lines(io.BufferedReader(io.BytesIO(data))))
    batches: dict[int, list[tuple[int, bytes, int]]] = {}
    for part in range(parts):
        stream = io.BufferedReader(io.BytesIO(data))
        taken = physical_line_batches(stream, size, lambda n, part=part: n % parts == part)
        for index, batch in enumerate(taken):
            batches[index * parts + part] = batch
    assert sorted(batches) == list(range(len(batches)))
    joined = [line for number in sorted(batches) for line in batches[number]]
    assert joined == expected
    assert all(len(batch) == size for number, batch in batches.items() if number < len(batches) - 1)


def test_a_part_with_nothing_left_yields_nothing() -> None:
    data = b'{"a": 1}\n{"a": 2}\n'
    stream = io.BufferedReader(io.BytesIO(data))
    assert list(physical_line_batches(stream, 2, lambda n: n == 1)) == []
