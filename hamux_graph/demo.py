"""The end-to-end demo: ``python -m hamux_graph.demo [--out DIR]`` (or ``hamux-graph demo``).

In a couple of minutes on a laptop CPU it goes through the whole library on real data
(the scikit-learn handwritten digits, shipped with scikit-learn):

1. builds a dense Hopfield classifier from the zoo and prints its summary;
2. trains it with optax through the energy dynamics, with a progress bar;
3. reports the accuracy on a fixed held-out 25 % split;
4. stores binarised digits in a modern Hopfield memory and retrieves them from copies
   with 40 % of the pixels erased;
5. writes the GraphML architecture, the saved model, the topology drawings, an interactive
   page of the classifier, the plots and an animation of the retrieval into one folder
   (default ``out/demo/``);
6. reloads the saved model and checks that its predictions are identical.

Needs the ``examples`` extra (scikit-learn, matplotlib, tqdm):
``pip install hamux_graph[examples]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._internal.optional import import_if_installed, require
from ._internal.parse import parse_int_text


__all__ = ["run_demo", "main", "configure_parser", "run_from_args"]

FORWARD = {"steps": 5, "dt": 0.5}
DEFAULT_OUT = os.path.join("out", "demo")


def _pyplot() -> ModuleType | None:
    """matplotlib's pyplot on the Agg backend, or ``None`` without matplotlib (the figures are skipped)."""
    matplotlib = import_if_installed("matplotlib")
    if matplotlib is None:
        return None
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", feature="the demo's figures")


