"""Train a HAM classifier on the scikit-learn handwritten digits (8x8 images, 10 classes).

The model comes from the zoo as a graph, is compiled, and trained with optax by
backpropagating through a few steps of energy descent (the input layer clamped to the
image, the label layer read out). The held-out split is fixed: 25 % of the 1797 digits,
stratified, ``random_state=0``.

Models (``--model``):
    hn     dense Hopfield network, relu hidden memories (default; ~98 % in seconds);
           ``--hidden repu`` or ``--hidden softmax`` for the other 2022 families
    conv   conv + average pooling features, then hidden memories (``--pool max`` for max)
    attn   energy attention: conv patch tokens, self-attention, cross-attention to the label

Writes into ``--out`` (default ``out/train_digits/``): ``curves.png`` (loss and test
accuracy per epoch), ``confusion.png``, ``energy.png`` (energy during classification of a
few test digits) and, for ``hn``, ``memories.png`` (the learned hidden memories).

Resumable: with ``--checkpoint-dir DIR`` the whole training state (model, optimizer state,
step, RNG key, data order, loss history) is written there every ``--checkpoint-every``
steps (default: four times per epoch; it prints ``checkpoint step=N``), and a new run with
the same command continues from the newest complete checkpoint (``resumed from step=N``).
The data order of every epoch is a pure function of ``(seed, epoch)``, so a run killed and
resumed ends with exactly the parameters of an uninterrupted one. ``--save PATH`` writes
the trained model (``hg.save``).

Run:  python examples/train_digits.py [--model hn|conv|attn] [--epochs N] [--out DIR]
          [--checkpoint-dir DIR] [--checkpoint-every N] [--save PATH]
Needs the ``examples`` extra (and ``checkpoint`` for --checkpoint-dir):
pip install hamux_graph[examples,checkpoint]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hamux_graph as hg
from hamux_graph import train


DEFAULTS = {  # model -> (zoo name, zoo kwargs, epochs)
    "hn": ("hn", {"input_shape": (8, 8), "nhid": 256, "hidden": "relu"}, 30),
    "conv": ("conv_ham", {"input_shape": (8, 8, 1), "channels": 16, "nhid": 128}, 20),
    "attn": ("energy_attn", {"input_shape": (8, 8, 1), "dim": 32, "nhid": 128}, 20),
}


def load_data(input_shape):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:
        raise SystemExit("this example needs scikit-learn: pip install hamux_graph[examples]") from err
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape((-1,) + tuple(input_shape))
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(DEFAULTS), default="hn")
    p.add_argument(
        "--hidden", choices=["relu", "repu", "softmax"], default="relu", help="hidden Lagrangian of --model hn"
    )
    p.add_argument("--pool", choices=["avg", "max"], default="avg", help="pooling of --model conv")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--steps", type=int, default=5, help="Euler steps of the dynamics per forward pass")
    p.add_argument("--dt", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("out", "train_digits"))
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--checkpoint-dir", default=None, help="checkpoint here, and resume from the newest checkpoint")
    p.add_argument(
        "--checkpoint-every", type=int, default=None, help="steps between checkpoints (default: 4 per epoch)"
    )
    p.add_argument("--save", default=None, help="write the trained model to this file (hg.save)")
    args = p.parse_args(argv)

    name, kwargs, epochs = DEFAULTS[args.model]
    if args.model == "conv":
        kwargs = {**kwargs, "pool_type": args.pool}
    if args.model == "hn":
        kwargs = {**kwargs, "hidden": args.hidden}
    epochs = args.epochs or epochs
    Xtr, Xte, ytr, yte = load_data(kwargs["input_shape"])

    ham = hg.zoo.create(name, num_classes=10, **kwargs)
    print(ham.summary())
    model = ham.compile(key=jax.random.key(args.seed))

    fwd = dict(steps=args.steps, dt=args.dt)

    def loss_fn(m, x, y):
        return train.cross_entropy(train.forward(m, x, read="logits", **fwd), y, label_smoothing=0.05)

    optimizer = optax.adamw(args.lr, weight_decay=1e-4)
    spec = train.trainable(model, freeze_lagrangians=True)
    step = train.make_train_step(optimizer, loss_fn, filter_spec=spec)
    opt_state = train.init_opt_state(optimizer, model, spec)

    per_epoch = len(Xtr) // args.batch_size  # batches drops the last partial batch
    data_key = jax.random.key(args.seed + 1)  # epoch e shuffles with fold_in(data_key, e)
    state = train.TrainState(model, opt_state, step=0, key=data_key, info={"loss": [], "acc": [], "batch_losses": []})
    ckpt = None
    if args.checkpoint_dir:
        every = args.checkpoint_every or max(1, per_epoch // 4)
        ckpt = train.Checkpointer(args.checkpoint_dir, every=every, keep=3)
        restored = ckpt.restore(state)
        if restored is not None:
            state = restored
            print(f"resumed from step={state.step}", flush=True)
    model, opt_state, n_steps, history = state.model, state.opt_state, state.step, state.info
    first_epoch, first_batch = divmod(n_steps, per_epoch)
    if first_batch and state.order is not None:
        if not np.array_equal(state.order, train.epoch_order(state.key, first_epoch, len(Xtr))):
            raise SystemExit("the checkpoint's data order differs from this run's (another --seed or data?)")

    t0 = time.perf_counter()
    bar = train.progress(range(first_epoch, epochs), desc=f"train {args.model}", enable=not args.no_progress)
    for epoch in bar:
        order = train.epoch_order(state.key, epoch, len(Xtr))
        start = first_batch if epoch == first_epoch else 0
        for xb, yb in train.batches(Xtr, ytr, batch_size=args.batch_size, order=order, start=start):
            model, opt_state, loss = step(model, opt_state, xb, yb)
            n_steps += 1
            history["batch_losses"].append(float(loss))
            if n_steps % per_epoch == 0:  # the epoch is complete: record it
                history["loss"].append(float(np.mean(history["batch_losses"])))
                history["acc"].append(train.accuracy(model, Xte, yte, **fwd))
                history["batch_losses"] = []
                bar.set_postfix(loss=history["loss"][-1], acc=history["acc"][-1])
            if ckpt is not None and ckpt.save(train.TrainState(model, opt_state, n_steps, state.key, order, history)):
                print(f"checkpoint step={n_steps}", flush=True)
    if ckpt is not None and n_steps not in ckpt.steps():  # the end of training, whatever --checkpoint-every
        ckpt.save(train.TrainState(model, opt_state, n_steps, state.key, None, history), force=True)
        print(f"checkpoint step={n_steps}", flush=True)
    train_time = time.perf_counter() - t0

    acc = history["acc"][-1]
    print(
        f"\nmodel {args.model}: test accuracy {acc:.4f} on {len(yte)} held-out digits; "
        f"training took {train_time:.1f} s ({epochs} epochs)"
    )

    if args.save:
        hg.save(model, args.save)
        print(f"model written to {args.save}")
    if not args.no_figures:
        os.makedirs(args.out, exist_ok=True)
        save_figures(args, model, history, Xte, yte, fwd)
        print(f"figures written to {args.out}/")
    return acc


def save_figures(args, model, history, Xte, yte, fwd) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train.plot_history(history, os.path.join(args.out, "curves.png"))

    pred = np.asarray(train.predict(model, Xte, **fwd))
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (np.asarray(yte), pred), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7, color="k" if cm[i, j] < 20 else "w")
    ax.set(xlabel="predicted", ylabel="true", title="confusion (test)", xticks=range(10), yticks=range(10))
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "confusion.png"), dpi=100)
    plt.close(fig)

    xs = model.init_states(batch_size=8)
    xs["input"] = jnp.asarray(Xte[:8])
    _, energies = model.run(xs, steps=30, dt=fwd["dt"], clamp=("input",))
    ax = hg.plot_energy(energies, title="energy while classifying 8 test digits (input clamped)")
    ax.set_xlabel("Euler step")
    ax.figure.tight_layout()
    ax.figure.savefig(os.path.join(args.out, "energy.png"), dpi=100)
    plt.close(ax.figure)

    if args.model == "hn":
        W = np.asarray(model.synapse("hidden").Ws[0])  # (64, nhid)
        strongest = np.argsort(-np.linalg.norm(W, axis=0))[:32]
        fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
        lim = float(np.abs(W[:, strongest]).max())
        for ax, k in zip(axes.ravel(), strongest):
            ax.imshow(W[:, k].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.axis("off")
        fig.suptitle("hidden memories: input weights of the 32 strongest hidden units")
        fig.savefig(os.path.join(args.out, "memories.png"), dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main()
