"""HAM graphs shared by the tests: drawings (static figures and the interactive page) and file formats."""

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


def small_ham() -> hg.HAM:
    """Two layers (tanh with a bias, softmax with τ = 0.5), a dense synapse, a self-synapse and a shared copy."""
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((6,), beta=2.0, tau=0.5))
    ham.add_synapse("mem", hg.DenseSynapse(stdinit=0.1), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("mem2", shares="mem", layers=("v", "h"))
    return ham
