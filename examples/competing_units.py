"""Learn digit features without backpropagation: Krotov & Hopfield's competing hidden units on MNIST-5k.

Krotov & Hopfield (PNAS 2019, "Unsupervised learning by competing hidden units") train a
layer of hidden units with a local rule: for each digit, the unit with the largest current
moves towards the digit (Hebbian), the k-th strongest is pushed away (anti-Hebbian, strength
Δ), and every row of W drifts onto the unit p-sphere. No labels, no gradients.
``hg.learning.competing_units`` is that rule and ``hg.learning.fit`` the epoch loop.

Then the same supervised readout (a softmax classifier on standardised features, trained with
adam on the 4000 training digits) is trained on three inputs, and scored on the 1000 test
digits:

- learned: the learned units' rectified-power activations ``relu(I)^n``, with currents
  ``I_μ = Σ_i sgn(W_μi)|W_μi|^{p−1} v_i`` (the paper's readout input, ``n = --power``);
- pixels: the 784 raw pixels;
- random: the same activations of as many random units (Gaussian rows scaled onto the unit
  p-sphere).

Settings (defaults; the paper's MNIST run in parentheses): 400 hidden units (2000), p = 3 (3),
k = 7 (7), Δ = 0.4 (0.4), minibatches of 100 digits, ε decaying linearly from 0.1 to 0 over
the run (ε₀ = 0.04 in the paper's code, over 120 000 updates of 100 digits), 50 epochs of the
4000 training digits = 2000 updates, initial weights N(0, 1) as in the paper's code; readout
power n = 4.5 (4.5; the paper trains its readout with its own loss, here it is the same softmax
readout for all three inputs). The receptive fields (rows of W as 28×28 images) are drawn to
``--out``/receptive_fields.png.

The last line printed is ``readout accuracy: learned X | pixels Y | random Z``.

Run:  python examples/competing_units.py [--hidden 400] [--epochs 50] [--out DIR]
Needs the ``data`` and ``examples`` extras: pip install hamux_graph[data,examples]
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hamux_graph as hg


def currents(W: jax.Array, x: jax.Array, p: float) -> jax.Array:
    """The currents ``I = x · (sgn(W)|W|^{p−1})ᵀ`` of every unit for every sample."""
    return x @ (jnp.sign(W) * jnp.abs(W) ** (p - 1.0)).T


def activations(W: jax.Array, x: jax.Array, p: float, power: float) -> jax.Array:
    """The rectified-power activations ``relu(I)^power`` (the paper's readout input)."""
    return jnp.maximum(currents(W, x, p), 0.0) ** power


@functools.partial(jax.jit, static_argnames=("steps",))
def train_readout(f_train: jax.Array, targets: jax.Array, *, steps: int) -> tuple[jax.Array, jax.Array]:
    """Softmax-regression weights on standardised features: adam, full batch, a small L2 penalty."""
    params = (jnp.zeros((f_train.shape[1], targets.shape[1])), jnp.zeros((1, targets.shape[1])))
    opt = optax.adam(1e-2)

    def loss(params):
        V, b = params
        log_probs = jax.nn.log_softmax(f_train @ V + b)
        return -jnp.mean(jnp.sum(targets * log_probs, axis=1)) + 1e-4 * jnp.sum(V * V)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return params


def readout_accuracy(f_train, y_train, f_test, y_test, *, steps: int) -> float:
    """Test accuracy of a softmax classifier trained on the standardised training features."""
    mean, std = f_train.mean(0, keepdims=True), f_train.std(0, keepdims=True) + 1e-6
    f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    targets = jax.nn.one_hot(y_train, int(y_train.max()) + 1)
    V, b = train_readout(f_train, targets, steps=steps)
    return float(jnp.mean(jnp.argmax(f_test @ V + b, axis=1) == y_test))


def draw_fields(W: np.ndarray, path: str, *, rows: int = 10, cols: int = 10) -> None:
    """The first ``rows × cols`` rows of W as 28×28 images (red positive, blue negative)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(rows * cols, len(W))
    rows = -(-n // cols)  # no empty rows for fewer units
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8))
    for i, ax in enumerate(np.ravel(axes)):
        ax.set_axis_off()
        if i < n:
            w = W[i].reshape(28, 28)
            vmax = float(np.max(np.abs(w))) or 1.0
            ax.imshow(w, cmap="bwr", vmin=-vmax, vmax=vmax)
    fig.suptitle("receptive fields of competing hidden units (MNIST-5k)")
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def main(argv=None) -> dict[str, float]:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hidden", type=int, default=400, help="hidden units")
    args.add_argument("--p", type=float, default=3.0, help="the Lebesgue norm of the weights")
    args.add_argument("--k", type=int, default=7, help="rank of the anti-Hebbian unit")
    args.add_argument("--delta", type=float, default=0.4, help="strength of the anti-Hebbian term")
    args.add_argument("--lr", type=float, default=0.1, help="initial rate eps0 (decays linearly to 0)")
    args.add_argument("--epochs", type=int, default=50, help="passes over the 4000 training digits")
    args.add_argument("--batch-size", type=int, default=100)
    args.add_argument("--power", type=float, default=4.5, help="readout activation relu(I)^power")
    args.add_argument("--readout-steps", type=int, default=300, help="adam steps of the softmax readout")
    args.add_argument("--train-size", type=int, default=None, help="use the first N training digits only")
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--out", default=os.path.join("out", "competing_units"))
    args.add_argument("--no-progress", action="store_true")
    args.add_argument("--no-figures", action="store_true")
    args = args.parse_args(argv)

    data = hg.datasets.mnist_5k(shape=(784,))
    x_train, y_train = data.x_train[: args.train_size], data.y_train[: args.train_size]
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    key_init, key_fit, key_random = jax.random.split(jax.random.key(args.seed), 3)

    W0 = jax.random.normal(key_init, (args.hidden, 784))
    per_epoch = len(x_train) // args.batch_size
    rule = functools.partial(hg.learning.competing_units, p=args.p, k=args.k, delta=args.delta)
    start = time.perf_counter()
    result = hg.learning.fit(
        rule,
        W0,
        x_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_schedule=optax.linear_schedule(args.lr, 0.0, max(1, args.epochs * per_epoch)),
        key=key_fit,
        show_progress=not args.no_progress,
    )
    W = jax.block_until_ready(result.W)
    learn_time = time.perf_counter() - start
    norms = np.sum(np.abs(np.asarray(W)) ** args.p, axis=1) ** (1 / args.p)
    on_sphere = float(np.mean(np.abs(norms - 1.0) <= 0.05))
    winners = np.unique(np.asarray(jnp.argmax(currents(W, jnp.asarray(x_train), args.p), axis=1)))
    print(
        f"learned {args.hidden} units (p={args.p:g}, k={args.k}, delta={args.delta:g}, eps0={args.lr:g} -> 0) with "
        f"{result.updates} updates of {args.batch_size} digits ({args.epochs} epochs of {len(x_train)}) in "
        f"{learn_time:.1f} s"
    )
    print(
        f"p-norms of the rows: median {np.median(norms):.3f}, {100 * on_sphere:.0f} % within 5 % of 1; "
        f"{len(winners)} units win at least one training digit"
    )

    W_random = jax.random.normal(key_random, (args.hidden, 784))
    W_random = W_random / jnp.sum(jnp.abs(W_random) ** args.p, axis=1, keepdims=True) ** (1 / args.p)
    x_tr = jnp.asarray(x_train)
    ytr = jnp.asarray(y_train)
    start = time.perf_counter()
    scores = {}
    for name, f_train, f_test in (
        ("learned", activations(W, x_tr, args.p, args.power), activations(W, x_test, args.p, args.power)),
        ("pixels", x_tr, x_test),
        ("random", activations(W_random, x_tr, args.p, args.power), activations(W_random, x_test, args.p, args.power)),
    ):
        scores[name] = readout_accuracy(f_train, ytr, f_test, y_test, steps=args.readout_steps)
    print(f"three softmax readouts ({args.readout_steps} adam steps each) in {time.perf_counter() - start:.1f} s")

    if not args.no_figures:
        os.makedirs(args.out, exist_ok=True)
        draw_fields(np.asarray(W), os.path.join(args.out, "receptive_fields.png"))
        print(f"receptive fields written to {args.out}/receptive_fields.png")
    print(
        f"readout accuracy: learned {scores['learned']:.4f} | pixels {scores['pixels']:.4f} | random {scores['random']:.4f}"
    )
    return scores


if __name__ == "__main__":
    main()
