"""Bad inputs generated from the public signatures: every argument gets its wrong cases.

For each public constructor (every concrete Lagrangian, layer factory, synapse and adjoint
that ``hamux_graph`` exports, whatever issue added it) the generator reads the signature and
produces, per argument with a scalar default:

- a wrong type (a string for numbers and flags; a float for ints; an int for flags);
- a non-finite value for floats (``nan``, ``inf``);
- a value out of range where the range is known (``RANGE`` below: what convexity or
  meaning requires).

Each case expects the library error class and a message fragment naming the argument.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import hamux_graph as hg


class Case(NamedTuple):
    id: str
    call: Callable[[], Any]
    error: type[Exception]
    match: str


# argument -> values out of its range (each must be refused)
RANGE: dict[str, list[Any]] = {
    "beta": [0.0, -1.0],
    "min_beta": [0.0, -2.0],
    "scale": [0.0, -1.0],
    "gamma": [0.0, -1.0],
    "eps": [0.0, -1e-5],
    "n": [0.5, 0.0],
    "tau": [0.0, -1.0],
    "nhid": [0, -3],
    "num_heads": [0, -1],
    "zspace_dim": [0, -1],
    "stdinit": [-0.1],
    "feature_group_count": [0],
    "qk_norm_eps": [0.0],
    "tol": [0.0, -1.0],
    "max_steps": [0, -5],
    "restart": [0],
    "num_memories": [0, -1],
    "num_features": [0, -1],
    "alpha": [0.5, 0.0],
}
# arguments whose wrong values are not simple scalars, or that take anything of a kind
SKIP = {
    "shape",
    "hidden_lagrangian",
    "axis",
    "kernel_size",
    "strides",
    "padding",
    "input_dilation",
    "kernel_dilation",
    "dtype",
    "param_dtype",
    "precision",
    "kernel_init",
    "bias_init",
    "pool_window",
    "pool_stride",
    "pool_type",
    "solver",
    "kernel",
    "patterns",
    "delta",
}
NAMED = {"nan": float("nan"), "inf": float("inf")}


def _public(base: type) -> list[type]:
    out = []
    for name in hg.__all__:
        obj = getattr(hg, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, base)
            and not inspect.isabstract(obj)
            and not name.startswith("Abstract")
        ):
            out.append(obj)
    return out


def _layer_factories() -> list[Callable[..., Any]]:
    return [getattr(hg, n) for n in hg.__all__ if n.endswith("Layer") and inspect.isfunction(getattr(hg, n))]


def _defaults(fn: Any) -> dict[str, Any]:
    """Argument name -> default, for the scalar (int/float/bool) defaults of ``fn``."""
    if dataclasses.is_dataclass(fn):
        items = {f.name: f.default for f in dataclasses.fields(fn) if f.init and f.default is not dataclasses.MISSING}
    else:
        items = {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.default is not p.empty}
    return {k: v for k, v in items.items() if isinstance(v, (bool, int, float)) and k not in SKIP}


def _required(fn: Any) -> dict[str, Any]:
    """Valid values for required arguments, so that one bad argument is tested at a time."""
    table = {"nhid": 4, "kernel_size": 3, "shape": (4,), "num_memories": 3, "num_features": 8}
    if dataclasses.is_dataclass(fn):
        names = [
            f.name
            for f in dataclasses.fields(fn)
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
    else:
        names = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    return {n: table[n] for n in names if n in table}


def _wrong_values(name: str, default: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(default, bool):
        out += [("str", "no"), ("int", 1)]
    elif isinstance(default, int):
        out += [("float", 1.5), ("str", "3"), ("bool", True)]
    else:
        out += [("str", "1.0"), ("nan", NAMED["nan"]), ("inf", NAMED["inf"]), ("bool", True)]
    out += [(f"range{v!r}", v) for v in RANGE.get(name, [])]
    return out


def constructor_cases(family: str | None = None) -> list[Case]:
    """Wrong-type, non-finite and out-of-range values for every scalar argument of every constructor.

    ``family``: ``"lagrangian"``, ``"synapse"``, ``"adjoint"``, ``"layer"`` or ``None`` (all).
    """
    cases = []
    families = {
        "lagrangian": _public(hg.Lagrangian),
        "synapse": _public(hg.Synapse),
        "adjoint": _public(hg.AbstractAdjoint),
        "layer": _layer_factories(),
    }
    targets: list[Any] = [fn for k, fns in families.items() if family in (None, k) for fn in fns]
    for fn in targets:
        name = fn.__name__
        required = _required(fn)
        for arg, default in _defaults(fn).items():
            for label, bad in _wrong_values(arg, default):
                kwargs = {**required, arg: bad}
                if fn in _layer_factories():
                    call = lambda fn=fn, kw=kwargs: fn(kw.pop("shape", (4,)), **kw)
                else:
                    call = lambda fn=fn, kw=kwargs: fn(**kw)
                is_adjoint = isinstance(fn, type) and issubclass(fn, hg.AbstractAdjoint)
                error = hg.ArgumentError if is_adjoint else hg.ValidationError
                cases.append(Case(f"{name}-{arg}-{label}", call, error, arg))
    return cases


def shape_cases() -> list[Case]:
    """Bad layer shapes (each convenience layer and ``Layer`` itself)."""
    bad = [
        ("str", "64"),
        ("float", (6.0,)),
        ("zero", (0, 3)),
        ("negative", (-2,)),
        ("empty", ()),
        ("bool", (True, 2)),
        ("none", None),
        ("nested", ((2,), 3)),
    ]
    out = []
    for fn in _layer_factories():
        for label, shape in bad:
            out.append(Case(f"{fn.__name__}-shape-{label}", lambda fn=fn, s=shape: fn(s), hg.ValidationError, "shape"))
    for label, shape in bad:
        out.append(
            Case(f"Layer-shape-{label}", lambda s=shape: hg.Layer(hg.LTanh(), shape=s), hg.ValidationError, "shape")
        )
    return out


def nonconvex_cases() -> list[Case]:
    """Hyperparameters that would make a Lagrangian non-convex, with the value named."""
    return [
        Case(
            "softmax-negative-beta", lambda: hg.SoftmaxLayer((3,), beta=-1, min_beta=-2), hg.ValidationError, "min_beta"
        ),
        Case("tanh-zero-beta", lambda: hg.LTanh(beta=0.0), hg.ValidationError, r"beta must be > 0, got beta=0\.0"),
        Case("sigmoid-negative-scale", lambda: hg.LSigmoid(scale=-1), hg.ValidationError, r"scale=-1\.0.*non-convex"),
        Case(
            "layernorm-negative-gamma", lambda: hg.LLayerNorm(gamma=-1), hg.ValidationError, r"gamma=-1\.0.*non-convex"
        ),
        Case("spherical-zero-gamma", lambda: hg.LSphericalNorm(gamma=0.0), hg.ValidationError, "gamma"),
        Case("repu-small-n", lambda: hg.LRepu(n=0.5), hg.ValidationError, "n must be a finite number >= 1"),
        Case("norm-nan-delta", lambda: hg.LLayerNorm(delta=math.nan), hg.ValidationError, "delta must be finite"),
    ]


def check(case: Case) -> None:
    """Run one case: it must raise its error class with a message matching its fragment."""
    import re

    import pytest

    with pytest.raises(case.error) as info:
        case.call()
    assert re.search(case.match, str(info.value)), f"{case.id}: message {str(info.value)!r} lacks {case.match!r}"
