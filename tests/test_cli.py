"""The hamux-graph command line: subprocess runs of the real entry points, and main() in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import hamux_graph as hg
from hamux_graph.cli import COMMANDS, main


BIN = Path(sys.executable).parent


def make_files(folder: Path):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((6,), beta=2.0))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    hg.write_graphml(ham, folder / "arch.graphml")
    model = ham.compile(key=jax.random.key(0))
    hg.save(model, folder / "model.hamux")
    (folder / "bad.graphml").write_text(
        (folder / "arch.graphml").read_text().replace(">DenseSynapse<", ">EvilSynapse<", 1)
    )
    return ham, model


def run(*args, script=False):
    cmd = [str(BIN / "hamux-graph")] if script else [sys.executable, "-m", "hamux_graph.cli"]
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, timeout=240)


# ---- subprocesses (each pays the import of jax: keep them few) ----------------------------------


def test_subprocess_info_and_bad_file(tmp_path):
    make_files(tmp_path)
    ok = run("info", str(tmp_path / "model.hamux"))
    assert ok.returncode == 0, ok.stderr
    assert "saved model" in ok.stdout and "Total parameters:  46" in ok.stdout  # 24 + 16 + 4 + 2
    bad = run("validate", str(tmp_path / "bad.graphml"))
    assert bad.returncode == 1 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in bad.stderr
    assert lines[0].startswith("hamux-graph: error: ") and "unknown Synapse type 'EvilSynapse'" in lines[0]


def test_subprocess_draw(tmp_path):
    make_files(tmp_path)
    out = run("draw", str(tmp_path / "arch.graphml"), "-o", str(tmp_path / "a.png"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_console_script_help(tmp_path):
    res = run("--help", script=True)
    assert res.returncode == 0
    for name in COMMANDS:
        assert name in res.stdout


# ---- in-process ---------------------------------------------------------------------------------------


def test_counts_in_info_are_the_models(tmp_path, capsys):
    # 4*6 (mem) + 4*4 (self) + 4 (bias) + 2 betas = 46
    make_files(tmp_path)
    assert main(["info", str(tmp_path / "arch.graphml")]) == 0
    out = capsys.readouterr().out
    assert "GraphML architecture" in out and "Total parameters:  46" in out


@pytest.mark.parametrize("command", ["info", "validate", "draw", "convert"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: hamux-graph " + command in capsys.readouterr().out


def test_validate_exit_codes(tmp_path, capsys):
    make_files(tmp_path)
    assert main(["validate", str(tmp_path / "arch.graphml")]) == 0
    assert "OK:" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "model.hamux")]) == 0
    assert "weights match the architecture" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "bad.graphml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'mem'" in err
    assert main(["validate", str(tmp_path / "missing.graphml")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "trunc.hamux").write_bytes((tmp_path / "model.hamux").read_bytes()[:300])
    assert main(["info", str(tmp_path / "trunc.hamux")]) == 1
    assert "hamux-graph: error: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_convert_both_ways(tmp_path, capsys):
    ham, model = make_files(tmp_path)
    assert main(["convert", str(tmp_path / "model.hamux"), str(tmp_path / "back.graphml")]) == 0
    assert hg.read_graphml(tmp_path / "back.graphml").connections("self") == ("v", "v")
    assert main(["convert", str(tmp_path / "arch.graphml"), str(tmp_path / "new.hamux"), "--seed", "0"]) == 0
    new = hg.load(tmp_path / "new.hamux")
    # compiled with the same seed: the same parameters as compiling the HAM directly
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(model)):
        assert (a == b).all()
    assert "seed 0" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "model.hamux"), str(tmp_path / "c.hamux"), "--compress"]) == 0
    assert main(["validate", str(tmp_path / "c.hamux")]) == 1
    assert "--allow-compressed" in capsys.readouterr().err  # the CLI names its flag, not the keyword
    assert main(["validate", "--allow-compressed", str(tmp_path / "c.hamux")]) == 0


# ---- every flag gets its wrong values; messages name the flag ----

FLAG_CASES = [
    ("max-bytes-negative", ["info", "{g}", "--max-bytes", "-1"], "--max-bytes"),
    ("max-bytes-zero", ["validate", "{g}", "--max-bytes", "0"], "--max-bytes"),
    ("max-bytes-text", ["info", "{g}", "--max-bytes", "lots"], "--max-bytes"),
    ("dpi-zero", ["draw", "{g}", "-o", "{tmp}/x.png", "--dpi", "0"], "--dpi"),
    ("dpi-float", ["draw", "{g}", "-o", "{tmp}/x.png", "--dpi", "1.5"], "--dpi"),
    ("seed-text", ["convert", "{g}", "{tmp}/x.hamux", "--seed", "one"], "--seed"),
    ("epochs-zero", ["demo", "--epochs", "0"], "--epochs"),
    ("epochs-negative", ["demo", "--epochs", "-3"], "--epochs"),
    ("output-missing", ["draw", "{g}"], "-o/--output"),
    ("unknown-command", ["explode", "{g}"], "invalid choice"),
    ("unknown-flag", ["info", "{g}", "--frobnicate"], "unrecognized arguments"),
]


@pytest.mark.parametrize("case", FLAG_CASES, ids=lambda c: c[0])
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, case):
    make_files(tmp_path)
    _, argv, fragment = case
    argv = [a.format(g=tmp_path / "arch.graphml", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_output_names_are_exact_and_debug_is_accepted_anywhere(tmp_path, capsys):
    make_files(tmp_path)
    g = str(tmp_path / "arch.graphml")
    assert main(["draw", g, "-o", str(tmp_path / "noext")]) == 1
    err = capsys.readouterr().err
    assert "-o/--output" in err and "noext" in err and not (tmp_path / "noext.png").exists()
    assert main(["draw", g, "-o", str(tmp_path / "m.svg")]) == 0
    assert (tmp_path / "m.svg").exists() and "wrote " + str(tmp_path / "m.svg") in capsys.readouterr().out
    assert main(["info", g, "--debug"]) == 0 and main(["--debug", "info", g]) == 0
    with pytest.raises(FileNotFoundError):  # --debug after the subcommand shows the traceback too
        main(["info", str(tmp_path / "none.graphml"), "--debug"])
    ham = hg.HAM()
    hg.write_graphml(ham, tmp_path / "empty.graphml")
    assert main(["draw", str(tmp_path / "empty.graphml"), "-o", str(tmp_path / "e.png")]) == 1
    assert "no layers to draw" in capsys.readouterr().err


def test_validate_checks_a_saved_models_manifest(tmp_path, capsys):
    import json
    import zipfile

    make_files(tmp_path)
    src = tmp_path / "model.hamux"
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    m = json.loads(parts["manifest.json"])
    m["parameters"] = {"synapses/other/W": {"shape": [1], "dtype": "float32"}}
    parts["manifest.json"] = json.dumps(m).encode()
    bad = tmp_path / "bad.hamux"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, d in parts.items():
            zf.writestr(n, d)
    assert main(["validate", str(bad)]) == 1
    assert "manifest.json lists parameters that do not match" in capsys.readouterr().err


def test_convert_between_hif_safetensors_and_model_directories(tmp_path, capsys):
    from helpers.compare import assert_same_model

    ham, model = make_files(tmp_path)
    t = str(tmp_path)
    assert main(["convert", f"{t}/model.hamux", f"{t}/m.hif.json"]) == 0
    assert hg.read_hif(tmp_path / "m.hif.json").connections("self") == ("v", "v")
    assert main(["convert", f"{t}/model.hamux", f"{t}/m.safetensors"]) == 0
    assert_same_model(hg.load(tmp_path / "m.safetensors"), model)
    assert main(["convert", f"{t}/m.safetensors", f"{t}/dir/", "--no-drawing"]) == 0
    assert_same_model(hg.load_pretrained(tmp_path / "dir"), model)
    assert main(["convert", f"{t}/dir", f"{t}/back.hamux"]) == 0
    assert_same_model(hg.load(tmp_path / "back.hamux"), model)
    assert main(["convert", f"{t}/dir", f"{t}/back.graphml"]) == 0
    assert hg.read_graphml(tmp_path / "back.graphml").connections("mem") == ("v", "h")
    # an architecture input is compiled with the seed: the same parameters as compiling directly
    assert main(["convert", f"{t}/m.hif.json", f"{t}/new.safetensors", "--seed", "0"]) == 0
    assert_same_model(hg.load(tmp_path / "new.safetensors"), model)
    out = capsys.readouterr().out
    assert "wrote architecture (HIF)" in out and "wrote model directory" in out and "seed 0" in out
    assert main(["info", f"{t}/dir"]) == 0 and main(["validate", f"{t}/m.hif.json"]) == 0
    assert "valid HIF architecture: 2 layers, 2 synapses" in capsys.readouterr().out
    # an existing directory needs --overwrite (the CLI names its flag)
    assert main(["convert", f"{t}/model.hamux", f"{t}/dir/"]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["convert", f"{t}/model.hamux", f"{t}/dir", "--overwrite", "--no-drawing"]) == 0
    (tmp_path / "bad.hif.json").write_text('{"incidences": []}')
    assert main(["validate", f"{t}/bad.hif.json"]) == 1
    assert "not a hamux_graph architecture" in capsys.readouterr().err
