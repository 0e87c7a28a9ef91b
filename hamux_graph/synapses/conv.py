"""Convolutional synapses: ``⟨conv(g₁), g₂⟩``, optionally through average or max pooling.

A convolutional synapse connects an input layer and an output layer, both of shape
``spatial + (channels,)`` per sample (``(H, W, C)`` for the usual 2-D kernel). Its alignment
is the inner product of the convolved input with the output activation, so the output
layer plays the role of the feature map a feedforward convolution would produce. The number
of output channels is read from the output layer; its spatial size must equal the
convolution (and pooling) arithmetic, which ``output_shape`` computes and validation checks
before anything is traced.

Every hyperparameter is a static, JSON-able value (ints, tuples, strings), so
``type(s)(**s.config())`` rebuilds the synapse. Unlike the 2022 HAMUX (flax callables),
``dtype``/``param_dtype`` are dtype *names* (``"float32"``) and ``kernel_init``/``bias_init``
are initializer *names* (see ``KERNEL_INITS``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import ValidationError
from .._internal.parse import is_int, parse_int_or_tuple
from ._base import created_param, optional_array, Shape, static_bool, static_float, static_int, Synapse


__all__ = ["ConvSynapse", "ConvSynapseWithPool", "KERNEL_INITS", "BIAS_INITS"]

#: Initializer names accepted by ``kernel_init`` (fans are computed for an ``(..., in, out)`` kernel).
KERNEL_INITS = ("lecun_normal", "glorot_normal", "he_normal", "normal", "zeros")
#: Initializer names accepted by ``bias_init``.
BIAS_INITS = ("zeros", "normal")

_SCALED = {
    "lecun_normal": jax.nn.initializers.lecun_normal,
    "glorot_normal": jax.nn.initializers.glorot_normal,
    "he_normal": jax.nn.initializers.he_normal,
}


# ---- converters (run at construction; they keep values JSON-able) ----------------------


def _int_or_tuple(what: str) -> Any:
    """A field converter: ``None``, a positive int, or a tuple of positive ints (errors name ``what``)."""
    return lambda value: parse_int_or_tuple(value, what, error=ValidationError)


def _padding(value: Any) -> str | int | tuple[tuple[int, int], ...]:
    if isinstance(value, str):
        return value.upper()
    if is_int(value):
        return int(value)
    try:
        if isinstance(value, bool):
            raise TypeError(value)  # not a padding (reported below)
        pairs = []
        for p in value:
            if is_int(p):
                pairs.append((int(p), int(p)))
            else:
                lo, hi = p
                pairs.append((int(lo), int(hi)))
        return tuple(pairs)
    except (TypeError, ValueError):
        raise ValidationError(
            f"padding must be 'SAME', 'VALID', an int, or one (low, high) pair per spatial axis, got {value!r}."
        ) from None


def _dtype_name(value: Any) -> str | None:
    if value is None:
        return None
    try:
        dt = jnp.dtype(value)
    except TypeError:
        raise ValidationError(f"dtype {value!r} is not a dtype; use a name such as 'float32' or 'bfloat16'.") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValidationError(f"dtype {value!r} is not a floating dtype; use e.g. 'float32'.")
    return dt.name


def _precision(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, lax.Precision):
        return value.name.lower()
    if isinstance(value, str):
        try:
            lax.Precision(value)
        except (ValueError, KeyError):
            raise ValidationError(
                f"precision {value!r} is not a jax.lax.Precision name; use None, 'default', 'high' or 'highest'."
            ) from None
        return value.lower()
    raise ValidationError(f"precision must be None or a string such as 'highest', got {value!r}.")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _fmt(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class _ConvBase(Synapse):
    """Shared fields and shape arithmetic of the convolutional synapses (not public)."""

    kernel_size: int | tuple[int, ...] = eqx.field(static=True, converter=_int_or_tuple("kernel_size"))
    strides: int | tuple[int, ...] | None = eqx.field(
        static=True, converter=_int_or_tuple("strides"), default=None, kw_only=True
    )
    padding: Any = eqx.field(static=True, converter=_padding, default="SAME", kw_only=True)
    input_dilation: int | tuple[int, ...] | None = eqx.field(
        static=True, converter=_int_or_tuple("input_dilation"), default=None, kw_only=True
    )
    kernel_dilation: int | tuple[int, ...] | None = eqx.field(
        static=True, converter=_int_or_tuple("kernel_dilation"), default=None, kw_only=True
    )
    feature_group_count: int = eqx.field(
        static=True, converter=static_int("feature_group_count"), default=1, kw_only=True
    )
    use_bias: bool = eqx.field(static=True, converter=static_bool("use_bias"), default=True, kw_only=True)
    dtype: str | None = eqx.field(static=True, converter=_dtype_name, default=None, kw_only=True)
    param_dtype: str | None = eqx.field(static=True, converter=_dtype_name, default=None, kw_only=True)
    precision: str | None = eqx.field(static=True, converter=_precision, default=None, kw_only=True)
    kernel_init: str = eqx.field(static=True, converter=_lower, default="lecun_normal", kw_only=True)
    bias_init: str = eqx.field(static=True, converter=_lower, default="zeros", kw_only=True)
    stdinit: float = eqx.field(
        static=True, converter=static_float("stdinit", nonnegative=True), default=0.02, kw_only=True
    )
    kernel: Array | None = eqx.field(converter=optional_array, default=None, kw_only=True)
    bias: Array | None = eqx.field(converter=optional_array, default=None, kw_only=True)

    # ---- hyperparameter checks ---------------------------------------------------------

    @property
    def _name(self) -> str:
        return type(self).__name__

    @property
    def _n(self) -> int:
        """Number of spatial axes (2 for an ``(H, W, C)`` layer)."""
        return 2 if isinstance(self.kernel_size, int) else len(self.kernel_size)

    def _spatial(self, field: str, default: int) -> tuple[int, ...]:
        value = getattr(self, field)
        if value is None:
            return (default,) * self._n
        if isinstance(value, int):
            return (value,) * self._n
        return tuple(value)

    def _check_spatial(self, field: str, default: int = 1) -> None:
        value = getattr(self, field)
        if value is not None and not isinstance(value, int) and len(value) != self._n:
            raise ValidationError(
                f"{self._name}: {field}={value!r} has {len(value)} entries but the kernel "
                f"{_fmt(self._spatial('kernel_size', 1))} has {self._n} spatial axes. Give one entry per axis."
            )
        if any(v <= 0 for v in self._spatial(field, default)):
            raise ValidationError(f"{self._name}: {field} must be positive ints, got {value!r}.")

    def __check_init__(self):
        if self.kernel_size is None:
            raise ValidationError(f"{self._name}: kernel_size is required, e.g. 3 or (3, 3).")
        if self._n == 0:
            raise ValidationError(f"{self._name}: kernel_size must have at least one spatial axis, got ().")
        for field in ("kernel_size", "strides", "input_dilation", "kernel_dilation"):
            self._check_spatial(field)
        pad = self.padding
        if isinstance(pad, str) and pad not in ("SAME", "VALID"):
            raise ValidationError(
                f"{self._name}: padding {pad!r} is not supported; use 'SAME', 'VALID', an int, or "
                "one (low, high) pair per spatial axis."
            )
        if isinstance(pad, int) and pad < 0 or isinstance(pad, tuple) and any(p < 0 for pr in pad for p in pr):
            raise ValidationError(f"{self._name}: padding must be >= 0, got {pad!r}.")
        if isinstance(pad, tuple) and len(pad) != self._n:
            raise ValidationError(
                f"{self._name}: padding {pad!r} has {len(pad)} pairs but the kernel has {self._n} spatial "
                "axes. Give one (low, high) pair per axis."
            )
        if self.feature_group_count < 1:
            raise ValidationError(f"{self._name}: feature_group_count must be >= 1, got {self.feature_group_count}.")
        if self.kernel_init not in KERNEL_INITS:
            raise ValidationError(
                f"{self._name}: kernel_init {self.kernel_init!r} is not a known initializer; use one of "
                f"{list(KERNEL_INITS)} (names, so the synapse stays serialisable), or pass kernel=<array>."
            )
        if self.bias_init not in BIAS_INITS:
            raise ValidationError(
                f"{self._name}: bias_init {self.bias_init!r} is not a known initializer; use one of "
                f"{list(BIAS_INITS)}, or pass bias=<array>."
            )
        if not self.stdinit >= 0:
            raise ValidationError(f"{self._name}: stdinit must be >= 0, got {self.stdinit!r}.")
        if not self.use_bias and self.bias is not None:
            raise ValidationError(f"{self._name}: got an explicit bias but use_bias=False. Drop one of the two.")

    # ---- shape arithmetic ----------------------------------------------------------------

    def _pads(self, spatial_in: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """Explicit (low, high) padding per spatial axis for this input size."""
        pad = self.padding
        if isinstance(pad, int):
            return ((pad, pad),) * self._n
        if isinstance(pad, tuple):
            return pad
        if pad == "VALID":
            return ((0, 0),) * self._n
        out = []
        for size, k, s, di, dk in zip(
            spatial_in,
            self._spatial("kernel_size", 1),
            self._spatial("strides", 1),
            self._spatial("input_dilation", 1),
            self._spatial("kernel_dilation", 1),
        ):
            dilated = (size - 1) * di + 1
            eff_k = (k - 1) * dk + 1
            total = max((-(-dilated // s) - 1) * s + eff_k - dilated, 0)
            out.append((total // 2, total - total // 2))
        return tuple(out)

    def _describe(self, input_shape: Sequence[int]) -> str:
        text = (
            f"input {_fmt(input_shape)} with kernel {_fmt(self._spatial('kernel_size', 1))}, "
            f"strides {_fmt(self._spatial('strides', 1))}, padding {_fmt(self._pads(input_shape[:-1]))}"
        )
        for field in ("input_dilation", "kernel_dilation"):
            if any(v != 1 for v in self._spatial(field, 1)):
                text += f", {field} {_fmt(self._spatial(field, 1))}"
        return text

    def _check_input(self, input_shape: Sequence[int]) -> None:
        n = self._n
        if len(input_shape) != n + 1:
            raise ValidationError(
                f"{self._name} with a {n}-D kernel {_fmt(self._spatial('kernel_size', 1))} connects layers "
                f"of rank {n + 1} ({n} spatial axes, then channels), but the input layer has shape "
                f"{_fmt(input_shape)}. Reshape the layer, e.g. to (H, W, C)."
            )
        c = input_shape[-1]
        if c % self.feature_group_count:
            raise ValidationError(
                f"{self._name}: the input layer {_fmt(input_shape)} has {c} channels, not divisible by "
                f"feature_group_count={self.feature_group_count}. Use a group count that divides {c}."
            )

    def _conv_spatial(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        out = []
        for size, k, s, di, dk, (lo, hi) in zip(
            input_shape[:-1],
            self._spatial("kernel_size", 1),
            self._spatial("strides", 1),
            self._spatial("input_dilation", 1),
            self._spatial("kernel_dilation", 1),
            self._pads(input_shape[:-1]),
        ):
            span = (size - 1) * di + 1 + lo + hi
            eff_k = (k - 1) * dk + 1
            if span < eff_k:
                raise ValidationError(
                    f"{self._name}: {self._describe(input_shape)}: the (dilated) kernel spans {eff_k} "
                    f"but the padded input axis has only {span} entries. Use a smaller kernel, more "
                    "padding or padding='SAME'."
                )
            out.append((span - eff_k) // s + 1)
        return tuple(out)

    def output_shape(self, input_shape: Sequence[int], out_channels: int | None = None) -> tuple[Any, ...]:
        """The shape the output layer must have for an input layer of ``input_shape``.

        Args:
            input_shape: the input layer's per-sample shape, e.g. ``(28, 28, 1)``.
            out_channels: the output channels to put last; ``None`` leaves them free.

        Returns:
            ``spatial_out + (out_channels,)``, e.g. ``(14, 14, None)``.

        Raises:
            ValidationError: for an input of the wrong rank, channels not divisible by
                ``feature_group_count``, or a kernel (or pooling window) that does not fit.

        Example:
            >>> import hamux_graph as hg
            >>> hg.ConvSynapse((4, 4), strides=(2, 2), padding=2).output_shape((28, 28, 1), 64)
            (15, 15, 64)
        """
        input_shape = tuple(int(s) for s in input_shape)
        self._check_input(input_shape)
        return self._after_conv(input_shape, self._conv_spatial(input_shape)) + (out_channels,)

    def _after_conv(self, input_shape: Shape, spatial: tuple[int, ...]) -> tuple[int, ...]:
        return spatial

    def _mismatch(self, input_shape: Shape, expected: tuple[int, ...], got: Shape) -> str:
        return f"{self._describe(input_shape)} gives {_fmt(expected + ('C',))}"

    def param_shapes(self, shapes):
        inp, out = shapes
        self._check_input(inp)
        expected = self.output_shape(inp)[:-1]
        if len(out) != self._n + 1 or tuple(out[:-1]) != expected:
            raise ValidationError(
                f"{self._name}: {self._mismatch(inp, expected, out)}; the output layer has shape {_fmt(out)}. "
                f"Give the output layer shape {_fmt(expected + ('C',))} (any C), or change the "
                "kernel/strides/padding."
            )
        c_out = out[-1]
        if c_out % self.feature_group_count:
            raise ValidationError(
                f"{self._name}: the output layer {_fmt(out)} has {c_out} channels, not divisible by "
                f"feature_group_count={self.feature_group_count}. Use a group count that divides {c_out}."
            )
        ps: dict[str, Shape] = {
            "kernel": self._spatial("kernel_size", 1) + (inp[-1] // self.feature_group_count, c_out)
        }
        if self.use_bias:
            ps["bias"] = (c_out,)
        return ps

    def shard_axes(self, shapes):
        """Nothing: convolution kernels (and biases) are small and stay replicated.

        Example:
            >>> import hamux_graph as hg
            >>> hg.ConvSynapse(kernel_size=3).shard_axes([(8, 8, 1), (6, 6, 4)])
            {}
        """
        return {}

    # ---- parameters and the alignment --------------------------------------------------

    def init_param(self, name: str, shape: Shape, *, key: PRNGKeyArray) -> Array:
        """Create ``kernel`` with ``kernel_init`` and ``bias`` with ``bias_init`` (dtype ``param_dtype``)."""
        dtype = jnp.dtype(self.param_dtype) if self.param_dtype else jnp.result_type(float)
        which = self.kernel_init if name == "kernel" else self.bias_init
        if which == "zeros":
            return jnp.zeros(shape, dtype)
        if which == "normal":
            return (self.stdinit * jax.random.normal(key, shape)).astype(dtype)
        return _SCALED[which](in_axis=-2, out_axis=-1)(key, shape, dtype)

    def _conv(self, g1: Array) -> Array:
        n = self._n
        x, k = g1[None], created_param(self.kernel, self, "kernel")
        dtype = jnp.dtype(self.dtype) if self.dtype else jnp.result_type(x, k)
        dn = lax.ConvDimensionNumbers(
            lhs_spec=(0, n + 1) + tuple(range(1, n + 1)),
            rhs_spec=(n + 1, n) + tuple(range(n)),
            out_spec=(0, n + 1) + tuple(range(1, n + 1)),
        )
        y = lax.conv_general_dilated(
            x.astype(dtype),
            k.astype(dtype),
            window_strides=self._spatial("strides", 1),
            padding=self._pads(g1.shape[:-1]),
            lhs_dilation=self._spatial("input_dilation", 1),
            rhs_dilation=self._spatial("kernel_dilation", 1),
            dimension_numbers=dn,
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        return y[0]

    def _pool(self, y: Array) -> Array:
        return y

    def __call__(self, g1: Float[Array, "*spatial cin"], g2: Float[Array, "*out cout"]) -> Float[Array, ""]:
        y = self._pool(self._conv(g1))
        align = jnp.sum(y * g2)
        if self.use_bias:
            align = align + jnp.sum(created_param(self.bias, self, "bias") * jnp.sum(g2, axis=tuple(range(self._n))))
        return align


class ConvSynapse(_ConvBase):
    """A convolutional synapse: ``F = ⟨conv(g₁), g₂⟩ (+ ⟨b, Σ_spatial g₂⟩)``.

    ``g₁`` (input layer) and ``g₂`` (output layer) have shapes ``spatial + (channels,)``;
    the convolution is ``jax.lax.conv_general_dilated`` with a kernel of shape
    ``kernel_size + (C_in / feature_group_count, C_out)``, ``C_out`` read from the output
    layer, whose spatial shape must be ``output_shape(input_shape)``. With ``use_bias`` a
    per-channel bias ``b`` adds ``⟨b, Σ_spatial g₂⟩`` (equivalently ``conv(g₁) + b``).

    Hyperparameters after ``kernel_size`` are keyword-only. They are JSON-able (names, not
    callables), a deliberate difference from the 2022 HAMUX (flax) signature.

    Args:
        kernel_size: spatial kernel size; an int means a square 2-D kernel, a tuple of
            length ``n`` an ``n``-D convolution over rank ``n + 1`` layers.
        strides: int or per-axis strides (default 1).
        padding: ``"SAME"`` (output size ``ceil(dilated input / stride)``, the padding split
            low = total // 2, the rest high, as in ``jax.lax``; the dilated input size is
            ``(size − 1)·input_dilation + 1``), ``"VALID"`` (none), an int (same on every
            side) or one ``(low, high)`` pair per spatial axis.
        input_dilation: int or per-axis dilation of the input (``lhs_dilation``).
        kernel_dilation: int or per-axis dilation of the kernel (``rhs_dilation``).
        feature_group_count: channel groups; it must divide both channel counts.
        use_bias: learn a per-output-channel bias (default ``True``, as in the 2022 HAMUX;
            use ``False`` when the output layer has its own bias).
        dtype: compute dtype name (``"float32"``, ``"bfloat16"``, ...); ``None`` promotes
            the activation and kernel dtypes.
        param_dtype: dtype name of created parameters; ``None`` is JAX's default float.
        precision: ``None`` or a ``jax.lax.Precision`` name (``"highest"``, ...).
        kernel_init: initializer name, one of ``KERNEL_INITS`` (default ``"lecun_normal"``,
            fan-in ``prod(kernel_size)·C_in/groups``; ``"normal"`` is ``N(0, stdinit²)``).
        bias_init: ``"zeros"`` (default) or ``"normal"``.
        stdinit: standard deviation for the ``"normal"`` initializer.
        kernel: explicit kernel array; created at compile time if ``None``.
        bias: explicit bias array of shape ``(C_out,)``.

    Raises:
        ValidationError: for bad hyperparameters here, and during validation for layers of
            the wrong rank or size (the message gives the expected output shape).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> syn = hg.ConvSynapse(3, strides=2)
        >>> syn.output_shape((8, 8, 1), 4)
        (4, 4, 4)
        >>> syn = syn.init([(8, 8, 1), (4, 4, 4)], key=jax.random.key(0))
        >>> syn.kernel.shape, syn(jnp.ones((8, 8, 1)), jnp.zeros((4, 4, 4))).shape
        ((3, 3, 1, 4), ())
    """

    # affine in each argument when the other is fixed: ``run`` may precompute its drive
    multiaffine: ClassVar[bool] = True


def _check_pool_type(pool_type: Any) -> None:
    if pool_type not in ("avg", "max"):
        raise ValidationError(f"ConvSynapseWithPool: pool_type {pool_type!r} is not supported; use 'avg' or 'max'.")


class ConvSynapseWithPool(_ConvBase):
    """A convolution followed by pooling: ``F = ⟨pool(conv(g₁)), g₂⟩ (+ ⟨b, Σ_spatial g₂⟩)``.

    Pooling is unpadded (``"VALID"``): a window of ``pool_window`` moved by ``pool_stride``
    over the convolution output, averaging (``"avg"``) or taking the maximum (``"max"``)
    per channel. The per-channel bias commutes with both, so ``pool(conv(g₁) + b)`` gives
    the same alignment. The output layer's spatial shape is ``output_shape(input_shape)``.
    Max pooling makes the alignment piecewise bilinear; the energy still never increases
    along the dynamics (the Legendre argument needs no convexity of the synapse).

    Args:
        kernel_size: as in ``ConvSynapse``.
        pool_window: int or per-axis pooling window (default ``(5, 5)``).
        pool_stride: int or per-axis pooling stride (default ``(2, 2)``).
        pool_type: ``"avg"`` (default) or ``"max"``.

    Every other ``ConvSynapse`` keyword is accepted too (keyword-only).

    Raises:
        ValidationError: for an unknown ``pool_type``, and during validation for a pooling
            window larger than the convolution output or a mismatched output layer.

    Example:
        >>> import hamux_graph as hg
        >>> syn = hg.ConvSynapseWithPool(3, pool_window=2, pool_stride=2, pool_type="max")
        >>> syn.output_shape((8, 8, 1), 6)
        (4, 4, 6)
    """

    pool_window: int | tuple[int, ...] = eqx.field(
        static=True, converter=_int_or_tuple("pool_window"), default=(5, 5), kw_only=True
    )
    pool_stride: int | tuple[int, ...] = eqx.field(
        static=True, converter=_int_or_tuple("pool_stride"), default=(2, 2), kw_only=True
    )
    pool_type: str = eqx.field(static=True, converter=_lower, default="avg", kw_only=True)

    def __check_init__(self):
        _check_pool_type(self.pool_type)
        self._check_spatial("pool_window")
        self._check_spatial("pool_stride")

    def _after_conv(self, input_shape, spatial):
        window = self._spatial("pool_window", 1)
        if any(w > s for w, s in zip(window, spatial)):
            raise ValidationError(
                f"{self._name}: {self._describe(input_shape)} gives a convolution output "
                f"{_fmt(spatial + ('C',))}, smaller than pool_window {_fmt(window)}. Use a smaller "
                "pooling window, or a larger input / smaller convolution strides."
            )
        strides = self._spatial("pool_stride", 1)
        return tuple((s - w) // st + 1 for s, w, st in zip(spatial, window, strides))

    def _mismatch(self, input_shape, expected, got):
        conv = self._conv_spatial(input_shape)
        return (
            f"{self._describe(input_shape)} gives {_fmt(conv + ('C',))}, then {self.pool_type} pooling "
            f"with window {_fmt(self._spatial('pool_window', 1))} and stride "
            f"{_fmt(self._spatial('pool_stride', 1))} gives {_fmt(expected + ('C',))}"
        )

    def _pool(self, y):
        window = self._spatial("pool_window", 1) + (1,)
        strides = self._spatial("pool_stride", 1) + (1,)
        if self.pool_type == "max":
            return lax.reduce_window(y, -jnp.inf, lax.max, window, strides, "VALID")
        return lax.reduce_window(y, 0.0, lax.add, window, strides, "VALID") / math.prod(window)
