"""The compiled loop behind ``hg.memory.recall_binary`` and ``recall_binary_dense``.

A private module: ``hamux_graph.memory`` validates the arguments and calls ``drive``. The
loop is one ``lax.while_loop`` over sweeps; an asynchronous sweep is a ``lax.fori_loop``
over the neurons in the order of that sweep's permutation. States are kept as ``(N, B)``
(neuron-major), so updating neuron ``i`` writes one contiguous row for the whole batch.

A "system" says how a neuron chooses its value. Both systems below keep a neuron whose two
choices are equally good (for the classical one: whose field lies within the float rounding
bound ``tie_tolerance``), so every accepted change lowers the energy strictly and a sweep
without changes proves a fixed point.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._errors import ValidationError
from .._internal.parse import parse_float, parse_int, parse_key


__all__ = [
    "DenseEnergy",
    "Polynomial",
    "RectifiedPolynomial",
    "LogSumExp",
    "Classical",
    "Dense",
    "Simplicial",
    "drive",
    "sweep_key",
    "float_array",
    "check_pm1",
    "check_patterns",
    "check_probes",
    "SWEEPS_HINT",
    "check_order",
    "flip_bits",
    "tie_tolerance",
    "bucket",
    "pad_batch",
]

# ---- argument checks ---------------------------------------------------------------------

SWEEPS_HINT = " max_sweeps is the number of full sweeps allowed; pass e.g. max_sweeps=50."
"""The hint of the message for a bad ``max_sweeps`` (checked with ``parse_int(..., minimum=0)``)."""


def float_array(where: str, name: str, x: Any) -> Array | np.ndarray:
    """``x`` as a float array (ints converted; bools, strings and objects rejected).

    Concrete values become numpy arrays of JAX's default float dtype (host-side reshaping
    then compiles nothing); traced values stay traced.
    """
    traced = isinstance(x, jax.core.Tracer)
    try:
        a = x if traced else np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"{where}: {name} must be an array of numbers, got {type(x).__name__} ({e}).") from None
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValidationError(
            f"{where}: {name} must hold real numbers (±1 spins as floats), got dtype {a.dtype}. "
            "Convert booleans with np.where(b, 1.0, -1.0)."
        )
    dtype = jax.dtypes.canonicalize_dtype(a.dtype if np.issubdtype(a.dtype, np.floating) else jnp.result_type(float))
    return a.astype(dtype) if traced else np.asarray(a, dtype=dtype)


def check_pm1(where: str, name: str, a: ArrayLike) -> None:
    """Raise unless every entry is +1 or −1 (skipped for traced values, which have no values yet)."""
    if isinstance(a, jax.core.Tracer):
        return
    v = np.asarray(a)
    bad = ~((v == 1) | (v == -1))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(
            f"{where}: {name} must hold only +1 and -1 (binary spins), got {v[idx].item()!r} at index {idx} "
            f"({int(bad.sum())} such entries). Binarise with np.where(x > 0, 1.0, -1.0)."
        )


def check_patterns(where: str, patterns: Any) -> Array | np.ndarray:
    """Stored patterns: a float ``(K, N)`` array of ±1."""
    p = float_array(where, "patterns", patterns)
    if p.ndim != 2 or 0 in p.shape:
        raise ValidationError(
            f"{where}: patterns must have shape (K, N) (K stored patterns of N neurons), got shape {tuple(p.shape)}. "
            "Flatten images with patterns.reshape(len(patterns), -1); stack one pattern with pattern[None]."
        )
    check_pm1(where, "patterns", p)
    return p


def check_probes(where: str, probes: Any, N: int) -> Array | np.ndarray:
    """Start states: a float ``(..., N)`` array of ±1."""
    s = float_array(where, "probes", probes)
    if s.ndim < 1 or s.shape[-1] != N:
        raise ValidationError(
            f"{where}: probes must have shape (..., {N}) (the last axis the {N} neurons), got shape {tuple(s.shape)}."
        )
    check_pm1(where, "probes", s)
    return s


def check_order(where: str, order: Any, key: Any) -> bool:
    """``True`` for ``order="sync"``, ``False`` for ``"async"`` (which needs a key)."""
    if order not in ("async", "sync"):
        raise ValidationError(
            f"{where}: order must be 'async' (one neuron at a time, a random permutation per sweep) or 'sync' "
            f"(all neurons at once), got {order!r}."
        )
    if key is not None:
        parse_key(key, f"{where}: key", error=ValidationError)
    if order == "async" and key is None:
        raise ValidationError(
            f"{where}: order='async' draws one permutation per sweep from `key`; pass key=jax.random.key(0) "
            "(or use order='sync', which needs no key)."
        )
    return order == "sync"


def bucket(B: int) -> int:
    """A padded batch size: 32 up to 32, the next power of two up to 512, then multiples of 512.

    Padding batches to these sizes lets loops over batch sizes reuse a few compiled programs.
    """
    return max(32, 1 << (B - 1).bit_length()) if B <= 512 else -(-B // 512) * 512


def pad_batch(probes: Any, dtype: Any) -> tuple[Any, int]:
    """Probes ``(..., N)`` as ``(bucket(B), N)`` rows of ``dtype`` and the true batch size ``B``.

    The extra rows are copies of the first probe (dropped by the caller): probes evolve
    independently under the shared permutations, so padding changes no result, and loops
    over batch sizes reuse a few compiled programs. Concrete probes are reshaped with numpy
    (a new batch size compiles nothing but, at most, the loop); traced probes (inside a
    user's jit) go through jnp.
    """
    N = probes.shape[-1]
    xp = jnp if isinstance(probes, jax.core.Tracer) else np
    flat = xp.asarray(probes).reshape(-1, N).astype(dtype)
    B = flat.shape[0]
    padded = bucket(B)
    if padded > B and B > 0:
        flat = xp.concatenate([flat, xp.broadcast_to(flat[:1], (padded - B, N))])
    return flat, B


@jax.jit
def flip_bits(flat: Float[Array, "B N"], key: Array, k: Int[Array, ""] | int) -> Float[Array, "B N"]:
    """Negate ``k`` entries of each row: the first ``k`` of a random permutation per row.

    Row ``b`` uses ``jax.random.permutation(jax.random.split(key, B)[b], N)``; ``k`` is
    traced, so every corruption level shares one compiled function per shape.
    """
    B, N = flat.shape
    perms = jax.vmap(lambda kk: jax.random.permutation(kk, N))(jax.random.split(key, B))
    first = jnp.broadcast_to(jnp.arange(N) < k, (B, N))
    flip = jnp.zeros((B, N), bool).at[jnp.arange(B)[:, None], perms].set(first)
    return jnp.where(flip, -flat, flat)


# ---- the compiled loop -------------------------------------------------------------------


def sweep_key(key: Array, sweep: Int[Array, ""] | int) -> Array:
    """The key of sweep ``sweep`` (0, 1, …): ``jax.random.fold_in(key, sweep)``."""
    return jax.random.fold_in(key, sweep)


def _choose(gain: Array, current: Array, tie: Array | float = 0.0) -> Array:
    """+1 where ``gain > tie``, −1 where ``gain < −tie``, unchanged otherwise (a tie).

    A NaN gain (an overflowed or non-finite field) gives a NaN state: the probe then never
    counts as converged (NaN differs from itself), instead of freezing and looking settled.
    """
    chosen = jnp.where(gain > tie, 1.0, jnp.where(gain < -tie, -1.0, current)).astype(current.dtype)
    return jnp.where(jnp.isnan(gain), jnp.asarray(jnp.nan, current.dtype), chosen)


def tie_tolerance(W: np.ndarray | Array) -> np.ndarray | Array:
    """Per row, ``N·ε·Σ_j |W_ij|``: the rounding-error bound of a float dot product ``W_i·σ``.

    A field within it has no reliable sign in floating point (its exact value may be 0, as
    Hebbian fields often are), so it counts as a tie.
    """
    xp = jnp if isinstance(W, jax.core.Tracer) else np
    N = W.shape[-1]
    return (N * float(np.finfo(W.dtype).eps)) * xp.sum(xp.abs(W), axis=-1)


# ---- dense energies (strategy objects) --------------------------------------------------


class DenseEnergy(eqx.Module):
    """Energy of a dense binary memory as a function of the overlaps ``m_μ = ξ_μ·σ``.

    Subclasses give ``energy`` (the energy of the states from their overlaps) and
    ``gain`` (how much lower the energy is with neuron ``i`` at +1 than at −1); pass an
    instance as ``energy=`` to ``hg.memory.recall_binary_dense``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> m = jnp.array([[4.0], [-2.0]])                 # overlaps with K = 2 patterns, 1 state
        >>> hg.memory.Polynomial(n=3).energy(m).tolist(), hg.memory.RectifiedPolynomial(n=2).energy(m).tolist()
        ([-56.0], [-16.0])
    """

    @abc.abstractmethod
    def energy(self, m: Float[Array, " K *batch"]) -> Float[Array, "*batch"]:
        """Energy of states whose overlaps with the K patterns are ``m`` (axis 0: patterns)."""

    @abc.abstractmethod
    def gain(self, a: Float[Array, "K B"], xi: Float[Array, " K"]) -> Float[Array, " B"]:
        """``E(σ_i = −1) − E(σ_i = +1)``, where ``a`` are the overlaps without neuron ``i``."""


class _Separable(DenseEnergy):
    """``E = −Σ_μ F(m_μ)``: the gain is summed pattern by pattern (no cancellation of large sums)."""

    @abc.abstractmethod
    def F(self, m: Float[Array, "..."]) -> Float[Array, "..."]:
        """The separation function applied to each overlap."""

    def energy(self, m: Float[Array, " K *batch"]) -> Float[Array, "*batch"]:
        return -jnp.sum(self.F(m), axis=0)

    def gain(self, a: Float[Array, "K B"], xi: Float[Array, " K"]) -> Float[Array, " B"]:
        return jnp.sum(self.F(a + xi[:, None]) - self.F(a - xi[:, None]), axis=0)


def _scaled_gain(F: Any, n: float, a: Array, xi: Array) -> Array:
    """The gain of a separable energy homogeneous of degree ``n`` (``F(cm) = cⁿF(m)``), overflow-free.

    Where the largest ``|a ± ξ|ⁿ`` of a probe could pass ``2^100`` (``64²³`` overflows
    float32), that probe's overlaps are divided by their largest ``|a ± ξ|`` first, so its
    largest term is exactly 1 and nothing overflows; the gain's sign (all the update uses) is
    unchanged by a positive scale. Elsewhere nothing is scaled and the gain is bit for bit
    the plain one.
    """
    top = jnp.max(jnp.abs(a), axis=0) + 1.0  # (B,): the largest |a ± ξ| of each probe
    scale = jnp.where(n * jnp.log2(top) > 100.0, 1.0 / top, jnp.ones_like(top))[None, :]
    a_s, xi_s = a * scale, xi[:, None] * scale
    return jnp.sum(F(a_s + xi_s) - F(a_s - xi_s), axis=0)


class Polynomial(_Separable):
    """``F(m) = mⁿ`` (Krotov & Hopfield 2016); ``n`` an int ≥ 1 (``n = 2`` is Hebbian).

    Gains are computed on overlaps scaled by a power of two where ``mⁿ`` would overflow
    (see ``recall_binary_dense``), so any ``n`` gives finite, correct updates.
    """

    n: int = 3

    def __check_init__(self) -> None:
        parse_int(self.n, "Polynomial: n", minimum=1, error=ValidationError, hint=" F(m) = m**n needs an int n >= 1.")

    def F(self, m: Float[Array, "..."]) -> Float[Array, "..."]:
        return lax.integer_pow(m, self.n)

    def gain(self, a: Float[Array, "K B"], xi: Float[Array, " K"]) -> Float[Array, " B"]:
        return _scaled_gain(self.F, self.n, a, xi)


class RectifiedPolynomial(_Separable):
    """``F(m) = max(m, 0)ⁿ``: only patterns the state agrees with more than it disagrees count."""

    n: float = 3.0

    def __check_init__(self) -> None:
        parse_float(self.n, "RectifiedPolynomial: n", minimum=1.0, error=ValidationError)

    def F(self, m: Float[Array, "..."]) -> Float[Array, "..."]:
        return jnp.maximum(m, 0.0) ** self.n

    def gain(self, a: Float[Array, "K B"], xi: Float[Array, " K"]) -> Float[Array, " B"]:
        return _scaled_gain(self.F, float(self.n), a, xi)


class LogSumExp(DenseEnergy):
    """``E = −(1/β) log Σ_μ exp(β m_μ)`` (exponential capacity, Demircigil et al. 2017)."""

    beta: float = 1.0

    def __check_init__(self) -> None:
        parse_float(self.beta, "LogSumExp: beta", positive=True, error=ValidationError)

    def energy(self, m: Float[Array, " K *batch"]) -> Float[Array, "*batch"]:
        top = jnp.max(m, axis=0)
        return -(top + jax.nn.logsumexp(self.beta * (m - top[None]), axis=0) / self.beta)

    def gain(self, a: Float[Array, "K B"], xi: Float[Array, " K"]) -> Float[Array, " B"]:
        # shifted by the largest overlap first, so that β·m never overflows (β = 1e30 works):
        # every exponent is ≤ 0, and the gain is +inf or -inf (a clear sign) in the limit
        plus, minus = a + xi[:, None], a - xi[:, None]
        top = jnp.maximum(jnp.max(plus, axis=0), jnp.max(minus, axis=0))[None, :]
        diff = jax.nn.logsumexp(self.beta * (plus - top), axis=0) - jax.nn.logsumexp(self.beta * (minus - top), axis=0)
        # |diff|/β may fall below the smallest normal float (flushed to 0, a false tie): keep the sign
        tiny = jnp.finfo(diff.dtype).tiny
        return jnp.where(diff == 0, diff, jnp.sign(diff) * jnp.maximum(jnp.abs(diff) / self.beta, tiny))


# ---- systems -----------------------------------------------------------------------------


class _System(eqx.Module):
    """How neurons choose their values; ``aux`` is whatever the system keeps up to date."""

    @abc.abstractmethod
    def init(self, S: Float[Array, "N B"]) -> Array:
        """The auxiliary state for states ``S``."""

    @abc.abstractmethod
    def neuron(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> tuple[Array, Array]:
        """Update neuron ``i`` of every probe; return the new ``(S, aux)``."""

    @abc.abstractmethod
    def preferred(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        """The value every neuron would choose given all the others (the synchronous update)."""

    @abc.abstractmethod
    def gain(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> Float[Array, " B"]:
        """``E(σ_i = −1) − E(σ_i = +1)`` given all the other neurons (Glauber: ``P(+1) = σ(gain/T)``)."""

    @abc.abstractmethod
    def assign(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""], new: Array) -> tuple[Array, Array]:
        """Set neuron ``i`` of every probe to ``new`` (±1, shape ``(B,)``); return the new ``(S, aux)``."""

    @abc.abstractmethod
    def gains(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        """``gain`` of every neuron at once (the synchronous heat-bath update)."""


class Classical(_System):
    """``E = −½ σᵀWσ``; neuron ``i`` takes ``sign(h_i)``, ``h_i = Σ_j W_ij σ_j``, unless ``|h_i| ≤ tie_i``."""

    W: Float[Array, "N N"]
    tie: Float[Array, " N"]

    def init(self, S: Float[Array, "N B"]) -> Array:
        return jnp.zeros((), S.dtype)

    def neuron(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> tuple[Array, Array]:
        h = self.W[i] @ S
        return S.at[i].set(_choose(h, S[i], self.tie[i])), aux

    def preferred(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        return _choose(self.W @ S, S, self.tie[:, None])

    def gain(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> Float[Array, " B"]:
        # E = −½σᵀWσ: E(−1) − E(+1) = 2h_i, h_i = Σ_{j≠i} W_ij σ_j (the diagonal is a constant)
        return 2.0 * (self.W[i] @ S - self.W[i, i] * S[i])

    def assign(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""], new: Array) -> tuple[Array, Array]:
        return S.at[i].set(new), aux

    def gains(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        return 2.0 * (self.W @ S - jnp.diagonal(self.W)[:, None] * S)


class Dense(_System):
    """Dense binary memory over patterns ``P`` (stored neuron-major, ``(N, K)``); ``aux`` = overlaps ``(K, B)``."""

    PT: Float[Array, "N K"]
    energy: DenseEnergy

    def init(self, S: Float[Array, "N B"]) -> Array:
        return self.PT.T @ S

    def neuron(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> tuple[Array, Array]:
        xi = self.PT[i]
        a = aux - xi[:, None] * S[i][None, :]
        new = _choose(self.energy.gain(a, xi), S[i])
        return S.at[i].set(new), a + xi[:, None] * new[None, :]

    def preferred(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        def one(i):
            xi = self.PT[i]
            return _choose(self.energy.gain(aux - xi[:, None] * S[i][None, :], xi), S[i])

        return lax.map(one, jnp.arange(S.shape[0]))

    def gain(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> Float[Array, " B"]:
        xi = self.PT[i]
        return self.energy.gain(aux - xi[:, None] * S[i][None, :], xi)

    def assign(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""], new: Array) -> tuple[Array, Array]:
        xi = self.PT[i]
        a = aux - xi[:, None] * S[i][None, :]
        return S.at[i].set(new), a + xi[:, None] * new[None, :]

    def gains(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        return lax.map(lambda i: self.gain(S, aux, i), jnp.arange(S.shape[0]))


class Simplicial(_System):
    """Setwise memory ``E = −Σ_σ w_σ Π_{i∈σ} σ_i`` (issue 28), by per-neuron incidence tables.

    Row ``i`` of ``others`` lists, for each simplex containing neuron ``i`` (padded to the
    most simplices any neuron has), the other members (padded with ``N``, which reads as
    +1); ``weights[i]`` their weights (0 on padding). The local field is
    ``h_i = Σ_{σ∋i} w_σ Π_{j∈σ∖i} σ_j``; ``E`` is affine in ``σ_i`` (``E = −σ_i h_i + …``), so
    neuron ``i`` takes ``sign(h_i)`` unless ``|h_i| ≤ tie_i`` and every change lowers ``E``
    by ``2|h_i|``.
    """

    others: Int[Array, "N M R"]
    weights: Float[Array, "N M"]
    tie: Float[Array, " N"]

    def field(self, S: Float[Array, "N B"], i: Int[Array, ""] | Int[Array, " n"]) -> Array:
        idx = self.others[i]
        pad = idx >= S.shape[0]
        vals = jnp.where(pad[..., None], 1.0, S[jnp.minimum(idx, S.shape[0] - 1)])
        return jnp.einsum("...m,...mb->...b", self.weights[i], jnp.prod(vals, axis=-2))

    def init(self, S: Float[Array, "N B"]) -> Array:
        return jnp.zeros((), S.dtype)

    def neuron(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> tuple[Array, Array]:
        return S.at[i].set(_choose(self.field(S, i), S[i], self.tie[i])), aux

    def preferred(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        h = self.field(S, jnp.arange(S.shape[0]))
        return _choose(h, S, self.tie[:, None])

    def gain(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""]) -> Float[Array, " B"]:
        # E is affine in σ_i (a simplex holds distinct units): E(−1) − E(+1) = 2h_i
        return 2.0 * self.field(S, i)

    def assign(self, S: Float[Array, "N B"], aux: Array, i: Int[Array, ""], new: Array) -> tuple[Array, Array]:
        return S.at[i].set(new), aux

    def gains(self, S: Float[Array, "N B"], aux: Array) -> Float[Array, "N B"]:
        return 2.0 * self.field(S, jnp.arange(S.shape[0]))


# ---- the driver ------------------------------------------------------------------------------


@eqx.filter_jit
def drive(
    system: _System,
    S0: Float[Array | np.ndarray, "N B"],
    key: Array | None,
    synchronous: bool,
    max_sweeps: Int[Array | np.integer, ""],
) -> tuple[Float[Array, "N B"], Int[Array, " B"], Bool[Array, " B"]]:
    """Sweeps until no probe changes or ``max_sweeps``; returns ``(S, sweeps, converged)``.

    ``sweeps[b]`` counts the sweeps that changed probe ``b``; ``converged[b]`` says that a
    sweep left probe ``b`` unchanged, which proves a fixed point (no neuron would change;
    for an asynchronous sweep every neuron was checked against the final state).
    """
    S0 = jnp.asarray(S0)  # traced already (drive is jitted): a no-op that types it
    N, B = S0.shape

    def sweep(t, S, aux):
        if synchronous:
            S1 = system.preferred(S, aux)
            return S1, system.init(S1)
        if key is None:  # check_order refuses order="async" without a key
            raise ValidationError("drive: an asynchronous sweep needs a key; pass key=jax.random.key(0).")
        perm = jax.random.permutation(sweep_key(key, t), N)
        return lax.fori_loop(0, N, lambda j, c: system.neuron(c[0], c[1], perm[j]), (S, aux))

    def cond(c):
        t, _, _, changed, _ = c
        return (t < max_sweeps) & jnp.any(changed)

    def body(c):
        t, S, aux, _, sweeps = c
        S1, aux1 = sweep(t, S, aux)
        changed = jnp.any(S1 != S, axis=0)
        return t + 1, S1, aux1, changed, sweeps + changed.astype(sweeps.dtype)

    init = (jnp.zeros((), jnp.int32), S0, system.init(S0), jnp.ones((B,), bool), jnp.zeros((B,), jnp.int32))
    _, S, _, changed, sweeps = lax.while_loop(cond, body, init)
    return S, sweeps, ~changed
