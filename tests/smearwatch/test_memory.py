"""Freed heap memory goes back to the system after a heavy job (glibc only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from smearwatch.memory import _malloc_trim

CHILD = """
import os
from smearwatch.memory import release_freed_memory

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

junk, keep = [], []
for i in range(300_000):
    junk.append(bytearray(700))
    if i % 500 == 0:
        keep.append(bytearray(700))  # long-lived objects between the freed ones
del junk
before = rss_mib()
assert release_freed_memory()
print(before, rss_mib())
"""


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm") or _malloc_trim() is None,
    reason="needs Linux /proc and glibc's malloc_trim",
)
def test_heap_freed_between_long_lived_objects_is_returned() -> None:
    # In a child, so the test process's own heap does not blur the figures.
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, after = (float(x) for x in out.split())
    assert before - after > 100, (before, after)  # ~200 MiB freed but still mapped before
