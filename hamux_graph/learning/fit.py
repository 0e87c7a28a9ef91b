"""``fit``: run a local learning rule over a data set, one compiled epoch at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .._errors import ArgumentError
from .._internal.parse import parse_bool, parse_float, parse_int
from .._internal.progress import progress


__all__ = ["FitHistory", "FitResult", "fit"]


class FitHistory(NamedTuple):
    """What ``fit`` records once per epoch (numpy arrays of length ``epochs``).

    Attributes:
        update_size: the mean over the epoch's updates of ``max |ΔW|`` (the largest weight
            change of one update).
        lr: the learning rate of the epoch's last update.
        weight_norm: ``max |W|`` at the end of the epoch.
    """

    update_size: np.ndarray
    lr: np.ndarray
    weight_norm: np.ndarray


class FitResult(NamedTuple):
    """The result of ``fit``: the learned weights, the rule's final state and the history.

    Attributes:
        W: the learned weights, ``W0``'s shape.
        state: the rule's final state (``None`` for a rule without one).
        history: a ``FitHistory``.
        updates: the number of updates made (``epochs × batches per epoch``).
    """

    W: Array
    state: Any
    history: FitHistory
    updates: int


def _schedule(lr_schedule: Any) -> Callable[[Array], Any]:
    if callable(lr_schedule):
        return lr_schedule
    rate = parse_float(
        lr_schedule,
        "learning.fit: lr_schedule",
        positive=True,
        error=ArgumentError,
        hint=" Pass a positive number or a callable from the update count to the rate (an optax schedule).",
    )
    return lambda step: jnp.asarray(rate)


def fit(
    rule: Callable[..., Any],
    W0: Float[ArrayLike, "..."],
    data: Float[ArrayLike, "..."],
    *,
    epochs: int,
    batch_size: int,
    lr_schedule: float | Callable[[Array], Any],
    key: PRNGKeyArray,
    state0: PyTree | None = None,
    show_progress: bool = True,
) -> FitResult:
    """Learn ``W`` with a local rule: shuffled minibatches, one compiled ``lax.scan`` per epoch.

    Each epoch shuffles ``data`` with ``jax.random.fold_in(key, epoch)``, cuts it into
    ``len(data) // batch_size`` minibatches (the remainder is left out of that epoch) and
    applies the rule to each: ``W ← W + rule(W, batch, lr=lr_schedule(step))``, where
    ``step`` counts updates from 0 across epochs. With ``state0`` the rule carries a state,
    ``(ΔW, state) = rule(W, state, batch, lr=...)`` (BCM's threshold). Bind a rule's other
    hyperparameters with ``functools.partial`` (``partial(hg.learning.bcm, tau_theta=10.0)``).
    The epoch function is compiled once; a progress bar shows the epochs.

    Args:
        rule: a rule of ``hamux_graph.learning`` (or any function with its contract).
        W0: the initial weights ``(M, D)``.
        data: the training samples ``(N, D)``, ``N ≥ batch_size``.
        epochs: the number of passes over ``data`` (``≥ 0``).
        batch_size: samples per update.
        lr_schedule: a positive rate, or a function of the update count returning the rate
            (an optax schedule such as ``optax.linear_schedule(0.02, 0.0, total)``).
        key: the PRNG key of the shuffles.
        state0: the initial state of a rule that has one (``None``: the rule has none).
        show_progress: show the progress bar (default ``True``).

    Returns:
        A ``FitResult(W, state, history, updates)``.

    Raises:
        ArgumentError: for bad counts, shapes, schedules or keys.

    Example:
        >>> import functools, jax, jax.numpy as jnp, hamux_graph as hg
        >>> x = jax.random.normal(jax.random.key(0), (200, 2)) * jnp.array([[2.0, 0.5]])
        >>> result = hg.learning.fit(hg.learning.oja, jnp.array([[0.6, 0.8]]), x, epochs=20, batch_size=10,
        ...                          lr_schedule=0.05, key=jax.random.key(1), show_progress=False)
        >>> bool(abs(result.W[0, 0]) > 0.99), result.updates, result.history.lr.shape
        (True, 400, (20,))
        >>> rule = functools.partial(hg.learning.bcm, tau_theta=5.0)
        >>> result = hg.learning.fit(rule, jnp.full((1, 2), 0.5), jnp.eye(2), epochs=3, batch_size=1,
        ...                          lr_schedule=0.01, key=jax.random.key(2), state0=jnp.zeros(1),
        ...                          show_progress=False)
        >>> result.state.shape
        (1,)
    """
    if not callable(rule):
        raise ArgumentError(f"learning.fit: rule must be callable (e.g. hg.learning.oja), got {type(rule).__name__}.")
    W0 = jnp.asarray(W0)
    data = jnp.asarray(data)
    if W0.ndim != 2 or not jnp.issubdtype(W0.dtype, jnp.floating):
        raise ArgumentError(
            f"learning.fit: W0 must be a float array (M, D), one row per neuron, got {W0.dtype} of shape {W0.shape}."
        )
    if data.ndim != 2 or data.shape[1] != W0.shape[1]:
        raise ArgumentError(
            f"learning.fit: data must have shape (N, {W0.shape[1]}) to match W0 {W0.shape}, got {data.shape}. "
            "Flatten the samples first, e.g. data.reshape(len(data), -1)."
        )
    epochs = parse_int(epochs, "learning.fit: epochs", minimum=0, error=ArgumentError)
    batch_size = parse_int(
        batch_size,
        "learning.fit: batch_size",
        minimum=1,
        maximum=data.shape[0],
        error=ArgumentError,
        hint=f" The data hold {data.shape[0]} samples.",
    )
    show_progress = parse_bool(show_progress, "learning.fit: show_progress", error=ArgumentError)
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise ArgumentError(
            f"learning.fit: key must be a PRNG key such as jax.random.key(0), got {type(key).__name__}."
        )
    schedule = _schedule(lr_schedule)
    data = data.astype(W0.dtype)
    stateful = state0 is not None
    per_epoch = data.shape[0] // batch_size

    def update(carry, batch):
        W, state, step = carry
        lr = jnp.asarray(schedule(step), W.dtype)
        if stateful:
            dW, state = rule(W, state, batch, lr=lr)
        else:
            dW = rule(W, batch, lr=lr)
        if jnp.shape(dW) != W.shape:
            raise ArgumentError(
                f"learning.fit: the rule returned an update of shape {jnp.shape(dW)} for W of shape {W.shape}; a "
                "rule returns ΔW with W's shape (or (ΔW, state) when fit is given state0)."
            )
        return (W + dW, state, step + 1), (jnp.max(jnp.abs(dW)), lr)

    @jax.jit
    def epoch_step(W, state, epoch, data, key):  # data and key are arguments, not constants of the program
        order = jax.random.permutation(jax.random.fold_in(key, epoch), data.shape[0])[: per_epoch * batch_size]
        batches = data[order].reshape(per_epoch, batch_size, data.shape[1])
        (W, state, _), (sizes, rates) = jax.lax.scan(update, (W, state, epoch * per_epoch), batches)
        return W, state, jnp.mean(sizes), rates[-1], jnp.max(jnp.abs(W))

    W, state = W0, state0
    sizes, rates, norms = [], [], []
    bar = progress(range(epochs), desc="learning", enable=show_progress)
    for epoch in bar:
        W, state, size, rate, norm = epoch_step(W, state, jnp.asarray(epoch), data, key)
        sizes.append(float(size))
        rates.append(float(rate))
        norms.append(float(norm))
        bar.set_postfix(update=sizes[-1], lr=rates[-1])
    bar.close()
    history = FitHistory(np.asarray(sizes), np.asarray(rates), np.asarray(norms))
    return FitResult(W, state, history, epochs * per_epoch)
