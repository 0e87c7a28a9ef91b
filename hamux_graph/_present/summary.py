"""Text summaries of a HAM or a compiled model, in the style of Keras / torchinfo tables.

``HAM.summary()`` counts the parameters the architecture will create (from the synapses'
``param_shapes``); ``CompiledHAM.summary()`` counts the actual parameter leaves of the
compiled model. Both print the same table layout:

* layers: name, shape, neurons, Lagrangian, τ, bias, parameters (bias + Lagrangian scalars);
* synapses: name, type, connected layers in slot order, parameters (or who they share with);
* totals.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._graph.validate import Plan
from .._internal.memo import by_value


__all__ = ["summarize", "summarize_model", "lagrangian_text"]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict) and "type" in v:
        return v["type"]
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:4]) + (", …" if len(v) > 4 else "") + "]"
    return repr(v)


@functools.cache
def _default_config(cls: type) -> dict[str, Any]:
    """The config of ``cls()`` (once per class: building a Lagrangian is not free)."""
    try:
        return cls().config()
    except Exception:  # a class without defaults for every field: show everything
        return {}


def lagrangian_text(lag: Any) -> str:
    """Short text of a Lagrangian with its non-default hyperparameters, e.g. ``LTanh(beta=4)``.

    Example:
        >>> import hamux_graph as hg
        >>> lagrangian_text(hg.LSoftmax(beta=2.0))
        'LSoftmax(beta=2)'
    """
    return by_value(_lagrangian_text, lag)


def config_of(obj: Any) -> dict[str, Any]:
    """``obj.config()``, once per value of ``obj`` (see ``memo.by_value``)."""
    return by_value(_config, obj)


def _config(obj: Any) -> dict[str, Any]:
    return obj.config()


def _lagrangian_text(lag: Any) -> str:
    cfg = lag.config()
    defaults = _default_config(type(lag))
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in cfg.items() if k != "min_beta" and defaults.get(k, object()) != v)
    return f"{type(lag).__name__}({args})"


def _size(tree: Any) -> int:
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x))


def _table(title: str, headers: list[str], rows: list[list[str]], right: Sequence[int]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return [title, rule, line(headers), rule] + [line(r) for r in rows] + [rule]


def _render(
    title: str,
    layer_rows: list[list[str]],
    synapse_rows: list[list[str]],
    neurons: int,
    layer_params: int,
    synapse_params: int,
    lag_params: int,
) -> str:
    lines = [title, ""]
    lines += _table(
        "Layers",
        ["name", "shape", "neurons", "lagrangian", "tau", "bias", "params"],
        layer_rows,
        right=(2, 4, 6),
    )
    lines += [""]
    lines += _table("Synapses", ["name", "type", "layers (slot order)", "params"], synapse_rows, right=(3,))
    total = layer_params + synapse_params
    width = max(len(l) for l in lines)
    lines += [
        "",
        "=" * width,
        f"Total neurons:     {neurons:,}",
        f"Total parameters:  {total:,}",
        f"  in synapses:     {synapse_params:,} parameters",
        f"  in layers:       {layer_params:,} parameters ({layer_params - lag_params:,} in biases, "
        f"{lag_params:,} Lagrangian scalars)",
        "=" * width,
    ]
    return "\n".join(lines)


def summarize(plan: Plan) -> str:
    """The summary table of a validated plan (parameter counts the compile will create).

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> print(ham.summary().splitlines()[-4])
        Total parameters:  17
    """
    rows = []
    neurons = layer_params = lag_params = 0
    for name, layer in zip(plan.layer_names, plan.layers):
        n = math.prod(layer.shape)
        nl = _size(layer.lagrangian)
        nb = n if layer.use_bias else 0
        neurons += n
        lag_params += nl
        layer_params += nb + nl
        rows.append(
            [
                name,
                str(layer.shape),
                f"{n:,}",
                lagrangian_text(layer.lagrangian),
                f"{layer.tau:g}",
                "yes" if layer.use_bias else "no",
                f"{nb + nl:,}",
            ]
        )
    srows = []
    syn_params = 0
    shape_of = dict(zip(plan.layer_names, (l.shape for l in plan.layers)))
    for name, conn, owner in zip(plan.synapse_names, plan.connections, plan.owners):
        spec = plan.specs[owner]
        if owner == name:
            count = spec.num_params([shape_of[l] for l in conn])
            syn_params += count
            pcount = f"{count:,}"
        else:
            pcount = f"shared with {owner}"
        srows.append([name, type(spec).__name__, " -> ".join(conn), pcount])
    title = f"HAM: {counted(len(plan.layer_names), 'layer')}, {counted(len(plan.synapse_names), 'synapse')}"
    return _render(title, rows, srows, neurons, layer_params, syn_params, lag_params)


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1 (the summaries, reprs and pages).

    Example:
        >>> counted(1, "synapse"), counted(0, "layer"), counted(2, "layer")
        ('1 synapse', '0 layers', '2 layers')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summarize_model(model: Any) -> str:
    """The summary table of a compiled model, counting its actual parameter leaves.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,), use_bias=True))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> print(model.summary().splitlines()[-4])
        Total parameters:  5
    """
    rows = []
    neurons = layer_params = lag_params = 0
    for name, lag, shape, tau, bias in zip(
        model.layer_names, model.lagrangians, model.shapes, model.taus, model.biases
    ):
        n = math.prod(shape)
        nl, nb = _size(lag), _size(bias)
        neurons += n
        lag_params += nl
        layer_params += nl + nb
        rows.append(
            [
                name,
                str(shape),
                f"{n:,}",
                lagrangian_text(lag),
                f"{tau:g}",
                "yes" if bias is not None else "no",
                f"{nl + nb:,}",
            ]
        )
    srows = []
    for name, p, idx in zip(model.synapse_names, model.edge_params, model.edge_layers):
        owner = model.owner_names[p]
        conn = " -> ".join(model.layer_names[i] for i in idx)
        pcount = f"{_size(model.synapses[p]):,}" if owner == name else f"shared with {owner}"
        srows.append([name, type(model.synapses[p]).__name__, conn, pcount])
    syn_params = _size(model.synapses)
    title = f"CompiledHAM: {counted(len(model.layer_names), 'layer')}, {counted(len(model.synapse_names), 'synapse')}"
    return _render(title, rows, srows, neurons, layer_params, syn_params, lag_params)
