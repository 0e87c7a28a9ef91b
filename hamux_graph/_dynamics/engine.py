"""The one dynamics engine: clamped Euler dynamics of a compiled HAM in grouped form.

Every dynamics method (``step``, ``run``, ``energy_trace``, ``relax``, ``solve``,
``eqprop_grad``) runs on an ``Engine``, built inside the compiled function from the grouped
parameters and the grouped states (``kernel.py``) for one clamp pattern:

- held layers are not part of the dynamics: their activations, their energies, the
  hyperedges over held layers only, and the drive of multiaffine hyperedges from held
  layers onto one free layer are computed once per call (``kernel.precompute``);
- the free groups (free layers, and layers clamped with a mask) are the state the
  drivers carry; ``Engine.energy_and_dEdg`` evaluates them, ``Engine.step`` is the Euler
  step (``common.euler_step``, the one place the update is written).

An ``Engine`` is an equinox Module (a pytree): ``relax`` differentiates its implicit map
with respect to it, and ``solve`` passes it to diffrax as the vector field's ``args``.

``call_dynamics`` is the way in from a user's arguments, for the drivers that run through
``calls.grouped_call`` (cached, low per-call overhead): ``prepare`` takes the clamp from
``ClampSpec`` through ``normalize_clamp`` (a ``Clamp``) to ``split_clamp`` (a
``ClampSplit``: static kinds, traced masks); the masks travel as ``DynamicsInputs.masks``
into the compiled function, where ``start_engine`` gives them to ``Engine.masks`` and
``Engine.step`` to ``euler_step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._energy import calls, kernel, stacking
from .._energy.calls import GroupedCall
from .._energy.core import AbstractEnergyCore, as_dict, states_in, StatesLike, StatesOut
from .._energy.kernel import GroupParameters, HeldParts, Structure
from .._energy.packed import Layout, PackedStates, regroup
from .._types import ClampSpec, Shape
from .common import check_batched_clamp, ClampSplit, euler_step, free_rms, group_rates, normalize_clamp, split_clamp


__all__ = [
    "GroupedStates",
    "batch_map",
    "Engine",
    "start_engine",
    "DynamicsInputs",
    "Prepared",
    "prepare",
    "call_dynamics",
    "call_measure",
    "group_in_trace",
    "ungroup",
]

GroupedStates = dict[int, Array]


def batch_map(batched: bool) -> Callable[[Callable], Callable]:
    """``jax.vmap`` for batched states, the identity otherwise."""
    return jax.vmap if batched else (lambda fn: fn)


class Engine(eqx.Module):
    """The clamped dynamics of one compiled call, in grouped form (built inside a trace).

    Attributes:
        structure: the grouping for the call's clamp pattern (static).
        shapes: the model's layer shapes (static).
        taus: the model's time constants (static; ``rates_at`` for a schedule's step).
        batched: whether the states carry a leading batch axis (static).
        params: the grouped parameters.
        held: what held layers contribute (per sample; batched with the states).
        rates: ``dt/τ`` per free group (``common.group_rates``).
        masks: the boolean mask of every group clamped by a mask (``True`` = held).
        mask_values: the held values of those groups (their starting states).
    """

    structure: Structure = eqx.field(static=True)
    shapes: tuple[Shape, ...] = eqx.field(static=True)
    taus: tuple[float, ...] = eqx.field(static=True)
    batched: bool = eqx.field(static=True)
    params: GroupParameters
    held: HeldParts
    rates: dict[int, Array]
    masks: dict[int, Array]
    mask_values: dict[int, Array]

    def energy_and_dEdg(
        self,
        free: GroupedStates,
        *,
        extra: Callable[[GroupedStates, Any], Array] | None = None,
        extra_inputs: Any = None,
    ) -> tuple[Array, GroupedStates]:
        """Energy (per sample) and ``∂E/∂g`` of the free groups.

        ``extra(activations, inputs)`` is a scalar function of one sample's activations of
        every group (held and free) and of its slice of ``extra_inputs``, added to the
        energy (and its gradient to ``∂E/∂g``): the nudge of equilibrium propagation.
        """
        st, params = self.structure, self.params

        def one(f, held, inputs):
            if extra is None:
                return kernel.free_energy_and_dEdg(st, params, f, held)
            nudge = extra
            return kernel.free_energy_and_dEdg(st, params, f, held, extra=lambda gs: nudge(gs, inputs))

        return batch_map(self.batched)(one)(free, self.held, extra_inputs)

    def energy(self, free: GroupedStates) -> Array:
        """The total energy (per sample)."""
        st, params = self.structure, self.params
        return batch_map(self.batched)(lambda f, held: kernel.free_energy(st, params, f, held))(free, self.held)

    def dEdg(self, free: GroupedStates) -> GroupedStates:
        """``∂E/∂g`` of the free groups (XLA drops the unused energy)."""
        return self.energy_and_dEdg(free)[1]

    def step(
        self,
        free: GroupedStates,
        grads: GroupedStates,
        *,
        rates: dict[int, Array] | None = None,
        noise: GroupedStates | None = None,
    ) -> GroupedStates:
        """The clamp-aware Euler step of the free groups (``common.euler_step``).

        ``rates`` replaces the call's ``dt/τ`` (a schedule's step, ``rates_at``); ``noise``
        makes it the Euler–Maruyama step of Langevin dynamics.
        """
        rates = self.rates if rates is None else rates
        return euler_step(free, grads, rates, self.masks, self.mask_values, noise)

    def rates_at(self, dt: Array) -> dict[int, Array]:
        """``dt/τ`` per free group for a step size ``dt`` (a schedule's value; ``common.group_rates``)."""
        return group_rates(self.structure, self.taus, self.shapes, dt)

    def advance_at(self, free: GroupedStates, dt: Array) -> tuple[GroupedStates, Array]:
        """One Euler step of size ``dt`` (a schedule's value); the new free groups and the energy before."""
        e, d = self.energy_and_dEdg(free)
        return self.step(free, d, rates=self.rates_at(dt)), e

    def curvature(self, free: GroupedStates, tangents: GroupedStates) -> GroupedStates:
        """``∇²L(u)·t`` per free group, as a JVP of the activation (no Hessian materialised).

        With ``t = ∂E/∂g`` this is the true gradient ``∂E/∂x`` (the drift of Langevin
        dynamics): ``E_ℓ = ⟨g, u⟩ − L(u)`` gives ``∂E/∂u = ∇²L(u)·∂E/∂g``.
        """
        layers = self.params.layers
        st = self.structure

        def one(f: GroupedStates, t: GroupedStates) -> GroupedStates:
            out = {}
            for gid, x in f.items():
                lag, b = layers[gid]
                u = x if b is None else x - b
                if st.size(gid) == 1:
                    out[gid] = _activation_jvp(lag, u, t[gid])
                else:
                    out[gid] = jax.vmap(_activation_jvp)(lag, u, t[gid])
            return out

        return batch_map(self.batched)(one)(free, tangents)

    def advance(self, free: GroupedStates) -> tuple[GroupedStates, Array]:
        """One Euler step; returns the new free groups and the energy before the step."""
        e, d = self.energy_and_dEdg(free)
        return self.step(free, d), e

    def velocity(self, free: GroupedStates) -> GroupedStates:
        """``dx/dt = −∂E/∂g / τ`` of the free groups, zero on held entries (needs ``dt = 1``)."""
        zeros = {gid: jnp.zeros_like(x) for gid, x in free.items()}
        return euler_step(zeros, self.dEdg(free), self.rates, self.masks)

    def residual(self, grads: GroupedStates) -> Array:
        """Per-sample RMS of ``∂E/∂g`` over the free entries (batched engines only)."""
        batch = self.held.energy.shape[0]
        return free_rms(self.structure, self.shapes, grads, self.masks, batch)

    def activations(self, free: GroupedStates) -> GroupedStates:
        """The activations ``g`` of every group (held ones precomputed)."""
        layers = self.params.layers
        gs = batch_map(self.batched)(lambda f: kernel.layer_terms(self.structure, layers, f)[1])(free)
        return {**self.held.activations, **gs}


def _activation_jvp(lag: Any, u: Array, t: Array) -> Array:
    # through activation_and_value, the function the energy evaluates: the same primal
    # operations, which XLA then computes once (the value's tangent is dropped)
    return jax.jvp(lag.activation_and_value, (u,), (t,))[1][0]


def start_engine(
    model: AbstractEnergyCore,
    st: Structure,
    params: GroupParameters,
    xg: GroupedStates,
    batched: bool,
    dt: Any,
    masks: Sequence[Array | None],
) -> tuple[Engine, GroupedStates]:
    """The engine of a call and its free groups' starting states (in a trace).

    ``xg`` holds every group of ``st`` (grouped with ``st``'s clamp kinds); ``masks`` one
    entry per layer (``ClampSplit.masks``). The held parts are computed here, once.
    """
    held_x = {gid: xg[gid] for gid in st.ids(kernel.HELD)}
    free = {gid: xg[gid] for gid in st.ids(kernel.FREE, kernel.MASK)}
    held = batch_map(batched)(lambda h, f: kernel.precompute(st, params, h, f))(held_x, free)
    group_masks: dict[int, Array] = {}
    for gid in st.ids(kernel.MASK):
        mask = masks[st.layer_groups[gid].members[0]]
        if mask is not None:
            group_masks[gid] = mask
    engine = Engine(
        structure=st,
        shapes=tuple(model.shapes),
        taus=tuple(model.taus),
        batched=batched,
        params=params,
        held=held,
        rates=group_rates(st, model.taus, model.shapes, dt),
        masks=group_masks,
        mask_values={gid: free[gid] for gid in group_masks},
    )
    return engine, free


# ---- the way in and out, through the compiled-call dispatcher (calls.grouped_call) ----------


class DynamicsInputs(NamedTuple):
    """The traced arguments of a dynamics call.

    Attributes:
        masks: per layer the mask of a layer clamped by a mask, else ``None`` (``ClampSplit.masks``).
        dt: the step size (a float scalar array).
        extra: the driver's own traced arguments (e.g. ``relax``'s tolerance), or ``None``.
    """

    masks: tuple[Array | None, ...]
    dt: Array
    extra: Any = None


class Prepared(NamedTuple):
    """A user's states and clamp, checked: what ``calls.grouped_call`` takes."""

    arrays: tuple[Array, ...]
    batch: int | None
    layout: Layout | None
    clamp: ClampSplit


def prepare(model: AbstractEnergyCore, xs: StatesLike, clamp: ClampSpec) -> Prepared:
    """Check the states and normalise and split the clamp (``ClampSpec`` → ``Clamp`` → ``ClampSplit``).

    Raises:
        StateError: for states or a clamp that do not match the model.
    """
    arrays, batch, layout = states_in(model, xs)
    clamp_n = normalize_clamp(model, clamp)
    check_batched_clamp(model, clamp_n, batch)
    return Prepared(arrays, batch, layout, split_clamp(clamp_n))


def _dispatch(
    model: AbstractEnergyCore, impl: Callable, given: Prepared, dt: Array, config: Any, extra: Any, post: Any
) -> tuple[GroupedCall, Any]:
    return calls.grouped_call(
        model,
        impl,
        states=given.arrays,
        batched=given.batch is not None,
        kinds=given.clamp.kinds,
        config=config,
        inputs=DynamicsInputs(given.clamp.masks, dt, extra),
        states_packed=given.layout is not None,
        post=post,
    )


def call_dynamics(
    model: AbstractEnergyCore,
    impl: Callable,
    xs: StatesLike,
    *,
    clamp: ClampSpec,
    dt: Array,
    config: Any = None,
    extra: Any = None,
) -> tuple[StatesOut, Any]:
    """Run the driver ``impl`` on the engine, compiled and cached; returns ``(states, rest)``.

    ``impl(skeleton, call, params, xg, inputs)`` (see ``calls.grouped_call``; ``inputs`` a
    ``DynamicsInputs``) returns ``(free groups, rest)``: the new states come back in the
    form ``xs`` came in (a dict, or ``PackedStates``), with held layers as given.

    Raises:
        StateError: for states or a clamp that do not match the model.
    """
    given = prepare(model, xs, clamp)
    if given.layout is not None:
        _, (groups, rest) = _dispatch(model, impl, given, dt, config, extra, _to_default)
        return PackedStates(groups, given.layout, given.batch is not None), rest
    call, (final, rest) = _dispatch(model, impl, given, dt, config, extra, None)
    new = stacking.unstack_groups(call.structure, final, len(given.arrays), call.member_axis)
    kinds = given.clamp.kinds
    return as_dict(model, [x if k == kernel.HELD else n for x, n, k in zip(given.arrays, new, kinds)]), rest


def call_measure(
    model: AbstractEnergyCore, impl: Callable, xs: StatesLike, *, clamp: ClampSpec, dt: Array, config: Any = None
) -> tuple[GroupedCall, Any]:
    """As ``call_dynamics`` for a driver that returns no states: ``(call, what impl returned)``."""
    return _dispatch(model, impl, prepare(model, xs, clamp), dt, config, None, None)


def _to_default(default: Structure, call: GroupedCall, xg: GroupedStates, out: Any) -> Any:
    """In the trace: the new states (held groups from the input) in the default grouping."""
    final, rest = out
    st = call.structure
    full = {gid: final[gid] if gid in final else xg[gid] for gid in range(len(st.layer_groups))}
    if st != default:
        full = regroup(st, default, full, call.member_axis)
    return tuple(full[g] for g in range(len(default.layer_groups))), rest


# ---- grouping inside a trace (drivers compiled with eqx.filter_jit over the model) ----------


def group_in_trace(
    model: AbstractEnergyCore, kinds: tuple[str, ...], flat: Sequence[Array], batched: bool
) -> tuple[Structure, GroupParameters, GroupedStates]:
    """The structure, the grouped parameters (differentiable in ``model``) and grouped states."""
    st = kernel.build(model, kinds)
    params = kernel.group_parameters(st, model)
    xg = batch_map(batched)(lambda f: kernel.to_groups(st, f))(tuple(flat))
    return st, params, xg


def ungroup(st: Structure, xg: GroupedStates, n_layers: int, batched: bool) -> tuple[Array, ...]:
    """Grouped states (every group) back to one array per layer, in a trace."""
    axis = 1 if batched else 0
    return stacking.from_groups(st, xg, n_layers, cut=lambda a, k: stacking.unstack(a, axis))
