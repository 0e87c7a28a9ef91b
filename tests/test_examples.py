"""The example scripts run: quickstart, retrieve_digits, memory_zoo and capacity, on small settings.

``train_digits.py`` runs in ``tests/test_checkpoint.py`` (resumed training), ``train_mnist.py``
and ``complete_images.py`` in their own test files.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example(name):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_energy_never_increases_and_the_clamp_holds(capsys):
    _example("quickstart").main()
    out = capsys.readouterr().out
    assert "monotone: True" in out
    assert "input unchanged (clamped): True" in out
    falls = [line for line in out.splitlines() if line.startswith("energy fell from")]
    assert len(falls) == 1
    start, end = (float(w) for w in falls[0].replace(";", "").split()[3:6:2])
    assert end < start


def test_retrieve_digits_recovers_erased_digits(tmp_path):
    # 20 binarised digits in a modern Hopfield memory (beta = 1): their overlaps are far below
    # the stored norm, so a probe with 40 % of its pixels erased falls into its own basin
    acc = _example("retrieve_digits").main(["--memories", "20", "--steps", "30", "--out", str(tmp_path)])
    assert acc >= 0.95
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert (tmp_path / "energy.png").stat().st_size > 0


def test_memory_zoo_stored_digits_are_fixed_points(tmp_path):
    results = _example("memory_zoo").main(
        ["--memories", "5", "--probes", "2", "--features", "512", "--out", str(tmp_path)]
    )
    # an uncorrupted stored digit is a fixed point of the memories whose separation grows faster
    # than linearly in the overlap (dense, softmax, sparse and kernel memories); the classical
    # Hopfield network cannot hold correlated digits (its crosstalk is of the order of the signal),
    # and 512 random features are too few to approximate the Gaussian kernel: neither is asserted
    sharp = [n for n in results if not n.startswith(("classical", "random features"))]
    assert len(sharp) == 6
    for name in sharp:
        assert results[name][0] == 1.0, (name, results[name])
    assert (tmp_path / "accuracy.png").stat().st_size > 0


@pytest.mark.slow
def test_capacity_example_runs(tmp_path):
    curves = _example("capacity").main(["--N", "100", "--trials", "1", "--probes", "10", "--out", str(tmp_path)])
    for png in ("capacity.png", "census.png", "basins.png"):
        assert (tmp_path / png).stat().st_size > 0
    # below the critical load every rule retrieves (alpha = 0.05, 10 % of bits flipped), and the
    # pseudo-inverse rule still does at alpha = 0.3, far above Hebb's alpha_c = 0.138
    for rule in ("hebbian", "storkey", "pseudo_inverse"):
        assert float(curves[rule].overlap_mean[0]) >= 0.95, rule
    loads = np.asarray(curves["pseudo_inverse"].loads)
    at = int(np.argmin(np.abs(loads - 0.3)))
    assert float(curves["pseudo_inverse"].overlap_mean[at]) > float(curves["hebbian"].overlap_mean[at])
