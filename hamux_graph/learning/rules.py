"""Local learning rules: pure, jittable weight updates that need no backpropagation.

Every rule follows one contract, ``rule(W, x, *, lr, …) -> ΔW``:

- ``W`` has one row per neuron: shape ``(M, D)`` for ``M`` neurons on ``D`` inputs
  (``M = 1`` for a single neuron);
- ``x`` is a batch ``(B, D)`` (a single sample ``(D,)`` is a batch of one), and the update is
  the mean over the batch;
- the result is the update ``ΔW``, already multiplied by ``lr``, with ``W``'s shape; the new
  weights are ``W + ΔW``. It is not the new ``W``.

``W``, ``x`` and ``lr`` may be traced (``lr`` from a schedule, the whole rule inside
``jax.jit`` or ``lax.scan``), so the rules check shapes, never values. Rules with a state
(BCM's sliding threshold) return ``(ΔW, state_new)``.

To use a rule with optax, feed ``-ΔW`` to a transform as if it were a gradient (with
``lr=1.0``, letting the optax schedule scale it), or add ``ΔW`` directly. A learned ``W``
plugs into a HAM as an explicit synapse parameter: ``hg.DenseSynapse(W=W.T)`` between an
input layer ``(D,)`` (slot 0) and a hidden layer ``(M,)`` (slot 1).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._errors import ArgumentError
from .._internal.parse import parse_float, parse_int


__all__ = ["oja", "sanger", "bcm", "competing_units"]


def _weights_and_batch(rule: str, W: Any, x: Any) -> tuple[Array, Array]:
    """``W`` as ``(M, D)`` and ``x`` as ``(B, D)`` (a sample ``(D,)`` becomes a batch of one); shapes checked."""
    W, x = jnp.asarray(W), jnp.asarray(x)
    if W.ndim != 2:
        raise ArgumentError(
            f"learning.{rule}: W must have shape (M, D), one row per neuron (M = 1 for a single neuron), got "
            f"shape {W.shape}. Reshape a weight vector w with w[None, :]."
        )
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != W.shape[1]:
        raise ArgumentError(
            f"learning.{rule}: x must be a batch of shape (B, {W.shape[1]}) (or one sample ({W.shape[1]},)) to "
            f"match W of shape {W.shape}, got shape {x.shape}."
        )
    if x.shape[0] == 0:
        raise ArgumentError(f"learning.{rule}: x is an empty batch (shape {x.shape}); pass at least one sample.")
    dtype = jnp.result_type(W.dtype, x.dtype, float)
    return W.astype(dtype), x.astype(dtype)


def _lr(rule: str, lr: Any) -> Array:
    """``lr`` as a scalar array (traced values welcome; only the shape is checked)."""
    value = jnp.asarray(lr)
    if value.ndim != 0:
        raise ArgumentError(f"learning.{rule}: lr must be a scalar, got an array of shape {value.shape}.")
    return value


def oja(W: Float[ArrayLike, "..."], x: Float[ArrayLike, "..."], *, lr: Float[ArrayLike, "..."]) -> Float[Array, "m d"]:
    """Oja's rule: a Hebbian neuron whose weights converge to the top principal component.

    For each row ``w`` (one linear neuron, ``y = w·x``) the update is the batch mean of
    ``lr · y (x − y w)`` (E. Oja, "A simplified neuron model as a principal component
    analyzer", J. Math. Biology 15, 1982, eq. 3 in its small-rate form). For zero-mean
    inputs of covariance ``C`` the fixed points are the unit eigenvectors of ``C``, and only
    the top one is stable: ``w`` converges to ``±`` the top eigenvector with ``‖w‖ = 1``. Rows
    are independent neurons (all find the same component); for several components use
    ``sanger``.

    Args:
        W: weights ``(M, D)``, one row per neuron.
        x: a batch ``(B, D)`` (or one sample ``(D,)``), centred.
        lr: the learning rate (may be traced).

    Returns:
        ``ΔW`` of shape ``(M, D)``, scaled by ``lr``.

    Raises:
        ArgumentError: for shapes that do not fit.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> W = jnp.array([[0.6, 0.8]])
        >>> dW = hg.learning.oja(W, jnp.array([[1.0, 0.0]]), lr=0.5)  # y = 0.6: 0.5 * 0.6 * (x - 0.6 w)
        >>> [round(float(v), 4) for v in dW[0]]
        [0.192, -0.144]
    """
    W, x = _weights_and_batch("oja", W, x)
    lr = _lr("oja", lr)
    y = x @ W.T  # (B, M)
    hebb = y.T @ x / x.shape[0]  # mean of y x
    decay = jnp.mean(y * y, axis=0)[:, None] * W  # mean of y² w
    return lr * (hebb - decay)


def sanger(
    W: Float[ArrayLike, "..."], x: Float[ArrayLike, "..."], *, lr: Float[ArrayLike, "..."]
) -> Float[Array, "m d"]:
    """Sanger's generalised Hebbian algorithm: rows converge to the top ``M`` principal components, in order.

    With ``y = W x``, the update is the batch mean of ``lr · (y xᵀ − LT(y yᵀ) W)``, where
    ``LT`` keeps the lower triangle with the diagonal (T. D. Sanger, "Optimal unsupervised
    learning in a single-layer linear feedforward neural network", Neural Networks 2, 1989,
    eq. 3). Row ``i`` runs Oja's rule on the input with the components of rows ``0 … i−1``
    subtracted, so row ``i`` converges to the ``i``-th eigenvector of the input covariance
    (eigenvalues in decreasing order), with unit norm. With ``M = 1`` it is ``oja``.

    Args:
        W: weights ``(M, D)``, one row per component, ``M ≤ D``.
        x: a batch ``(B, D)`` (or one sample ``(D,)``), centred.
        lr: the learning rate (may be traced).

    Returns:
        ``ΔW`` of shape ``(M, D)``, scaled by ``lr``.

    Raises:
        ArgumentError: for shapes that do not fit.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> W = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> hg.learning.sanger(W, jnp.array([[1.0, 1.0]]), lr=0.1)  # y = (1, 1)
        Array([[0. , 0.1],
               [0. , 0. ]], dtype=float32)
    """
    W, x = _weights_and_batch("sanger", W, x)
    lr = _lr("sanger", lr)
    y = x @ W.T  # (B, M)
    hebb = y.T @ x / x.shape[0]
    yy = jnp.tril(y.T @ y / x.shape[0])
    return lr * (hebb - yy @ W)


def bcm(
    W: Float[ArrayLike, "..."],
    theta: Float[ArrayLike, "..."],
    x: Float[ArrayLike, "..."],
    *,
    lr: Float[ArrayLike, "..."],
    tau_theta: Float[ArrayLike, "..."],
) -> tuple[Float[Array, "m d"], Float[Array, " m"]]:
    """The BCM rule with a sliding threshold: neurons become selective to one input pattern.

    With ``y = W x`` (one linear response per neuron), the update is the batch mean of
    ``lr · y (y − θ) xᵀ``: inputs that drive a neuron above its threshold ``θ`` are
    strengthened, those below weakened (Bienenstock, Cooper & Munro, J. Neurosci. 2, 1982;
    here in the form of Intrator & Cooper, Neural Networks 5, 1992, eq. 2.3, with
    ``φ(y, θ) = y (y − θ)``). The threshold slides towards the mean squared response:
    ``θ_new = θ + (mean(y²) − θ) / tau_theta`` (``tau_theta ≥ 1`` updates; ``1`` sets it to
    this batch's mean). At a selective fixed point the neuron answers one pattern with
    ``y = θ`` and the others with ``y = 0``, and ``θ = E[y²]``.

    Args:
        W: weights ``(M, D)``, one row per neuron.
        theta: thresholds ``(M,)``, one per neuron.
        x: a batch ``(B, D)`` (or one sample ``(D,)``).
        lr: the learning rate (may be traced).
        tau_theta: the threshold's time constant, in updates (may be traced; ``≥ 1`` for a
            stable average).

    Returns:
        ``(ΔW, theta_new)``: the weight update ``(M, D)`` (scaled by ``lr``) and the new
        thresholds ``(M,)``.

    Raises:
        ArgumentError: for shapes that do not fit.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> dW, theta = hg.learning.bcm(jnp.array([[1.0, 0.0]]), jnp.array([0.5]), jnp.array([[2.0, 1.0]]),
        ...                             lr=0.1, tau_theta=2.0)
        >>> dW, theta  # y = 2: 0.1 * 2 * (2 - 0.5) * x;  theta + (4 - 0.5) / 2
        (Array([[0.6, 0.3]], dtype=float32), Array([2.25], dtype=float32))
    """
    W, x = _weights_and_batch("bcm", W, x)
    lr = _lr("bcm", lr)
    theta = jnp.asarray(theta, W.dtype)
    if theta.shape != (W.shape[0],):
        raise ArgumentError(
            f"learning.bcm: theta must have shape ({W.shape[0]},), one threshold per row of W {W.shape}, got "
            f"shape {theta.shape}."
        )
    tau = jnp.asarray(tau_theta, W.dtype)
    if tau.ndim != 0:
        raise ArgumentError(f"learning.bcm: tau_theta must be a scalar, got an array of shape {tau.shape}.")
    y = x @ W.T  # (B, M)
    phi = y * (y - theta[None, :])
    dW = lr * (phi.T @ x) / x.shape[0]
    theta_new = theta + (jnp.mean(y * y, axis=0) - theta) / tau
    return dW, theta_new


def competing_units(
    W: Float[ArrayLike, "..."],
    x: Float[ArrayLike, "..."],
    *,
    lr: Float[ArrayLike, "..."],
    p: float = 2.0,
    k: int = 2,
    delta: float = 0.4,
    precision: float = 1e-30,
) -> Float[Array, "m d"]:
    """The Krotov–Hopfield rule: hidden units compete for inputs with Hebbian and anti-Hebbian plasticity.

    From D. Krotov & J. J. Hopfield, "Unsupervised learning by competing hidden units",
    PNAS 116 (16), 2019, eqs. 2–3 and their published minibatch form. For each sample ``v``
    the currents are ``I_μ = ⟨W_μ, v⟩_p = Σ_i sgn(W_μi) |W_μi|^{p−1} v_i``; the units are
    ranked by current, and ``g = 1`` for the strongest unit, ``g = −Δ`` for the ``k``-th
    strongest (anti-Hebbian) and ``g = 0`` for the rest. Summed over the batch,

        ds_μ = Σ_batch g_μ (v − I_μ W_μ),      ΔW = lr · ds / max(max |ds|, precision).

    (The batch sum and the batch mean give the same ``ΔW``, since the update is divided by
    its largest entry; the mean is used, as in every rule here.) The term ``−I_μ W_μ`` drives
    each row onto the unit ``p``-sphere, ``‖W_μ‖_p = 1``; the normalisation makes ``lr`` the
    largest entry's step.

    The paper's MNIST settings are 2000 units, ``p = 3``, ``k = 7``, ``Δ = 0.4`` with the rate
    decaying linearly to zero; its published code uses ``p = 2``, ``k = 2`` for 100 units.

    Args:
        W: weights ``(M, D)``, one row per hidden unit, ``M ≥ k``.
        x: a batch ``(B, D)`` (or one sample ``(D,)``).
        lr: the learning rate ``ε`` (may be traced).
        p: the Lebesgue norm of the weights (``p ≥ 2``).
        k: the rank of the unit that is pushed away (``2 ≤ k ≤ M``).
        delta: the strength ``Δ`` of the anti-Hebbian term (``≥ 0``).
        precision: the floor of the normaliser (``> 0``).

    Returns:
        ``ΔW`` of shape ``(M, D)``, scaled by ``lr``.

    Raises:
        ArgumentError: for shapes that do not fit or hyperparameters out of range.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> W = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> hg.learning.competing_units(W, jnp.array([[2.0, 1.0]]), lr=0.1, k=2, delta=0.5)  # currents 2, 1, 1.5
        Array([[ 0.    ,  0.1   ],
               [ 0.    ,  0.    ],
               [-0.0625, -0.0125]], dtype=float32)
    """
    W, x = _weights_and_batch("competing_units", W, x)
    lr = _lr("competing_units", lr)
    p = parse_float(p, "learning.competing_units: p", minimum=2.0, error=ArgumentError)
    k = parse_int(
        k,
        "learning.competing_units: k",
        minimum=2,
        maximum=W.shape[0],
        error=ArgumentError,
        hint=f" k ranks the {W.shape[0]} hidden units (rows of W).",
    )
    delta = parse_float(delta, "learning.competing_units: delta", nonnegative=True, error=ArgumentError)
    precision = parse_float(precision, "learning.competing_units: precision", positive=True, error=ArgumentError)
    currents = x @ (jnp.sign(W) * jnp.abs(W) ** (p - 1.0)).T  # (B, M)
    _, ranked = jax.lax.top_k(currents, k)  # (B, k), strongest first
    rows = jnp.arange(x.shape[0])
    g = jnp.zeros_like(currents).at[rows, ranked[:, 0]].set(1.0).at[rows, ranked[:, k - 1]].set(-delta)
    ds = (g.T @ x - jnp.sum(g * currents, axis=0)[:, None] * W) / x.shape[0]
    return lr * ds / jnp.maximum(jnp.max(jnp.abs(ds)), precision)
