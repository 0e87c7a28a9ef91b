"""Size limits checked before anything is allocated: the device's memory and int32 indexing.

A request for states or parameters that cannot exist (a 10¹² batch, a 10³⁰-neuron layer) is
refused with a message naming the bytes, instead of handing back arrays that were never
allocated (printing them aborts the process) or failing deep inside XLA.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import jax

from .._errors import ArgumentError


__all__ = ["device_memory_bytes", "MAX_NEURONS", "check_state_memory"]

#: the most neurons one layer may have: one layer's flat index is an int32 inside jitted code
MAX_NEURONS = 2**31 - 1


def device_memory_bytes() -> int:
    """What the default device can hold: its memory limit, or the host's physical memory on CPU."""
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except (RuntimeError, NotImplementedError):  # pragma: no cover - backends without stats
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return 2**40


def check_state_memory(
    shapes: Iterable[tuple[int, ...]],
    itemsize: int,
    where: str,
    *,
    fix: str = "Use a smaller batch_size or smaller layers.",
) -> int:
    """The bytes of states of ``shapes``; refuse more than the default device's memory (ArgumentError).

    Example:
        >>> from hamux_graph._internal.limits import check_state_memory
        >>> check_state_memory([(2, 3)], 4, "init_states")
        24
        >>> check_state_memory([(10**12, 64)], 4, "init_states")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        hamux_graph._errors.ArgumentError: init_states: the states need 256,000,000,000,000 bytes (...
    """
    total = sum(math.prod(s) for s in shapes) * itemsize
    limit = device_memory_bytes()
    if total > limit:
        raise ArgumentError(
            f"{where}: the states need {total:,} bytes ({total / 2**30:,.1f} GiB), more than this device's memory "
            f"({limit:,} bytes). {fix}"
        )
    return total
