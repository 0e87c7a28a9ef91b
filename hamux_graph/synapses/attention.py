"""Attention-like synapses of quadratic order: energy attention and the binary mixer.

Token layers: a layer of rank > 2 is flattened to ``(tokens, features)`` by merging every
axis but the last (``(2, 2, 32)`` → 4 tokens of 32 features); a rank-2 layer already is
``(tokens, features)``; a vector is one token. The hidden neurons of these synapses (the
attention scores, the mixer's z-space) have no state of their own (τ → 0): their
Lagrangian is part of the alignment, and the hidden Lagrangian sees the whole score tensor
(so ``LSoftmax(axis=-1)`` is a softmax over the last axis of that tensor, row by row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import ValidationError
from ..lagrangians.elementwise import Lagrangian, LSoftmax
from ._base import (
    check_lagrangian_field,
    created_param,
    optional_array,
    Shape,
    static_bool,
    static_float,
    static_int,
    Synapse,
)
from .masks import AttentionMask, parse_mask


__all__ = ["AttentionSynapse", "SelfAttentionSynapse", "BinaryMixerSynapse", "token_shape"]


def token_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The ``(tokens, features)`` view of a layer shape used by the attention synapses.

    Example:
        >>> import hamux_graph as hg
        >>> hg.synapses.attention.token_shape((2, 2, 32)), hg.synapses.attention.token_shape((10,))
        ((4, 32), (1, 10))
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return (1, shape[0])
    return (math.prod(shape[:-1]), shape[-1])


def _tokens(g: Array) -> Array:
    return g.reshape(token_shape(g.shape))


def _check_weight(owner: str, name: str, W: Array | None, want: str, heads: tuple[int, int], ok: bool) -> None:
    """Raise for an explicit weight whose head/z-space axes disagree with the hyperparameters."""
    if W is None or ok:
        return
    raise ValidationError(
        f"{owner}: explicit {name} has shape {tuple(W.shape)}, but it must be {want} with "
        f"(num_heads, zspace_dim) = {heads}. Pass num_heads and zspace_dim matching the array, or an "
        "array of the right shape."
    )


class _QKAttention(Synapse):
    """Fields and score computation shared by cross- and self-attention (not public)."""

    num_heads: int = eqx.field(static=True, converter=static_int("num_heads"), default=1)
    zspace_dim: int = eqx.field(static=True, converter=static_int("zspace_dim"), default=64)
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    hidden_lagrangian: Lagrangian = eqx.field(default_factory=LSoftmax)
    do_qk_norm: bool = eqx.field(static=True, converter=static_bool("do_qk_norm"), default=False)
    qk_norm_eps: float = eqx.field(static=True, converter=static_float("qk_norm_eps", positive=True), default=1e-6)
    Wq: Array | None = eqx.field(converter=optional_array, default=None)
    Wk: Array | None = eqx.field(converter=optional_array, default=None)
    exclude_self: bool = eqx.field(static=True, converter=static_bool("exclude_self"), default=False)
    stored_mask: AttentionMask | None = eqx.field(static=True, default=None)
    """The mask as stored (hashable; ``None`` for every pair): read ``mask`` for what was given."""

    def __init__(
        self,
        num_heads: int = 1,
        zspace_dim: int = 64,
        stdinit: float = 0.02,
        hidden_lagrangian: Lagrangian | None = None,
        do_qk_norm: bool = False,
        qk_norm_eps: float = 1e-6,
        Wq: Any = None,
        Wk: Any = None,
        exclude_self: bool = False,
        mask: Any = None,
    ):
        # A written-out __init__ only so that the constructor keyword `mask` can be stored
        # hashably (`stored_mask`) while the `mask` attribute returns what was given; the
        # field converters still run on every value assigned here.
        self.num_heads = num_heads
        self.zspace_dim = zspace_dim
        self.stdinit = stdinit
        self.hidden_lagrangian = LSoftmax() if hidden_lagrangian is None else hidden_lagrangian
        self.do_qk_norm = do_qk_norm
        self.qk_norm_eps = qk_norm_eps
        self.Wq = Wq
        self.Wk = Wk
        self.exclude_self = exclude_self
        self.stored_mask = parse_mask(mask, type(self).__name__)

    @property
    def mask(self) -> Any:
        """The mask as given: ``None``, ``"causal"`` or the boolean ``(queries, keys)`` array."""
        return None if self.stored_mask is None else self.stored_mask.given

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain values; the mask (if any) in its compact file form."""
        cfg = super().config()
        cfg.pop("stored_mask", None)
        if self.stored_mask is not None:
            cfg["mask"] = self.stored_mask.plain()
        return cfg

    def __check_init__(self):
        check_lagrangian_field(self, "hidden_lagrangian")
        name = type(self).__name__
        for what, used in (("exclude_self=True", self.exclude_self), ("a mask", self.stored_mask is not None)):
            if used and not isinstance(self.hidden_lagrangian, LSoftmax):
                raise ValidationError(
                    f"{name}: {what} drops scores from each query's log-sum-exp, so hidden_lagrangian must be "
                    f"an LSoftmax; got {type(self.hidden_lagrangian).__name__}. Use LSoftmax(beta=...), or no "
                    "mask and exclude_self=False."
                )
        if not self.qk_norm_eps > 0:
            raise ValidationError(f"{name}: qk_norm_eps must be > 0, got {self.qk_norm_eps!r}.")
        hz = (self.num_heads, self.zspace_dim)
        for field in ("Wq", "Wk"):
            W = getattr(self, field)
            ok = W is not None and W.ndim == 3 and tuple(W.shape[1:]) == hz
            _check_weight(name, field, W, "(D, num_heads, zspace_dim)", hz, ok)

    def _shapes(self, q_shape: Shape, k_shape: Shape) -> dict[str, Shape]:
        (nq, dq), (nk, dk) = token_shape(q_shape), token_shape(k_shape)
        if self.exclude_self and (nq != nk or nk < 2):
            raise ValidationError(
                f"{type(self).__name__}: exclude_self=True pairs query token i with key token i, so "
                f"it needs as many queries as keys and at least 2 tokens; got {nq} query and {nk} key "
                "token(s). Use exclude_self=False, or layers with equal token counts >= 2."
            )
        self.hidden_lagrangian.check_shape((self.num_heads, nq, nk))
        if self.stored_mask is not None:
            self._check_mask(nq, nk)
        return {"Wq": (dq, self.num_heads, self.zspace_dim), "Wk": (dk, self.num_heads, self.zspace_dim)}

    def shard_axes(self, shapes):
        """``Wq`` and ``Wk`` (``(D, H, Z)``) along their heads axis ``H`` (no communication
        inside a head), else along the z-space ``Z``.

        Example:
            >>> import hamux_graph as hg
            >>> hg.SelfAttentionSynapse(num_heads=4, zspace_dim=8).shard_axes([(5, 16)])
            {'Wq': (1, 2), 'Wk': (1, 2)}
        """
        return {"Wq": (1, 2), "Wk": (1, 2)}

    def _project(self, g: Array, W: Array) -> Array:
        # tokens first ("nhz"): XLA lays out the vmapped projections and their transposes
        # better this way than heads first (measured on CPU: ~25 % faster ET steps)
        P = jnp.einsum("nd,dhz->nhz", _tokens(g), W)
        if self.do_qk_norm:
            P = P / jnp.sqrt(jnp.sum(P * P, axis=-1, keepdims=True) + self.qk_norm_eps)
        return P

    def _align(self, gq: Array, gk: Array) -> Array:
        Wq, Wk = created_param(self.Wq, self, "Wq"), created_param(self.Wk, self, "Wk")
        scores = jnp.einsum("qhz,khz->hqk", self._project(gq, Wq), self._project(gk, Wk))
        allowed = self.allowed(scores.shape[1], scores.shape[2])
        if allowed is not None:
            scores = jnp.where(allowed[None], scores, -jnp.inf)
        return self.hidden_lagrangian(scores)

    def allowed(self, nq: int, nk: int) -> np.ndarray | None:
        """The effective boolean ``(nq, nk)`` mask (the given mask without the diagonal under
        ``exclude_self``); ``None`` when every pair is scored."""
        if self.stored_mask is None and not self.exclude_self:
            return None
        out = np.ones((nq, nk), bool) if self.stored_mask is None else self.stored_mask.array(nq, nk)
        if self.exclude_self:
            out = out & ~np.eye(nq, nk, dtype=bool)
        return out

    def _check_mask(self, nq: int, nk: int) -> None:
        name = type(self).__name__
        stored = self.stored_mask
        if stored is None:
            return
        if not stored.is_causal and stored.shape != (nq, nk):
            raise ValidationError(
                f"{name}: the mask has shape {stored.shape}, but the connected layers give {nq} query and {nk} "
                f"key token(s), so it must be ({nq}, {nk}). Build the mask for these tokens (hg.attention_mask)."
            )
        allowed = self.allowed(nq, nk)
        if allowed is None:
            return
        axis = self.hidden_lagrangian.axis if isinstance(self.hidden_lagrangian, LSoftmax) else -1
        # a row of the log-sum-exp (along its axis of the (heads, queries, keys) scores) with no score left
        empty = ~np.any(allowed[None], axis=axis)
        if empty.any():
            where = np.argwhere(empty)[0][1:]
            extra = " (mask='causal' with exclude_self=True leaves query 0 no key j < 0)" if stored.is_causal else ""
            raise ValidationError(
                f"{name}: the mask leaves a row of the attention's log-sum-exp with no allowed score (first at "
                f"{tuple(int(i) for i in where)} of the score plane without softmax axis {axis}: a query index for "
                f"the default axis -1){extra}; "
                "its energy would be infinite. Allow at least one key per query (e.g. self loops: "
                "hg.attention_mask(graph, self_loops=True)), or drop exclude_self."
            )


