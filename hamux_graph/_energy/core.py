"""The energy core: one flat JAX energy function of all layer states.

``AbstractEnergyCore`` holds what the energy needs and nothing of the graph: its array
leaves are the parameters (synapse weights, layer biases, learnable Lagrangian scalars);
everything structural (names, shapes, τ, which layers each hyperedge connects) is static.
The energy and its Legendre gradient are written once as a flat function of the tuple of
states: no graph is walked at run time. ``CompiledHAM`` (the user-facing class) declares the
fields and adds the dynamics.

States are dicts ``{layer name: array}``; every method accepts them with or without one
leading batch axis (batched calls are ``jax.vmap`` of the per-sample function). Methods
also accept ``PackedStates`` (``model.pack(xs)``: identical layers kept stacked) and then
return states in that form.

The energy core's internal API is a set of functions of this module, not methods: the
states codec (``flat_states``, ``states_in``, ``states_out``, ``pack_flat``, ``as_dict``)
and the flat energy of one sample (``sample_energy``, ``sample_dEdg``,
``sample_energy_and_dEdg``). The dynamics drive the core through them (the way
``equinox.internal`` serves diffrax); they are not re-exported and not part of the user
class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._errors import ArgumentError, StateError
from .._internal.limits import check_state_memory
from .._internal.parse import parse_int
from .._types import Shape, States
from ..lagrangians.elementwise import Lagrangian
from ..synapses import Synapse
from . import calls, kernel, stacking
from .calls import GroupedCall
from .kernel import Structure
from .packed import check as check_packed, Layout, PackedStates


__all__ = [
    "AbstractEnergyCore",
    "StatesLike",
    "StatesOut",
    "flat_states",
    "states_in",
    "states_out",
    "pack_flat",
    "as_dict",
    "sample_energy",
    "sample_energy_and_dEdg",
    "sample_dEdg",
    "leaf_name",
    "PARAMETER_FIELDS",
]

# a dict of arrays (numpy ones too), or PackedStates (returned in kind)
StatesLike = Mapping[str, ArrayLike] | PackedStates
# what the methods return: a dict of jax arrays, or PackedStates when given PackedStates
StatesOut = States | PackedStates

# the fields that hold parameters, and how a saved file names their leaves
PARAMETER_FIELDS = ("lagrangians", "biases", "synapses")


class AbstractEnergyCore(eqx.Module):
    """The energy of a compiled HAM and its Legendre gradient (see ``CompiledHAM``).

    Energy ``E = Σ_ℓ [⟨g_ℓ, u_ℓ⟩ − L_ℓ(u_ℓ)] − Σ_σ F_σ(g…)`` with ``u_ℓ = x_ℓ − b_ℓ`` and
    ``g_ℓ = ∇L_ℓ(u_ℓ)``.
    """

    lagrangians: eqx.AbstractVar[tuple[Lagrangian, ...]]
    biases: eqx.AbstractVar[tuple[Array | None, ...]]
    synapses: eqx.AbstractVar[tuple[Synapse, ...]]
    layer_names: eqx.AbstractVar[tuple[str, ...]]
    shapes: eqx.AbstractVar[tuple[Shape, ...]]
    taus: eqx.AbstractVar[tuple[float, ...]]
    layer_energies: eqx.AbstractVar[tuple[bool, ...]]
    synapse_names: eqx.AbstractVar[tuple[str, ...]]
    edge_params: eqx.AbstractVar[tuple[int, ...]]
    edge_layers: eqx.AbstractVar[tuple[tuple[int, ...], ...]]
    owner_names: eqx.AbstractVar[tuple[str, ...]]

    # ---- structure -------------------------------------------------------------

    def layer_index(self, name: str) -> int:
        """Position of a layer in the flat state tuple."""
        try:
            return self.layer_names.index(name)
        except ValueError:
            raise StateError(f"unknown layer {name!r}; this model's layers are {list(self.layer_names)}.") from None

    def synapse(self, name: str) -> Synapse:
        """The (parameter-holding) synapse used by the hyperedge ``name``."""
        if name not in self.synapse_names:
            raise StateError(f"unknown synapse {name!r}; this model's synapses are {list(self.synapse_names)}.")
        return self.synapses[self.edge_params[self.synapse_names.index(name)]]

    def bias(self, name: str) -> Array | None:
        """The bias of layer ``name`` (``None`` if it has none)."""
        return self.biases[self.layer_index(name)]

    # ---- states ----------------------------------------------------------------

    def init_states(self, batch_size: int | None = None, *, key: PRNGKeyArray | None = None) -> States:
        """Zero states (or ``N(0, 0.01²)`` noise with ``key``), with an optional batch axis.

        States larger than the default device's memory are refused (``ArgumentError``)
        before anything is allocated.

        Example:
            >>> import jax, hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
            >>> ham.compile(key=jax.random.key(0)).init_states(batch_size=2)["v"].shape
            (2, 4)
        """
        lead = () if batch_size is None else (parse_int(batch_size, "batch_size", minimum=1, error=ArgumentError),)
        if key is not None and not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
            raise ArgumentError(
                f"init_states: key must be a PRNG key such as jax.random.key(0), got {type(key).__name__}."
            )
        dtype = jnp.result_type(float)
        check_state_memory((lead + s for s in self.shapes), jnp.dtype(dtype).itemsize, "init_states")
        if key is None:
            return {n: jnp.zeros(lead + s, dtype) for n, s in zip(self.layer_names, self.shapes)}
        keys = jax.random.split(key, len(self.layer_names))
        return {n: 0.01 * jax.random.normal(k, lead + s, dtype) for n, s, k in zip(self.layer_names, self.shapes, keys)}

    def pack(self, xs: States) -> PackedStates:
        """The states in grouped form: every method then skips splitting and stacking groups.

        Identical layers are evaluated as stacked groups; a ``PackedStates`` keeps them
        stacked between calls (see ``hamux_graph.PackedStates``). Worth it for deep models
        of repeated blocks; for a few layers it makes no difference.

        Example:
            >>> import jax, hamux_graph as hg
            >>> ham = hg.HAM()
            >>> for n in ("a", "b", "c"):
            ...     ham.add_layer(n, hg.TanhLayer((4,)))
            >>> ham.add_synapse("ab", hg.DenseSynapse(), layers=("a", "b"))
            >>> ham.add_synapse("bc", hg.DenseSynapse(), layers=("b", "c"))
            >>> model = ham.compile(key=jax.random.key(0))
            >>> ps = model.pack(model.init_states(key=jax.random.key(1)))
            >>> e, d = model.energy_and_dEdg(ps)
            >>> type(d).__name__, d["b"].shape
            ('PackedStates', (4,))
        """
        flat, batch = flat_states(self, xs)
        return pack_flat(self, flat, batch)

    def unpack(self, ps: PackedStates) -> States:
        """The per-layer states dict of a ``PackedStates`` (the inverse of ``pack``)."""
        if not isinstance(ps, PackedStates):
            raise StateError(f"unpack takes PackedStates (from model.pack), got {type(ps).__name__}.")
        lay = calls.packed_layout(self)
        batch = check_packed(ps, lay)
        st = calls.grouping(self, None)[0]
        flat = stacking.unstack_groups(st, dict(enumerate(ps.groups)), len(lay.names), 0 if batch is None else 1)
        return as_dict(self, flat)

    # ---- public, batched or not ----------------------------------------------------
    # Each method validates the states in Python, then calls one cached ``jax.jit``
    # function over (grouped parameters, states): see calls.py.

    @calls.fast_method
    def activations(self, xs: StatesLike) -> StatesOut:
        """Layer activations ``g_ℓ = ∇L_ℓ(x_ℓ − b_ℓ)`` (PackedStates in, PackedStates out)."""
        flat, batch, layout = states_in(self, xs)
        call, gs = _call(self, _activations_impl, flat, batch, layout)
        return states_out(self, call.structure, gs, batch, layout)

    @calls.fast_method
    def energy(self, xs: StatesLike) -> Float[Array, "*batch"]:
        """Total energy: a scalar, or shape ``(B,)`` for batched states."""
        flat, batch, layout = states_in(self, xs)
        return _call(self, _energy_impl, flat, batch, layout)[1]

    @calls.fast_method
    def energy_and_dEdg(self, xs: StatesLike) -> tuple[Float[Array, "*batch"], StatesOut]:
        """The energy and the Legendre gradient ``∂E/∂g`` in one compiled call.

        Example:
            >>> import jax, hamux_graph as hg
            >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
            >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
            >>> model = ham.compile(key=jax.random.key(0))
            >>> e, d = model.energy_and_dEdg(model.init_states(batch_size=2))
            >>> e.shape, d["v"].shape
            ((2,), (2, 4))
        """
        flat, batch, layout = states_in(self, xs)
        call, (e, d) = _call(self, _energy_and_dEdg_impl, flat, batch, layout)
        return e, states_out(self, call.structure, d, batch, layout)

    @calls.fast_method
    def energy_tree(self, xs: StatesLike) -> dict[str, dict[str, Array]]:
        """Energy of every node: ``{"layers": {name: E_ℓ}, "synapses": {name: E_σ}}``."""
        flat, batch, layout = states_in(self, xs)
        call, (el, es) = _call(self, _energy_tree_impl, flat, batch, layout)
        st = call.structure
        layers: list[Any] = [None] * len(self.layer_names)
        for gid, e in el.items():
            for i, v in zip(st.layer_groups[gid].members, stacking.unstack_vector(e, batch is not None)):
                layers[i] = v
        synapses: list[Any] = [None] * len(self.synapse_names)
        for k, e in es.items():
            for j, v in zip(st.edge_groups[k].edges, stacking.unstack_vector(e, batch is not None)):
                synapses[j] = v
        return {"layers": dict(zip(self.layer_names, layers)), "synapses": dict(zip(self.synapse_names, synapses))}

    @calls.fast_method
    def dEdg(self, xs: StatesLike) -> StatesOut:
        """The Legendre gradient ``∂E/∂g_ℓ = u_ℓ + Σ_σ ∂E_σ/∂g_ℓ`` (no Hessian involved)."""
        flat, batch, layout = states_in(self, xs)
        call, d = _call(self, _dEdg_impl, flat, batch, layout)
        return states_out(self, call.structure, d, batch, layout)


# ---- the internal API: the states codec and the flat energy of one sample --------------------
# Functions of the core, not methods of the user class: the dynamics (and other stages)
# drive the core through them (the way ``equinox.internal`` serves diffrax).


def flat_states(model: AbstractEnergyCore, xs: StatesLike) -> tuple[tuple[Array, ...], int | None]:
    """Check a states dict against the model (or unpack ``PackedStates``); ``(arrays, batch size)``.

    Raises:
        StateError: for states that do not match the model's layers, shapes or batch axis.
    """
    if isinstance(xs, PackedStates):
        xs = model.unpack(xs)
    if type(xs) is not dict and not isinstance(xs, Mapping):
        raise StateError(
            f"states must be a dict {{layer name: array}}, got {type(xs).__name__}. Start from model.init_states()."
        )
    names, shapes = model.layer_names, model.shapes
    try:
        if len(xs) != len(names):
            raise KeyError
        given = [xs[n] for n in names]
    except KeyError:
        missing = [n for n in names if n not in xs]
        extra = [n for n in xs if n not in names]
        raise StateError(
            f"states dict does not match the model's layers: missing {missing}, unexpected {extra}. "
            f"Expected keys {list(names)}."
        ) from None
    batch: int | None = None
    batched: bool | None = None
    flat = []
    for n, s, a in zip(names, shapes, given):
        if not isinstance(a, jax.Array):
            try:
                a = jnp.asarray(a)
            except (TypeError, ValueError):
                raise StateError(f"states['{n}'] must be an array of numbers, got {type(a).__name__}.") from None
        if not jnp.issubdtype(a.dtype, jnp.floating):
            if not (jnp.issubdtype(a.dtype, jnp.integer) or a.dtype == jnp.bool_):
                raise StateError(f"states['{n}'] has dtype {a.dtype}; states are real floating-point arrays.")
            a = a.astype(jnp.result_type(float))  # ints and bools become the default float
        sh = a.shape
        if sh == s:
            b, is_b = None, False
        elif len(sh) == len(s) + 1 and sh[1:] == s:
            b, is_b = sh[0], True
        else:
            raise StateError(f"states['{n}'] has shape {sh}, expected {s} (one sample) or (batch,) + {s}.")
        if batched is not None and (is_b != batched or b != batch):
            raise StateError(
                f"states['{n}'] has shape {sh}, but other layers were "
                f"{'batched with batch size ' + str(batch) if batched else 'unbatched'}. Give every layer "
                "the same leading batch axis, or none."
            )
        batched, batch = is_b, b
        flat.append(a)
    return tuple(flat), batch


def states_in(model: AbstractEnergyCore, xs: StatesLike) -> tuple[tuple[Array, ...], int | None, Layout | None]:
    """``(arrays, batch size, layout)``: per-layer arrays and ``None`` for a states dict, or the
    groups and the ``Layout`` of ``PackedStates``.

    Raises:
        StateError: for states that do not match the model.
    """
    if type(xs) is PackedStates:
        return xs.groups, check_packed(xs, calls.packed_layout(model)), xs.layout
    flat, batch = flat_states(model, xs)
    return flat, batch, None


def states_out(
    model: AbstractEnergyCore, structure: Structure, arrays: dict[int, Array], batch: int | None, layout: Layout | None
) -> StatesOut:
    """Grouped outputs ``{group id: array}`` of ``structure`` as a states dict, or as
    ``PackedStates`` with ``layout`` (then ``structure`` is the default grouping)."""
    if layout is not None:
        return PackedStates(tuple(arrays[g] for g in range(len(arrays))), layout, batch is not None)
    return as_dict(model, stacking.unstack_groups(structure, arrays, len(model.layer_names), 0 if batch is None else 1))


def pack_flat(model: AbstractEnergyCore, flat: Sequence[Array], batch: int | None) -> PackedStates:
    """``PackedStates`` of checked per-layer arrays (``model.pack`` without the check)."""
    st = calls.grouping(model, None)[0]
    groups = stacking.stack_groups(st, flat, 0 if batch is None else 1)
    return PackedStates(tuple(groups), calls.packed_layout(model), batch is not None)


def as_dict(model: AbstractEnergyCore, flat: Sequence[Array]) -> States:
    """The states dict of a flat tuple (one array per layer, in layer order)."""
    return dict(zip(model.layer_names, flat))


def _grouped(model: AbstractEnergyCore, group: bool) -> tuple[Structure, kernel.GroupParameters]:
    st = kernel.build(model, group=group)
    return st, kernel.group_parameters(st, model)


def sample_energy(model: AbstractEnergyCore, xs: tuple[Array, ...], *, group: bool = True) -> Float[Array, ""]:
    """The energy of one sample's flat state tuple (traceable; ``group=False`` node by node).

    Differentiable with respect to ``model`` (its parameters are grouped inside the trace).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> from hamux_graph._energy import core
        >>> ham = hg.HAM(); ham.add_layer("v", hg.IdentityLayer((3,)))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> float(core.sample_energy(model, (jnp.ones(3),)))  # ⟨g, x⟩ − ½‖x‖² = ½‖x‖²
        1.5
    """
    st, params = _grouped(model, group)
    return kernel.energy(st, params, kernel.to_groups(st, xs))


def sample_energy_and_dEdg(
    model: AbstractEnergyCore, xs: tuple[Array, ...], *, group: bool = True
) -> tuple[Float[Array, ""], tuple[Array, ...]]:
    """The energy and ``∂E/∂g`` (a flat tuple) of one sample's flat state tuple."""
    st, params = _grouped(model, group)
    e, d = kernel.energy_and_dEdg(st, params, kernel.to_groups(st, xs))
    return e, stacking.from_groups(st, d, len(model.layer_names))


