"""hg.animate_retrieval: a GIF of states and energies over a run (matplotlib's Pillow writer)."""

from __future__ import annotations

import os
import typing

import matplotlib


matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import hamux_graph as hg  # noqa: E402


def test_gif_has_one_frame_per_state(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.cumsum(rng.normal(size=(7, 5, 64)), axis=0)
    energies = np.cumsum(-np.abs(rng.normal(size=(31, 5))), axis=0)
    path = tmp_path / "run.gif"
    hg.animate_retrieval(
        frames,
        energies,
        path,
        steps=np.arange(0, 31, 5),
        targets=frames[-1],
        image_shape=(8, 8),
        max_samples=3,
        title="retrieval",
    )
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 7
    assert os.listdir(tmp_path) == ["run.gif"]  # written atomically: no temporary file left


@pytest.mark.bad_arguments
def test_shapes_that_do_not_fit_are_refused(tmp_path):
    frames = np.zeros((4, 2, 3, 3))
    with pytest.raises(hg.StateError, match="frames must have shape"):
        hg.animate_retrieval(np.zeros((4, 9)), np.zeros(4), tmp_path / "a.gif")
    with pytest.raises(hg.StateError, match=r"energies must have shape \(steps\+1,\) or \(steps\+1, 2\)"):
        hg.animate_retrieval(frames, np.zeros((4, 3)), tmp_path / "a.gif")
    with pytest.raises(hg.StateError, match="one step in"):
        hg.animate_retrieval(frames, np.zeros(4), tmp_path / "a.gif", steps=[0, 1, 2, 9])
    with pytest.raises(hg.StateError, match="image_shape"):
        hg.animate_retrieval(frames, np.zeros(4), tmp_path / "a.gif", image_shape=(2, 2))
    with pytest.raises(hg.StateError, match="targets have shape"):
        hg.animate_retrieval(frames, np.zeros(4), tmp_path / "a.gif", targets=np.zeros((2, 4, 4)))
    with pytest.raises(hg.ArgumentError, match=r"fps must be > 0, got 0.0"):
        hg.animate_retrieval(frames, np.zeros(4), tmp_path / "a.gif", fps=0)
    assert not os.listdir(tmp_path)


def test_shape_annotations_evaluate():
    hints = typing.get_type_hints(hg.animate_retrieval)
    # Float[ArrayLike, ...] is a union of one jaxtyping type per array kind, all with the same dims
    members = typing.get_args(hints["energies"]) or (hints["energies"],)
    assert {m.dim_str for m in members} == {"T ..."}
