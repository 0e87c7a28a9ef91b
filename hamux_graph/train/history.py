"""Training histories as figures: loss and accuracy per epoch (matplotlib, imported when drawn)."""

from __future__ import annotations

from typing import Any

from .._internal.optional import require


__all__ = ["plot_history"]


def plot_history(history: dict[str, Any], path: Any = None) -> Any:
    """Training loss and test accuracy per epoch, side by side.

    Args:
        history: ``{"loss": [...], "acc": [...]}``, one entry per epoch.
        path: write the figure there (PNG at 100 dpi) and close it; ``None`` keeps it open.

    Returns:
        The matplotlib figure.

    Raises:
        ImportError: without matplotlib (``pip install hamux_graph[draw]``).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> fig = hg.train.plot_history({"loss": [1.0, 0.5], "acc": [0.6, 0.8]})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['training loss', 'test accuracy']
    """
    plt = require("matplotlib.pyplot", feature="hg.train.plot_history")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, len(history["loss"]) + 1)
    a1.plot(epochs, history["loss"], marker="o")
    a1.set(xlabel="epoch", ylabel="training loss", title="loss")
    a2.plot(range(1, len(history["acc"]) + 1), history["acc"], marker="o", color="C1")
    a2.set(xlabel="epoch", ylabel="test accuracy", title=f"test accuracy (final {history['acc'][-1]:.4f})")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
