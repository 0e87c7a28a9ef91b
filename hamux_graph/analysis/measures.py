"""Measuring associative memories: capacity curves, basins of attraction, attractor census.

What a memory is measured by: how many random patterns it stores (``capacity_curve``:
final overlap and exact-retrieval fraction against the load ``α = K/N``), how far a
corrupted probe may start from its pattern (``basin_radius``), and which other states
attract (``attractor_census``: stored patterns, spurious mixtures, spin-glass states).
Plots: ``plot_capacity`` (with the ``α_c ≈ 0.138`` line of Amit, Gutfreund & Sompolinsky),
``plot_basin``, ``plot_census`` (matplotlib, the ``draw`` extra, imported only when used).

A memory to measure (``rule_or_builder``) is any of:

- a storage rule for binary recall: a name (``"hebbian"``, ``"storkey"``,
  ``"pseudo_inverse"``) or a callable ``patterns (K, N) → W (N, N)``, recalled with
  ``hg.memory.recall_binary``;
- a dense binary energy (``hg.memory.Polynomial(n=3)``, ``RectifiedPolynomial``,
  ``LogSumExp``), recalled with ``hg.memory.recall_binary_dense``;
- a builder of a continuous memory: a callable ``patterns (K, N) → HAM`` (compiled with
  a key drawn per trial) or ``→ CompiledHAM``, e.g. ``hg.zoo.modern_hopfield``, relaxed
  with ``model.relax`` from the probe in its ``"visible"`` layer and read as the sign of
  the visible activations.

Example:
    >>> import jax, hamux_graph as hg
    >>> curve = hg.analysis.capacity_curve("hebbian", 64, [0.05, 0.3], trials=2, corruption=0.1, key=jax.random.key(0))
    >>> bool(curve.overlap_mean[0] > 0.95), bool(curve.overlap_mean[1] < 0.9)
    (True, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, cast, NamedTuple

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._api import CompiledHAM, HAM
from .._errors import ConvergenceError, ValidationError
from .._internal.limits import MAX_NEURONS
from .._internal.parse import INT32_MAX, parse_float, parse_int, parse_steps
from .._internal.progress import progress as progress_bar
from ..memory.binary import recall_binary, recall_binary_dense, rule, RULES
from ..memory.recall import (
    bucket,
    check_order,
    check_patterns,
    check_pm1,
    DenseEnergy,
    flip_bits,
    float_array,
    SWEEPS_HINT,
)
from ..memory.spins import random_patterns
from .census import Census, single_flip_kinds, tally
from .stability import DENSE_LIMIT, stability as stability_of


__all__ = [
    "CapacityCurve",
    "BasinCurve",
    "capacity_curve",
    "basin_radius",
    "attractor_census",
]


class CapacityCurve(NamedTuple):
    """What ``capacity_curve`` returns (one entry per load).

    Attributes:
        loads: the loads ``α = K/N`` measured (``K`` rounded to an int ≥ 1).
        num_patterns: the number ``K`` of stored patterns at each load.
        overlap_mean: mean final overlap ``ξ·σ/N`` of a probe with its own pattern.
        overlap_std: its standard deviation across trials (of the per-trial means).
        exact_mean: mean fraction of probes retrieved exactly (every bit).
        exact_std: its standard deviation across trials.
        N: neurons.
        corruption: fraction of bits flipped in every probe.
        trials: independent pattern sets per load (at most ``2**24``).
    """

    loads: Float[Array, " L"]
    num_patterns: Int[Array, " L"]
    overlap_mean: Float[Array, " L"]
    overlap_std: Float[Array, " L"]
    exact_mean: Float[Array, " L"]
    exact_std: Float[Array, " L"]
    N: int
    corruption: float
    trials: int


class BasinCurve(NamedTuple):
    """What ``basin_radius`` returns (one entry per corruption level).

    Attributes:
        corruptions: the fractions of flipped bits tried, ascending.
        retrieved_mean: mean fraction of probes retrieved (final overlap ≥ ``min_overlap``).
        retrieved_std: its standard deviation across trials.
        overlap_mean: mean final overlap with the probe's own pattern.
        overlap_std: its standard deviation across trials.
        radius: the largest tried corruption up to which (at it and every smaller level
            tried) at least ``fraction`` of the probes are retrieved; ``nan`` if even the
            smallest fails.
        fraction: the required retrieved fraction.
        N: neurons.
        num_patterns: stored patterns ``K``.
    """

    corruptions: Float[Array, " C"]
    retrieved_mean: Float[Array, " C"]
    retrieved_std: Float[Array, " C"]
    overlap_mean: Float[Array, " C"]
    overlap_std: Float[Array, " C"]
    radius: float
    fraction: float
    N: int
    num_patterns: int


class _Settings(NamedTuple):
    """How probes are relaxed (binary: order, max_sweeps; continuous: the relax settings)."""

    order: str
    max_sweeps: int
    visible: str
    dt: float
    max_steps: int
    tol: float


def _relax_number(where: str, name: str, value: Any) -> float:
    """``dt`` or ``tol`` of ``model.relax``: a finite number > 0, checked even where binary recall ignores it."""
    return parse_float(
        value,
        f"{where}: {name}",
        positive=True,
        error=ValidationError,
        hint=" It sets model.relax for continuous memories.",
    )


def _memory(where: str, rule_or_builder: Any) -> Any:
    if isinstance(rule_or_builder, DenseEnergy):
        return rule_or_builder
    if isinstance(rule_or_builder, str):
        return rule(rule_or_builder, where=where)
    if callable(rule_or_builder):
        return rule_or_builder
    raise ValidationError(
        f"{where}: rule_or_builder must be a rule name {sorted(RULES)}, a callable patterns -> W, "
        f"an hg.memory.DenseEnergy, or a callable patterns -> HAM / CompiledHAM; got {type(rule_or_builder).__name__}."
    )


def _relax_continuous(where: str, model: CompiledHAM, starts: Array | np.ndarray, s: _Settings) -> tuple[Array, Array]:
    """Relax from ``starts`` in layer ``s.visible`` (others at zero); ±1 signs of the activations."""
    signs, converged, _ = _relax_states(where, model, starts, s)
    return signs, converged


def _relax_states(
    where: str, model: CompiledHAM, starts: Array | np.ndarray, s: _Settings
) -> tuple[Array, Array, dict[str, Array]]:
    """``_relax_continuous`` that also returns the relaxed states (all layers)."""
    if s.visible not in model.layer_names:
        raise ValidationError(
            f"{where}: the model has no layer {s.visible!r} to put the probes in; its layers are {list(model.layer_names)}. "
            "Pass visible=<layer name>."
        )
    shape = tuple(model.shapes[model.layer_index(s.visible)])
    if math.prod(shape) != starts.shape[-1]:
        raise ValidationError(
            f"{where}: probes have {starts.shape[-1]} neurons but layer {s.visible!r} has shape {shape} "
            f"({math.prod(shape)} neurons)."
        )
    xs = model.init_states(batch_size=starts.shape[0])
    xs[s.visible] = jnp.asarray(starts.reshape((starts.shape[0],) + shape), dtype=xs[s.visible].dtype)
    res = model.relax(xs, dt=s.dt, max_steps=s.max_steps, tol=s.tol, throw=False, trace=False)
    g = model.activations(res.states)[s.visible].reshape(starts.shape)
    states = cast(dict[str, Array], res.states)  # a dict in, a dict out (PackedStates only for PackedStates)
    return jnp.where(g >= 0, 1.0, -1.0).astype(starts.dtype), res.converged, states


def _recall(where: str, mem: Any, P: ArrayLike, probes: ArrayLike, key: Array, s: _Settings) -> tuple[Array, Array]:
    """Final ±1 states of ``probes`` in the memory ``mem`` storing ``P``, and which converged."""
    k_build, k_recall = jax.random.split(key)
    if isinstance(mem, DenseEnergy):
        out = recall_binary_dense(P, probes, energy=mem, key=k_recall, order=s.order, max_sweeps=s.max_sweeps)
        return out.states, out.converged
    built = mem(P)
    if isinstance(built, HAM):
        built = built.compile(key=k_build)
    if isinstance(built, CompiledHAM):
        return _relax_continuous(where, built, jnp.asarray(probes), s)
    if isinstance(built, (jax.Array, np.ndarray)):
        N = np.shape(P)[1]
        if built.shape != (N, N):
            raise ValidationError(
                f"{where}: rule_or_builder returned W of shape {tuple(built.shape)} for {np.shape(P)[0]} patterns of "
                f"{N} neurons; a storage rule must return W of shape ({N}, {N})."
            )
        if not isinstance(built, jax.core.Tracer) and not np.isfinite(np.asarray(built)).all():
            raise ValidationError(
                f"{where}: rule_or_builder returned W with non-finite entries (nan or inf); a storage rule must "
                "return finite weights."
            )
        out = recall_binary(built, probes, key=k_recall, order=s.order, max_sweeps=s.max_sweeps)
        return out.states, out.converged
    raise ValidationError(
        f"{where}: rule_or_builder returned a {type(built).__name__}; expected a weight matrix W (N, N), "
        "an hg.HAM or an hg.CompiledHAM."
    )


def _trial(where: str, mem: Any, N: int, K: int, probes_n: int, corruption: float, keys: tuple, s: _Settings):
    """One trial: ``K`` random patterns, copies of the first ``probes_n`` corrupted and relaxed.

    Returns the final overlaps ``(probes_n,)`` with the probes' own patterns, and which
    probes converged.
    """
    k_pat, k_cor, k_rec = keys
    # drawn at bucketed sizes and cut with numpy, so that a new K compiles nothing here
    P, probes = (np.asarray(a) for a in _probe_set(k_pat, k_cor, int(round(corruption * N)), bucket(K), N))
    P, targets, probes = P[:K], P[:probes_n], probes[:probes_n]
    S, converged = _recall(where, mem, P, probes, k_rec, s)
    return np.sum(np.asarray(S) * targets, axis=1) / N, np.asarray(converged, bool).reshape(-1)


def _check_converged(where: str, mem: Any, converged: list[np.ndarray], s: _Settings) -> None:
    """Raise ``ConvergenceError`` if any probe did not converge: it is neither retrieved nor failed."""
    flags = np.concatenate(converged) if converged else np.ones(0, bool)
    if flags.all():
        return
    binary = isinstance(mem, DenseEnergy) or not callable(mem) or mem in RULES.values()
    cap = f"max_sweeps={s.max_sweeps}" if binary else f"max_steps={s.max_steps} (or max_sweeps={s.max_sweeps})"
    raise ConvergenceError(
        f"{where}: {int((~flags).sum())} of {flags.size} probes did not converge within {cap} "
        f"(converged fraction {flags.mean():.3f}); a probe that never settles is neither retrieved nor failed. Raise "
        "the cap, use order='async' (synchronous updates can cycle), or a smaller dt for continuous memories."
    )


@functools.partial(jax.jit, static_argnums=(3, 4))
def _probe_set(k_pat: Array, k_cor: Array, flips: Array, K: int, N: int) -> tuple[Array, Array]:
    """``K`` random ±1 patterns and copies with ``flips`` random bits flipped."""
    P = random_patterns(K, N, key=k_pat)
    return P, flip_bits(P, k_cor, flips)


def _floats(where: str, name: str, x: Any) -> np.ndarray:
    """A 1-D float64 numpy array (so that reported levels keep the values given)."""
    float_array(where, name, x)  # rejects strings, bools and objects with a clear message
    return np.asarray(x, dtype=float).reshape(-1)


#: the most trials per load: each is a full recall (2**24 would take days), and their results are kept
MAX_TRIALS = 2**24


def _common(where: str, N: Any, trials: Any, max_probes: Any, order: Any, key: Any, max_sweeps: Any, mem: Any):
    parse_int(N, f"{where}: N", minimum=1, maximum=MAX_NEURONS, error=ValidationError)
    parse_int(
        trials,
        f"{where}: trials",
        minimum=1,
        maximum=MAX_TRIALS,
        error=ValidationError,
        hint=" Every trial is a full recall of a fresh pattern set; the per-trial tables are kept in memory.",
    )
    if max_probes is not None:
        parse_int(
            max_probes,
            f"{where}: max_probes",
            minimum=1,
            error=ValidationError,
            hint=" Pass None to probe with all patterns.",
        )
    if key is None:
        raise ValidationError(f"{where}: pass key=jax.random.key(0); it draws the patterns, corruptions and orders.")
    check_order(where, order, key)
    parse_int(max_sweeps, f"{where}: max_sweeps", minimum=0, maximum=INT32_MAX, error=ValidationError, hint=SWEEPS_HINT)
    return _memory(where, mem)


def _max_steps(where: str, max_steps: Any) -> int:
    """``max_steps`` of ``model.relax`` for continuous memories, checked for every memory."""
    return parse_steps(max_steps, f"{where}: max_steps", minimum=1, error=ValidationError)


def capacity_curve(
    rule_or_builder: Any,
    N: int,
    loads: Sequence[float] | Float[ArrayLike, " L"],
    *,
    trials: int = 5,
    corruption: float = 0.1,
    key: PRNGKeyArray,
    order: str = "async",
    max_sweeps: int = 50,
    max_probes: int | None = None,
    visible: str = "visible",
    dt: float = 0.1,
    max_steps: int = 1000,
    tol: float = 1e-4,
    progress: bool = False,
) -> CapacityCurve:
    """Retrieval quality against the load ``α = K/N``: the classical capacity curve.

    For each load, ``trials`` times: draw ``K = max(1, round(αN))`` random ±1 patterns, store
    them, flip ``round(corruption·N)`` random bits of each (of the first ``max_probes``)
    and relax; record the final overlap of every probe with its own pattern and whether it
    came back exactly. With Hebb's rule and asynchronous recall the overlap drops from
    ≈ 1 to ≈ 0.3 around ``α_c ≈ 0.138`` (``ALPHA_C``).

    Trial ``t`` at load index ``l`` uses ``fold_in(fold_in(key, l), t)`` split into the
    pattern, corruption and recall keys.

    Args:
        rule_or_builder: the memory (see the module docstring).
        N: neurons.
        loads: loads ``α``.
        trials: independent pattern sets per load (at most ``2**24``).
        corruption: fraction of bits flipped in each probe, in ``[0, 1]``.
        key: PRNG key.
        order: ``"async"`` or ``"sync"`` (binary memories).
        max_sweeps: sweep cap (binary memories).
        max_probes: probe at most this many patterns per trial (``None``: all ``K``).
        visible: layer of the probes (continuous memories).
        dt: Euler step of ``model.relax`` (continuous memories).
        max_steps: step cap of ``model.relax`` (continuous memories).
        tol: convergence threshold of ``model.relax`` (continuous memories).
        progress: show a progress bar over the trials.

    Returns:
        A ``CapacityCurve``.

    Raises:
        ValidationError: for a bad memory, size, load, corruption or setting (or a rule that
            returns W of another size or with non-finite entries).
        ConvergenceError: if any probe did not converge within ``max_sweeps`` /
            ``max_steps`` (naming the cap and the fraction that converged).

    Example:
        >>> import jax, hamux_graph as hg
        >>> c = hg.analysis.capacity_curve("storkey", 64, [0.1], trials=1, key=jax.random.key(0))
        >>> int(c.num_patterns[0]), float(c.exact_mean[0])
        (6, 1.0)
    """
    where = "capacity_curve"
    mem = _common(where, N, trials, max_probes, order, key, max_sweeps, rule_or_builder)
    corruption = parse_float(corruption, f"{where}: corruption", minimum=0.0, maximum=1.0, error=ValidationError)
    a = _floats(where, "loads", loads)
    if a.size == 0 or not np.all(a > 0):
        raise ValidationError(f"{where}: loads must be a non-empty list of loads alpha = K/N > 0, got {loads!r}.")
    Ks = [max(1, int(round(x * N))) for x in a]
    s = _Settings(
        order,
        int(max_sweeps),
        visible,
        _relax_number(where, "dt", dt),
        _max_steps(where, max_steps),
        _relax_number(where, "tol", tol),
    )
    per = np.zeros((len(Ks), trials, 2))
    converged: list[np.ndarray] = []
    jobs = [(l, t) for l in range(len(Ks)) for t in range(trials)]
    bar = progress_bar(jobs, desc="capacity", enable=progress)
    for l, t in bar:
        K = Ks[l]
        keys = tuple(jax.random.split(jax.random.fold_in(jax.random.fold_in(key, l), t), 3))
        m, ok = _trial(where, mem, N, K, K if max_probes is None else min(K, max_probes), corruption, keys, s)
        per[l, t] = m.mean(), (m >= 1.0).mean()
        converged.append(ok)
        bar.set_postfix(alpha=float(K / N))
    _check_converged(where, mem, converged, s)
    return CapacityCurve(
        loads=jnp.asarray([K / N for K in Ks]),
        num_patterns=jnp.asarray(Ks, dtype=jnp.int32),
        overlap_mean=jnp.asarray(per[:, :, 0].mean(1)),
        overlap_std=jnp.asarray(per[:, :, 0].std(1)),
        exact_mean=jnp.asarray(per[:, :, 1].mean(1)),
        exact_std=jnp.asarray(per[:, :, 1].std(1)),
        N=int(N),
        corruption=corruption,
        trials=int(trials),
    )


def basin_radius(
    rule_or_builder: Any,
    N: int,
    load: float,
    *,
    corruptions: Sequence[float] | Float[ArrayLike, " C"] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45),
    fraction: float = 0.9,
    min_overlap: float = 1.0,
    trials: int = 3,
    key: PRNGKeyArray,
    order: str = "async",
    max_sweeps: int = 50,
    max_probes: int | None = None,
    visible: str = "visible",
    dt: float = 0.1,
    max_steps: int = 1000,
    tol: float = 1e-4,
    progress: bool = False,
) -> BasinCurve:
    """The basin of attraction: retrieval against the corruption of the probes, and its radius.

    At one load ``α`` (``K = max(1, round(αN))`` patterns), every trial stores one random
    pattern set and probes it at each corruption level (the same patterns for every level,
    so the curve compares like with like). A probe is retrieved when its final overlap with
    its own pattern is ``≥ min_overlap`` (1.0: exactly). The radius is the largest level up
    to which at least ``fraction`` of the probes are retrieved.

    Trial ``t`` draws its patterns from ``fold_in(key, t)`` and, at level ``c``, its
    corruption and recall keys from ``fold_in(fold_in(key, t), c + 1)``.

    Args:
        rule_or_builder: the memory (see the module docstring).
        N: neurons.
        load: the load ``α = K/N``.
        corruptions: fractions of flipped bits to try (sorted ascending).
        fraction: the retrieved fraction the radius requires, in ``[0, 1]``.
        min_overlap: final overlap that counts as retrieved, in ``[-1, 1]``.
        trials: independent pattern sets (at most ``2**24``).
        key: PRNG key.
        order: ``"async"`` or ``"sync"`` (binary memories).
        max_sweeps: sweep cap (binary memories).
        max_probes: probe at most this many patterns per trial (``None``: all ``K``).
        visible: layer of the probes (continuous memories).
        dt: Euler step of ``model.relax`` (continuous memories).
        max_steps: step cap of ``model.relax`` (continuous memories).
        tol: convergence threshold of ``model.relax`` (continuous memories).
        progress: show a progress bar.

    Returns:
        A ``BasinCurve`` (its ``radius`` a float).

    Raises:
        ValidationError: for a bad memory, size, load, level or setting.
        ConvergenceError: if any probe did not converge within ``max_sweeps`` /
            ``max_steps`` (naming the cap and the fraction that converged).

    Example:
        >>> import jax, hamux_graph as hg
        >>> b = hg.analysis.basin_radius("hebbian", 64, 0.05, corruptions=[0.1, 0.3, 0.5], trials=1, key=jax.random.key(0))
        >>> b.radius
        0.3
    """
    where = "basin_radius"
    mem = _common(where, N, trials, max_probes, order, key, max_sweeps, rule_or_builder)
    load = parse_float(load, f"{where}: load", positive=True, error=ValidationError, hint=" The load is alpha = K/N.")
    fraction = parse_float(fraction, f"{where}: fraction", minimum=0.0, maximum=1.0, error=ValidationError)
    min_overlap = parse_float(min_overlap, f"{where}: min_overlap", minimum=-1.0, maximum=1.0, error=ValidationError)
    c = _floats(where, "corruptions", corruptions)
    if c.size == 0 or np.any(c < 0) or np.any(c > 1) or np.any(np.diff(c) <= 0):
        raise ValidationError(
            f"{where}: corruptions must be a non-empty ascending list of fractions in [0, 1], got {corruptions!r}."
        )
    K = max(1, int(round(load * N)))
    n_probes = K if max_probes is None else min(K, max_probes)
    s = _Settings(
        order,
        int(max_sweeps),
        visible,
        _relax_number(where, "dt", dt),
        _max_steps(where, max_steps),
        _relax_number(where, "tol", tol),
    )
    per = np.zeros((len(c), trials, 2))
    converged: list[np.ndarray] = []
    bar = progress_bar([(t, j) for t in range(trials) for j in range(len(c))], desc="basin", enable=progress)
    for t, j in bar:
        k_trial = jax.random.fold_in(key, t)
        k_cor, k_rec = jax.random.split(jax.random.fold_in(k_trial, j + 1))
        m, ok_probes = _trial(where, mem, N, K, n_probes, float(c[j]), (k_trial, k_cor, k_rec), s)
        per[j, t] = (m >= min_overlap - 1e-6).mean(), m.mean()
        converged.append(ok_probes)
        bar.set_postfix(corruption=float(c[j]))
    _check_converged(where, mem, converged, s)
    ok = per[:, :, 0].mean(1) >= fraction
    n_ok = len(ok) if ok.all() else int(np.argmin(ok))
    return BasinCurve(
        corruptions=jnp.asarray(c),
        retrieved_mean=jnp.asarray(per[:, :, 0].mean(1)),
        retrieved_std=jnp.asarray(per[:, :, 0].std(1)),
        overlap_mean=jnp.asarray(per[:, :, 1].mean(1)),
        overlap_std=jnp.asarray(per[:, :, 1].std(1)),
        radius=float(c[n_ok - 1]) if n_ok > 0 else float("nan"),
        fraction=fraction,
        N=int(N),
        num_patterns=K,
    )


def attractor_census(
    model_or_W: CompiledHAM | Float[ArrayLike, "N N"],
    starts: Float[ArrayLike, "S N"],
    *,
    patterns: Float[ArrayLike, "K N"],
    key: PRNGKeyArray | None,
    order: str = "async",
    max_sweeps: int = 100,
    visible: str = "visible",
    dt: float = 0.1,
    max_steps: int = 1000,
    tol: float = 1e-4,
    pattern_overlap: float = 0.9,
    mixture_tol: float = 0.2,
    min_gap: float = 0.2,
) -> Census:
    """Relax from many starts, group identical end states, classify each attractor.

    A weight matrix ``W`` is relaxed with ``hg.memory.recall_binary`` (±1 starts); a
    compiled continuous memory (e.g. ``hg.zoo.classical_hopfield(P).compile(key=...)``)
    with ``model.relax`` from the starts in layer ``visible``, the end state read as the
    sign of the visible activations. End states are grouped when equal in every bit, and
    each group is classified from the sorted magnitudes ``a₁ ≥ a₂ ≥ …`` of its overlaps with
    the patterns:

    - ``"pattern"``: ``a₁ ≥ pattern_overlap`` (a stored pattern or its negative, up to a few bits);
    - ``"mixture"`` of size ``k ≥ 2``: the ``k`` magnitudes within ``mixture_tol`` of ``a₁``
      stand out from the rest by ``a_k − a_{k+1} ≥ min_gap``. The symmetric 3-mixture
      ``sign(ξ₁ + ξ₂ + ξ₃)`` has overlaps ½ and is stable below ``α ≈ 0.03`` (Amit,
      Gutfreund & Sompolinsky 1985);
    - ``"other"``: the rest (spin-glass-like states with many middling overlaps, or
      asymmetric mixtures).

    Args:
        model_or_W: an ``(N, N)`` weight matrix, or a ``CompiledHAM``.
        starts: ``(S, N)`` start states (±1 for a weight matrix).
        patterns: ``(K, N)`` the stored ±1 patterns to classify against.
        key: PRNG key of the asynchronous updates (``None`` with ``order="sync"``).
        order: ``"async"`` or ``"sync"`` (weight matrix).
        max_sweeps: sweep cap (weight matrix).
        visible: the layer the starts go into (model).
        dt: Euler step of ``model.relax`` (model).
        max_steps: step cap of ``model.relax`` (model).
        tol: convergence threshold of ``model.relax`` (model).
        pattern_overlap: the overlap magnitude that counts as a stored pattern.
        mixture_tol: how close in magnitude the overlaps of a mixture must be.
        min_gap: how far a mixture's overlaps must stand above the next one.

    Returns:
        A ``Census`` (attractors most visited first; ``census.total("mixture", 3)`` counts
        the starts that ended in a 3-mixture). ``census.stability`` gives each attractor's
        kind: ``hg.analysis.stability`` of a relaxed state for a model (the smallest
        eigenvalue by Lanczos above ``DENSE_LIMIT`` entries), single-flip stability for ``W``.

    Raises:
        ValidationError: for bad shapes, non-±1 patterns or starts, an uncompiled ``HAM``
            or bad settings.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(5, 200)))
        >>> starts = np.stack([np.sign(pats[:3].sum(0)), pats[3], -pats[4]])
        >>> c = hg.analysis.attractor_census(hg.memory.hebbian(pats), starts, patterns=pats, key=jax.random.key(0))
        >>> sorted(zip(c.kinds, c.sizes.tolist()))
        [('mixture', 3), ('pattern', 1), ('pattern', 1)]
    """
    where = "attractor_census"
    P = check_patterns(where, patterns)
    thresholds = dict(
        pattern_overlap=parse_float(
            pattern_overlap, f"{where}: pattern_overlap", minimum=0.0, maximum=1.0, error=ValidationError
        ),
        mixture_tol=parse_float(mixture_tol, f"{where}: mixture_tol", minimum=0.0, maximum=1.0, error=ValidationError),
        min_gap=parse_float(min_gap, f"{where}: min_gap", minimum=0.0, maximum=1.0, error=ValidationError),
    )
    X = float_array(where, "starts", starts)
    max_steps = _max_steps(where, max_steps)
    dt, tol = _relax_number(where, "dt", dt), _relax_number(where, "tol", tol)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != P.shape[1]:
        raise ValidationError(
            f"{where}: starts must have shape (S, {P.shape[1]}) (S start states of the patterns' {P.shape[1]} "
            f"neurons), got shape {tuple(X.shape)}."
        )
    if isinstance(model_or_W, HAM):
        raise ValidationError(f"{where}: got an uncompiled hg.HAM; pass ham.compile(key=jax.random.key(0)).")
    if isinstance(model_or_W, CompiledHAM):
        model = model_or_W
        s = _Settings(order, 0, visible, dt, max_steps, tol)
        ends, converged, relaxed = _relax_states(where, model, X, s)

        def kinds(first: np.ndarray, states: np.ndarray) -> tuple[str, ...]:
            picked = {n: jnp.asarray(np.asarray(a)[first]) for n, a in relaxed.items()}
            size = sum(math.prod(shape) for shape in model.shapes)
            found = stability_of(model, picked, k=None if size <= DENSE_LIMIT else 1)
            return found.kind if isinstance(found.kind, tuple) else (found.kind,)

        return tally(ends, converged, P, stability=kinds, **thresholds)
    check_pm1(where, "starts", X)
    out = recall_binary(model_or_W, X, key=key, order=order, max_sweeps=max_sweeps)
    W = np.asarray(model_or_W)
    return tally(
        out.states, out.converged, P, stability=lambda first, states: single_flip_kinds(W, states), **thresholds
    )
