"""Multiple-instance learning on MNIST bags: Hopfield pooling against mean and max pooling.

A bag is a set of 5 to 15 MNIST-5k digits, labelled positive when it holds at least one 9
(the MNIST-bags benchmark of Ilse, Tomczak & Welling, ICML 2018). Bags come from a seeded
generator: each bag is positive with probability 1/2; a negative bag draws its digits from
the non-9 digits, a positive one from all digits with one position replaced by a 9 if none
was drawn. Training bags use the 4000 training digits and test bags the 1000 test digits
(disjoint). Bags are padded to 15 instances by repeating their own digits (which leaves the
label unchanged and needs no mask).

Every model sees the same encoder: each digit becomes its first ``--features`` principal
components (fitted on the training digits, whitened). Then:

- Hopfield pooling: ``hg.zoo.create("hopfield_pooling", set_shape=(15, F), num_queries=1,
  zspace_dim=Z, num_classes=2)``: a learned query state attends over the bag with the
  modern-Hopfield update (one Euler step of the energy, ``dt = 1``), and a dense readout
  reads the pooled state (a second step). Trained with ``hg.train`` (adam, cross-entropy).
- mean pooling and max pooling: the same linear key map to ``Z`` dimensions per instance,
  the mean (or the maximum) over the bag, and a linear readout; trained the same way.

The held-out AUC (the probability that a random positive test bag scores above a random
negative one) is printed per model, then last ``AUC: hopfield X | mean Y | max Z``.

Run:  python examples/mnist_bags.py [--train-bags 1000] [--epochs 30] [--seed 0]
Needs the ``data`` extra: pip install hamux_graph[data]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hamux_graph as hg
from hamux_graph import train


MAX_SIZE = 15


def make_bags(
    features: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator, *, target: int = 9
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` bags of 5–15 instances (padded to 15 by repetition) and their 0/1 labels."""
    positives = np.flatnonzero(labels == target)
    negatives = np.flatnonzero(labels != target)
    bags = np.empty((count, MAX_SIZE, features.shape[1]), features.dtype)
    bag_labels = rng.integers(0, 2, size=count)
    for b in range(count):
        size = int(rng.integers(5, MAX_SIZE + 1))
        if bag_labels[b]:
            members = rng.choice(len(labels), size=size, replace=False)
            if not np.any(labels[members] == target):
                members[rng.integers(size)] = rng.choice(positives)
        else:
            members = rng.choice(negatives, size=size, replace=False)
        padded = np.concatenate([members, rng.choice(members, size=MAX_SIZE - size)])
        bags[b] = features[padded]
    return bags, bag_labels


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The ROC AUC: P(score of a random positive > that of a random negative), ties counting 1/2."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def pca_encoder(x_train: np.ndarray, dim: int):
    """The whitened projection onto the first ``dim`` principal components of ``x_train``."""
    mean = x_train.mean(axis=0)
    centred = (x_train - mean).astype(np.float64)
    variances, vectors = np.linalg.eigh(centred.T @ centred / len(x_train))  # ascending order
    top = np.argsort(variances)[::-1][:dim]
    projection = vectors[:, top] / np.sqrt(variances[top])
    return lambda x: ((x - mean) @ projection).astype(np.float32)


def fit_pooling_baseline(kind, bags, labels, test_bags, *, zspace_dim, epochs, batch_size, lr, key):
    """Mean or max pooling of a linear key map, then a linear readout; adam on the cross-entropy."""
    k_key, k_out = jax.random.split(key)
    params = {
        "Wk": 0.02 * jax.random.normal(k_key, (bags.shape[-1], zspace_dim)),
        "Wo": 0.02 * jax.random.normal(k_out, (zspace_dim, 2)),
        "b": jnp.zeros((1, 2)),
    }
    pool = {"mean": jnp.mean, "max": jnp.max}[kind]

    def logits(p, x):
        return pool(x @ p["Wk"], axis=1) @ p["Wo"] + p["b"]

    opt = optax.adam(lr)

    @jax.jit
    def step(p, state, x, y):
        loss, grads = jax.value_and_grad(lambda p: train.cross_entropy(logits(p, x), y))(p)
        updates, state = opt.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    state = opt.init(params)
    for epoch in range(epochs):
        for x, y in train.batches(bags, labels, batch_size=batch_size, key=jax.random.fold_in(key, epoch)):
            params, state, _ = step(params, state, x, y)
    return np.asarray(jax.nn.softmax(logits(params, jnp.asarray(test_bags)))[:, 1])