def run_demo(
    out: str | os.PathLike = DEFAULT_OUT,
    *,
    epochs: int = 30,
    nhid: int = 256,
    memories: int = 200,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run the demo and return its numbers and the files it wrote.

    Args:
        out: folder for every output file (created if needed).
        epochs: training epochs.
        nhid: hidden memories of the classifier.
        memories: digits stored in the associative memory.
        seed: seed of the weights and the data order.
        progress: show a progress bar while training.
        log: where the text goes (``print`` by default).

    Returns:
        ``{"test_accuracy", "train_seconds", "retrieval_accuracy", "reload_identical",
        "files"}``.

    Raises:
        ImportError: without scikit-learn (the ``examples`` extra).

    Example:
        >>> from hamux_graph.demo import run_demo
        >>> result = run_demo("out/demo", epochs=1, memories=20, progress=False, log=lambda s: None)  # doctest: +SKIP
    """
    import hamux_graph as hg
    from hamux_graph import train, zoo

    feature = "the demo (the scikit-learn digits)"
    datasets = require("sklearn.datasets", feature=feature)
    model_selection = require("sklearn.model_selection", feature=feature)
    plt = _pyplot()
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    files: list[str] = []
    t_start = time.perf_counter()

    def path(name: str) -> str:
        p = os.path.join(out, name)
        files.append(p)
        return p

    # ---- 1. a model from the zoo --------------------------------------------------------------
    X, y = datasets.load_digits(return_X_y=True)
    images = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)
    Xtr, Xte, ytr, yte = model_selection.train_test_split(images, y, test_size=0.25, random_state=0, stratify=y)
    ham = zoo.create("hn", input_shape=(8, 8), num_classes=10, nhid=nhid, hidden="relu")
    log("== 1. the model: zoo.create('hn') — a dense Hopfield classifier ==")
    log(ham.summary())

    # ---- 2. training ------------------------------------------------------------------------
    log(f"\n== 2. training on {len(ytr)} digits (optax adamw, gradients through {FORWARD['steps']} Euler steps) ==")
    model = ham.compile(key=jax.random.key(seed))

    def loss_fn(m, x, t):
        return train.cross_entropy(train.forward(m, x, read="logits", **FORWARD), t, label_smoothing=0.05)

    optimizer = optax.adamw(3e-3, weight_decay=1e-4)
    spec = train.trainable(model, freeze_lagrangians=True)
    step = train.make_train_step(optimizer, loss_fn, filter_spec=spec)
    opt_state = train.init_opt_state(optimizer, model, spec)
    history: dict[str, list[float]] = {"loss": [], "acc": []}
    key = jax.random.key(seed + 1)
    t0 = time.perf_counter()
    bar = train.progress(range(epochs), desc="training", enable=progress)
    for _ in bar:
        key, sub = jax.random.split(key)
        losses = []
        for xb, yb in train.batches(Xtr, ytr, batch_size=64, key=sub):
            model, opt_state, loss = step(model, opt_state, xb, yb)
            losses.append(loss)
        history["loss"].append(float(jnp.mean(jnp.stack(losses))))
        history["acc"].append(train.accuracy(model, Xte, yte, **FORWARD))
        bar.set_postfix(loss=round(history["loss"][-1], 4), acc=round(history["acc"][-1], 4))
    bar.close()
    train_seconds = time.perf_counter() - t0

    # ---- 3. test accuracy -------------------------------------------------------------------
    pred = np.asarray(train.predict(model, Xte, **FORWARD))
    test_acc = float(np.mean(pred == yte))
    log(f"\n== 3. test accuracy: {test_acc:.4f} on {len(yte)} held-out digits (trained in {train_seconds:.1f} s) ==")

    # ---- 4. associative retrieval ---------------------------------------------------------------
    rng = np.random.default_rng(seed)
    stored = np.where(X[rng.choice(len(X), memories, replace=False)] > 7, 1.0, -1.0).astype(np.float32)
    stored = stored.reshape(-1, 8, 8)
    probes = stored.reshape(memories, -1).copy()
    for row in probes:
        row[rng.choice(64, 26, replace=False)] = 0.0  # erase 40 % of the pixels
    probes = probes.reshape(stored.shape)
    memory_ham = zoo.create("modern_hopfield", patterns=stored, beta=1.0)
    memory = memory_ham.compile(key=jax.random.key(seed))
    retrieved, r_energies = zoo.recall(memory, probes, steps=60, dt=0.1)
    retrieved = np.sign(np.asarray(retrieved))
    exact = np.all(retrieved == stored, axis=(1, 2))
    retrieval_acc = float(exact.mean())
    log(
        f"\n== 4. associative memory: {memories} digits stored in zoo.create('modern_hopfield'); "
        f"from 40 % erased pixels, {retrieval_acc:.1%} retrieved exactly =="
    )

    # ---- 5. files ---------------------------------------------------------------------------
    log("\n== 5. writing files ==")
    hg.write_graphml(ham, path("classifier.graphml"))
    hg.write_graphml(memory_ham, path("memory.graphml"))
    again = hg.read_graphml(os.path.join(out, "classifier.graphml"))
    log(f"GraphML written and read back; same architecture: {again.summary() == ham.summary()}")
    model_file = path("classifier.hamux")
    hg.save(model, model_file)
    ham.to_html(path("classifier.html"), title="hn classifier (zoo.create('hn'))")
    if plt is not None:
        _figures(plt, hg, ham, memory_ham, model, history, Xte, stored, probes, retrieved, exact, r_energies, path)
        _retrieval_animation(hg, memory, stored, probes, path("retrieval.gif"))
    else:
        log("figures: skipped (matplotlib is not installed: pip install hamux_graph[draw])")

    # ---- 6. reload --------------------------------------------------------------------------
    reloaded = hg.load(model_file)
    pred2 = np.asarray(train.predict(reloaded, Xte, **FORWARD))
    identical = bool(np.array_equal(pred, pred2))
    log(f"\n== 6. reloaded {model_file}: predictions identical on all {len(pred)} test digits: {identical} ==")
    for f in files:
        log(f"  wrote {f}")
    log(f"done in {time.perf_counter() - t_start:.1f} s")
    return {
        "test_accuracy": test_acc,
        "train_seconds": train_seconds,
        "retrieval_accuracy": retrieval_acc,
        "reload_identical": identical,
        "files": files,
    }


def _retrieval_animation(
    hg, memory, stored, probes, gif, n=8, steps=60, shown=(0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 60)
):
    """States and energy converging for the first ``n`` probes: one Euler step at a time, the
    steps in ``shown`` as frames (most of the change happens in the first few)."""
    xs = memory.init_states(batch_size=n)
    xs["visible"] = jnp.asarray(probes[:n])
    frames = [np.asarray(memory.activations(xs)["visible"])]
    energies = [np.asarray(memory.energy(xs))[None]]
    for t in range(1, steps + 1):
        xs, e = memory.run(xs, steps=1, dt=0.1)
        energies.append(np.asarray(e[1:]))
        if t in shown:
            frames.append(np.asarray(memory.activations(xs)["visible"]))
    hg.animate_retrieval(
        np.stack(frames),
        np.concatenate(energies),
        gif,
        steps=list(shown),
        targets=stored[:n],
        title="retrieval from 40 % erased pixels",
        fps=3,
    )


def _figures(plt, hg, ham, memory_ham, model, history, Xte, stored, probes, retrieved, exact, r_energies, path):
    for h, name in ((ham, "classifier_topology.png"), (memory_ham, "memory_topology.png")):
        ax = h.draw()  # a figure sized to the graph, with a legend of the colours
        ax.figure.savefig(path(name), dpi=100, bbox_inches="tight")
        plt.close(ax.figure)

    hg.train.plot_history(history, path("training.png"))

    xs = model.init_states(batch_size=8)
    xs["input"] = jnp.asarray(Xte[:8])
    _, energies = model.run(xs, steps=30, dt=FORWARD["dt"], clamp=("input",))
    ax = _energy_axes(plt, hg, energies, "energy while classifying 8 test digits")
    ax.figure.savefig(path("classifier_energy.png"), dpi=100)
    plt.close(ax.figure)
    ax = _energy_axes(plt, hg, np.asarray(r_energies)[:, :40], "energy during retrieval (40 digits)")
    ax.figure.savefig(path("retrieval_energy.png"), dpi=100)
    plt.close(ax.figure)

    n = 12
    fig, axes = plt.subplots(3, n, figsize=(n * 0.9, 3.2))
    for j in range(n):
        for i, img in enumerate((stored[j], probes[j], retrieved[j])):
            axes[i, j].imshow(img, cmap="gray", vmin=-1, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[2, j].set_xlabel("ok" if exact[j] else "miss", fontsize=8, color="g" if exact[j] else "r")
    for i, name in enumerate(("stored", "40% erased", "retrieved")):
        axes[i, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path("retrieval.png"), dpi=100)
    plt.close(fig)


def _energy_axes(plt, hg, energies, title):
    ax = hg.plot_energy(energies, title=title)
    ax.set_xlabel("Euler step")
    ax.figure.tight_layout()
    return ax


def _at_least_one(text: str) -> int:
    """The argparse type of ``--epochs`` (argparse names the option in its message)."""
    return parse_int_text(text, "the value", minimum=1, error=argparse.ArgumentTypeError)


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the demo's options to an argparse parser (used by ``hamux-graph demo``)."""
    p.add_argument("--out", default=os.path.join("out", "demo"), help="output folder (default out/demo)")
    p.add_argument("--epochs", type=_at_least_one, default=30, help="training epochs (default 30, at least 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the demo from parsed arguments; 0 on success, 1 with a message otherwise."""
    try:
        result = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    except ImportError as err:
        print(f"hamux-graph demo: {err}", file=sys.stderr)
        return 1
    return 0 if result["reload_identical"] in (True, None) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hamux_graph.demo [--out DIR] [--epochs N]``."""
    p = argparse.ArgumentParser(
        prog="python -m hamux_graph.demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    configure_parser(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
