"""Local learning rules: Hebbian learning without backpropagation (``hg.learning``).

Pure, jittable rules with one contract, ``rule(W, x, *, lr, …) -> ΔW`` (``W`` of shape
``(M, D)``, one row per neuron; ``x`` a batch ``(B, D)``; the batch-mean update, scaled by
``lr``, with ``W``'s shape):

- ``oja``: one neuron per row converging to the top principal component (Oja 1982);
- ``sanger``: the top ``M`` principal components in eigenvalue order (Sanger 1989);
- ``bcm``: selectivity with a sliding threshold, ``(ΔW, theta_new)`` (Bienenstock, Cooper &
  Munro 1982);
- ``competing_units``: the Krotov–Hopfield 2019 rule (hidden units that learn digit strokes);
- ``fit``: the compiled epoch loop around any of them.

Example:
    >>> import jax, jax.numpy as jnp, hamux_graph as hg
    >>> W = jax.random.normal(jax.random.key(0), (4, 6))
    >>> hg.learning.competing_units(W, jnp.ones((3, 6)), lr=0.02, k=2).shape
    (4, 6)
"""

from .fit import fit as fit, FitHistory as FitHistory, FitResult as FitResult
from .rules import bcm as bcm, competing_units as competing_units, oja as oja, sanger as sanger


__all__ = ["oja", "sanger", "bcm", "competing_units", "fit", "FitResult", "FitHistory"]
