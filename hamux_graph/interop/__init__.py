"""Interoperability with the field's models: published checkpoints and other libraries.

- ``load_energy_transformer(path)``: a published Energy Transformer checkpoint (``.npz``) as
  ``(ham, model)``; ``load_energy_transformer_pipeline(path)`` its image pipeline
  (``hg.vision.PatchPipeline``, HWC images).
- ``from_hamux(hamux_ham)``: a hamux v0.2 ``HAM`` (the ``hamux`` package) becomes a
  hamux_graph ``HAM`` and compiled model with the same energy and Legendre gradient
  (``pip install hamux_graph[interop]``).
- ``to_xgi(ham)``, ``from_xgi(H)``: a HAM as an ``xgi.Hypergraph`` (layers as nodes, synapses
  as edges) and back (``pip install hamux_graph[hypergraph]``).

Example:
    >>> import hamux_graph as hg
    >>> sorted(hg.interop.__all__)
    ['from_hamux', 'from_xgi', 'load_energy_transformer', 'load_energy_transformer_pipeline', 'to_xgi']
"""

from __future__ import annotations

from .energy_transformer import (
    load_energy_transformer as load_energy_transformer,
    load_energy_transformer_pipeline as load_energy_transformer_pipeline,
)
from .hamux_models import from_hamux as from_hamux
from .xgi import from_xgi as from_xgi, to_xgi as to_xgi


__all__ = ["load_energy_transformer", "load_energy_transformer_pipeline", "from_hamux", "to_xgi", "from_xgi"]
