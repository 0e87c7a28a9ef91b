"""Interoperability with other associative-memory code: bring their models into hamux_graph.

- ``from_hamux(hamux_ham)``: a hamux v0.2 ``HAM`` (the ``hamux`` package) becomes a
  hamux_graph ``HAM`` and compiled model with the same energy and Legendre gradient
  (``pip install hamux_graph[interop]``).

Example:
    >>> import hamux_graph as hg
    >>> "from_hamux" in hg.interop.__all__
    True
"""

from __future__ import annotations

from .hamux_models import from_hamux

__all__ = ["from_hamux"]
