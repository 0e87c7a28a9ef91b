"""The dense synapse family: (multi)linear alignments, optionally through a hidden Lagrangian."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import cast, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._errors import ValidationError
from ..lagrangians.elementwise import Lagrangian, LRelu
from ._base import (
    check_lagrangian_field,
    created_param,
    numel,
    optional_array,
    optional_array_list,
    Shape,
    static_bool,
    static_float,
    static_int,
    Synapse,
)


__all__ = [
    "SimpleDenseSynapse",
    "DenseSynapse",
    "DenseTensorSynapseWithHiddenLayer",
    "DenseMatrixSynapseWithHiddenLayer",
]

_LETTERS = string.ascii_letters


def _bilinear(W: Array, g1: Array, g2: Array) -> Array:
    """``g₁ᵀ W g₂``, the product over W's larger axis formed first.

    Under ``jax.vmap`` the first product is a batched matmul and the gradient adds its
    transpose. Forming it over the larger axis (``g₁ @ W`` if ``W`` has more rows, else
    ``W @ g₂``) was 1–21 % faster for energy + gradient and for ``run`` on the CPU backend
    for the shapes measured (256×2048, 784×1000, 10×1000 and their transposes, batch 64;
    the other order was up to 1.5× slower): the matmul library then repacks the batch of
    activations rather than the whole weight matrix a second time.
    """
    if W.shape[1] > W.shape[0]:
        return jnp.dot(jnp.dot(W, g2), g1)
    return jnp.dot(jnp.dot(g1, W), g2)


def _contract_all(W: Array, vectors: Sequence[Array]) -> Array:
    """Contract the leading len(vectors) axes of W with the given vectors, in order.

    Left to right, each vector the left operand of its product (``g₁ @ W``, then the next):
    under ``jax.vmap`` the batched vector stays the leading operand, so every product (and
    its transpose in the gradient) is a plain ``(B, n) @ (n, m)`` matmul with the batch axis
    first, the layout a hand-written batched energy gets. (An ``einsum`` may contract ``W``
    with the last vector first, which under ``vmap`` yields ``(m, B)`` products and
    transposes.) The first product costs ``|W|`` multiply-adds whatever the order; the rest
    cost at most as much again. Two vectors and a matrix: see ``_bilinear``.
    """
    if len(vectors) == 2 and W.ndim == 2:
        return _bilinear(W, *vectors)
    out = W
    for v in vectors:
        out = jnp.tensordot(v, out, axes=1)
    return out


def _largest_first(shape: Sequence[int]) -> tuple[int, ...]:
    """Axes of ``shape`` by decreasing size, ties to the later axis (the memories of a
    ``(visible, memories)`` dense memory come first)."""
    return tuple(sorted(range(len(shape)), key=lambda a: (-shape[a], -a)))


class SimpleDenseSynapse(Synapse):
    """The plain matrix synapse between two vector layers: ``F = g₁ᵀ W g₂``.

    Args:
        stdinit: standard deviation of the Gaussian initial weights.
        W: explicit weights of shape ``(D₁, D₂)``; created at compile time if ``None``.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> syn = hg.SimpleDenseSynapse(W=jnp.eye(2))
        >>> float(syn(jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])))
        11.0
    """

    multiaffine: ClassVar[bool] = True
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    W: Array | None = eqx.field(converter=optional_array, default=None)

    def param_shapes(self, shapes):
        if any(len(s) != 1 for s in shapes):
            raise ValidationError(
                f"SimpleDenseSynapse connects two vector (rank-1) layers, got shapes {list(shapes)}. "
                "Use DenseSynapse (which flattens its layers) for layers of higher rank."
            )
        return {"W": (shapes[0][0], shapes[1][0])}

    def shard_axes(self, shapes):
        """``W`` along its larger axis (the stored patterns of a dense memory), else the other.

        Example:
            >>> import hamux_graph as hg
            >>> hg.SimpleDenseSynapse().shard_axes([(16,), (1024,)])
            {'W': (1, 0)}
        """
        return {"W": _largest_first(self.param_shapes(shapes)["W"])}

    def memory_axes(self, shapes, name, axis):
        """Axis ``a`` of ``W`` is the units of the layer in slot ``a``.

        Example:
            >>> import hamux_graph as hg
            >>> hg.SimpleDenseSynapse().memory_axes([(16,), (1024,)], "W", 1)
            {1: 0}
        """
        return {axis: 0} if name == "W" else {}

    def __call__(self, g1, g2):
        return _bilinear(created_param(self.W, self, "W"), g1, g2)


class DenseSynapse(Synapse):
    """A multilinear synapse over any number ``k >= 1`` of layers.

    With ``flatten_args=True`` (default) every activation is flattened and
    ``F = Σ W[i₁,…,i_k] g₁[i₁] ⋯ g_k[i_k]`` with ``W`` of shape ``(|g₁|, …, |g_k|)``. With
    ``flatten_args=False`` each layer's last axis is contracted with ``W`` (of shape
    ``(g₁.shape[-1], …)``), the layers' leading axes broadcast together, and ``F`` sums over
    them (e.g. the same dense map applied to every token).

    Args:
        stdinit: standard deviation of the Gaussian initial weights.
        flatten_args: flatten each activation before contracting.
        W: explicit weight tensor; created at compile time if ``None``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> syn = hg.DenseSynapse().init([(4,), (5,), (6,)], key=jax.random.key(0))
        >>> syn.W.shape
        (4, 5, 6)
    """

    multiaffine: ClassVar[bool] = True
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    flatten_args: bool = eqx.field(static=True, converter=static_bool("flatten_args"), default=True)
    W: Array | None = eqx.field(converter=optional_array, default=None)

    def param_shapes(self, shapes):
        if self.flatten_args:
            return {"W": tuple(numel(s) for s in shapes)}
        try:
            np.broadcast_shapes(*[tuple(s[:-1]) for s in shapes])
        except ValueError:
            raise ValidationError(
                f"DenseSynapse(flatten_args=False) broadcasts the leading axes of its layers, but "
                f"{[tuple(s[:-1]) for s in shapes]} (from shapes {list(shapes)}) do not broadcast. "
                "Use flatten_args=True or layers with compatible leading axes."
            ) from None
        return {"W": tuple(s[-1] for s in shapes)}

    def shard_axes(self, shapes):
        """``W`` along its largest axis (ties: the later one), then the others by size.

        For a dense memory ``(visible, memories)`` the largest axis is the stored-pattern
        axis ``K``; for a self-connection ``(N, N)`` it is the second copy of the layer.

        Example:
            >>> import hamux_graph as hg
            >>> hg.DenseSynapse().shard_axes([(128,), (4096,)])
            {'W': (1, 0)}
        """
        return {"W": _largest_first(self.param_shapes(shapes)["W"])}

    def memory_axes(self, shapes, name, axis):
        """Axis ``a`` of ``W`` is the layer in slot ``a``: its first axis when the layers are
        flattened (split evenly, the blocks of a flattened layer are blocks of its first
        axis), its last axis with ``flatten_args=False``.

        Example:
            >>> import hamux_graph as hg
            >>> hg.DenseSynapse(flatten_args=False).memory_axes([(4, 8), (4, 16)], "W", 1)
            {1: 1}
        """
        if name != "W":
            return {}
        return {axis: 0 if self.flatten_args else len(shapes[axis]) - 1}

    def __call__(self, *gs):
        if self.flatten_args:
            return _contract_all(created_param(self.W, self, "W"), [g.reshape(-1) for g in gs])
        k = len(gs)
        idx = _LETTERS[:k]
        spec = idx + "," + ",".join("..." + c for c in idx) + "->..."
        return jnp.sum(jnp.einsum(spec, self.W, *gs))


class DenseTensorSynapseWithHiddenLayer(Synapse):
    """A multilinear map to a hidden layer with its own Lagrangian: ``F = L_hid(W·g₁⋯g_k)``.

    The hidden neurons (shape ``(num_heads, nhid)``) have no state of their own (τ → 0):
    their Lagrangian is part of the synapse's alignment. ``W`` has shape
    ``(num_heads, nhid, |g₁|, …, |g_k|)``.

    Args:
        nhid: hidden neurons per head.
        num_heads: independent heads.
        stdinit: standard deviation of the Gaussian initial weights.
        hidden_lagrangian: Lagrangian of the hidden neurons (default ``LRelu()``).
        W: explicit weights; created at compile time if ``None``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> syn = hg.DenseTensorSynapseWithHiddenLayer(nhid=8, num_heads=2)
        >>> syn.init([(3,), (4,)], key=jax.random.key(0)).W.shape
        (2, 8, 3, 4)
    """

    nhid: int = eqx.field(static=True, converter=static_int("nhid"))
    num_heads: int = eqx.field(static=True, converter=static_int("num_heads"), default=1)
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    hidden_lagrangian: Lagrangian = eqx.field(default_factory=LRelu)
    W: Array | None = eqx.field(converter=optional_array, default=None)

    def __check_init__(self):
        check_lagrangian_field(self, "hidden_lagrangian")
        self.hidden_lagrangian.check_shape((self.num_heads, self.nhid))

    def param_shapes(self, shapes):
        return {"W": (self.num_heads, self.nhid) + tuple(numel(s) for s in shapes)}

    def shard_axes(self, shapes):
        """``W`` along its hidden axis ``nhid`` (axis 1), else its heads (axis 0).

        Example:
            >>> import hamux_graph as hg
            >>> hg.DenseTensorSynapseWithHiddenLayer(nhid=64).shard_axes([(8,)])
            {'W': (1, 0)}
        """
        return {"W": (1, 0)}

    def __call__(self, *gs):
        W = created_param(self.W, self, "W")
        W = W.reshape((self.num_heads * self.nhid,) + W.shape[2:])
        h = _contract_all(jnp.moveaxis(W, 0, -1), [g.reshape(-1) for g in gs])
        return self.hidden_lagrangian(h.reshape(self.num_heads, self.nhid))


class DenseMatrixSynapseWithHiddenLayer(Synapse):
    """Layers summed into one hidden layer: ``F = L_hid(Σ_i g_i W_i)``.

    Unlike the tensor version each layer gets its own matrix ``W_i`` of shape
    ``(|g_i|, nhid)``, as if the layers were concatenated into one visible layer.

    Args:
        nhid: hidden neurons.
        stdinit: standard deviation of the Gaussian initial weights.
        hidden_lagrangian: Lagrangian of the hidden neurons (default ``LRelu()``).
        do_ravel: flatten each activation (default). With ``False`` each ``W_i`` has shape
            ``(g_i.shape[-1], nhid)``, the map acts on the last axis, and the layers' leading
            axes broadcast (the hidden Lagrangian sees shape ``leading + (nhid,)``).
        do_norm: normalise each hidden unit's weights to unit L2 norm over all visible
            inputs (the concatenation of the ``W_i`` columns) before use.
        Ws: explicit list of weight matrices; created at compile time if ``None``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> syn = hg.DenseMatrixSynapseWithHiddenLayer(nhid=16)
        >>> [w.shape for w in syn.init([(3,), (2, 2)], key=jax.random.key(0)).Ws]
        [(3, 16), (4, 16)]
    """

    nhid: int = eqx.field(static=True, converter=static_int("nhid"))
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    hidden_lagrangian: Lagrangian = eqx.field(default_factory=LRelu)
    do_ravel: bool = eqx.field(static=True, converter=static_bool("do_ravel"), default=True)
    do_norm: bool = eqx.field(static=True, converter=static_bool("do_norm"), default=False)
    Ws: tuple[Array, ...] | None = eqx.field(converter=optional_array_list, default=None)

    def __check_init__(self):
        check_lagrangian_field(self, "hidden_lagrangian")

    def param_shapes(self, shapes):
        if self.do_ravel:
            hidden: Shape = (self.nhid,)
            want = [(numel(s), self.nhid) for s in shapes]
        else:
            try:
                lead = np.broadcast_shapes(*[tuple(s[:-1]) for s in shapes])
            except ValueError:
                raise ValidationError(
                    f"DenseMatrixSynapseWithHiddenLayer(do_ravel=False) broadcasts the leading axes of "
                    f"its layers, but shapes {list(shapes)} do not broadcast. Use do_ravel=True."
                ) from None
            hidden = tuple(lead) + (self.nhid,)
            want = [(s[-1], self.nhid) for s in shapes]
        self.hidden_lagrangian.check_shape(hidden)
        return {"Ws": want}

    def shard_axes(self, shapes):
        """Every ``Ws[i]`` along its hidden axis ``nhid`` (axis 1); the hidden Lagrangian's
        scalars stay replicated.

        Example:
            >>> import hamux_graph as hg
            >>> hg.DenseMatrixSynapseWithHiddenLayer(nhid=64).shard_axes([(8,), (10,)])
            {'Ws': (1,)}
        """
        return {"Ws": (1,)}

    def __call__(self, *gs):
        Ws = created_param(self.Ws, self, "Ws")
        if self.do_norm:
            sq = sum(jnp.sum(W * W, axis=0) for W in Ws)
            Ws = [W / jnp.sqrt(sq + 1e-12)[None, :] for W in Ws]
        if self.do_ravel:
            h = sum(g.reshape(-1) @ W for g, W in zip(gs, Ws))
        else:
            h = sum(g @ W for g, W in zip(gs, Ws))
        return self.hidden_lagrangian(cast(Array, h))  # one layer or more (arity): a sum of arrays, never 0