def sample_dEdg(model: AbstractEnergyCore, xs: tuple[Array, ...], *, group: bool = True) -> tuple[Array, ...]:
    """``∂E/∂g`` (a flat tuple) of one sample's flat state tuple."""
    st, params = _grouped(model, group)
    d = kernel.dEdg(st, params, kernel.to_groups(st, xs))
    return stacking.from_groups(st, d, len(model.layer_names))


# The jitted implementations take and return states in grouped form ({group id: array},
# members stacked along axis 0 of one sample); ``_call`` converts at the boundary.


def _call(model: AbstractEnergyCore, impl: Callable, flat, batch, layout: Layout | None):
    return calls.grouped_call(model, impl, states=flat, batched=batch is not None, states_packed=layout is not None)


def _per_sample(batched: bool, fn: Callable) -> Callable:
    return jax.vmap(fn) if batched else fn


def _activations_impl(model: AbstractEnergyCore, call: GroupedCall, params: kernel.GroupParameters, xg, inputs):
    st = call.structure
    return _per_sample(call.batched, lambda f: kernel.layer_terms(st, params.layers, f)[1])(xg)


def _energy_impl(model: AbstractEnergyCore, call: GroupedCall, params: kernel.GroupParameters, xg, inputs):
    st = call.structure
    return _per_sample(call.batched, lambda f: kernel.energy(st, params, f))(xg)


