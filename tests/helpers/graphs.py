"""HAM graphs shared by the drawing tests (static figures and the interactive page)."""

from __future__ import annotations

import hamux_graph as hg


def chain(n: int, skip: bool = True) -> hg.HAM:
    """``x0 … x{n-1}``, a DenseSynapse between neighbours, one 3-way synapse over x0, x{n/2}, x{n-1}."""
    ham = hg.HAM()
    for i in range(n):
        ham.add_layer(f"x{i}", hg.TanhLayer((16,)))
    for i in range(n - 1):
        ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
    if skip:
        ham.add_synapse("skip", hg.DenseSynapse(), layers=("x0", f"x{n // 2}", f"x{n - 1}"))
    return ham
