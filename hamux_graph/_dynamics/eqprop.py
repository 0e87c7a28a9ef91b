"""Equilibrium propagation: parameter gradients from two (or three) relaxed phases.

For a loss ``C(g, y)`` of the activations at the fixed point, the nudged energy
``E_β = E + β·C`` still gives a Lyapunov flow (``τ dx/dt = −∂E_β/∂g``, because ``C``
depends on ``x`` only through ``g = ∇L(x − b)``). With ``x_β`` its fixed point,

    d C(x_0) / dθ = lim_{β→0} [∂E/∂θ(x_β) − ∂E/∂θ(x_{−β})] / (2β)

(Scellier & Bengio 2017; the symmetric form has an O(β²) bias, the one-sided
``[∂E/∂θ(x_β) − ∂E/∂θ(x_0)]/β`` an O(β) bias). Only relaxations and one energy gradient
per phase are needed: no backward pass through the dynamics and no adjoint solve.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from .._energy import kernel, stacking
from .._energy.core import AbstractEnergyCore, as_dict, flat_states, StatesLike
from .._errors import ArgumentError
from .._types import ClampSpec
from .common import check_scalar, check_steps, finish, RELAX_HINT
from .engine import group_in_trace, prepare, start_engine
from .relax import relax_loop


__all__ = ["eqprop_grad"]


@eqx.filter_jit
def _eqprop_jit(model, flat, batch, target, cost, beta, kinds, masks, dt, tol, max_steps: int, symmetric: bool):
    if batch is None:
        flat = tuple(x[None] for x in flat)
        target = jax.tree.map(lambda y: jnp.asarray(y)[None], target)
    st, params, xg = group_in_trace(model, kinds, flat, True)
    engine, start = start_engine(model, st, params, xg, True, dt, masks)
    n_layers = len(model.layer_names)

    def activations_dict(gs):  # one sample, every group -> {layer: g}
        return as_dict(model, stacking.from_groups(st, gs, n_layers))

    def nudged(b):
        def nudge(gs, y):
            return b * cost(activations_dict(gs), y)

        return lambda free: engine.energy_and_dEdg(free, extra=nudge, extra_inputs=target)

    def phase(begin, b):
        return relax_loop(engine, begin, tol, max_steps, False, None if b is None else nudged(b))

    def dE_dtheta(free):
        states = jax.lax.stop_gradient({**xg, **free})

        def mean_energy(m):
            grouped = kernel.group_parameters(st, m)
            return jnp.mean(jax.vmap(lambda x: kernel.energy(st, grouped, x))(states))

        return eqx.filter_grad(mean_energy)(model)

    free, _, _, conv0, res0 = phase(start, None)
    gs = engine.activations(free)
    loss = jnp.mean(jax.vmap(lambda g, y: cost(activations_dict(g), y))(gs, target))
    plus, _, _, conv1, res1 = phase(free, beta)
    g_plus = dE_dtheta(plus)
    if symmetric:
        minus, _, _, conv2, res2 = phase(free, -beta)
        g_other, scale = dE_dtheta(minus), 2.0 * beta
    else:
        conv2, res2 = conv0, res0
        g_other, scale = dE_dtheta(free), beta
    grads = jax.tree.map(lambda a, b: (a - b) / scale, g_plus, g_other)
    return loss, grads, (conv0, conv1, conv2), (res0, res1, res2)


def eqprop_grad(
    model: AbstractEnergyCore,
    xs: StatesLike,
    target: PyTree,
    cost: Callable[[dict[str, Array], PyTree], Array],
    *,
    beta: float = 0.05,
    symmetric: bool = True,
    tol: float = 1e-6,
    max_steps: int = 2000,
    dt: float | Array = 0.1,
    clamp: ClampSpec = None,
    throw: bool = True,
) -> tuple[Array, PyTree]:
    """Loss and equilibrium-propagation estimate of its parameter gradient.

    Args:
        model: the compiled HAM.
        xs: initial states (optionally batched); clamped layers hold the inputs.
        target: what ``cost`` compares with, per sample (leading batch axis for batched states).
        cost: ``cost(activations, target) -> scalar`` for ONE sample; ``activations`` is a
            dict ``{layer: g}``. Use a module-level function (a new lambda each call recompiles).
        beta: nudging strength ``β > 0``.
        symmetric: use phases ``±β`` (bias O(β²)) instead of ``0`` and ``β`` (bias O(β)).
        tol: convergence threshold of every phase (RMS of the phase's ``∂E_β/∂g``).
        max_steps: step cap of every phase.
        dt: Euler step size.
        clamp: layer names held fixed, or ``{layer: bool mask}``.
        throw: raise ``ConvergenceError`` if a phase did not converge (the estimate is
            meaningless away from fixed points); inside a user's ``jit`` this becomes an
            equinox runtime error with the same message. With ``False`` nothing is checked.

    Returns:
        ``(loss, grads)``: the batch-mean cost at the free fixed point, and a pytree like
        ``model`` (``None`` on non-array leaves, as ``eqx.filter_grad``) estimating its gradient.

    Raises:
        ConvergenceError: when ``throw`` and a phase did not converge.
        StateError: for bad states or clamp.
        ArgumentError: for bad ``beta``, ``tol``, ``dt``, ``max_steps`` or ``cost``.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> ham.add_layer("v", hg.IdentityLayer((3,)))
        >>> ham.add_layer("o", hg.TanhLayer((2,)))
        >>> ham.add_synapse("vo", hg.DenseSynapse(stdinit=0.3), layers=("v", "o"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> def mse(g, y):
        ...     return 0.5 * jnp.sum((g["o"] - y) ** 2)
        >>> xs = {"v": jnp.ones(3), "o": jnp.zeros(2)}
        >>> loss, grads = hg.eqprop_grad(model, xs, jnp.array([0.5, -0.5]), mse, clamp=("v",))
        >>> grads.synapse("vo").W.shape
        (3, 2)
    """
    beta_a = check_scalar("beta", beta)
    tol_a = check_scalar("tol", tol, allow_zero=True)
    dt_a = check_scalar("dt", dt)
    max_steps = check_steps("max_steps", max_steps)
    if not callable(cost):
        raise ArgumentError(f"cost must be a function cost(activations, target) -> scalar, got {type(cost).__name__}.")
    given = prepare(model, xs, clamp)
    flat, batch = flat_states(model, xs) if given.layout is not None else (given.arrays, given.batch)
    loss, grads, convs, ress = _eqprop_jit(
        model,
        flat,
        batch,
        target,
        cost,
        beta_a,
        given.clamp.kinds,
        given.clamp.masks,
        dt_a,
        tol_a,
        max_steps,
        bool(symmetric),
    )
    hint = RELAX_HINT.replace(
        "pass throw=False to get the result with its `converged` flag instead", "use a smaller beta"
    )
    names = ("free", "nudged +β", "nudged −β" if symmetric else "free")
    for name, conv, res in zip(names, convs, ress):
        loss, grads = finish(
            (loss, grads),
            conv,
            res,
            max_steps,
            throw=bool(throw),
            what=f"equilibrium propagation ({name} phase)",
            hint=hint,
            tol=tol_a,
        )
    return loss, grads
