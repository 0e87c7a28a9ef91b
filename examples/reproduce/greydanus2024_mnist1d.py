"""MNIST-1D (Greydanus & Kobak 2024): the zoo's ``hn`` and a 1-D convolutional HAM.

Data: ``mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())``, generated offline (the
published 4000/1000 split of 40-sample signals, 10 classes). ``mnist1d.data.get_dataset`` is
never used: it downloads and unpickles.

Published baselines (the MNIST-1D paper's table): logistic regression 32 %, MLP 68 %
(two hidden layers), CNN 94 %, GRU 91 %.

Ours (every model trained with AdamW, lr 3e-3, weight decay 1e-4, batch 64, label smoothing
0.05, 60 epochs; the HAMs run 5 Euler steps of dt = 0.5 with the input clamped and read the
label layer's logits, as ``examples/train_digits.py`` does):

- ``hn``: ``hg.zoo.hn((40,), 10, nhid=256, hidden="repu", n=3)`` (rectified-cubic hidden
  memories, weight decay 1e-2: it overfits, 96 % training accuracy; with relu memories and
  weight decay 1e-4 it stays at 53–57 %);
- ``conv``: a 1-D convolutional HAM: input (40, 1) → ``ConvSynapseWithPool`` (kernel 5, 32
  channels, avg pool 2) → tanh features (20, 32) → a second one (kernel 5, 64 channels, avg
  pool 2) → tanh features (10, 64) → 256 relu hidden memories ↔ softmax label;
- ``mlp``: a one-hidden-layer ReLU MLP of ``hn``'s width (256), plain JAX, the same optimiser;
- ``logistic``: plain JAX logistic regression, the same optimiser.

Run:  python examples/reproduce/greydanus2024_mnist1d.py [--models hn conv mlp logistic] [--epochs 60]
Needs the ``mnist1d`` package (the ``data`` extra).
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


PUBLISHED = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}


def load():
    try:
        import mnist1d.data
    except ImportError as err:
        raise SystemExit("this script needs mnist1d: pip install hamux_graph[data]") from err
    ds = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
    f = np.float32
    return ds["x"].astype(f), ds["y"].astype(np.int32), ds["x_test"].astype(f), ds["y_test"].astype(np.int32)


def conv_ham_1d():
    ham = hg.HAM()
    ham.add_layer("input", hg.IdentityLayer((40, 1)))
    ham.add_layer("f1", hg.TanhLayer((20, 32)))
    ham.add_layer("f2", hg.TanhLayer((10, 64)))
    ham.add_layer("label", hg.SoftmaxLayer((10,), use_bias=True))
    ham.add_synapse(
        "conv1",
        hg.ConvSynapseWithPool((5,), pool_window=(2,), pool_stride=(2,), padding="SAME"),
        layers=("input", "f1"),
    )
    ham.add_synapse(
        "conv2", hg.ConvSynapseWithPool((5,), pool_window=(2,), pool_stride=(2,), padding="SAME"), layers=("f1", "f2")
    )
    stdinit = 0.5 / (np.sqrt(640) + np.sqrt(256))
    ham.add_synapse(
        "hidden",
        hg.DenseMatrixSynapseWithHiddenLayer(nhid=256, hidden_lagrangian=hg.LRelu(), stdinit=float(stdinit)),
        layers=("f2", "label"),
    )
    return ham


def train_ham(ham, data, epochs, seed=0, log=print, weight_decay=1e-4):
    Xtr, ytr, Xte, yte = data
    shape = ham.layers["input"].shape
    Xtr, Xte = Xtr.reshape((-1,) + shape), Xte.reshape((-1,) + shape)
    model = ham.compile(key=jax.random.key(seed))
    fwd = dict(steps=5, dt=0.5)

    def loss_fn(m, x, y):
        return train.cross_entropy(train.forward(m, x, read="logits", **fwd), y, label_smoothing=0.05)

    optimizer = optax.adamw(3e-3, weight_decay=weight_decay)
    spec = train.trainable(model, freeze_lagrangians=True)
    step = train.make_train_step(optimizer, loss_fn, filter_spec=spec)
    opt_state = train.init_opt_state(optimizer, model, spec)
    key = jax.random.key(seed + 1)
    best = 0.0
    for epoch in range(epochs):
        for xb, yb in train.batches(Xtr, ytr, batch_size=64, order=train.epoch_order(key, epoch, len(Xtr))):
            model, opt_state, _ = step(model, opt_state, xb, yb)
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            acc = train.accuracy(model, Xte, yte, **fwd)
            best = max(best, acc)
            log(f"  epoch {epoch + 1}: test accuracy {acc:.4f}")
    return train.accuracy(model, Xte, yte, **fwd)


def train_plain(kind, data, epochs, seed=0, log=print):
    """Logistic regression or a one-hidden-layer MLP (width 256) in plain JAX."""
    Xtr, ytr, Xte, yte = data
    k1, k2 = jax.random.split(jax.random.key(seed))
    if kind == "logistic":
        params = {"W": jnp.zeros((40, 10)), "b": jnp.zeros(10)}

        def logits(p, x):
            return x @ p["W"] + p["b"]
    else:
        params = {
            "W1": jax.random.normal(k1, (40, 256)) * np.sqrt(2 / 40),
            "b1": jnp.zeros(256),
            "W2": jax.random.normal(k2, (256, 10)) * np.sqrt(1 / 256),
            "b2": jnp.zeros(10),
        }

        def logits(p, x):
            return jax.nn.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    optimizer = optax.adamw(3e-3, weight_decay=1e-4)
    state = optimizer.init(params)

    @jax.jit
    def step(p, s, x, y):
        def loss(q):
            return train.cross_entropy(logits(q, x), y, label_smoothing=0.05)

        g = jax.grad(loss)(p)
        u, s = optimizer.update(g, s, p)
        return optax.apply_updates(p, u), s

    key = jax.random.key(seed + 1)
    for epoch in range(epochs):
        for xb, yb in train.batches(Xtr, ytr, batch_size=64, order=train.epoch_order(key, epoch, len(Xtr))):
            params, state = step(params, state, xb, yb)
    return float(jnp.mean(jnp.argmax(logits(params, jnp.asarray(Xte)), axis=1) == jnp.asarray(yte)))


def run(models=("hn", "conv", "mlp", "logistic"), epochs=60, seed=0, log=print):
    data = load()
    out = {}
    for name in models:
        t = time.time()
        if name == "hn":
            hn = hg.zoo.hn((40,), 10, nhid=256, hidden="repu", n=3.0)
            out[name] = train_ham(hn, data, epochs, seed, log, weight_decay=1e-2)
        elif name == "conv":
            out[name] = train_ham(conv_ham_1d(), data, epochs, seed, log)
        else:
            out[name] = train_plain(name, data, epochs, seed, log)
        log(f"{name}: test accuracy {out[name]:.4f} ({epochs} epochs, {time.time() - t:.0f} s)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["hn", "conv", "mlp", "logistic"])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = run(args.models, args.epochs, args.seed)
    print("\nmodel      published   hamux_graph")
    rows = [("logistic", "logistic"), ("mlp", "mlp"), ("cnn", "conv"), ("gru", None), ("hn", "hn")]
    for paper, ours in rows:
        pub = f"{100 * PUBLISHED[paper]:.0f} %" if paper in PUBLISHED else "—"
        mine = f"{100 * out[ours]:.1f} %" if ours in out else "—"
        label = {"mlp": "mlp (ours: 1 hidden layer)", "cnn": "cnn (ours: conv HAM)"}.get(paper, paper)
        print(f"{label:28s} {pub:>6s}   {mine:>8s}")


if __name__ == "__main__":
    main()
