"""Text summaries of a HAM: layers, synapses, parameter counts."""

from __future__ import annotations

import math
from typing import Any

from .validate import Plan

__all__ = ["summarize"]


def _lagrangian_text(lag: Any) -> str:
    cfg = lag.config()
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in cfg.items() if k != "min_beta")
    return f"{type(lag).__name__}({args})"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict) and "type" in v:
        return v["type"]
    return repr(v)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return out


def summarize(plan: Plan) -> str:
    """A Keras-style text table of a validated plan.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> print(ham.summary().splitlines()[-1])
        Total: 4 neurons, 16 parameters (16 in synapses, 0 in biases, 1 in Lagrangians)
    """
    rows = []
    neurons = bias_params = lag_params = 0
    for name, layer in zip(plan.layer_names, plan.layers):
        n = math.prod(layer.shape)
        neurons += n
        nb = n if layer.use_bias else 0
        bias_params += nb
        lag_params += sum(
            1 if not isinstance(v, list) else len(v)
            for k, v in layer.lagrangian.config().items()
            if k in ("beta", "scale", "gamma", "delta")
        )
        rows.append([name, str(layer.shape), str(n), _lagrangian_text(layer.lagrangian), f"{layer.tau:g}", "yes" if nb else "no"])
    lines = ["Layers"] + _table(["name", "shape", "neurons", "lagrangian", "tau", "bias"], rows)
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
    lines += ["", "Synapses"] + _table(["name", "type", "layers (slot order)", "params"], srows)
    total = syn_params + bias_params
    lines += [
        "",
        f"Total: {neurons:,} neurons, {total:,} parameters ({syn_params:,} in synapses, "
        f"{bias_params:,} in biases, {lag_params:,} in Lagrangians)",
    ]
    return "\n".join(lines)
