"""How ``relax`` differentiates its fixed point: adjoint strategies (diffrax-style objects).

At a fixed point ``x* = F(x*, θ, c)`` of the clamped Euler map, a cotangent ``ḡ`` of ``x*``
is pulled back by solving the adjoint system ``(I − ∂F/∂x)ᵀ v = ḡ`` matrix-free and
returning ``(∂F/∂θ)ᵀ v`` and ``(∂F/∂c)ᵀ v``. An adjoint strategy says how that linear
system is solved; ``relax(..., adjoint=...)`` takes any ``AbstractAdjoint``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, PyTree

from .._errors import ArgumentError
from .._internal.parse import parse_float, parse_int


__all__ = ["AbstractAdjoint", "FixedPointAdjoint", "GMRESAdjoint", "ImplicitAdjoint"]


def _positive(name: str, owner: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        return parse_float(value, f"{owner}: {name}", positive=True, error=ArgumentError)

    return check


def _count(name: str, owner: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        return parse_int(value, f"{owner}: {name}", minimum=1, error=ArgumentError)

    return check


class AbstractAdjoint(eqx.Module):
    """How ``relax`` solves ``(I − J)ᵀ v = ḡ`` on the backward pass (``J = ∂F/∂x`` at ``x*``)."""

    @abc.abstractmethod
    def solve_adjoint(self, jt: Callable[[PyTree], PyTree], gbar: PyTree) -> tuple[PyTree, Bool[Array, ""]]:
        """Solve the adjoint system given ``jt(v) = Jᵀ v``; returns ``(v, converged)``."""


def _maxabs(tree: PyTree) -> Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a)) for a in jax.tree.leaves(tree)]))


class FixedPointAdjoint(AbstractAdjoint):
    """Iterate ``v ← ḡ + Jᵀ v``: converges whenever the forward Euler iteration does, at its rate.

    Args:
        tol: stop when ``max|Δv| ≤ tol·max(1, max|v|)``.
        max_steps: iteration cap.

    Example:
        >>> import hamux_graph as hg
        >>> hg.FixedPointAdjoint(tol=1e-6).max_steps
        2000
    """

    tol: float = eqx.field(static=True, converter=_positive("tol", "FixedPointAdjoint"), default=1e-7)
    max_steps: int = eqx.field(static=True, converter=_count("max_steps", "FixedPointAdjoint"), default=2000)

    def solve_adjoint(self, jt, gbar):
        def cond(carry):
            k, _, delta, scale = carry
            return (k < self.max_steps) & (delta > self.tol * jnp.maximum(1.0, scale))

        def body(carry):
            k, v, _, _ = carry
            v_new = jax.tree.map(jnp.add, gbar, jt(v))
            return k + 1, v_new, _maxabs(jax.tree.map(jnp.subtract, v_new, v)), _maxabs(v_new)

        inf = jnp.asarray(jnp.inf, jax.tree.leaves(gbar)[0].dtype)
        _, v, delta, scale = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), gbar, inf, _maxabs(gbar)))
        return v, delta <= self.tol * jnp.maximum(1.0, scale)


class GMRESAdjoint(AbstractAdjoint):
    """Solve the adjoint system with restarted GMRES (usually far fewer products ``Jᵀ v``).

    Args:
        tol: relative residual to reach.
        max_steps: iteration cap (restart cycles, as ``jax.scipy.sparse.linalg.gmres`` counts).
        restart: Krylov subspace size between restarts.

    Example:
        >>> import hamux_graph as hg
        >>> hg.GMRESAdjoint(tol=1e-6).restart
        20
    """

    tol: float = eqx.field(static=True, converter=_positive("tol", "GMRESAdjoint"), default=1e-7)
    max_steps: int = eqx.field(static=True, converter=_count("max_steps", "GMRESAdjoint"), default=2000)
    restart: int = eqx.field(static=True, converter=_count("restart", "GMRESAdjoint"), default=20)

    def solve_adjoint(self, jt, gbar):
        operator = lambda v: jax.tree.map(jnp.subtract, v, jt(v))  # v ↦ (I − Jᵀ) v
        v, _ = jax.scipy.sparse.linalg.gmres(
            operator, gbar, x0=gbar, tol=self.tol, atol=0.0, maxiter=self.max_steps, restart=self.restart
        )
        res = jax.tree.map(jnp.subtract, operator(v), gbar)
        rnorm = jnp.sqrt(sum(jnp.sum(r * r) for r in jax.tree.leaves(res)))
        bnorm = jnp.sqrt(sum(jnp.sum(b * b) for b in jax.tree.leaves(gbar)))
        return v, rnorm <= 10 * self.tol * jnp.maximum(bnorm, 1e-30)


_SOLVERS: dict[str, type[FixedPointAdjoint] | type[GMRESAdjoint]] = {
    "fixed_point": FixedPointAdjoint,
    "gmres": GMRESAdjoint,
}


def _solver_name(value: Any) -> str:
    if not isinstance(value, str) or value not in _SOLVERS:
        raise ArgumentError(
            f"ImplicitAdjoint: solver must be 'fixed_point' or 'gmres', got {value!r}. (Or pass "
            "hg.FixedPointAdjoint(...) / hg.GMRESAdjoint(...) to relax directly.)"
        )
    return value


class ImplicitAdjoint(AbstractAdjoint):
    """Implicit differentiation by name: ``solver="fixed_point"`` or ``"gmres"``.

    The same strategies as ``FixedPointAdjoint(tol, max_steps)`` and
    ``GMRESAdjoint(tol, max_steps)``, chosen by a name (kept for the original spelling;
    prefer the strategy objects).

    Args:
        solver: ``"fixed_point"`` (iterate ``v ← ḡ + Jᵀ v``) or ``"gmres"``.
        tol: tolerance of the adjoint solve.
        max_steps: iteration cap of the adjoint solve.

    Example:
        >>> import hamux_graph as hg
        >>> hg.ImplicitAdjoint(solver="gmres", tol=1e-6).solver
        'gmres'
    """

    solver: str = eqx.field(static=True, converter=_solver_name, default="fixed_point")
    tol: float = eqx.field(static=True, converter=_positive("tol", "ImplicitAdjoint"), default=1e-7)
    max_steps: int = eqx.field(static=True, converter=_count("max_steps", "ImplicitAdjoint"), default=2000)

    def strategy(self) -> AbstractAdjoint:
        """The strategy object this name stands for."""
        return _SOLVERS[self.solver](tol=self.tol, max_steps=self.max_steps)

    def solve_adjoint(self, jt, gbar):
        return self.strategy().solve_adjoint(jt, gbar)
