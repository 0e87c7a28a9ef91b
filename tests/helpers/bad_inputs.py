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
    table = {"nhid": 4, "kernel_size": 3, "shape": (4,), "num_memories": 3, "num_features": 8, "simplices": [(0, 1)]}
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


# ---- the newer namespaces (reliability III): keys, paths and reading options --------------------
#
# Generated from the signatures: every public function of these namespaces with a parameter
# named ``key``, ``path``, ``max_bytes`` or ``allow_compressed`` gets its wrong values. A new
# function with such a parameter must be given valid other arguments in the tables below (the
# generator emits a failing case naming it until it is), so the suite grows with the API.

NEWER_NAMESPACES = (
    "",
    "memory",
    "analysis",
    "vision",
    "formats",
    "interop",
    "datasets",
    "train",
    "parallel",
    "zoo",
    "learning",
)
# functions whose ``path`` is checked only after slow rendering (matplotlib); covered by atomic_write's tests
PATH_SKIP = {"animate_retrieval", "plot_history"}


def public_functions(parameter: str) -> list[tuple[str, Callable[..., Any]]]:
    """``(qualified name, function)`` of every public function of the newer namespaces taking ``parameter``."""
    seen, out = set(), []
    for ns in NEWER_NAMESPACES:
        module = getattr(hg, ns) if ns else hg
        for name in getattr(module, "__all__", []):
            fn = getattr(module, name)
            if isinstance(fn, type) or not callable(fn) or id(fn) in seen:
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            if parameter in params:
                seen.add(id(fn))
                out.append((f"{ns + '.' if ns else ''}{name}", fn))
    return out


def _pm1(k: int, n: int) -> Any:
    import numpy as np

    return np.sign(np.random.default_rng(0).normal(size=(k, n))) + 0.0


def _small_model() -> Any:
    """A compiled two-layer HAM (tanh and softmax) for the dynamics and analysis functions."""
    import jax

    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((4,)))
    ham.add_layer("b", hg.SoftmaxLayer((3,)))
    ham.add_synapse("s", hg.DenseSynapse(), layers=("a", "b"))
    return ham.compile(key=jax.random.key(0))


SIMPLICES = [(0, 1), (1, 2, 3)]


def _fit_arguments() -> dict[str, Any]:
    """Valid ``hg.learning.fit`` arguments but the key: Oja's rule on one unit of four inputs."""
    import numpy as np

    return dict(
        rule=hg.learning.oja,
        W0=np.full((1, 4), 0.1),
        data=np.random.default_rng(0).normal(size=(8, 4)),
        epochs=1,
        batch_size=4,
        lr_schedule=0.01,
        show_progress=False,
    )


def _key_arguments() -> dict[str, Callable[[], dict[str, Any]]]:
    """Valid arguments (all but ``key``) of every public function that takes a key."""
    import numpy as np

    P = _pm1(3, 16)

    def langevin() -> dict[str, Any]:
        m = _small_model()
        return dict(model=m, xs=m.init_states(), steps=2, dt=0.1, temperature=0.5)

    return {
        "langevin": langevin,
        "recall_binary_simplicial": lambda: dict(weights=[0.5, 0.5], simplices=SIMPLICES, probes=_pm1(2, 4)),
        "random_simplices": lambda: dict(N=6, counts={2: 3}),
        "overlap_trace": lambda: dict(W_or_patterns=P, probes=P, patterns=P, temperature=0.5, sweeps=2),
        "fit": _fit_arguments,
        "recall_binary": lambda: dict(W=np.asarray(hg.memory.hebbian(P)), probes=P),
        "recall_binary_dense": lambda: dict(patterns=P, probes=P),
        "corrupt": lambda: dict(patterns=P, fraction=0.1),
        "random_patterns": lambda: dict(num=3, N=16),
        "capacity_curve": lambda: dict(rule_or_builder="hebbian", N=16, loads=[0.1], trials=1),
        "basin_radius": lambda: dict(rule_or_builder="hebbian", N=16, load=0.1, trials=1),
        "attractor_census": lambda: dict(model_or_W=np.asarray(hg.memory.hebbian(P)), starts=P, patterns=P),
        "patch_pipeline": lambda: dict(image_shape=(8, 8, 1), patch_size=(4, 4), dim=16),
        "random_mask": lambda: dict(num_patches=16, num_masked=4),
        "batches": lambda: dict(batch_size=2),
        "epoch_order": lambda: dict(epoch=0, n=8),
        "random_feature_memory": lambda: dict(patterns=P, num_features=8),
    }