class AttentionSynapse(_QKAttention):
    """Energy attention between a query layer and a key layer.

    With token views ``X_q (N_q, D_q)`` and ``X_k (N_k, D_k)`` (see ``token_shape``), heads
    ``h`` and z-space ``z``: ``Q[h,q,z] = Σ_d X_q[q,d] Wq[d,h,z]``, ``K[h,k,z] = Σ_d
    X_k[k,d] Wk[d,h,z]``, scores ``S[h,q,k] = Σ_z Q[h,q,z] K[h,k,z]`` and

        F = L_hid(S),   with L_hid = LSoftmax(β):  F = Σ_h Σ_q (1/β) logsumexp_k(β S[h,q,k]).

    The hidden Lagrangian sees ``S`` of shape ``(num_heads, N_q, N_k)``, so the default
    softmax runs over the keys of each (head, query). With ``do_qk_norm`` every row of ``Q``
    and ``K`` (one head, one token) is normalised before the scores:
    ``Q[h,q,:] / sqrt(Σ_z Q[h,q,z]² + qk_norm_eps)``, and the same for ``K``.

    A BERT-base-like head configuration:
    ``AttentionSynapse(num_heads=12, zspace_dim=64, hidden_lagrangian=LSoftmax(beta=1/8))``.

    Args:
        num_heads: number of heads ``H``.
        zspace_dim: query/key dimension ``Z`` per head.
        stdinit: standard deviation of the Gaussian initial weights.
        hidden_lagrangian: Lagrangian of the scores (default ``LSoftmax()``).
        do_qk_norm: normalise query and key rows to (nearly) unit norm.
        qk_norm_eps: the ``eps`` of that normalisation (keeps it smooth at zero).
        Wq: explicit query weights ``(D_q, H, Z)``; created at compile time if ``None``.
        Wk: explicit key weights ``(D_k, H, Z)``.
        exclude_self: leave each token's score with itself out (``k ≠ q``; default ``False``):
            the diagonal mask, combined with ``mask``.
        mask: which (query, key) pairs are scored: ``None`` (all), ``"causal"`` (query ``i``
            attends keys ``j ≤ i``, the diagonal included) or a boolean ``(N_q, N_k)`` array,
            numpy or jax (``True`` = attend; ``hg.attention_mask(graph)`` builds one from a
            graph). Masked scores leave each query's log-sum-exp, as ``exclude_self`` does:
            ``F = Σ_h Σ_q (1/β) log Σ_{k allowed} exp(β S[h,q,k])``. The ``mask`` attribute
            returns what was given; files store ``"causal"`` as the string and arrays as an
            edge list or packed bits (see ``hamux_graph.synapses.masks``).

    Raises:
        ValidationError: for bad hyperparameters, ``exclude_self`` with unequal token counts,
            ``exclude_self`` or a mask with a hidden Lagrangian other than ``LSoftmax``, a mask
            that is not ``"causal"`` or a boolean 2-d array, a mask whose shape is not
            ``(N_q, N_k)`` or that leaves a query without keys (at validation), or explicit weights whose last axes are not
            ``(num_heads, zspace_dim)`` (at construction) or whose first axis does not match
            the connected layer (at validation).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> syn = hg.AttentionSynapse(num_heads=2, zspace_dim=8)
        >>> syn = syn.init([(5, 16), (3, 12)], key=jax.random.key(0))
        >>> syn.Wq.shape, syn.Wk.shape, syn.output_shape((5, 16), (3, 12))
        ((16, 2, 8), (12, 2, 8), (2, 5, 3))
        >>> hg.AttentionSynapse(mask="causal").mask
        'causal'
    """

    __init__ = _QKAttention.__init__  # the constructor with `mask` (type checkers see it here)

    def param_shapes(self, shapes):
        return self._shapes(shapes[0], shapes[1])

    def output_shape(self, query_shape: Sequence[int], key_shape: Sequence[int]) -> tuple[int, int, int]:
        """Shape ``(num_heads, N_q, N_k)`` of the score tensor the hidden Lagrangian acts on."""
        return (self.num_heads, token_shape(query_shape)[0], token_shape(key_shape)[0])

    def __call__(self, gq: Float[Array, "*q dq"], gk: Float[Array, "*k dk"]) -> Float[Array, ""]:
        return self._align(gq, gk)


