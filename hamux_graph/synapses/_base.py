"""The abstract hypersynapse: an alignment function of any number of layer activations."""

from __future__ import annotations

import abc
import dataclasses
import inspect
import math
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import ValidationError
from .._internal.introspect import module_config
from .._internal.parse import is_int, parse_bool, parse_float, parse_int
from .._types import Shape
from ..lagrangians.elementwise import Lagrangian


ParamShape = Any  # a Shape, or a list of Shapes for list-valued parameters


def static_int(what: str, minimum: int = 1) -> Any:
    """A field converter: an int ``>= minimum`` (floats, strings and bools refused)."""
    return lambda value: parse_int(value, what, minimum=minimum, error=ValidationError)


def static_float(what: str, *, positive: bool = False, nonnegative: bool = False) -> Any:
    """A field converter: a finite float (ints accepted; strings and bools refused)."""
    return lambda value: parse_float(value, what, positive=positive, nonnegative=nonnegative, error=ValidationError)


def static_bool(what: str) -> Any:
    """A field converter: a bool (strings such as ``"no"`` refused)."""
    return lambda value: parse_bool(value, what, error=ValidationError)


def check_lagrangian_field(owner: Any, name: str) -> None:
    """Raise ``ValidationError`` unless field ``name`` of ``owner`` holds a Lagrangian (not a string)."""
    value = getattr(owner, name)
    if not isinstance(value, Lagrangian):
        hint = f" (e.g. hg.L{value.capitalize()}())" if isinstance(value, str) and value.isidentifier() else ""
        raise ValidationError(
            f"{type(owner).__name__}: {name} must be a hamux_graph Lagrangian such as hg.LRelu() or "
            f"hg.LSoftmax(beta=1.0), got {value!r} ({type(value).__name__}){hint}."
        )


def optional_array(value: Any) -> Array | None:
    """Converter for parameter fields: ``None`` (create at compile time) or an array."""
    if value is None:
        return None
    return jnp.asarray(value)


def optional_array_list(value: Any) -> tuple[Array, ...] | None:
    """Converter for list-valued parameter fields (e.g. ``Ws``)."""
    if value is None:
        return None
    return tuple(jnp.asarray(v) for v in value)


_Param = TypeVar("_Param")


def created_param(value: _Param | None, owner: Any, name: str) -> _Param:
    """The parameter ``name`` of ``owner``, checked to exist (parameters start as ``None``).

    Raises:
        ValidationError: if the parameter has not been created yet.
    """
    if value is None:
        raise ValidationError(
            f"{type(owner).__name__}: parameter {name!r} has not been created yet (it is None). Create it with "
            f".init(layer_shapes, key=...), pass {name}=... to the constructor, or use the synapse of a compiled "
            "model."
        )
    return value


def numel(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


def check_explicit_parameter(owner: str, name: str, value: Any) -> None:
    """Refuse an explicit parameter array that is complex or holds nan/inf (ValidationError).

    Traced values (inside ``jit``) and ``None`` (created at compile time) are not checked.
    """
    for part in value if isinstance(value, (list, tuple)) else (value,):
        if part is None or isinstance(part, jax.core.Tracer):
            continue
        if jnp.iscomplexobj(part):
            raise ValidationError(
                f"{owner}: explicit parameter `{name}` is complex (dtype {part.dtype}); parameters are real. Pass "
                "the real part (x.real) if that is what you mean."
            )
        if jnp.issubdtype(part.dtype, jnp.inexact) and not bool(jnp.isfinite(part).all()):
            bad = int((~jnp.isfinite(part)).sum())
            raise ValidationError(
                f"{owner}: explicit parameter `{name}` holds {bad} non-finite values (nan or inf); parameters must "
                "be finite."
            )


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(is_int(d) and int(d) >= 0 for d in value)


def check_param_shapes(owner: str, expected: Any, shapes: Sequence[Shape]) -> None:
    """Refuse a ``param_shapes`` result that is not ``{field name: shape or [shapes]}`` with
    non-negative int dimensions (``ValidationError`` naming the class and the entry).
    """
    if not isinstance(expected, dict):
        raise ValidationError(
            f"{owner}.param_shapes must return a dict {{field name: shape}}, got {type(expected).__name__} for "
            f"layer shapes {list(shapes)}."
        )
    for name, want in expected.items():
        parts = want if isinstance(want, list) else [want]
        if not isinstance(name, str) or not all(_is_shape(part) for part in parts):
            raise ValidationError(
                f"{owner}.param_shapes returned {name!r}: {want!r} for layer shapes {list(shapes)}; each entry "
                "must map a field name to a shape (a tuple of ints >= 0) or a list of shapes."
            )


def _is_param_value(value: Any) -> bool:
    if value is None or isinstance(value, (jax.Array, np.ndarray)):
        return True
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, (jax.Array, np.ndarray)) for v in value)
    )


