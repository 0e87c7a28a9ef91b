"""Lagrangians: convex scalar functions whose gradients are the neuron activations.

Every Lagrangian is an equinox Module, called on one sample's layer state ``x`` (of any
rank) and returning a scalar. ``activation(x)`` is its gradient in closed form. Learnable
scalars (``beta``, ``scale``, ``gamma``, ``delta``) are array leaves, so they train with the
rest of a model; ``beta`` is clipped below at ``min_beta`` when used.

Softmax, layer norm and spherical norm act row by row along ``axis`` and sum the row
Lagrangians, so they work on layers of any rank (for instance tokens x features).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import ValidationError
from .._internal.introspect import module_config
from .._internal.parse import parse_float, parse_int


__all__ = [
    "Lagrangian",
    "AbstractBetaLagrangian",
    "check_axis",
    "scalar_param",
    "learnable",
    "positive_float",
    "concrete_value",
    "check_scalar_field",
    "POSITIVE_FLOOR",
    "LIdentity",
    "LRepu",
    "LRelu",
    "LExp",
    "LRexp",
    "LTanh",
    "LSigmoid",
    "LSoftmax",
    "LLayerNorm",
    "LSphericalNorm",
]


POSITIVE_FLOOR = 1e-6
"""Learnable scalars whose sign decides convexity (``gamma`` of the norms, ``scale`` of
``LSigmoid``) are used as ``max(value, POSITIVE_FLOOR)``, the way ``beta`` is used as
``max(beta, min_beta)``: training can push the stored value anywhere, the Lagrangian stays
convex, and files record the value in use."""


def scalar_param(value: Any) -> Array:
    """A learnable scalar hyperparameter as a float array (the field converter).

    Raises:
        ValidationError: for strings, bools or non-numeric values.
    """
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise ValidationError(f"a learnable scalar must be a number, got {value!r} ({type(value).__name__}).")
    try:
        return jnp.asarray(value, dtype=jnp.result_type(float))
    except (TypeError, ValueError):
        raise ValidationError(f"a learnable scalar must be a number, got {type(value).__name__}.") from None


def learnable(what: str) -> Callable[[ArrayLike], Array]:
    """A field converter for the learnable scalar ``what`` (errors name it)."""

    def convert(value: Any) -> Array:
        try:
            return scalar_param(value)
        except ValidationError:
            raise ValidationError(
                f"{what} must be a number (a learnable scalar), got {value!r} ({type(value).__name__})."
            ) from None

    return convert


def positive_float(value: Any) -> float:
    """A static float hyperparameter that must be finite and > 0 (the field converter)."""
    return parse_float(value, "this hyperparameter", positive=True, error=ValidationError)


def _static_float(what: str, **kwargs: Any) -> Any:
    return lambda value: parse_float(value, what, error=ValidationError, **kwargs)


def _static_int(what: str) -> Any:
    return lambda value: parse_int(value, what, error=ValidationError)


def concrete_value(x: Any) -> float | None:
    """The float value of a 0-d array, or ``None`` when it is traced (checked later, if at all)."""
    if isinstance(x, jax.core.Tracer) or jnp.ndim(x) != 0:
        return None
    return float(x)


def check_scalar_field(owner: Any, name: str, *, positive: bool) -> None:
    """Raise ``ValidationError`` unless field ``name`` is a finite scalar (and > 0 if ``positive``)."""
    value = getattr(owner, name)
    cls = type(owner).__name__
    if jnp.ndim(value) != 0:
        raise ValidationError(f"{cls}: {name} must be a scalar, got an array of shape {jnp.shape(value)}.")
    v = concrete_value(value)
    if v is None:
        return
    if not math.isfinite(v):
        raise ValidationError(f"{cls}: {name} must be a finite number, got {name}={v}.")
    if positive and not v > 0:
        raise ValidationError(
            f"{cls}: {name} must be > 0, got {name}={v}; {name} <= 0 makes the Lagrangian non-convex, so the "
            "energy would no longer decrease along the dynamics. Pass a positive value."
        )


class Lagrangian(eqx.Module):
    """Abstract convex Lagrangian ``L(x) -> scalar``; its gradient is the activation.

    Subclasses implement ``__call__`` (and, for speed and stability, ``activation`` in
    closed form). ``check_shape`` lets a Lagrangian reject layer shapes it cannot act on.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> float(hg.LIdentity()(jnp.array([1.0, 2.0])))
        2.5
    """

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "..."]) -> Float[Array, ""]:
        """The Lagrangian of one sample's state, a scalar."""

    def activation(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """The gradient of the Lagrangian (the layer's activation ``g``)."""
        return jax.grad(self)(x)

    def activation_and_value(self, x: Float[Array, "..."]) -> tuple[Float[Array, "..."], Float[Array, ""]]:
        """``(activation(x), L(x))`` together; override where the two share work.

        Example:
            >>> import jax.numpy as jnp, hamux_graph as hg
            >>> g, L = hg.LSoftmax().activation_and_value(jnp.zeros(4))
            >>> g.tolist(), round(float(L), 4)
            ([0.25, 0.25, 0.25, 0.25], 1.3863)
        """
        return self.activation(x), self(x)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise ``ValidationError`` if this Lagrangian cannot act on ``shape``."""

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain Python values (learnable scalars at their current value)."""
        return module_config(self)


def check_axis(lag: Lagrangian, axis: int, shape: tuple[int, ...]) -> None:
    """Raise ``ValidationError`` unless ``axis`` indexes a layer of ``shape``."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise ValidationError(
            f"{type(lag).__name__}(axis={axis}) needs a layer of rank > {axis if axis >= 0 else -axis - 1}, "
            f"but the layer has shape {shape} (rank {rank}). Pass an axis in "
            f"[{-rank}, {rank - 1}] (usually axis=-1, the feature axis)."
        )


class AbstractBetaLagrangian(Lagrangian):
    """A Lagrangian with a learnable inverse temperature ``beta``, clipped at ``min_beta``."""

    beta: Array = eqx.field(converter=learnable("beta"), default=1.0)
    min_beta: float = eqx.field(static=True, converter=_static_float("min_beta", positive=True), default=1e-6)

    def __check_init__(self):
        check_scalar_field(self, "beta", positive=True)

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain values; ``beta`` is the value in use, ``max(beta, min_beta)``."""
        cfg = module_config(self)
        v = concrete_value(self.effective_beta)
        if v is not None:
            cfg["beta"] = v
        return cfg

    @property
    def effective_beta(self) -> Array:
        """``max(beta, min_beta)``: the β the Lagrangian actually uses."""
        return jnp.maximum(self.beta, self.min_beta)


class LIdentity(Lagrangian):
    """``L(x) = ½ Σ x²``; activation ``g = x``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LIdentity().activation(jnp.array([-1.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    def __call__(self, x):
        return 0.5 * jnp.sum(x * x)

    def activation(self, x):
        return x


class LRepu(Lagrangian):
    """Rectified power: ``L(x) = Σ max(x, 0)ⁿ / n``; activation ``max(x, 0)ⁿ⁻¹``.

    ``n >= 1`` keeps the Lagrangian convex (``n = 2`` is ``LRelu``; dense associative
    memories use larger ``n``).

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LRepu(n=3).activation(jnp.array([-1.0, 2.0])).tolist()
        [0.0, 4.0]
    """

    n: float = eqx.field(static=True, converter=_static_float("LRepu: n"), default=2.0)

    def __check_init__(self):
        if not (math.isfinite(self.n) and self.n >= 1.0):
            raise ValidationError(
                f"LRepu: the power n must be a finite number >= 1 for a convex Lagrangian, got n={self.n}."
            )

    def __call__(self, x):
        return jnp.sum(jnp.maximum(x, 0.0) ** self.n) / self.n

    def activation(self, x):
        if self.n == 1.0:
            return jnp.where(x > 0, 1.0, 0.0).astype(x.dtype)
        return jnp.maximum(x, 0.0) ** (self.n - 1.0)


class LRelu(Lagrangian):
    """``L(x) = ½ Σ max(x, 0)²`` (``LRepu(n=2)``); activation ``relu(x)``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LRelu().activation(jnp.array([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def __call__(self, x):
        r = jnp.maximum(x, 0.0)
        return 0.5 * jnp.sum(r * r)

    def activation(self, x):
        return jnp.maximum(x, 0.0)


class LExp(AbstractBetaLagrangian):
    """``L(x) = Σ exp(βx) / β``; activation ``exp(βx)``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> round(float(hg.LExp(beta=2.0).activation(jnp.array([0.5]))[0]), 4)
        2.7183
    """

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(jnp.exp(b * x)) / b

    def activation(self, x):
        return jnp.exp(self.effective_beta * x)


class LRexp(AbstractBetaLagrangian):
    """``L(x) = Σ (exp(β x₊)/β − x₊)``; activation ``(exp(βx) − 1)·[x > 0]``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LRexp().activation(jnp.array([-1.0, 0.0])).tolist()
        [0.0, 0.0]
    """

    def __call__(self, x):
        b = self.effective_beta
        xp = jnp.maximum(x, 0.0)
        return jnp.sum(jnp.exp(b * xp) / b - xp)

    def activation(self, x):
        return jnp.where(x > 0, jnp.expm1(self.effective_beta * jnp.maximum(x, 0.0)), 0.0)


def _logcosh(z):
    a = jnp.abs(z)
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - math.log(2.0)  # exp(-2a) <= 1: stable, cheaper than softplus


class LTanh(AbstractBetaLagrangian):
    """``L(x) = Σ log cosh(βx) / β``; activation ``tanh(βx)``. Stable for any ``|βx|``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> float(hg.LTanh(beta=1.0)(jnp.array([0.0])))
        0.0
    """

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(_logcosh(b * x)) / b

    def activation(self, x):
        return jnp.tanh(self.effective_beta * x)


class LSigmoid(AbstractBetaLagrangian):
    """``L(x) = Σ scale·softplus(βx) / β``; activation ``scale·sigmoid(βx)``.

    ``scale`` must stay positive for convexity.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> float(hg.LSigmoid(scale=2.0).activation(jnp.array([0.0]))[0])
        1.0
    """

    scale: Array = eqx.field(converter=learnable("scale"), default=1.0)

    def __check_init__(self):
        super().__check_init__()
        check_scalar_field(self, "scale", positive=True)

    @property
    def effective_scale(self) -> Array:
        """``max(scale, POSITIVE_FLOOR)``: the scale in use (it keeps the Lagrangian convex)."""
        return jnp.maximum(self.scale, POSITIVE_FLOOR)

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain values (``beta`` and ``scale`` as in use)."""
        cfg = super().config()
        v = concrete_value(self.effective_scale)
        if v is not None:
            cfg["scale"] = v
        return cfg

    def __call__(self, x):
        b = self.effective_beta
        return self.effective_scale * jnp.sum(jax.nn.softplus(b * x)) / b

    def activation(self, x):
        return self.effective_scale * jax.nn.sigmoid(self.effective_beta * x)


class LSoftmax(AbstractBetaLagrangian):
    """``L(x) = Σ_rows logsumexp(βx, axis) / β``; activation ``softmax(βx, axis)``.

    On a rank-r layer the log-sum-exp runs along ``axis`` and the result is summed over
    every other axis, so the Lagrangian is a scalar and each row is its own softmax.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LSoftmax().activation(jnp.zeros((2, 4))).sum(-1).tolist()
        [1.0, 1.0]
    """

    axis: int = eqx.field(static=True, converter=_static_int("axis"), default=-1)

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(jax.nn.logsumexp(b * x, axis=self.axis)) / b

    def activation(self, x):
        return jax.nn.softmax(self.effective_beta * x, axis=self.axis)

    def activation_and_value(self, x):
        # one exponential for both: softmax(z) = e / s and logsumexp(z) = log s + m with
        # z = βx, e = exp(z - m), s = Σ e, m the (gradient-free) row maximum of z, taken as
        # β·max(x) (β > 0) so that z itself is never stored
        b = self.effective_beta
        m = jax.lax.stop_gradient(b * jnp.max(x, axis=self.axis, keepdims=True))
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        e = jnp.exp(b * x - m)
        s = jnp.sum(e, axis=self.axis, keepdims=True)
        return e / s, jnp.sum(jnp.log(s) + m) / b

    def check_shape(self, shape):
        check_axis(self, self.axis, shape)


class _NormLagrangian(Lagrangian):
    gamma: Array = eqx.field(converter=learnable("gamma"), default=1.0)
    delta: Array = eqx.field(converter=learnable("delta"), default=0.0)
    axis: int = eqx.field(static=True, converter=_static_int("axis"), default=-1)
    eps: float = eqx.field(static=True, converter=_static_float("eps", positive=True), default=1e-5)

    def __check_init__(self):
        name = type(self).__name__
        check_scalar_field(self, "gamma", positive=True)
        if not isinstance(self.delta, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(self.delta))):
            raise ValidationError(f"{name}: delta must be finite, got {self.delta}.")
        if jnp.ndim(self.delta) > 1:
            raise ValidationError(
                f"{name}: delta must be a scalar or a vector along `axis`, got shape {jnp.shape(self.delta)}."
            )

    def check_shape(self, shape):
        check_axis(self, self.axis, shape)
        d = jnp.shape(self.delta)
        if d and d[0] != shape[self.axis]:
            raise ValidationError(
                f"{type(self).__name__}: delta has shape {d} but the layer's axis {self.axis} has "
                f"size {shape[self.axis]} (layer shape {shape}). Use a scalar delta or one of "
                f"shape ({shape[self.axis]},)."
            )

    def _rows(self, x):
        return jnp.moveaxis(x, self.axis, -1)

    def _delta(self, xr):
        """``delta`` broadcast to the rows ``xr`` (a scalar, or one value per entry of a row)."""
        return jnp.broadcast_to(self.delta, xr.shape)

    @property
    def effective_gamma(self) -> Array:
        """``max(gamma, POSITIVE_FLOOR)``: the gain in use (it keeps the Lagrangian convex)."""
        return jnp.maximum(self.gamma, POSITIVE_FLOOR)

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain values (``gamma`` as in use)."""
        cfg = module_config(self)
        v = concrete_value(self.effective_gamma)
        if v is not None:
            cfg["gamma"] = v
        return cfg


class LLayerNorm(_NormLagrangian):
    """Layer norm: ``L(x) = Σ_rows [D·γ·√(var(x) + eps) + ⟨δ, x⟩]`` along ``axis``.

    Activation ``γ(x − x̄)/√(var + eps) + δ`` row by row. ``gamma`` is a scalar (keep it
    positive for convexity); ``delta`` a scalar or a vector of the row length.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> g = hg.LLayerNorm().activation(jnp.array([[1.0, 3.0], [0.0, 2.0]]))
        >>> [round(v, 3) for v in g[0].tolist()]
        [-1.0, 1.0]
    """

    def __call__(self, x):
        xr = self._rows(x)
        d = xr.shape[-1]
        var = jnp.var(xr, axis=-1)
        return jnp.sum(d * self.effective_gamma * jnp.sqrt(var + self.eps)) + jnp.sum(self._delta(xr) * xr)

    def activation(self, x):
        xr = self._rows(x)
        xc = xr - jnp.mean(xr, axis=-1, keepdims=True)
        var = jnp.mean(xc * xc, axis=-1, keepdims=True)
        g = self.effective_gamma * xc / jnp.sqrt(var + self.eps) + self._delta(xr)
        return jnp.moveaxis(g, -1, self.axis)


class LSphericalNorm(_NormLagrangian):
    """Spherical norm: ``L(x) = Σ_rows [γ·√(Σx² + eps) + ⟨δ, x⟩]`` along ``axis``.

    Activation ``γx/√(Σx² + eps) + δ`` row by row.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> g = hg.LSphericalNorm(eps=1e-12).activation(jnp.array([3.0, 4.0]))
        >>> [round(float(v), 3) for v in g]
        [0.6, 0.8]
    """

    def __call__(self, x):
        xr = self._rows(x)
        return jnp.sum(self.effective_gamma * jnp.sqrt(jnp.sum(xr * xr, axis=-1) + self.eps)) + jnp.sum(
            self._delta(xr) * xr
        )

    def activation(self, x):
        xr = self._rows(x)
        g = self.effective_gamma * xr / jnp.sqrt(jnp.sum(xr * xr, axis=-1, keepdims=True) + self.eps) + self._delta(xr)
        return jnp.moveaxis(g, -1, self.axis)