def key_cases() -> list[Case]:
    """``key=0`` (an int seed), a batch of keys and a string: refused with a library error naming ``key``."""
    table = _key_arguments()
    cases = []
    for qualified, fn in public_functions("key"):
        name = qualified.rsplit(".", 1)[-1]
        if name not in table:
            cases.append(_missing(qualified, "_key_arguments"))
            continue
        for label, bad in (("int", 0), ("str", "key"), ("float", 1.5)):
            args = table[name]
            cases.append(
                Case(
                    f"{qualified}-key-{label}",
                    lambda fn=fn, args=args, bad=bad, name=name: _consume(fn(*_positional(name), **args(), key=bad)),
                    hg.HamuxGraphError,
                    r"key must be",
                )
            )
    return cases


def _positional(name: str) -> list[Any]:
    import numpy as np

    return [np.ones(8)] if name == "batches" else []


def _consume(result: Any) -> Any:
    """A generator's items (its checks run when it is first advanced), else ``result``."""
    import types

    return list(result) if isinstance(result, types.GeneratorType) else result


def _missing(qualified: str, table: str) -> Case:
    def fail() -> None:
        raise AssertionError(f"{qualified} is new: give it valid arguments in tests/helpers/bad_inputs.py {table}")

    return Case(f"{qualified}-needs-arguments", fail, hg.HamuxGraphError, "never")


BAD_PATHS = [("none", None), ("bytes", b"m.hamux"), ("empty", ""), ("nul", "a\0b"), ("int", 3)]


def path_cases(files: dict[str, str]) -> list[Case]:
    """Bad ``path`` values (None, bytes, empty, NUL, an int) for every public function taking a path.

    ``files``: ``{"graphml": ..., "hamux": ..., "npz": ...}`` valid files for the readers.
    """
    import jax

    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    model = ham.compile(key=jax.random.key(0))
    before = {"write_graphml": (ham,), "save": (model,), "write_hif": (ham,), "simplices_to_hif": (SIMPLICES,)}
    cases = []
    for qualified, fn in public_functions("path"):
        name = qualified.rsplit(".", 1)[-1]
        if name in PATH_SKIP:
            continue
        if name not in before and not name.startswith(("load", "read")):
            cases.append(_missing(qualified, "path_cases"))
            continue
        leading = before.get(name, ())
        for label, bad in BAD_PATHS:
            cases.append(
                Case(
                    f"{qualified}-path-{label}",
                    lambda fn=fn, b=leading, bad=bad: fn(*b, bad),
                    hg.ArgumentError,
                    r"path must be a path",
                )
            )
    return cases


READ_INPUT = {
    "read_graphml": "graphml",
    "read_graphml_plan": "graphml",
    "load": "hamux",
    "load_architecture": "hamux",
    "load_architecture_plan": "hamux",
    "load_energy_transformer": "npz",
    "load_energy_transformer_pipeline": "npz",
    "parse_graphml_bytes": "graphml-bytes",
    "parse_graphml_plan": "graphml-bytes",
    "read_hif": "hif",
    "read_hif_plan": "hif",
    "parse_hif_plan": "hif-bytes",
    "load_pretrained": "pretrained",
}
BAD_OPTIONS = {
    "max_bytes": [("negative", -1), ("zero", 0), ("float", 1.5), ("str", "10"), ("none", None), ("bool", True)],
    "allow_compressed": [("str", "no"), ("int", 1), ("none", None)],
}


