"""Binary (±1) associative memories: storage rules, sign-update recall, dense binary memories.

The classical setting of every textbook capacity result: ``N`` neurons ``σ_i = ±1``, ``K``
stored ±1 patterns ``ξ_μ``, a symmetric weight matrix ``W`` with zero diagonal, the energy
``E(σ) = −½ σᵀWσ`` and single-neuron updates ``σ_i ← sign(Σ_j W_ij σ_j)``.

Storage rules (patterns ``(K, N)`` → ``W (N, N)``): ``hebbian``, ``storkey``,
``pseudo_inverse``. Recall: ``recall_binary`` (asynchronous or synchronous sign updates)
and ``recall_binary_dense`` (dense associative memories, ``E = −Σ_μ F(ξ_μ·σ)``, with the
Krotov–Hopfield bit-flip rule). Both run as one compiled loop. Helpers: ``energy``,
``dense_energy``, ``overlaps``, ``corrupt``, ``random_patterns``.

Example:
    >>> import jax, numpy as np, hamux_graph as hg
    >>> pats = np.sign(np.random.default_rng(0).normal(size=(3, 64)))
    >>> W = hg.memory.storkey(pats)
    >>> probes = hg.memory.corrupt(pats, 0.1, key=jax.random.key(0))
    >>> out = hg.memory.recall_binary(W, probes, key=jax.random.key(1))
    >>> bool((out.states == pats).all()), bool(out.converged.all())
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, Real

from .._errors import ValidationError
from .._internal.parse import INT32_MAX, parse_float, parse_int
from .glauber import run_heat_bath
from .recall import (
    check_order,
    check_patterns,
    check_probes,
    Classical,
    Dense,
    DenseEnergy,
    drive,
    float_array,
    pad_batch,
    SWEEPS_HINT,
    tie_tolerance,
)
from .spins import resolve_energy


__all__ = [
    "hebbian",
    "storkey",
    "pseudo_inverse",
    "RULES",
    "rule",
    "BinaryRecall",
    "recall_binary",
    "recall_binary_dense",
    "check_temperature",
    "run_recall",
    "run_hot",
]


# ---- storage rules ----------------------------------------------------------------------------


def _zero_diagonal(W: Array) -> Array:
    return jnp.where(jnp.eye(W.shape[0], dtype=bool), jnp.zeros((), W.dtype), W)


@jax.jit
def _symmetric(W: Array) -> Array:
    """``(W + Wᵀ)/2`` with a zero diagonal, exactly symmetric.

    A jit of its own: inside the rule's jit, XLA may compute ``Wᵀ`` as a second matrix
    product with operands swapped, rounded differently from ``W``.
    """
    return _zero_diagonal(0.5 * (W + W.T))


def hebbian(patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]]) -> Float[Array, "N N"]:
    """Hebb's rule: ``W = (1/N) Σ_μ ξ_μ ξ_μᵀ`` with the diagonal set to zero.

    Stores about ``0.138 N`` random patterns (Amit, Gutfreund & Sompolinsky 1985).

    Args:
        patterns: ``(K, N)`` array of ±1 patterns.

    Returns:
        The symmetric ``(N, N)`` weight matrix with zero diagonal.

    Raises:
        ValidationError: for a shape other than ``(K, N)`` or entries other than ±1.

    Example:
        >>> import hamux_graph as hg
        >>> hg.memory.hebbian([[1, -1, 1, 1]]).tolist()
        [[0.0, -0.25, 0.25, 0.25], [-0.25, 0.0, -0.25, -0.25], [0.25, -0.25, 0.0, 0.25], [0.25, -0.25, 0.25, 0.0]]
    """
    return _hebbian(check_patterns("hebbian", patterns))


@jax.jit
def _hebbian(P: Array) -> Array:
    return _zero_diagonal(P.T @ P / P.shape[1])


@jax.jit
def _storkey(P: Array) -> Array:
    N = P.shape[1]

    def add(W, xi):
        h = W @ xi  # local fields h_i = Σ_k w_ik ξ_k (w_ii = 0)
        H = h[:, None] - W * xi[None, :]  # H_ij = Σ_{k ≠ i, j} w_ik ξ_k
        dW = (jnp.outer(xi, xi) - xi[:, None] * H.T - H * xi[None, :]) / N
        return _zero_diagonal(W + dW), None

    W, _ = lax.scan(add, jnp.zeros((N, N), P.dtype), P)
    return W


def storkey(patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]]) -> Float[Array, "N N"]:
    """Storkey's incremental rule (Storkey 1997): local and incremental, capacity above Hebb's.

    Starting from ``W = 0``, each pattern ``ξ`` in turn adds

        ``w_ij += (ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j) / N``,  ``h_ij = Σ_{k ≠ i, j} w_ik ξ_k``,

    with the diagonal kept at zero. The result is symmetric (symmetrised against rounding).

    Args:
        patterns: ``(K, N)`` array of ±1 patterns, stored in row order.

    Returns:
        The symmetric ``(N, N)`` weight matrix with zero diagonal.

    Raises:
        ValidationError: for a shape other than ``(K, N)`` or entries other than ±1.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> W = hg.memory.storkey(np.sign(np.random.default_rng(0).normal(size=(3, 16))))
        >>> W.shape, bool((W == W.T).all()), float(abs(np.diag(W)).max())
        ((16, 16), True, 0.0)
    """
    return _symmetric(_storkey(check_patterns("storkey", patterns)))


def pseudo_inverse(patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]]) -> Float[Array, "N N"]:
    """The projection (pseudo-inverse) rule: ``W = Ξ⁺Ξ`` with the diagonal set to zero.

    ``Ξ⁺Ξ = Ξᵀ(ΞΞᵀ)⁺Ξ`` projects onto the span of the patterns, so before the diagonal is
    removed every stored pattern satisfies ``Wξ = ξ`` exactly; without the diagonal the
    field is ``(1 − W_ii) ξ_i``, still of the right sign while ``W_ii < 1`` (the diagonal
    averages ``K/N``). Correlated patterns are stored as well as random ones, up to ``K < N``.

    Args:
        patterns: ``(K, N)`` array of ±1 patterns.

    Returns:
        The symmetric ``(N, N)`` weight matrix with zero diagonal.

    Raises:
        ValidationError: for a shape other than ``(K, N)`` or entries other than ±1.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(4, 16)))
        >>> W = hg.memory.pseudo_inverse(pats)
        >>> bool((np.sign(pats @ W) == pats).all())
        True
    """
    return _symmetric(_pseudo_inverse(check_patterns("pseudo_inverse", patterns)))


@jax.jit
def _pseudo_inverse(P: Array) -> Array:
    N = P.shape[1]
    C = P @ P.T / N
    return P.T @ jnp.linalg.pinv(C, hermitian=True) @ P / N


RULES: dict[str, Callable[[Any], Array]] = {"hebbian": hebbian, "storkey": storkey, "pseudo_inverse": pseudo_inverse}


def rule(name: str | Callable[[Any], Array], *, where: str = "rule") -> Callable[[Any], Array]:
    """Look up a storage rule by name (``"hebbian"``, ``"storkey"``, ``"pseudo_inverse"``).

    Args:
        name: a rule name, or a callable ``patterns (K, N) → W (N, N)`` (returned as is).
        where: the function name used in the error message.

    Returns:
        The rule function.

    Raises:
        ValidationError: for an unknown name.

    Example:
        >>> import hamux_graph as hg
        >>> hg.memory.rule("storkey") is hg.memory.storkey
        True
    """
    if callable(name):
        return name
    if name not in RULES:
        raise ValidationError(
            f"{where}: rule must be one of {sorted(RULES)} (or a callable patterns -> W), got {name!r}."
        )
    return RULES[name]


# ---- recall ------------------------------------------------------------------------------


class BinaryRecall(NamedTuple):
    """What ``recall_binary`` and ``recall_binary_dense`` return.

    Attributes:
        states: final ±1 states (floats), the probes' shape.
        sweeps: per probe, the number of sweeps that changed it (0 for a probe that was
            already a fixed point); shape: the probes' batch shape.
        converged: per probe, ``True`` where a full sweep left it unchanged, so that its
            state is a fixed point (no single neuron would change); ``False`` where every
            one of the ``max_sweeps`` sweeps changed it (e.g. a 2-cycle of synchronous
            updates), even if the last one happened to land on a fixed point.
    """

    states: Float[Array, "*batch N"]
    sweeps: Int[Array, "*batch"]
    converged: Bool[Array, "*batch"]


def run_recall(
    system: Any, dtype: Any, probes: Array | np.ndarray, key: Any, synchronous: bool, max_sweeps: int
) -> BinaryRecall:
    """Run ``drive`` on probes ``(..., N)`` (kept neuron-major inside) and restore their shape."""
    lead = probes.shape[:-1]
    flat, B = pad_batch(probes, dtype)
    S, sweeps, converged = drive(system, flat.T, key, synchronous, np.int32(max_sweeps))
    if not isinstance(probes, jax.core.Tracer):
        S, sweeps, converged = np.asarray(S), np.asarray(sweeps), np.asarray(converged)
    out = (S.T[:B].reshape(probes.shape), sweeps[:B].reshape(lead), converged[:B].reshape(lead))
    return BinaryRecall(*(jnp.asarray(a) for a in out))


def check_temperature(where: str, temperature: Any, key: Any) -> float:
    """A finite ``T >= 0``; ``T > 0`` draws random numbers, so it needs a key.

    Raises:
        ValidationError: for a negative or non-finite ``T``, or ``T > 0`` without a key.
    """
    T = parse_float(temperature, f"{where}: temperature", nonnegative=True, error=ValidationError)
    if T > 0 and key is None:
        raise ValidationError(
            f"{where}: temperature={T} runs Glauber heat-bath updates, which draw random numbers; pass "
            "key=jax.random.key(0) (or temperature=0.0 for the deterministic sign rule)."
        )
    return T


def run_hot(system: Any, dtype: Any, probes: Any, key: Any, synchronous: bool, sweeps: int, T: float) -> BinaryRecall:
    """``max_sweeps`` Glauber sweeps: the final states, never a proven fixed point."""
    states, changed, _ = run_heat_bath(system, dtype, probes, key, synchronous, sweeps, T)
    return BinaryRecall(states, changed, jnp.zeros(changed.shape, bool))


def recall_binary(
    W: Real[ArrayLike, "N N"] | Sequence[Sequence[float]],
    probes: Real[ArrayLike, "*batch N"] | Sequence[Any],
    *,
    key: PRNGKeyArray | None,
    order: str = "async",
    max_sweeps: int = 50,
    temperature: float = 0.0,
) -> BinaryRecall:
    """Recall by sign updates ``σ_i ← sign(h_i)``, ``h_i = Σ_j W_ij σ_j``, until a fixed point.

    A tie keeps the neuron's value: a field within the rounding-error bound of its float
    dot product, ``|h_i| ≤ tie_i = N·ε·Σ_j |W_ij|`` (``ε`` the machine epsilon of ``W``'s
    dtype), has no reliable sign and counts as zero. So fields that are exactly 0 in exact
    arithmetic (frequent with Hebbian weights) keep the neuron whatever the summation order,
    and each change lowers ``E = −½ σᵀWσ`` (for symmetric ``W`` with zero diagonal, as the
    storage rules return) by ``2|h_i| > 0``.

    ``order="async"``: one neuron at a time. Sweep ``t = 0, 1, …`` visits the neurons in the
    order ``jax.random.permutation(jax.random.fold_in(key, t), N)``, the same order for
    every probe of the batch, each neuron seeing the updates made before it in the sweep.
    This plain loop reproduces the result bit for bit (unless a field lands within float
    rounding of ``±tie_i``, where summation order decides; fields that are exact multiples
    of a constant, as Hebbian ones, never do)::

        tie = N * np.finfo(W.dtype).eps * np.abs(W).sum(axis=1)
        for b in range(B):
            for t in range(max_sweeps):
                perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, t), N))
                for i in perm:
                    h = W[i] @ s[b]
                    s[b, i] = 1.0 if h > tie[i] else -1.0 if h < -tie[i] else s[b, i]
                # stop when the sweep changed nothing

    (stopping early changes nothing: a sweep without change leaves a fixed point).
    ``order="sync"``: all neurons at once, ``σ ← sign(Wσ)`` with the same ties (may end
    in a 2-cycle).

    The whole run is one compiled ``lax.while_loop`` over sweeps (an asynchronous sweep a
    ``lax.fori_loop`` over neurons), stopping when no probe changed in a sweep.

    At ``temperature=T > 0`` the updates are Glauber heat-bath draws: neuron ``i`` takes
    ``+1`` with probability ``σ(2h_i/T)`` (``σ`` the logistic function), in the same sweep
    orders, with uniforms from ``jax.random.fold_in(jax.random.fold_in(key, t), 1)``. The
    run then has no fixed point to stop at: it runs exactly ``max_sweeps`` sweeps, returns
    the final state, ``sweeps`` counts the sweeps that changed a probe, and ``converged`` is
    ``False``. ``T = 0`` is the sign rule above, bit for bit.

    Args:
        W: ``(N, N)`` weights.
        probes: ±1 start states, shape ``(..., N)``.
        key: PRNG key for the permutations (``None`` allowed with ``order="sync"``).
        order: ``"async"`` or ``"sync"``.
        max_sweeps: the most sweeps to run (an int ≥ 0; exactly this many at ``T > 0``).
        temperature: ``T >= 0``; ``T > 0`` runs Glauber heat-bath updates (needs a key).

    Returns:
        A ``BinaryRecall`` ``(states, sweeps, converged)``; ``states`` has the probes' shape.

    Raises:
        ValidationError: for non-square ``W``, probes of the wrong shape or not ±1, a bad
            ``order`` or ``max_sweeps``, or ``order="async"`` without a key.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(3, 64)))
        >>> probes = pats * np.where(np.arange(64) < 6, -1, 1)     # 6 bits flipped in each
        >>> out = hg.memory.recall_binary(hg.memory.hebbian(pats), probes, key=jax.random.key(0))
        >>> bool((out.states == pats).all()), out.converged.tolist(), out.sweeps.tolist()
        (True, [True, True, True], [1, 1, 1])
    """
    where = "recall_binary"
    Wa = float_array(where, "W", W)
    if Wa.ndim != 2 or Wa.shape[0] != Wa.shape[1] or Wa.shape[0] == 0:
        raise ValidationError(
            f"{where}: W must be a square (N, N) weight matrix, got shape {tuple(Wa.shape)}. Build one with "
            "hg.memory.hebbian(patterns)."
        )
    if not isinstance(Wa, jax.core.Tracer) and not np.isfinite(Wa).all():
        raise ValidationError(
            f"{where}: W must be finite, got {int((~np.isfinite(Wa)).sum())} nan or inf entries; a non-finite field "
            "has no sign (the neuron would freeze and look converged)."
        )
    s = check_probes(where, probes, Wa.shape[0])
    synchronous = check_order(where, order, key)
    sweeps = parse_int(
        max_sweeps, f"{where}: max_sweeps", minimum=0, maximum=INT32_MAX, error=ValidationError, hint=SWEEPS_HINT
    )
    T = check_temperature(where, temperature, key)
    system = Classical(jnp.asarray(Wa), jnp.asarray(tie_tolerance(Wa)))
    if T > 0:
        return run_hot(system, Wa.dtype, s, key, synchronous, sweeps, T)
    return run_recall(system, Wa.dtype, s, key, synchronous, sweeps)


def recall_binary_dense(
    patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]],
    probes: Real[ArrayLike, "*batch N"] | Sequence[Any],
    *,
    energy: str | DenseEnergy = "polynomial",
    n: int | float = 3,
    beta: float = 1.0,
    key: PRNGKeyArray | None,
    order: str = "async",
    max_sweeps: int = 50,
    temperature: float = 0.0,
) -> BinaryRecall:
    """Recall in a dense binary memory ``E(σ) = −Σ_μ F(ξ_μ·σ)`` by Krotov–Hopfield bit flips.

    Neuron ``i`` takes the value of lower energy given all the others (Krotov & Hopfield
    2016): ``σ_i ← sign(Σ_μ [F(a_μ + ξ_μi) − F(a_μ − ξ_μi)])`` with ``a_μ`` the overlap
    without neuron ``i``, i.e. a bit flips when the flip lowers the energy; on a tie it
    stays. Energies (``energy=``):

    - ``"polynomial"``: ``F(m) = mⁿ`` (integer ``n``; capacity grows like ``N^{n−1}``);
    - ``"rectified"``: ``F(m) = max(m, 0)ⁿ``;
    - ``"lse"``: ``E = −(1/β) log Σ_μ exp(β m_μ)`` (exponential capacity).

    A ``DenseEnergy`` object (``Polynomial(n)``, ``RectifiedPolynomial(n)``,
    ``LogSumExp(beta)`` or your own subclass) may be passed instead of a name. Sweeps and
    permutations are those of ``recall_binary``; the overlaps are kept up to date after
    each flip (exact integers for ±1 states). At ``temperature=T > 0`` neuron ``i`` takes
    ``+1`` with probability ``σ(−ΔE_i/T)`` (Glauber heat bath), ``ΔE_i`` the energy change
    of ``+1`` over ``−1``, for exactly ``max_sweeps`` sweeps (as in ``recall_binary``).

    Args:
        patterns: ``(K, N)`` stored ±1 patterns.
        probes: ±1 start states, shape ``(..., N)``.
        energy: ``"polynomial"``, ``"rectified"``, ``"lse"`` or a ``DenseEnergy``.
        n: the power of the polynomial energies.
        beta: the inverse temperature of ``"lse"``.
        key: PRNG key for the permutations (``None`` allowed with ``order="sync"``).
        order: ``"async"`` or ``"sync"``.
        max_sweeps: the most sweeps to run (an int ≥ 0; exactly this many at ``T > 0``).
        temperature: ``T >= 0``; ``T > 0`` runs Glauber heat-bath updates (needs a key).

    Returns:
        A ``BinaryRecall`` ``(states, sweeps, converged)``.

    Raises:
        ValidationError: for bad shapes, non-±1 values, an unknown ``energy``, a bad ``n``,
            ``beta``, ``order`` or ``max_sweeps``.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(128, 64)))   # K = 2N: Hebb stores 0.14 N
        >>> probes = hg.memory.corrupt(pats, 0.1, key=jax.random.key(0))
        >>> out = hg.memory.recall_binary_dense(pats, probes, n=3, key=jax.random.key(1))
        >>> float((out.states == pats).all(axis=1).mean()) > 0.9
        True

    """
    where = "recall_binary_dense"
    P = check_patterns(where, patterns)
    strategy = resolve_energy(where, energy, n, beta)
    s = check_probes(where, probes, P.shape[1])
    synchronous = check_order(where, order, key)
    sweeps = parse_int(
        max_sweeps, f"{where}: max_sweeps", minimum=0, maximum=INT32_MAX, error=ValidationError, hint=SWEEPS_HINT
    )
    T = check_temperature(where, temperature, key)
    system = Dense(jnp.asarray(P.T), strategy)
    if T > 0:
        return run_hot(system, P.dtype, s, key, synchronous, sweeps, T)
    return run_recall(system, P.dtype, s, key, synchronous, sweeps)
