"""Graph validation: check a HAM's networkx graph and resolve it into a flat plan.

Validation runs in plain Python before any JAX tracing. Every error is a
``ValidationError`` naming the node or edge at fault, what was expected, what was found and
how to fix it. The resulting ``Plan`` is what ``compile`` turns into a JAX model.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import networkx as nx

from .._errors import ValidationError
from .._internal.memo import value_key
from .._internal.parse import parse_int
from .._types import Shape
from ..layers import Layer
from ..registry import BUILTIN_TYPES
from ..synapses import Synapse
from .schema import ARITY, kind_of, LAYER, layer_of, SHARES, SLOT, SYNAPSE, SYNAPSE_SPEC


__all__ = ["Plan", "plan_graph", "as_plan", "check_name", "check_custom_synapse", "NAME_PATTERN"]

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"
_BUILTIN = frozenset(BUILTIN_TYPES.values())
_NAME_RE = re.compile(NAME_PATTERN + r"\Z")


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated HAM, resolved into flat ordered tuples (graph insertion order)."""

    layer_names: tuple[str, ...]
    layers: tuple[Layer, ...]
    synapse_names: tuple[str, ...]
    connections: tuple[tuple[str, ...], ...]
    owners: tuple[str, ...]
    specs: dict[str, Synapse]
    param_shapes: dict[str, dict[str, Any]]
    order: tuple[str, ...] | None = None
    """Every node name in the graph's order (``None``: layers first, then synapses)."""

    def nodes(self) -> tuple[str, ...]:
        """Every node name, layers and synapses, in the graph's order."""
        return self.order if self.order is not None else self.layer_names + self.synapse_names

    @functools.cached_property
    def layer_position(self) -> dict[str, int]:
        """``{layer name: its position}`` (one dict lookup instead of a scan per query)."""
        return {name: i for i, name in enumerate(self.layer_names)}

    @functools.cached_property
    def synapse_position(self) -> dict[str, int]:
        """``{hyperedge name: its position}``."""
        return {name: i for i, name in enumerate(self.synapse_names)}

    def layer_shape(self, name: str) -> Shape:
        """The shape of layer ``name``."""
        return self.layers[self._layer_at(name)].shape

    def layer(self, name: str) -> Layer:
        """The ``Layer`` named ``name``."""
        return self.layers[self._layer_at(name)]

    def synapse_of(self, name: str) -> Synapse:
        """The synapse (the parameter owner's) used by hyperedge ``name``."""
        return self.specs[self.owners[self._synapse_at(name)]]

    def shares(self, name: str) -> str | None:
        """The owner whose parameters hyperedge ``name`` uses, or ``None`` if it owns them."""
        owner = self.owners[self._synapse_at(name)]
        return None if owner == name else owner

    def _layer_at(self, name: str) -> int:
        # an unknown name raises the ValueError of tuple.index, as before
        return self.layer_position[name] if name in self.layer_position else self.layer_names.index(name)

    def _synapse_at(self, name: str) -> int:
        # an unknown name raises the ValueError of tuple.index, as before
        return self.synapse_position[name] if name in self.synapse_position else self.synapse_names.index(name)


# ``spec.check_shapes`` results by the value of (spec, shapes): specs are immutable, so the
# equal synapses of a 20 000-layer chain are checked once, not once per node. A spec holding
# large arrays (explicit weights) has no cheap value key and is checked every time.
_CHECKED: dict[tuple[Any, ...], dict[str, Any]] = {}


def _checked_shapes(spec: Synapse, shapes: list[Shape]) -> dict[str, Any]:
    value = value_key(spec)
    if value is None:
        return spec.check_shapes(shapes)
    key = (value, tuple(tuple(s) for s in shapes))
    if key not in _CHECKED:
        if len(_CHECKED) >= 1 << 16:
            _CHECKED.clear()
        _CHECKED[key] = spec.check_shapes(shapes)
    return dict(_CHECKED[key])


def check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is a valid node name, else raise ``ValidationError``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            f"{what} name {name!r} is not a valid name: names are strings matching "
            f"{NAME_PATTERN} (a letter or '_' first, then letters, digits, '_', '.', '-'). Rename it."
        )
    return name