class SelfAttentionSynapse(_QKAttention):
    """Energy attention of a layer with itself: ``F(g) = AttentionSynapse(g, g)``.

    Same hyperparameters and parameters as ``AttentionSynapse`` (``Wq`` and ``Wk`` both
    ``(D, H, Z)``), connected to one layer; the scores are ``(num_heads, N, N)``. The Energy
    Transformer's attention is ``SelfAttentionSynapse(num_heads=H, zspace_dim=Y,
    hidden_lagrangian=LSoftmax(beta=1/√Y))`` (``exclude_self=True`` for the paper's
    ``B ≠ C``).

    Example:
        >>> import jax, hamux_graph as hg
        >>> syn = hg.SelfAttentionSynapse(num_heads=2, zspace_dim=4)
        >>> syn.init([(2, 2, 8)], key=jax.random.key(0)).Wq.shape
        (8, 2, 4)
    """

    __init__ = _QKAttention.__init__  # the constructor with `mask` (type checkers see it here)

    def param_shapes(self, shapes):
        return self._shapes(shapes[0], shapes[0])

    def output_shape(self, shape: Sequence[int]) -> tuple[int, int, int]:
        """Shape ``(num_heads, N, N)`` of the score tensor the hidden Lagrangian acts on."""
        n = token_shape(shape)[0]
        return (self.num_heads, n, n)

    def __call__(self, g: Float[Array, "*t d"]) -> Float[Array, ""]:
        return self._align(g, g)