class Synapse(eqx.Module):
    """Abstract hypersynapse: ``__call__(*gs)`` returns the scalar alignment ``F``.

    The synapse's energy is ``−F``. A synapse sees one sample's activations (no batch
    axis) in slot order. Its learnable parameters are fields that start as ``None`` and are
    created at compile time from the connected layer shapes, as ``param_shapes`` says;
    passing an array instead (``DenseSynapse(W=...)``) uses it, and validation checks its
    shape.

    A subclass implements ``__call__`` and, if it has parameters, ``param_shapes``. The
    number of layers it accepts is read from ``__call__``'s signature (``*gs`` means any
    number); override ``arity`` to say otherwise.

    Example:
        >>> import math, jax, jax.numpy as jnp, hamux_graph as hg
        >>> class Bilinear(hg.Synapse):
        ...     W: jax.Array | None = None
        ...     def param_shapes(self, shapes):
        ...         return {"W": (math.prod(shapes[0]), math.prod(shapes[1]))}
        ...     def __call__(self, g1, g2):
        ...         return g1.ravel() @ self.W @ g2.ravel()
        >>> syn = Bilinear().init([(3,), (2,)], key=jax.random.key(0))
        >>> syn.W.shape
        (3, 2)
    """

    def __check_init__(self) -> None:
        """Explicit parameters (``DenseSynapse(W=...)``) must be real and finite (checked once, here)."""
        for name in self.param_names():
            check_explicit_parameter(type(self).__name__, name, getattr(self, name))

    multiaffine: ClassVar[bool] = False
    """True if ``F`` is affine in each argument while the others are held fixed (dense and
    convolutional synapses). ``run`` then computes the drive of held (clamped) layers on a
    single free layer once per run instead of every step."""

    @abc.abstractmethod
    def __call__(self, *gs: Any, **kwargs: Any) -> Float[Array, ""]:
        """The alignment of one sample's activations, a scalar.

        The signature is open: each subclass fixes its own (``arity`` reads it), so
        ``(self, g1, g2)`` and ``(self, *gs)`` both override this.
        """

    def energy(self, *gs: Float[Array, "..."]) -> Float[Array, ""]:
        """The synapse energy ``−F(g₁, …, g_k)``."""
        return -self(*gs)

    # ---- shapes and parameters -----------------------------------------------------

    @classmethod
    def arity(cls) -> tuple[int, int | None]:
        """``(min, max)`` number of connected layers (``max`` None: unbounded)."""
        sig = inspect.signature(cls.__call__)
        params = list(sig.parameters.values())[1:]
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
            return max(n, 1), None
        required = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in params)
        total = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        return required, total

    def param_shapes(self, shapes: Sequence[Shape]) -> dict[str, ParamShape]:
        """Parameter name -> shape (or list of shapes) for these connected layer shapes.

        Raise ``ValidationError`` here if the synapse cannot connect layers of these shapes.
        """
        return {}

    def shard_axes(self, shapes: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        """The axes of each parameter that model parallelism may split, in order of preference.

        ``hamux_graph.parallel.shard_model`` (and ``HAM.compile(..., mesh=...)``) splits a
        parameter over the mesh's ``"model"`` axis along the first listed axis whose size
        that axis divides (for a list-valued parameter, the same axis of every array); a
        parameter that is not listed, or none of whose listed axes divides, is replicated.
        The base class lists nothing: a custom synapse is replicated unless it overrides
        this (as the built-in dense, hidden-layer and attention synapses do).

        Args:
            shapes: the connected layer shapes, in slot order.

        Returns:
            ``{parameter name: axes}``.

        Example:
            >>> import hamux_graph as hg
            >>> hg.ConvSynapse(kernel_size=3).shard_axes([(8, 8, 1), (6, 6, 4)])
            {}
        """
        return {}

    def memory_axes(self, shapes: Sequence[Shape], name: str, axis: int) -> dict[int, int]:
        """The connected layers whose units are parameter ``name``'s split ``axis``.

        When ``name`` is split along ``axis`` (see ``shard_axes``), the states (and bias)
        of these layers can be split the same way: ``{slot: axis of that layer}``. For a
        dense memory ``(visible, memories)`` split along its stored-pattern axis that is the
        memories layer. The base class names none.

        Example:
            >>> import hamux_graph as hg
            >>> hg.DenseSynapse().memory_axes([(16,), (1024,)], "W", 1)
            {1: 0}
        """
        return {}

    def param_names(self) -> tuple[str, ...]:
        """Names of the fields that hold learnable parameter arrays (or ``None``)."""
        names = []
        for f in dataclasses.fields(self):
            if f.metadata.get("static", False):
                continue
            if _is_param_value(getattr(self, f.name)):
                names.append(f.name)
        return tuple(names)

    def check_shapes(self, shapes: Sequence[Shape]) -> dict[str, ParamShape]:
        """Check arity, shape arithmetic and explicit parameters; return ``param_shapes``.

        Raises:
            ValidationError: naming what was expected and what was found (the graph adds
                the synapse node's name).
        """
        lo, hi = self.arity()
        k = len(shapes)
        if k < lo or (hi is not None and k > hi):
            want = f"exactly {lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise ValidationError(
                f"{type(self).__name__} connects {want} layer(s), but {k} were given "
                f"(shapes {list(shapes)}). Connect {want} layer(s), or pick a synapse type of another arity."
            )
        expected = self.param_shapes([tuple(s) for s in shapes])
        check_param_shapes(type(self).__name__, expected, shapes)
        for name, want in expected.items():
            have = getattr(self, name, None)
            if have is None:
                continue
            if isinstance(want, list):
                got = [tuple(jnp.shape(h)) for h in have]
                ok = len(got) == len(want) and all(g == tuple(w) for g, w in zip(got, want))
            else:
                got = tuple(jnp.shape(have))
                ok = got == tuple(want)
            if not ok:
                raise ValidationError(
                    f"{type(self).__name__}: explicit parameter `{name}` has shape {got}, but the connected "
                    f"layer shapes {list(shapes)} need {want}. Pass an array of shape {want}, or leave "
                    f"`{name}=None` to create it at compile time."
                )
        return expected

    def init_param(self, name: str, shape: Shape, *, key: PRNGKeyArray) -> Array:
        """Create one parameter array: ``N(0, stdinit²)`` (``stdinit`` field, else 0.02). Override for other inits."""
        std = getattr(self, "stdinit", 0.02)
        return std * jax.random.normal(key, shape, dtype=jnp.result_type(float))

    def init(self, shapes: Sequence[Shape], *, key: PRNGKeyArray) -> Synapse:
        """A copy with every missing parameter created for these layer shapes.

        Raises:
            ValidationError: if the shapes or explicit parameters don't fit.
        """
        expected = self.check_shapes(shapes)
        missing = [n for n in expected if getattr(self, n, None) is None]
        if not missing:
            return self
        keys = jax.random.split(key, len(missing))
        new = []
        for name, k in zip(missing, keys):
            want = expected[name]
            if isinstance(want, list):
                ks = jax.random.split(k, len(want))
                new.append(tuple(self.init_param(name, tuple(w), key=kk) for w, kk in zip(want, ks)))
            else:
                new.append(self.init_param(name, tuple(want), key=k))
        return eqx.tree_at(lambda s: [getattr(s, n) for n in missing], self, new, is_leaf=lambda x: x is None)

    def num_params(self, shapes: Sequence[Shape]) -> int:
        """Number of learnable parameter entries for these layer shapes."""
        total = 0
        for want in self.param_shapes([tuple(s) for s in shapes]).values():
            if isinstance(want, list):
                total += sum(numel(w) for w in want)
            else:
                total += numel(want)
        total += sum(
            int(np.size(leaf))
            for leaf in jax.tree_util.tree_leaves(
                [getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.param_names()]
            )
            if eqx.is_inexact_array(leaf)
        )
        return total

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain Python values (parameter arrays excluded)."""
        return module_config(self, exclude=self.param_names())