def _energy_and_dEdg_impl(model: AbstractEnergyCore, call: GroupedCall, params: kernel.GroupParameters, xg, inputs):
    st = call.structure
    return _per_sample(call.batched, lambda f: kernel.energy_and_dEdg(st, params, f))(xg)


def _dEdg_impl(model: AbstractEnergyCore, call: GroupedCall, params: kernel.GroupParameters, xg, inputs):
    st = call.structure
    return _per_sample(call.batched, lambda f: kernel.dEdg(st, params, f))(xg)


def _energy_tree_impl(model: AbstractEnergyCore, call: GroupedCall, params: kernel.GroupParameters, xg, inputs):
    st = call.structure

    def one(f):
        _, gs, el = kernel.layer_terms(st, params.layers, f)
        return el, kernel.synapse_terms(st, params.synapses, gs, range(len(st.edge_groups)))

    return _per_sample(call.batched, one)(xg)


def leaf_name(core: AbstractEnergyCore, path: tuple[Any, ...]) -> str:
    """The saved name of the parameter leaf at ``path`` (from ``jax.tree_util``) of ``core``.

    ``layers/<layer>/lagrangian/<field>``, ``layers/<layer>/bias`` or
    ``synapses/<owner>/<field>[/<index>]``.
    """
    parts = [_key_text(k) for k in path]
    if len(parts) >= 2 and parts[0] in PARAMETER_FIELDS:
        i = int(parts[1])
        if parts[0] == "lagrangians":
            head = f"layers/{core.layer_names[i]}/lagrangian"
        elif parts[0] == "biases":
            head = f"layers/{core.layer_names[i]}/bias"
        else:
            head = f"synapses/{core.owner_names[i]}"
        parts = [head] + parts[2:]
    return "/".join(parts)


def _key_text(k: Any) -> str:
    if isinstance(k, jax.tree_util.GetAttrKey):
        return k.name
    if isinstance(k, jax.tree_util.SequenceKey):
        return str(k.idx)
    if isinstance(k, jax.tree_util.DictKey):
        return str(k.key)
    return str(k)