def check_custom_synapse(spec: Synapse, shapes: list[Shape], ps: dict[str, Any]) -> None:
    """Check a user-defined synapse abstractly (``jax.eval_shape``: nothing is computed).

    Its ``param_shapes`` must name fields, every parameter field left ``None`` must get a
    shape, and its alignment on activations of the connected shapes must be a scalar.

    Raises:
        ValidationError: saying which of these fails and how to fix the class.
    """
    cls = type(spec).__name__
    fields = {f.name for f in dataclasses.fields(spec)}
    unknown = sorted(set(ps) - fields)
    if unknown:
        raise ValidationError(
            f"{cls}.param_shapes names {unknown}, which are not fields of {cls}. Declare each parameter as a "
            f"field (e.g. `W: jax.Array | None = None`)."
        )
    unsized = sorted(n for n in spec.param_names() if getattr(spec, n) is None and n not in ps)
    if unsized:
        raise ValidationError(
            f"{cls}: the parameter field(s) {unsized} are None but param_shapes does not give their shape, so "
            f"compile cannot create them. Define {cls}.param_shapes(self, shapes) returning "
            f"{{{unsized[0]!r}: shape}}, or pass the array explicitly."
        )
    try:
        abstract = eqx.filter_eval_shape(lambda k: spec.init(shapes, key=k), jax.random.key(0))
        gs = [jax.ShapeDtypeStruct(tuple(s), jnp.result_type(float)) for s in shapes]
        params, static = eqx.partition(abstract, lambda x: isinstance(x, jax.ShapeDtypeStruct))
        out = jax.eval_shape(lambda p, *g: eqx.combine(p, static).energy(*g), params, *gs)
    except (KeyboardInterrupt, MemoryError):
        raise
    except ValidationError:
        raise
    except Exception as e:  # the user's __call__ failed on these shapes: say so, with its message
        msg = str(e).splitlines()[0] if str(e) else ""
        raise ValidationError(
            f"{cls}: calling the synapse on activations of shapes {[tuple(s) for s in shapes]} fails "
            f"({type(e).__name__}: {msg}). Check __call__ and param_shapes for these layer shapes."
        ) from None
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise ValidationError(
            f"{cls}: __call__ must return a scalar alignment F, but it returns shape {got} for activations of "
            f"shapes {[tuple(s) for s in shapes]}. Sum (or otherwise reduce) it to a scalar."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValidationError(
            f"{cls}: __call__ must return a real float scalar alignment F, but it returns dtype {out.dtype} for "
            f"activations of shapes {[tuple(s) for s in shapes]}. Compute it from the activations (a constant "
            "int has no gradient)."
        )


def _resolve_owner(G: nx.MultiDiGraph, name: str) -> str:
    seen = [name]
    node = name
    while G.nodes[node].get(SYNAPSE_SPEC) is None:
        target = G.nodes[node].get(SHARES)
        if target is None:
            raise ValidationError(
                f"synapse '{node}': has neither a 'synapse' object nor a 'shares' target. Give it a "
                "synapse (e.g. hg.DenseSynapse()) or name the synapse whose parameters it shares."
            )
        if target not in G or kind_of(G.nodes[target]) != SYNAPSE:
            raise ValidationError(
                f"synapse '{node}': shares the parameters of {target!r}, which is not a synapse node of "
                "this graph. Name an existing synapse node."
            )
        if target in seen:
            raise ValidationError(f"synapse '{name}': weight sharing forms a cycle {' -> '.join(seen + [target])}.")
        seen.append(target)
        node = target
    return node


def plan_graph(G: Any) -> Plan:
    """Validate a HAM graph and return its flat ``Plan``.

    Raises:
        ValidationError: for anything that does not describe a valid HAM.
    """
    if not isinstance(G, nx.MultiDiGraph):
        raise ValidationError(
            f"a HAM graph must be a networkx.MultiDiGraph (one edge per argument slot), got "
            f"{type(G).__name__}. Build it with hg.HAM() or convert with nx.MultiDiGraph(G)."
        )
    layer_names: list[str] = []
    layers: list[Layer] = []
    synapse_names: list[str] = []
    for name, data in G.nodes(data=True):
        kind = kind_of(data)
        check_name(name, f"{kind or 'node'}")
        if kind == LAYER:
            layer_names.append(name)
            layers.append(layer_of(name, data))
        elif kind == SYNAPSE:
            synapse_names.append(name)
            syn = data.get(SYNAPSE_SPEC)
            if syn is not None and not isinstance(syn, Synapse):
                raise ValidationError(
                    f"synapse '{name}': attribute 'synapse' must be a hamux_graph Synapse, got {type(syn).__name__}."
                )
            if syn is not None and data.get(SHARES) is not None:
                raise ValidationError(
                    f"synapse '{name}': has its own synapse object and also shares {data[SHARES]!r}. "
                    "A sharing synapse uses the other's parameters: drop one of the two."
                )
        else:
            raise ValidationError(
                f"node {name!r}: attribute kind={kind!r}, expected 'layer' or 'synapse'. Add nodes with "
                "HAM.add_layer / HAM.add_synapse."
            )
    slots: dict[str, dict[int, str]] = {s: {} for s in synapse_names}
    for u, v, key, data in G.edges(keys=True, data=True):
        if kind_of(G.nodes[u]) != SYNAPSE or kind_of(G.nodes[v]) != LAYER:
            raise ValidationError(
                f"edge {u!r} -> {v!r}: edges must go from a synapse node to a layer node, got "
                f"{kind_of(G.nodes[u])} -> {kind_of(G.nodes[v])}. Connect layers only through synapses."
            )
        slot = parse_int(
            data.get(SLOT), f"edge {u!r} -> {v!r} (key {key!r}): attribute 'slot'", minimum=0, error=ValidationError
        )
        if slot in slots[u]:
            raise ValidationError(
                f"synapse '{u}': slot {slot} is used twice (layers {slots[u][slot]!r} and {v!r}). Each "
                "argument slot has exactly one edge."
            )
        slots[u][slot] = v
    connections: list[tuple[str, ...]] = []
    for s in synapse_names:
        got = sorted(slots[s])
        if not got:
            raise ValidationError(f"synapse '{s}': connects no layers. Connect it with at least one edge.")
        if got != list(range(len(got))):
            raise ValidationError(
                f"synapse '{s}': slots must be 0..{len(got) - 1} without gaps, got {got}. Renumber its edges."
            )
        arity = G.nodes[s].get(ARITY)
        if arity is not None and arity != len(got):
            raise ValidationError(
                f"synapse '{s}': was built with {arity} argument slot(s) but now has {len(got)} "
                f"(layers {[slots[s][i] for i in got]}); an edge or layer was removed with raw networkx "
                "calls. Edit the graph with the HAM methods (add_layer/add_synapse), or rebuild the synapse."
            )
        connections.append(tuple(slots[s][i] for i in got))

    shape_of = dict(zip(layer_names, (l.shape for l in layers)))
    owners: list[str] = []
    specs: dict[str, Synapse] = {}
    param_shapes: dict[str, dict[str, Any]] = {}
    for s, conn in zip(synapse_names, connections):
        owner = _resolve_owner(G, s)
        owners.append(owner)
        spec = G.nodes[owner][SYNAPSE_SPEC]
        shapes = [shape_of[l] for l in conn]
        where = f"synapse '{s}'" + (f" (sharing the parameters of '{owner}')" if owner != s else "")
        try:
            ps = _checked_shapes(spec, shapes)
            if type(spec) not in _BUILTIN and owner == s:
                check_custom_synapse(spec, shapes, ps)
        except ValidationError as e:
            raise ValidationError(f"{where} over layers {list(conn)}: {e}") from None
        if owner in param_shapes and ps != param_shapes[owner]:
            raise ValidationError(
                f"{where} over layers {list(conn)}: needs parameters of shape {ps}, but the shared "
                f"parameters have shapes {param_shapes[owner]}. Share only between connections of matching shapes."
            )
        specs[owner] = spec
        param_shapes.setdefault(owner, ps)
    # a sharing owner must itself be a connected hyperedge with matching shapes (checked above
    # through its own entry); owners that only serve others still need their own edges.
    return Plan(
        layer_names=tuple(layer_names),
        layers=tuple(layers),
        synapse_names=tuple(synapse_names),
        connections=tuple(connections),
        owners=tuple(owners),
        specs=specs,
        param_shapes=param_shapes,
        order=tuple(G.nodes),
    )


def as_plan(obj: Any, where: str, fix: str) -> Plan:
    """``obj`` if it is a validated ``Plan``, else the plan of a networkx HAM graph (validated once).

    The one conversion for the public faces that take either (drawing, the page, GraphML
    files); everything they call takes the ``Plan``.

    Args:
        obj: a ``Plan`` (``ham.plan()``, ``model.plan()``) or a ``networkx.MultiDiGraph`` laid out as a HAM.
        where: the caller, for the message (``"drawing"``).
        fix: a sentence on what to pass instead, for the message.

    Raises:
        ValidationError: for anything else, or a graph that is not a valid HAM.

    Example:
        >>> import hamux_graph as hg
        >>> from hamux_graph._graph.validate import as_plan
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> as_plan(ham.graph, "drawing", "").layer_names
        ('v',)
    """
    if isinstance(obj, Plan):
        return obj
    if isinstance(obj, nx.Graph):
        return plan_graph(obj)
    raise ValidationError(
        f"{where} takes a validated plan (ham.plan(), model.plan()) or a networkx HAM graph, got "
        f"{type(obj).__name__}. {fix}".rstrip()
    )