def main(argv=None) -> dict[str, float]:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--train-bags", type=int, default=1000)
    args.add_argument("--test-bags", type=int, default=500)
    args.add_argument("--features", type=int, default=64, help="principal components per digit (the encoder)")
    args.add_argument("--zspace-dim", type=int, default=16, help="key dimension Z of every model")
    args.add_argument("--queries", type=int, default=1, help="learned query states of Hopfield pooling")
    args.add_argument("--beta", type=float, default=None, help="inverse temperature (default 1/sqrt(Z))")
    args.add_argument("--stdinit", type=float, default=0.02, help="standard deviation of the initial weights")
    args.add_argument("--only-hopfield", action="store_true", help="skip the two baselines")
    args.add_argument("--epochs", type=int, default=30)
    args.add_argument("--batch-size", type=int, default=50)
    args.add_argument("--lr", type=float, default=3e-3)
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--no-progress", action="store_true")
    args = args.parse_args(argv)

    data = hg.datasets.mnist_5k(shape=(784,))
    encode = pca_encoder(data.x_train, args.features)
    rng = np.random.default_rng(args.seed)
    bags, labels = make_bags(encode(data.x_train), data.y_train, args.train_bags, rng)
    test_bags, test_labels = make_bags(encode(data.x_test), data.y_test, args.test_bags, rng)
    print(
        f"{args.train_bags} training bags ({labels.mean():.0%} positive) from the 4000 training digits, "
        f"{args.test_bags} test bags from the 1000 test digits; {args.features} principal components per digit"
    )
    key = jax.random.key(args.seed)
    results, times = {}, {}

    # Hopfield pooling: the zoo HAM, trained by backpropagation through its two Euler steps
    start = time.perf_counter()
    ham = hg.zoo.create(
        "hopfield_pooling",
        set_shape=(MAX_SIZE, args.features),
        num_queries=args.queries,
        zspace_dim=args.zspace_dim,
        num_classes=2,
        beta=args.beta,
        stdinit=args.stdinit,
    )
    model = ham.compile(key=jax.random.fold_in(key, 1))
    forward = dict(input="set", output="label", steps=2, dt=1.0)

    def loss_fn(m, x, y):
        return train.cross_entropy(train.forward(m, x, read="logits", **forward), y)

    opt = optax.adam(args.lr)
    step = train.make_train_step(opt, loss_fn)
    opt_state = train.init_opt_state(opt, model)
    bar = train.progress(range(args.epochs), desc="hopfield pooling", enable=not args.no_progress)
    for epoch in bar:
        for x, y in train.batches(bags, labels, batch_size=args.batch_size, key=jax.random.fold_in(key, 100 + epoch)):
            model, opt_state, loss = step(model, opt_state, x, y)
        bar.set_postfix(loss=float(loss))
    probs = train.forward(model, jnp.asarray(test_bags), read="activation", **forward)
    results["hopfield"] = auc(np.asarray(probs[:, 1]), test_labels)
    times["hopfield"] = time.perf_counter() - start

    for kind in () if args.only_hopfield else ("mean", "max"):
        start = time.perf_counter()
        scores = fit_pooling_baseline(
            kind,
            bags,
            labels,
            test_bags,
            zspace_dim=args.zspace_dim,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            key=jax.random.fold_in(key, 2),
        )
        results[kind] = auc(scores, test_labels)
        times[kind] = time.perf_counter() - start

    if args.only_hopfield:
        print(f"AUC: hopfield {results['hopfield']:.4f}")
        return results
    for name in ("hopfield", "mean", "max"):
        print(f"{name:>8} pooling: held-out AUC {results[name]:.4f} ({times[name]:.1f} s to train and score)")
    print(f"AUC: hopfield {results['hopfield']:.4f} | mean {results['mean']:.4f} | max {results['max']:.4f}")
    return results


if __name__ == "__main__":
    main()
