"""Give memory back to the operating system after the daemon's heavy jobs.

The analysis (pandas, networkx) and the weekly report (matplotlib, reportlab) allocate
hundreds of MiB for a few seconds. CPython frees it, but glibc keeps the freed heap pages
mapped, fragmented between long-lived objects, so a daemon's resident memory would ratchet up
with every run for months. `malloc_trim` returns those pages; elsewhere (musl, macOS) there
is nothing to do and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache

__all__ = ["release_freed_memory"]


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Collect garbage cycles and trim the C heap; True when the heap could be trimmed."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
