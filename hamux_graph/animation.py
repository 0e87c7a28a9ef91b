"""Dynamics pictures: a retrieval animation, states and energy converging over a run.

``animate_retrieval`` writes a GIF (matplotlib's Pillow writer; Pillow comes with
matplotlib): on top, a few samples' states frame by frame (images when they have two
axes, or an ``image_shape`` to reshape them to), under them the patterns they should reach
(``targets``) if given, and at the bottom the energy of every shown sample along the run
with a marker at the frame's step. Collect the frames by running a few steps at a time::

    frames, trace = [probe_states], [model.energy(xs)[None]]
    for _ in range(12):
        xs, e = model.run(xs, steps=5, dt=0.1)
        frames.append(model.activations(xs)["visible"]); trace.append(e[1:])

The file is written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from ._errors import ArgumentError, StateError
from ._internal.files import atomic_write
from ._internal.optional import require
from ._internal.parse import parse_float, parse_int


__all__ = ["animate_retrieval"]


def _images(a: np.ndarray, image_shape: Sequence[int] | None, lead: int, what: str) -> np.ndarray:
    """``a`` with each sample (after ``lead`` leading axes) reshaped to ``image_shape``."""
    if image_shape is None:
        return a
    shape = tuple(int(s) for s in image_shape)
    flat = a.reshape(a.shape[:lead] + (-1,))
    if flat.shape[-1] != math.prod(shape):
        raise StateError(f"{what}: samples have {flat.shape[-1]} values, which image_shape {shape} does not hold.")
    return flat.reshape(a.shape[:lead] + shape)


def animate_retrieval(
    frames: Float[ArrayLike, "frames batch *shape"],
    energies: Float[ArrayLike, "T ..."],
    path: str | os.PathLike,
    *,
    steps: Sequence[int] | Int[ArrayLike, " frames"] | None = None,
    targets: Float[ArrayLike, " batch *shape"] | None = None,
    image_shape: Sequence[int] | None = None,
    max_samples: int = 8,
    fps: float = 6.0,
    title: str | None = None,
    cmap: str = "gray",
    dpi: int = 80,
) -> None:
    """Write a GIF of states and energies converging during a run (module docstring).

    Args:
        frames: the states (or activations) of one layer at each frame, ``(F, B, *shape)``;
            a sample of two axes (or ``image_shape``) is shown as an image.
        energies: the energy at every step, ``(S + 1,)`` or ``(S + 1, B)`` (``model.run``'s
            trace), or one value per frame.
        path: the ``.gif`` file to write.
        steps: the step of each frame (default: evenly spaced over the trace).
        targets: the patterns the samples should reach, ``(B, *shape)``, shown under them.
        image_shape: shape to show each sample as (e.g. ``(8, 8)`` for 64 values).
        max_samples: at most this many samples are shown.
        fps: frames per second.
        title: a title over the animation.
        cmap: colormap of the images.
        dpi: resolution of the GIF.

    Raises:
        StateError: for arrays whose shapes do not fit together.
        ArgumentError: for ``fps``, ``max_samples`` or ``dpi`` out of range.
        ImportError: without matplotlib (the ``draw`` extra).

    Example:
        >>> import os, tempfile, numpy as np, hamux_graph as hg
        >>> frames = np.linspace(0, 1, 4)[:, None, None, None] * np.ones((4, 2, 3, 3))
        >>> path = os.path.join(tempfile.mkdtemp(), "run.gif")
        >>> hg.animate_retrieval(frames, np.linspace(0, -1, 4), path)
        >>> open(path, "rb").read(3)
        b'GIF'
    """
    fps = parse_float(fps, "fps", positive=True, error=ArgumentError)
    max_samples = parse_int(max_samples, "max_samples", minimum=1, error=ArgumentError)
    dpi = parse_int(dpi, "dpi", minimum=10, error=ArgumentError)
    f = np.asarray(frames, dtype=float)
    if f.ndim < 3:
        raise StateError(f"frames must have shape (frames, batch, *sample shape), got {f.shape}.")
    f = _images(f, image_shape, 2, "frames")
    if f.ndim == 3:  # vectors: one row each
        f = f[:, :, None, :]
    if f.ndim != 4:
        raise StateError(f"frames: samples of shape {f.shape[2:]} are not images; pass image_shape=(H, W).")
    n_frames, batch = f.shape[:2]
    e = np.asarray(energies, dtype=float)
    if e.ndim == 1:
        e = e[:, None]
    if e.ndim != 2 or e.shape[1] not in (1, batch):
        raise StateError(f"energies must have shape (steps+1,) or (steps+1, {batch}), got {np.shape(energies)}.")
    if steps is None:
        frame_steps = np.linspace(0, e.shape[0] - 1, n_frames).round().astype(int)
    else:
        frame_steps = np.asarray(steps, dtype=int)
    if frame_steps.shape != (n_frames,) or frame_steps.min() < 0 or frame_steps.max() >= e.shape[0]:
        raise StateError(
            f"steps must give one step in [0, {e.shape[0] - 1}] per frame ({n_frames}), got {frame_steps}."
        )
    t = None
    if targets is not None:
        t = _images(np.asarray(targets, dtype=float), image_shape, 1, "targets")
        if t.ndim == 2:
            t = t[:, None, :]
        if t.shape != f.shape[1:]:
            raise StateError(f"targets have shape {np.shape(targets)}, expected (batch,) + the frames' sample shape.")
    plt = require("matplotlib.pyplot", feature="hg.animate_retrieval")
    animation = require("matplotlib.animation", feature="hg.animate_retrieval")
    k = min(batch, max_samples)
    rows = 3 if t is not None else 2
    fig = plt.figure(figsize=(max(4.0, 1.1 * k), 1.2 * (rows - 1) + 2.0), dpi=dpi)
    grid = fig.add_gridspec(rows, k, height_ratios=[1.0] * (rows - 1) + [1.5])
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    ims = []
    for j in range(k):
        ax = fig.add_subplot(grid[0, j])
        ims.append(ax.imshow(f[0, j], cmap=cmap, vmin=lo, vmax=hi))
        ax.set_xticks([])
        ax.set_yticks([])
        if t is not None:
            ax2 = fig.add_subplot(grid[1, j])
            ax2.imshow(t[j], cmap=cmap, vmin=lo, vmax=hi)
            ax2.set_xticks([])
            ax2.set_yticks([])
            if j == 0:
                ax2.set_ylabel("target", fontsize=8)
        if j == 0:
            ax.set_ylabel("state", fontsize=8)
    ax_e = fig.add_subplot(grid[rows - 1, :])
    for j in range(min(e.shape[1], k)):
        ax_e.plot(np.arange(e.shape[0]), e[:, j], lw=1.0, alpha=0.8)
    ax_e.set_xlabel("step", fontsize=8)
    ax_e.set_ylabel("energy", fontsize=8)
    ax_e.tick_params(labelsize=7)
    marker = ax_e.axvline(frame_steps[0], color="#d62728", lw=1.0)
    head = fig.suptitle(f"{title + ' — ' if title else ''}step {frame_steps[0]}", fontsize=9)
    fig.tight_layout()

    def update(i):
        for j, im in enumerate(ims):
            im.set_data(f[i, j])
        marker.set_xdata([frame_steps[i], frame_steps[i]])
        head.set_text(f"{title + ' — ' if title else ''}step {frame_steps[i]}")
        return ims + [marker, head]

    anim = animation.FuncAnimation(fig, update, frames=n_frames, blit=False)
    target = os.fspath(path)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = os.path.join(tmp, "animation.gif")
        anim.save(scratch, writer=animation.PillowWriter(fps=fps), dpi=dpi)  # pyright: ignore[reportArgumentType]  # stubs say int; any fps > 0 works
        with open(scratch, "rb") as fh:
            data = fh.read()
    plt.close(fig)
    atomic_write(target, data)