def reader_option_cases(files: dict[str, str]) -> list[Case]:
    """Bad ``max_bytes`` and ``allow_compressed`` for every public reader: an ``ArgumentError`` naming it."""
    cases = []
    for option, values in BAD_OPTIONS.items():
        for qualified, fn in public_functions(option):
            name = qualified.rsplit(".", 1)[-1]
            if name not in READ_INPUT:
                cases.append(_missing(qualified, "READ_INPUT"))
                continue
            kind = READ_INPUT[name]
            if kind.endswith("-bytes"):
                source = files[kind.removesuffix("-bytes")]
                with open(source, "rb") as f:
                    first: tuple[Any, ...] = (f.read(), source)
            else:
                first = (files[kind],)
            for label, bad in values:
                cases.append(
                    Case(
                        f"{qualified}-{option}-{label}",
                        lambda fn=fn, first=first, option=option, bad=bad: fn(*first, **{option: bad}),
                        hg.ArgumentError,
                        rf"{option} must be",
                    )
                )
    return cases


TRIANGLE = [[0.0, 0.0], [1.0, 0.0], [0.5, 0.8660254]]  # a unit-side triangle of patterns
COUNT_PARAMETERS = ("max_sweeps", "max_steps", "batch_size", "steps", "N", "trials", "num_memories")
BAD_COUNTS = [("negative", -1), ("float", 1.5), ("str", "3")]
# beyond int32: step counts, and sizes that index arrays (batch sizes and memory counts may be large)
HUGE_COUNTS = {"max_sweeps", "max_steps", "steps", "N", "trials"}
# functions whose counts are checked only after slow rendering (matplotlib)
COUNT_SKIP = {"animate_retrieval"}


def _count_arguments() -> dict[str, Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]]:
    """Valid ``(positional, keyword)`` arguments of every public function taking a count."""
    import jax
    import networkx as nx
    import numpy as np

    P = _pm1(3, 16)
    key = jax.random.key(0)

    model = _small_model

    def states() -> tuple[tuple[Any, ...], dict[str, Any]]:
        m = model()
        return (m, m.init_states()), {}

    def train_call(**kw: Any) -> Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]:
        return lambda: ((model(), np.ones((2, 4))), dict(input="a", output="b", **kw))

    return {
        "relax": states,
        "solve": states,
        "eqprop_grad": lambda: (
            (model(), model().init_states(), np.zeros(3), lambda xs, t: ((xs["b"] - t) ** 2).sum()),
            {},
        ),
        "recall_binary": lambda: ((np.asarray(hg.memory.hebbian(P)), P), dict(key=key)),
        "recall_binary_dense": lambda: ((P, P), dict(key=key)),
        "random_patterns": lambda: ((3,), dict(N=16, key=key)),
        "capacity_curve": lambda: (("hebbian",), dict(N=16, loads=[0.1], trials=1, key=key)),
        "basin_radius": lambda: (("hebbian",), dict(N=16, load=0.1, trials=1, key=key)),
        "attractor_census": lambda: ((np.asarray(hg.memory.hebbian(P)), P), dict(patterns=P, key=key)),
        "random_mask": lambda: ((16, 4), dict(key=key)),
        "forward": train_call(steps=2),
        "predict": train_call(steps=2),
        "accuracy": lambda: ((model(), np.ones((2, 4)), np.zeros(2, int)), dict(input="a", output="b", steps=2)),
        "batches": lambda: ((np.ones(8),), dict(batch_size=2)),
        "process_slice": lambda: ((), dict(batch_size=4, mesh=hg.parallel.batch_mesh())),
        "recall": lambda: ((hg.zoo.modern_hopfield(P).compile(key=key), P), dict(steps=2)),
        "dense_associative_memory": lambda: ((), dict(input_shape=(4,), num_memories=3)),
        "modern_hopfield": lambda: ((), dict(input_shape=(4,), num_memories=3)),
        "sparse_hopfield": lambda: ((), dict(input_shape=(4,), num_memories=3)),
        "gaussian_memory": lambda: ((), dict(input_shape=(4,), num_memories=3)),
        "epanechnikov_memory": lambda: ((), dict(input_shape=(4,), num_memories=3)),
        "energy_transformer": lambda: ((), dict(num_memories=3)),
        "graph_energy_transformer": lambda: ((), dict(graph=nx.path_graph(3), feature_dim=2)),
        "recall_binary_simplicial": lambda: (([0.5, 0.5], SIMPLICES, _pm1(2, 4)), dict(key=key)),
        "random_simplices": lambda: ((), dict(N=6, counts={2: 3}, key=key)),
        "langevin": lambda: (states()[0], dict(dt=0.1, temperature=0.5, key=key)),
        "stability": lambda: (states()[0], dict(k=2)),
        "emergent_minima": lambda: (
            (hg.zoo.epanechnikov_memory(TRIANGLE, beta=4.0).compile(key=key), TRIANGLE),
            dict(layer="visible"),
        ),
        "fit": lambda: ((), {**_fit_arguments(), "key": key}),
    }


