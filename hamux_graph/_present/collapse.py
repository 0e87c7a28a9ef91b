"""Collapsed groups: runs of identical layers joined by identical synapses, found on a plan.

The rule is a property of the graph (no layout, no compiling), so a drawing, a page and
a test all count the same groups (see docs/drawing.md, "Collapsed groups"):

1. A layer's *signature* is its Lagrangian class with its hyperparameters (``config()``),
   its shape, its time constant and its bias flag. A synapse's signature is its class with
   its hyperparameters, the shapes of the layers it connects (slot order), its parameter
   shapes and the synapse whose parameters it shares, if any. Weights are not compared.
   These are the compiler's identities (``_grouping``: class, configuration, parameter and
   connected shapes) made finer by what a drawing shows (hyperparameter values, τ), so a
   collapsed group never mixes nodes the compiler evaluates apart.
2. A layer's *attachments* are the pairs (synapse signature, slot) over every slot that
   connects it. Two layers are *alike* when their signatures and attachments are equal.
3. A *link* is a two-slot synapse between two different alike layers.
4. A group is a connected set of two or more alike layers joined by links, with those
   links. A layer that another, different synapse also connects (a skip hyperedge) has
   different attachments, so it is not alike its neighbours and stays visible.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .._graph.validate import Plan
from .._internal.memo import by_value


__all__ = ["Group", "find_groups", "layer_signature", "synapse_signatures"]


@dataclasses.dataclass(frozen=True)
class Group:
    """A collapsed run: its name (``first…last``), member layers and the links between them."""

    name: str
    layers: tuple[str, ...]
    synapses: tuple[str, ...]

    @property
    def members(self) -> int:
        """How many nodes (layers and synapses) the group stands for."""
        return len(self.layers) + len(self.synapses)

    @property
    def label(self) -> str:
        """The text a drawing shows, e.g. ``x1…x11 ×11``."""
        return f"{self.name} ×{len(self.layers)}"


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _plain_config(obj: Any) -> str:
    return _plain(obj.config())


def layer_signature(plan: Plan, name: str) -> tuple[Any, ...]:
    """The identity of a layer for collapsing (rule 1 of the module docstring)."""
    layer = plan.layer(name)
    lag = layer.lagrangian
    return (type(lag), by_value(_plain_config, lag), tuple(layer.shape), float(layer.tau), bool(layer.use_bias))


def synapse_signatures(plan: Plan) -> dict[str, int]:
    """Synapse name -> a small int, equal for synapses of the same signature (rule 1)."""
    ids: dict[Any, int] = {}
    out = {}
    for name, conn, owner in zip(plan.synapse_names, plan.connections, plan.owners):
        spec = plan.specs[owner]
        key = (
            type(spec),
            by_value(_plain_config, spec),
            tuple(tuple(plan.layer_shape(l)) for l in conn),
            _plain(plan.param_shapes.get(owner)),
            plan.shares(name),
        )
        out[name] = ids.setdefault(key, len(ids))
    return out


def _find(parent: dict[str, str], a: str) -> str:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def find_groups(plan: Plan) -> tuple[Group, ...]:
    """The collapsed groups of a plan, in the order of their first layer.

    Args:
        plan: a validated plan (``ham.plan()``, ``model.plan()``).

    Returns:
        One ``Group`` per run of two or more alike layers joined by links.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM()
        >>> for i in range(5):
        ...     ham.add_layer(f"x{i}", hg.TanhLayer((4,)))
        >>> for i in range(4):
        ...     ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
        >>> [(g.label, g.synapses) for g in find_groups(ham.plan())]
        [('x1…x3 ×3', ('s1', 's2'))]
    """
    sig = synapse_signatures(plan)
    attach: dict[str, list[tuple[int, int]]] = {l: [] for l in plan.layer_names}
    for name, conn in zip(plan.synapse_names, plan.connections):
        for slot, l in enumerate(conn):
            attach[l].append((sig[name], slot))
    key = {l: (layer_signature(plan, l), tuple(sorted(attach[l]))) for l in plan.layer_names}
    parent = {l: l for l in plan.layer_names}
    links = []
    for name, conn in zip(plan.synapse_names, plan.connections):
        if len(conn) == 2 and conn[0] != conn[1] and key[conn[0]] == key[conn[1]]:
            links.append((name, conn))
            ra, rb = _find(parent, conn[0]), _find(parent, conn[1])
            if ra != rb:
                parent[rb] = ra
    members: dict[str, list[str]] = {}
    for l in plan.layer_names:  # plan order within each group
        members.setdefault(_find(parent, l), []).append(l)
    internal: dict[str, list[str]] = {}
    for name, conn in links:
        internal.setdefault(_find(parent, conn[0]), []).append(name)
    groups = []
    order = {s: i for i, s in enumerate(plan.synapse_names)}
    for root, ls in members.items():
        if len(ls) < 2:
            continue
        syns = tuple(sorted(internal.get(root, ()), key=order.__getitem__))
        groups.append(Group(f"{ls[0]}…{ls[-1]}", tuple(ls), syns))
    first = {l: i for i, l in enumerate(plan.layer_names)}
    return tuple(sorted(groups, key=lambda g: first[g.layers[0]]))
