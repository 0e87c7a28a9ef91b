"""Distance-kernel memory synapses over one layer: Gaussian, Epanechnikov, random-feature.

Each stores patterns ``ξ_μ`` of the connected layer's shape and aligns the layer's activation
``g`` with them through a kernel of the squared distance ``d_μ² = ‖g − ξ_μ‖²``:

    Gaussian       F(g) = (1/β) log Σ_μ exp(−(β/2) d_μ²)
    Epanechnikov   F(g) = (1/β) log(Σ_μ relu(1 − (β/2) d_μ²) + eps·exp(−relu((β/2) min_μ d_μ² − 1)))
    random-feature F(g) = (1/β) log⁺(φ(g)·T),  T = Σ_μ φ(ξ_μ),  φ(x)·φ(y) ≈ exp(−(β/2)‖x − y‖²)

(the synapse energy is ``−F``). The Gaussian form is the distance form of the dense
associative memory / modern Hopfield energy; the Epanechnikov form has compact supports of
radius ``√(2/β)`` around the patterns, and where supports overlap its energy has minima
that are no stored pattern ("emergent memories"); the random-feature form keeps one vector
``T`` instead of the patterns (Hoover et al. 2024, "DrDAM"), so storing a pattern is adding
its features.

The patterns are the parameter ``patterns`` (shape ``(K, *layer_shape)``; created
``N(0, stdinit²)`` at compile time unless given); ``beta`` is a learnable scalar. Squared
distances are formed as ``‖g‖² − 2⟨g, ξ⟩ + ‖ξ‖²`` (one matrix product per sample, no
``K × N`` difference array). See docs/memories.md.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._errors import ValidationError
from ..lagrangians.elementwise import check_scalar_field, learnable
from ._base import created_param, numel, optional_array, static_float, static_int, Synapse


__all__ = ["GaussianMemorySynapse", "EpanechnikovMemorySynapse", "RandomFeatureMemorySynapse"]

KERNELS = ("gaussian",)


def _check_beta(owner: Any, beta: Array) -> None:
    check_scalar_field(owner, "beta", positive=True)


def _check_patterns(owner: str, patterns: Array | None, num_memories: int) -> None:
    if patterns is None:
        return
    shape = tuple(jnp.shape(patterns))
    if len(shape) < 2 or shape[0] != num_memories:
        raise ValidationError(
            f"{owner}: explicit patterns must have shape (num_memories, *layer_shape) = ({num_memories}, ...), "
            f"got {shape}. Pass num_memories={shape[0] if shape else '?'} or stack the patterns along axis 0."
        )


def _sq_distances(g: Array, patterns: Array) -> Array:
    """``‖g − ξ_μ‖²`` for every pattern, by one matrix product (shape ``(K,)``)."""
    gf = g.reshape(-1)
    P = patterns.reshape(patterns.shape[0], -1)
    return jnp.dot(gf, gf) - 2.0 * jnp.dot(P, gf) + jnp.sum(P * P, axis=1)


def _effective_beta(beta: Array, min_beta: float) -> Array:
    return jnp.maximum(beta, min_beta)


class GaussianMemorySynapse(Synapse):
    """Gaussian-kernel memory: ``F(g) = (1/β) log Σ_μ exp(−(β/2)‖g − ξ_μ‖²)``.

    The distance form of the dense associative memory energy: on its own (with nothing else
    in the energy) every well separated stored pattern is a minimum of ``−F`` for large
    β, and patterns closer than the kernel width ``1/√β`` merge into one minimum.
    ``∂F/∂g = Σ_μ p_μ (ξ_μ − g)`` with ``p = softmax(−(β/2) d²)``.

    Args:
        num_memories: number of stored patterns ``K``.
        beta: inverse kernel width (learnable; clipped below at ``min_beta``).
        min_beta: the smallest β used.
        stdinit: standard deviation of random initial patterns.
        patterns: explicit patterns ``(K, *layer_shape)``; created at compile time if ``None``.

    Raises:
        ValidationError: for a non-positive ``num_memories``, a non-scalar ``beta`` or
            patterns whose leading axis is not ``num_memories``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> mem = hg.GaussianMemorySynapse(2, beta=1.0, patterns=jnp.array([[0.0, 0.0], [3.0, 4.0]]))
        >>> round(float(mem(jnp.array([0.0, 0.0]))), 6)  # log(1 + e^{-12.5})
        4e-06
    """

    num_memories: int = eqx.field(static=True, converter=static_int("num_memories"))
    beta: Array = eqx.field(converter=learnable("beta"), default=1.0)
    min_beta: float = eqx.field(static=True, converter=static_float("min_beta", positive=True), default=1e-6)
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=1.0)
    patterns: Array | None = eqx.field(converter=optional_array, default=None)

    def __check_init__(self):
        _check_beta(self, self.beta)
        _check_patterns("GaussianMemorySynapse", self.patterns, self.num_memories)

    @property
    def effective_beta(self) -> Array:
        """``max(beta, min_beta)``: the β the kernel actually uses."""
        return _effective_beta(self.beta, self.min_beta)

    def param_names(self):
        return ("patterns",)

    def param_shapes(self, shapes):
        return {"patterns": (self.num_memories,) + tuple(shapes[0])}

    def __call__(self, g):
        b = self.effective_beta
        return jax.nn.logsumexp(-0.5 * b * _sq_distances(g, created_param(self.patterns, self, "patterns"))) / b


class EpanechnikovMemorySynapse(Synapse):
    """Epanechnikov-kernel memory: ``F(g) = (1/β) log(Σ_μ relu(1 − u_μ) + eps·h(g))``, finite everywhere.

    With ``u_μ = (β/2)‖g − ξ_μ‖²``, ``S = Σ_μ relu(1 − u_μ)`` is the log-sum-ReLU
    (Epanechnikov) kernel sum: every pattern has a support of radius ``√(2/β)``. With
    ``eps = 0`` the energy ``−F`` would be ``+∞`` outside every support and no descent could
    enter a support from outside. Here ``eps > 0`` is added, and off every support it is
    continued by a Gaussian of the distance to the nearest pattern:

        h(g) = exp(−relu(min_μ u_μ − 1))     (= 1 inside any support)

    so that inside the supports ``F = (1/β) log(S + eps)`` (the regularised Epanechnikov
    energy; ``h`` adds no gradient there, so an isolated stored pattern, and the centroid of
    overlapping ones, are exact fixed points) and outside them
    ``F = (1/β) log eps − ½ (min_μ ‖g − ξ_μ‖² − 2/β)``, a pull towards the nearest pattern.
    ``F`` is finite and continuous everywhere (both forms equal ``(1/β) log eps`` on a
    support boundary); crossing a boundary into a support, ``−F`` has a concave kink (its
    slope grows from about ``√(2/β)`` outside to about ``√(2/β)/eps`` just inside), so energy
    descent continues across it. That steep band, of width about ``eps/√(2β)`` just inside
    each boundary, is stiff for explicit Euler steps: an Euler step that lands in it can
    overshoot unless ``dt ≲ eps²`` (``hg.solve`` with an adaptive solver, or a larger
    ``eps``, avoids that). See docs/memories.md.

    Where supports overlap, ``−F`` has minima at the centroids of the overlapping patterns,
    which are no stored pattern: the "emergent memories" of the Epanechnikov energy.

    Args:
        num_memories: number of stored patterns ``K``.
        beta: inverse kernel width (learnable; clipped below at ``min_beta``); the support
            radius is ``√(2/β)``.
        eps: the regulariser added to the kernel sum, ``> 0``.
        min_beta: the smallest β used.
        stdinit: standard deviation of random initial patterns.
        patterns: explicit patterns ``(K, *layer_shape)``; created at compile time if ``None``.

    Raises:
        ValidationError: for ``eps <= 0``, a non-positive ``num_memories``, a non-scalar
            ``beta`` or patterns whose leading axis is not ``num_memories``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> mem = hg.EpanechnikovMemorySynapse(1, beta=2.0, eps=1e-3, patterns=jnp.zeros((1, 2)))
        >>> round(float(mem(jnp.array([0.5, 0.0]))), 4)  # log(0.75 + 1e-3) / 2
        -0.1432
        >>> round(float(mem(jnp.array([2.0, 0.0]))), 4)  # log(1e-3) / 2 − (4 − 1) / 2
        -4.9539
    """

    num_memories: int = eqx.field(static=True, converter=static_int("num_memories"))
    beta: Array = eqx.field(converter=learnable("beta"), default=1.0)
    eps: float = eqx.field(static=True, converter=static_float("eps", positive=True), default=1e-3)
    min_beta: float = eqx.field(static=True, converter=static_float("min_beta", positive=True), default=1e-6)
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=1.0)
    patterns: Array | None = eqx.field(converter=optional_array, default=None)

    def __check_init__(self):
        _check_beta(self, self.beta)
        _check_patterns("EpanechnikovMemorySynapse", self.patterns, self.num_memories)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValidationError(
                f"EpanechnikovMemorySynapse: eps must be a finite number > 0 (the weight of the Gaussian fallback "
                f"that keeps the energy finite off every support), got eps={self.eps}. Use e.g. eps=1e-3."
            )

    @property
    def effective_beta(self) -> Array:
        """``max(beta, min_beta)``: the β the kernel actually uses."""
        return _effective_beta(self.beta, self.min_beta)

    def param_names(self):
        return ("patterns",)

    def param_shapes(self, shapes):
        return {"patterns": (self.num_memories,) + tuple(shapes[0])}

    def __call__(self, g):
        b = self.effective_beta
        u = 0.5 * b * _sq_distances(g, created_param(self.patterns, self, "patterns"))  # (K,)
        support = jnp.sum(jnp.maximum(1.0 - u, 0.0))
        outside = jnp.maximum(jnp.min(u) - 1.0, 0.0)  # 0 inside any support
        inside = support > 0
        # inside: log(S + eps); outside (S = 0): log(eps) − (min u − 1), in log space
        val_in = jnp.log(jnp.where(inside, support + self.eps, 1.0))
        val_out = math.log(self.eps) - outside
        return jnp.where(inside, val_in, val_out) / b


class RandomFeatureMemorySynapse(Synapse):
    """Distributed (random-feature) memory: ``F(g) = (1/β) log⁺(φ(g)·T)``, ``T = Σ_μ φ(ξ_μ)``.

    ``φ`` are random Fourier features of the Gaussian kernel: for frequencies
    ``ω_j ~ N(0, I)`` (``j < M/2``, ``M = num_features``),
    ``φ(x) = √(2/M)·[cos(√β ω_j·x), sin(√β ω_j·x)]_j``, so that ``E[φ(x)·φ(y)] =
    exp(−(β/2)‖x − y‖²)`` and ``φ(g)·T`` estimates ``Σ_μ exp(−(β/2)‖g − ξ_μ‖²)`` with an error
    of order ``√(K/M)``: ``F`` converges to the ``GaussianMemorySynapse`` alignment as
    ``num_features`` grows. The memory is one vector ``T`` of length ``M`` whatever the number
    of stored patterns; ``store`` adds patterns by summation, without retraining.

    The estimate ``s = φ(g)·T`` can be ``≤ 0`` far from every pattern. ``log⁺`` is the smooth
    guard ``log((s + √(s² + eps²))/2) = asinh(s/eps) + log(eps/2)``: equal to ``log s`` up
    to a relative ``eps²/(4s²)`` for ``s ≫ eps``, finite for every ``s`` and increasing (so a
    descent moves towards larger kernel estimates). Keep ``eps`` below the kernel values
    that matter and above the estimation noise.

    The frequencies ``omega`` (shape ``(M/2, |layer|)``) and the memory ``T`` are the
    synapse's parameter arrays: drawn ``N(0, 1)`` and zero from the compile key unless given,
    saved and loaded with the model (``hg.save``/``hg.load``). ``T`` holds features at the β
    of ``store``: after changing ``beta``, store again (training ``T`` and ``beta`` together
    keeps them consistent).

    Args:
        num_features: the feature dimension ``M`` (even).
        beta: inverse kernel width (learnable; clipped below at ``min_beta``).
        kernel: the kernel the features approximate (``"gaussian"``).
        eps: scale of the ``log⁺`` guard, ``> 0``.
        min_beta: the smallest β used.
        omega: explicit frequencies ``(M/2, |layer|)``; drawn at compile time if ``None``.
        T: explicit memory vector ``(M,)``; zeros (an empty memory) at compile time if ``None``.

    Raises:
        ValidationError: for an odd or non-positive ``num_features``, an unknown ``kernel``,
            ``eps <= 0``, a non-scalar ``beta`` or explicit arrays of the wrong shape.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> mem = hg.RandomFeatureMemorySynapse(4096, beta=1.0)
        >>> mem = mem.store(jnp.array([[0.0, 0.0], [3.0, 4.0]]), key=jax.random.key(0))
        >>> mem.omega.shape, mem.T.shape
        ((2048, 2), (4096,))
        >>> abs(float(mem(jnp.zeros(2)))) < 0.05  # exact value log(1 + e^{-12.5}) ≈ 0
        True
    """

    num_features: int = eqx.field(static=True, converter=static_int("num_features"))
    beta: Array = eqx.field(converter=learnable("beta"), default=1.0)
    kernel: str = eqx.field(static=True, default="gaussian", kw_only=True)
    eps: float = eqx.field(static=True, converter=static_float("eps", positive=True), default=1e-3, kw_only=True)
    min_beta: float = eqx.field(
        static=True, converter=static_float("min_beta", positive=True), default=1e-6, kw_only=True
    )
    omega: Array | None = eqx.field(converter=optional_array, default=None, kw_only=True)
    T: Array | None = eqx.field(converter=optional_array, default=None, kw_only=True)

    def __check_init__(self):
        owner = "RandomFeatureMemorySynapse"
        if self.num_features % 2:
            raise ValidationError(
                f"{owner}: num_features must be even (a cosine and a sine per frequency), got {self.num_features}. "
                f"Use num_features={self.num_features + 1}."
            )
        if self.kernel not in KERNELS:
            raise ValidationError(f"{owner}: kernel must be one of {list(KERNELS)}, got {self.kernel!r}.")
        _check_beta(self, self.beta)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValidationError(f"{owner}: eps (the log⁺ guard scale) must be a finite number > 0, got {self.eps}.")
        half = self.num_features // 2
        if self.omega is not None and (jnp.ndim(self.omega) != 2 or jnp.shape(self.omega)[0] != half):
            raise ValidationError(
                f"{owner}: explicit omega must have shape (num_features / 2, layer size) = ({half}, N), "
                f"got {tuple(jnp.shape(self.omega))}."
            )
        if self.T is not None and tuple(jnp.shape(self.T)) != (self.num_features,):
            raise ValidationError(
                f"{owner}: explicit T must have shape (num_features,) = ({self.num_features},), got "
                f"{tuple(jnp.shape(self.T))}."
            )

    @property
    def effective_beta(self) -> Array:
        """``max(beta, min_beta)``: the β the kernel actually uses."""
        return _effective_beta(self.beta, self.min_beta)

    def param_names(self):
        return ("omega", "T")

    def param_shapes(self, shapes):
        return {"omega": (self.num_features // 2, numel(shapes[0])), "T": (self.num_features,)}

    def init_param(self, name, shape, *, key):
        if name == "T":
            return jnp.zeros(shape, jnp.result_type(float))
        return jax.random.normal(key, shape, dtype=jnp.result_type(float))

    def features(self, x: Float[Array, "..."], ndim: int | None = None) -> Float[Array, "*batch M"]:
        """``φ(x)`` for one state (or a stack of states: ``ndim`` trailing axes form one state).

        Args:
            x: one state of the layer's shape (any rank), or a stack of them.
            ndim: with a stack, the number of trailing axes of one state (``None``: ``x`` is
                one state).

        Returns:
            The features, shape ``(M,)`` (or the stack's leading axes plus ``(M,)``), with
            ``φ(x)·φ(y) ≈ exp(−(β/2)‖x − y‖²)``.

        Example:
            >>> import jax, jax.numpy as jnp, hamux_graph as hg
            >>> mem = hg.RandomFeatureMemorySynapse(8, omega=jnp.ones((4, 2)))
            >>> float(mem.features(jnp.zeros(2)) @ mem.features(jnp.zeros(2)))  # k(x, x) = 1
            1.0
        """
        x = jnp.asarray(x)
        flat = x.reshape(-1) if ndim is None else x.reshape(x.shape[: x.ndim - ndim] + (-1,))
        proj = jnp.sqrt(self.effective_beta) * (flat @ created_param(self.omega, self, "omega").T)
        scale = jnp.sqrt(2.0 / self.num_features).astype(proj.dtype)
        return scale * jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=-1)

    def store(self, patterns: Float[Array, "K ..."], *, key: PRNGKeyArray | None = None) -> RandomFeatureMemorySynapse:
        """A copy with ``patterns`` (shape ``(K, *layer_shape)``) added to the memory ``T``.

        Args:
            patterns: the patterns to store, stacked along axis 0.
            key: draws the frequencies if this synapse has none yet (ignored otherwise).

        Returns:
            The synapse with ``T ← T + Σ_μ φ(ξ_μ)`` (and ``omega`` drawn if it was missing).

        Raises:
            ValidationError: for patterns of the wrong size, or missing frequencies and no key.

        Example:
            >>> import jax, jax.numpy as jnp, hamux_graph as hg
            >>> mem = hg.RandomFeatureMemorySynapse(64).store(jnp.ones((3, 5)), key=jax.random.key(0))
            >>> round(float(mem.features(jnp.ones(5)) @ mem.T), 4)  # 3 patterns at distance 0
            3.0
        """
        p = jnp.asarray(patterns, dtype=jnp.result_type(float))
        if p.ndim < 2 or p.shape[0] < 1:
            raise ValidationError(
                f"RandomFeatureMemorySynapse.store: patterns must have shape (K, *layer_shape) with K >= 1, got "
                f"{tuple(p.shape)}. Stack a single pattern with patterns[None]."
            )
        n = numel(p.shape[1:])
        syn, omega = self, self.omega
        if omega is None:
            if key is None:
                raise ValidationError(
                    "RandomFeatureMemorySynapse.store: this synapse has no frequencies yet; pass key=... to draw "
                    "them (or store into the compiled model's synapse)."
                )
            omega = self.init_param("omega", (self.num_features // 2, n), key=key)
            syn = eqx.tree_at(lambda s: s.omega, syn, omega, is_leaf=lambda x: x is None)
        if omega.shape[1] != n:
            raise ValidationError(
                f"RandomFeatureMemorySynapse.store: patterns of shape {tuple(p.shape[1:])} ({n} entries) do not fit "
                f"frequencies for layers of {omega.shape[1]} entries."
            )
        added = jnp.sum(syn.features(p, ndim=p.ndim - 1), axis=0)
        T = added if syn.T is None else syn.T + added
        return eqx.tree_at(lambda s: s.T, syn, T, is_leaf=lambda x: x is None)

    def __call__(self, g):
        s = jnp.dot(self.features(g), created_param(self.T, self, "T"))
        return (jnp.arcsinh(s / self.eps) + math.log(self.eps / 2.0)) / self.effective_beta