def count_cases() -> list[Case]:
    """Negative, fractional, string and beyond-int32 counts (``max_steps``, ``batch_size``, ...)
    for every public function of the newer namespaces taking one: a library error naming it."""
    table = _count_arguments()
    cases = []
    for parameter in COUNT_PARAMETERS:
        for qualified, fn in public_functions(parameter):
            name = qualified.rsplit(".", 1)[-1]
            if name in COUNT_SKIP:
                continue
            if name not in table:
                cases.append(_missing(qualified, "_count_arguments"))
                continue
            for label, bad in BAD_COUNTS + ([("huge", 2**31)] if parameter in HUGE_COUNTS else []):

                def call(fn=fn, name=name, parameter=parameter, bad=bad) -> Any:
                    args, kwargs = table[name]()
                    return _consume(fn(*args, **{**kwargs, parameter: bad}))

                cases.append(Case(f"{qualified}-{parameter}-{label}", call, hg.HamuxGraphError, parameter))
    return cases


# ---- real-number settings of the newer namespaces ------------------------------------------------

FLOAT_PARAMETERS = ("beta", "dt", "temperature", "tol", "lr", "fraction", "corruption", "load", "merge")
BAD_FLOATS = [("nan", float("nan")), ("inf", float("inf")), ("str", "0.1"), ("negative", -1.0)]


def float_cases() -> list[Case]:
    """NaN, infinite, string and negative real settings (``beta``, ``dt``, ``temperature``, ``tol``, ...)
    for every public function of the newer namespaces taking one and listed in the key or count
    tables above (their valid other arguments): a library error naming the setting, also where the
    chosen mode ignores it (``dt`` of a binary capacity curve)."""
    import jax

    keyed, counted = _key_arguments(), _count_arguments()
    cases = []
    for parameter in FLOAT_PARAMETERS:
        for qualified, fn in public_functions(parameter):
            name = qualified.rsplit(".", 1)[-1]
            if name in keyed:
                make = lambda name=name: ((), {**keyed[name](), "key": jax.random.key(0)})  # noqa: E731
            elif name in counted:
                make = counted[name]
            else:
                continue
            for label, bad in BAD_FLOATS:

                def call(fn=fn, make=make, parameter=parameter, bad=bad) -> Any:
                    args, kwargs = make()
                    return _consume(fn(*args, **{**kwargs, parameter: bad}))

                cases.append(Case(f"{qualified}-{parameter}-{label}", call, hg.HamuxGraphError, parameter))
    return cases