class BinaryMixerSynapse(Synapse):
    """A quadratic synapse with one weight tensor: every token pair mixed into a z-space.

    With token views ``A (N_a, D_a)`` and ``B (N_b, D_b)`` (see ``token_shape``) and
    ``W`` of shape ``(H, Z, D_a, D_b)``, the hidden pre-activations are, for every head
    ``h``, token ``i`` of the first layer, token ``j`` of the second and z-unit ``z``,

        M[h, i, j, z] = Σ_{a,b} W[h, z, a, b] A[i, a] B[j, b],      F = L_hid(M).

    ``M`` has shape ``(H, N_a, N_b, Z)``; the default ``LSoftmax()`` gives
    ``F = Σ_{h,i,j} logsumexp_z(β M[h,i,j,:]) / β`` (each token pair selects the z-pattern
    its bilinear forms align best with). Use ``LSoftmax(axis=2)`` to compete over the
    second layer's tokens instead. For two vectors (one token each) this is a two-layer
    ``DenseTensorSynapseWithHiddenLayer`` with heads. Unlike attention's low-rank
    ``Wq Wkᵀ``, each ``W[h, z]`` is a full ``(D_a, D_b)`` matrix.

    Args:
        num_heads: number of heads ``H``.
        zspace_dim: hidden units ``Z`` per head and token pair.
        stdinit: standard deviation of the Gaussian initial weights.
        hidden_lagrangian: Lagrangian of ``M`` (default ``LSoftmax()``).
        W: explicit weights ``(H, Z, D_a, D_b)``; created at compile time if ``None``.

    Raises:
        ValidationError: for bad hyperparameters or an explicit ``W`` that does not fit.

    Example:
        >>> import jax, hamux_graph as hg
        >>> syn = hg.BinaryMixerSynapse(num_heads=2, zspace_dim=3)
        >>> syn.init([(4, 5), (6,)], key=jax.random.key(0)).W.shape
        (2, 3, 5, 6)
    """

    num_heads: int = eqx.field(static=True, converter=static_int("num_heads"), default=1)
    zspace_dim: int = eqx.field(static=True, converter=static_int("zspace_dim"), default=64)
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    hidden_lagrangian: Lagrangian = eqx.field(default_factory=LSoftmax)
    W: Array | None = eqx.field(converter=optional_array, default=None)

    def __check_init__(self):
        check_lagrangian_field(self, "hidden_lagrangian")
        hz = (self.num_heads, self.zspace_dim)
        ok = self.W is not None and self.W.ndim == 4 and tuple(self.W.shape[:2]) == hz
        _check_weight("BinaryMixerSynapse", "W", self.W, "(num_heads, zspace_dim, D_a, D_b)", hz, ok)

    def output_shape(self, shape_a: Sequence[int], shape_b: Sequence[int]) -> tuple[int, int, int, int]:
        """Shape ``(num_heads, N_a, N_b, zspace_dim)`` of the hidden tensor ``M``."""
        return (self.num_heads, token_shape(shape_a)[0], token_shape(shape_b)[0], self.zspace_dim)

    def param_shapes(self, shapes):
        a, b = shapes
        self.hidden_lagrangian.check_shape(self.output_shape(a, b))
        return {"W": (self.num_heads, self.zspace_dim, token_shape(a)[1], token_shape(b)[1])}

    def shard_axes(self, shapes):
        """``W`` (``(H, Z, D_a, D_b)``) along its hidden z-space ``Z``, else its heads ``H``.

        Example:
            >>> import hamux_graph as hg
            >>> hg.BinaryMixerSynapse(num_heads=2, zspace_dim=8).shard_axes([(4, 5), (6,)])
            {'W': (1, 0)}
        """
        return {"W": (1, 0)}

    def __call__(self, ga: Float[Array, "*a da"], gb: Float[Array, "*b db"]) -> Float[Array, ""]:
        M = jnp.einsum("hzab,ia,jb->hijz", self.W, _tokens(ga), _tokens(gb))
        return self.hidden_lagrangian(M)
