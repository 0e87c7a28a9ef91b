"""Model directories: bit-exact round trips, the card and config, refused parts, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

import hamux_graph as hg
import hamux_graph.formats.pretrained as pretrained
from hamux_graph.formats.safetensors import parse_safetensors, safetensors_bytes

from helpers import zoo_models
from helpers.compare import assert_same_model


def sha256(data):
    return hashlib.sha256(data).hexdigest()


PARTS = ["README.md", "config.json", "model.graphml", "model.safetensors"]


@pytest.mark.parametrize("name", zoo_models.zoo_names())
def test_every_zoo_model_round_trips_bit_exactly(name, tmp_path):
    model = zoo_models.random_model(name)
    folder = tmp_path / name
    hg.save_pretrained(model, folder, draw=False)
    assert sorted(os.listdir(folder)) == PARTS
    assert_same_model(hg.load_pretrained(folder), model)


def test_the_parts_say_what_they_hold(tmp_path):
    model = zoo_models.random_model("energy_attn")
    folder = tmp_path / "attn"
    hg.save_pretrained(model, folder)
    assert sorted(os.listdir(folder)) == sorted(PARTS + ["topology.png"])
    assert (folder / "topology.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "model.graphml").read_bytes() == hg.formats.graphml_bytes(model.plan())
    arrays, meta = parse_safetensors((folder / "model.safetensors").read_bytes(), "w")
    assert meta["architecture_graphml"].encode() == (folder / "model.graphml").read_bytes()
    config = json.loads((folder / "config.json").read_text())
    names = hg.parameter_names(model)
    assert config["parameters"] == {n: {"shape": list(s), "dtype": d} for n, (s, d) in names.items()}
    assert config["format"] == "hamux_graph-pretrained" and config["format_version"] == 1
    assert config["hamux_graph_version"] == hg.__version__
    assert set(config["files"]) == {"README.md", "model.graphml", "model.safetensors", "topology.png"}
    card = (folder / "README.md").read_text()
    count = sum(int(a.size) for a in arrays.values())
    assert f"| parameters | {count:,} (" in card
    assert "![the architecture" in card and "(topology.png)" in card
    assert "LLayerNorm(" in card and "LSoftmax(" in card and "LIdentity(" in card
    assert "| `self_attn` | SelfAttentionSynapse | tokens |" in card
    assert 'hg.load_pretrained("path/to/this/directory")' in card and hg.__version__ in card
    assert_same_model(hg.load_pretrained(folder), model)


def _saved(tmp_path, name="hn"):
    folder = tmp_path / name
    hg.save_pretrained(zoo_models.random_model(name), folder, draw=False)
    return folder


@pytest.mark.parametrize("part", PARTS)
def test_a_missing_part_is_refused_by_name(tmp_path, part):
    folder = _saved(tmp_path)
    os.remove(folder / part)
    with pytest.raises(hg.FormatError, match=f"has no {re.escape(part)}"):
        hg.load_pretrained(folder)


def test_mismatched_parts_are_refused_by_name(tmp_path):
    other = _saved(tmp_path, "hn_softmax")
    cases = {
        "model.graphml": (other / "model.graphml").read_bytes(),
        "model.safetensors": (other / "model.safetensors").read_bytes(),
        "README.md": b"# edited\n",
    }
    for part, data in cases.items():
        folder = _saved(tmp_path / part)
        (folder / part).write_bytes(data)
        with pytest.raises(hg.FormatError, match=f"{re.escape(part)}: the part does not match the SHA-256"):
            hg.load_pretrained(folder)


def test_parts_that_disagree_even_with_matching_hashes_are_refused(tmp_path):
    # a consistent-looking config (hashes recomputed) over parts from two models
    folder = _saved(tmp_path)
    other = _saved(tmp_path, "hn_softmax")
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["files"]["model.safetensors"] = sha256((folder / "model.safetensors").read_bytes())
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hg.FormatError, match=r"model\.safetensors: its __metadata__ does not hold the architecture"):
        hg.load_pretrained(folder)
    # the parameter table of the config must be the architecture's
    folder = _saved(tmp_path / "b")
    config = json.loads((folder / "config.json").read_text())
    config["parameters"].pop("layers/label/bias")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hg.FormatError, match=r"config\.json: its parameter table does not match model\.graphml"):
        hg.load_pretrained(folder)
    # weights whose metadata names the right architecture but whose tensors are another's
    folder = _saved(tmp_path / "c")
    arrays, meta = parse_safetensors((folder / "model.safetensors").read_bytes(), "w")
    arrays.pop("layers/label/bias")
    data = safetensors_bytes(arrays, meta)
    (folder / "model.safetensors").write_bytes(data)
    config = json.loads((folder / "config.json").read_text())
    config["files"]["model.safetensors"] = sha256(data)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hg.FormatError, match=r"model\.safetensors: the weights do not match the architecture"):
        hg.load_pretrained(folder)


def test_a_bad_config_or_a_file_is_refused(tmp_path):
    folder = _saved(tmp_path)
    for text, match in [
        ('{"format": "x"}', r"config\.json: format is 'x'"),
        ('{"format": "hamux_graph-pretrained", "format_version": 7}', r"format_version 7 is not supported"),
        (
            '{"format": "hamux_graph-pretrained", "format_version": 1, "files": [], "parameters": {}}',
            r"'files' must be",
        ),
        ('{"format": 1, "format": 2}', r"appears twice"),
    ]:
        (folder / "config.json").write_text(text)
        with pytest.raises(hg.FormatError, match=match):
            hg.load_pretrained(folder)
    with pytest.raises(hg.FormatError, match=r"does not exist"):
        hg.load_pretrained(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(hg.FormatError, match=r"is not a directory"):
        hg.load_pretrained(tmp_path / "file")
    folder = _saved(tmp_path / "d")
    config = json.loads((folder / "config.json").read_text())
    config["files"]["../escape"] = "0"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hg.FormatError, match=r"'files' names '\.\./escape', which is not a part name"):
        hg.load_pretrained(folder)


def test_the_directory_is_complete_or_absent(tmp_path, monkeypatch):
    model = zoo_models.random_model("hn")
    calls = []

    def failing_write(path, data):
        calls.append(os.path.basename(path))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        with open(path, "wb") as f:
            f.write(data)

    monkeypatch.setattr(pretrained, "atomic_write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        hg.save_pretrained(model, tmp_path / "m", draw=False)
    assert os.listdir(tmp_path) == []  # no directory, no staging folder left behind
    # an existing model directory survives a failed overwrite untouched
    monkeypatch.undo()
    hg.save_pretrained(model, tmp_path / "m", draw=False)
    before = {p: (tmp_path / "m" / p).read_bytes() for p in os.listdir(tmp_path / "m")}
    calls.clear()
    monkeypatch.setattr(pretrained, "atomic_write", failing_write)
    with pytest.raises(OSError):
        hg.save_pretrained(zoo_models.random_model("hn_relu"), tmp_path / "m", overwrite=True, draw=False)
    assert os.listdir(tmp_path) == ["m"]
    assert {p: (tmp_path / "m" / p).read_bytes() for p in os.listdir(tmp_path / "m")} == before


def test_existing_directories_and_overwrite(tmp_path):
    model = zoo_models.random_model("hn")
    other = zoo_models.random_model("hn_relu")
    (tmp_path / "empty").mkdir()
    hg.save_pretrained(model, tmp_path / "empty", draw=False)  # an empty directory is filled
    with pytest.raises(FileExistsError, match=r"exists and is not empty; pass overwrite=True"):
        hg.save_pretrained(other, tmp_path / "empty", draw=False)
    hg.save_pretrained(other, tmp_path / "empty", draw=False, overwrite=True)
    assert_same_model(hg.load_pretrained(tmp_path / "empty"), other)
    assert sorted(os.listdir(tmp_path)) == ["empty"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match=r"a file of that name exists"):
        hg.save_pretrained(model, tmp_path / "afile", draw=False)


@pytest.mark.bad_arguments
def test_an_architecture_is_not_a_model(tmp_path):
    with pytest.raises(hg.ValidationError, match=r"expects a compiled model"):
        hg.save_pretrained(zoo_models.ham("hn"), tmp_path / "x")


def _fields_of_later_issues() -> dict[str, hg.HAM]:
    """Small HAMs with the fields issues 23, 25 and 28 added after the formats: attention masks
    (causal and a boolean array), simplicial memories and ``layer_energy=False``."""
    import numpy as np

    hams = {}
    rng = np.random.default_rng(0)
    mask = rng.random((5, 5)) < 0.5
    np.fill_diagonal(mask, True)
    for name, value in {"causal": "causal", "array": mask}.items():
        ham = hg.HAM()
        ham.add_layer("tokens", hg.Layer(hg.LLayerNorm(), shape=(5, 4), layer_energy=name == "causal"))
        ham.add_synapse("attention", hg.SelfAttentionSynapse(num_heads=1, zspace_dim=3, mask=value), layers=("tokens",))
        hams[f"mask_{name}"] = ham
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((6,)))
    simplices = [[0, 1], [2, 3, 4], [1, 4, 5]]
    ham.add_synapse("memory", hg.SimplicialMemorySynapse(simplices), layers=("v",))
    hams["simplicial"] = ham
    return hams


@pytest.mark.parametrize("name", sorted(_fields_of_later_issues()))
def test_masks_simplices_and_layer_energy_survive_every_format(name, tmp_path):
    import jax

    ham = _fields_of_later_issues()[name]
    plan = ham.plan()
    hg.write_hif(ham, tmp_path / "a.hif.json")
    assert hg.read_hif(tmp_path / "a.hif.json").plan() == plan
    model = ham.compile(key=jax.random.key(1))
    hg.save(model, tmp_path / "m.safetensors")
    assert_same_model(hg.load(tmp_path / "m.safetensors"), model)
    hg.save_pretrained(model, tmp_path / "dir", draw=False)
    restored = hg.load_pretrained(tmp_path / "dir")
    assert_same_model(restored, model)
    assert restored.plan() == model.plan()


@pytest.mark.bad_arguments
@pytest.mark.parametrize("bad", [None, b"m", "", 3, "a\0b"])
def test_directories_must_be_paths(bad):
    model = zoo_models.random_model("hn")
    with pytest.raises(hg.ArgumentError, match=r"save_pretrained: directory must be a path"):
        hg.save_pretrained(model, bad, draw=False)
    with pytest.raises(hg.ArgumentError, match=r"load_pretrained: directory must be a path"):
        hg.load_pretrained(bad)


@pytest.mark.bad_arguments
def test_save_pretrained_flags_are_bools(tmp_path):
    model = zoo_models.random_model("hn")
    with pytest.raises(hg.ArgumentError, match=r"overwrite must be True or False, got 'no'"):
        hg.save_pretrained(model, tmp_path / "m", overwrite="no")
    assert not (tmp_path / "m").exists()
