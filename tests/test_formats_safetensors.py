"""safetensors: bit-exact zoo-wide round trips, cross-reads with the safetensors package, hostile files."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph.formats.safetensors import DTYPES, parse_safetensors, safetensors_bytes

from helpers import zoo_models
from helpers.compare import assert_same_model


BF16 = np.dtype(jnp.bfloat16)


def every_dtype():
    """One small array of every dtype the module stores, with awkward values (bf16 included)."""
    rng = np.random.default_rng(0)
    out = {}
    for name, dtype in DTYPES.items():
        if dtype == np.bool_:
            out[name] = rng.integers(0, 2, (3, 2)).astype(np.bool_)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            out[name] = np.array([[info.min, info.max], [0, 1], [7, info.max - 1]], dtype=dtype)
        else:
            out[name] = (rng.standard_normal((3, 2)) * 1e3).astype(dtype)
    out["scalar"] = np.array(2.5, np.float32)
    out["empty"] = np.zeros((0, 4), np.float64)
    return out


def header_of(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def raw(header, buffer=b"", pad=True, text=None):
    """A file from a header (dict, or raw text) and a data buffer."""
    body = text if text is not None else json.dumps(header).encode()
    if pad:
        body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body + buffer


# ---- round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", zoo_models.zoo_names())
def test_every_zoo_model_round_trips_bit_exactly(name, tmp_path):
    model = zoo_models.random_model(name)
    path = tmp_path / f"{name}.safetensors"
    hg.save(model, path)
    back = hg.load(path)
    assert_same_model(model, back)
    assert back.plan().connections == model.plan().connections
    # the file holds exactly the parameter names, in their dtypes, and the architecture
    arrays, meta = parse_safetensors(path.read_bytes(), str(path))
    names = hg.parameter_names(model)
    assert {n: (a.shape, str(a.dtype)) for n, a in arrays.items()} == names
    assert meta["format"] == "hamux_graph-model" and meta["format_version"] == "1"
    assert meta["architecture_graphml"].encode() == hg.formats.graphml_bytes(model.plan())


def test_the_layout_written_out_by_hand(tmp_path):
    # the specification, independently: u64 length, a JSON header, tensors by decreasing item size then name
    arrays = {"b": np.array([1, 2], np.int8), "a": np.array([0.5], np.float32), "c": np.array([3.0], np.float64)}
    data = safetensors_bytes(arrays, {"k": "v"})
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 and data[8 + n - 1 : 8 + n] in (b" ", b"}")
    header = json.loads(data[8 : 8 + n])
    assert header == {
        "__metadata__": {"k": "v"},
        "c": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
        "b": {"dtype": "I8", "shape": [2], "data_offsets": [12, 14]},
    }
    assert data[8 + n :] == struct.pack("<d", 3.0) + struct.pack("<f", 0.5) + bytes([1, 2])
    assert safetensors_bytes(arrays, {"k": "v"}) == data  # deterministic


def test_every_dtype_round_trips_bit_exactly():
    arrays = every_dtype()
    back, meta = parse_safetensors(safetensors_bytes(arrays, {"a": "b"}), "mem")
    assert meta == {"a": "b"} and set(back) == set(arrays)
    for name, arr in arrays.items():
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape, name
        assert back[name].tobytes() == arr.tobytes(), name


# ---- the safetensors package, both directions -----------------------------------------------------------


def test_the_safetensors_package_reads_our_files(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    arrays = every_dtype()
    path = tmp_path / "ours.safetensors"
    path.write_bytes(safetensors_bytes(arrays, {"note": "hamux"}))
    theirs = safetensors_numpy.load_file(str(path))
    assert set(theirs) == set(arrays)
    for name, arr in arrays.items():
        assert theirs[name].dtype == arr.dtype and theirs[name].tobytes() == arr.tobytes(), name
    with safetensors.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"note": "hamux"}
    # a saved model too: parameters under their names, the architecture in the metadata
    model = zoo_models.random_model("hn")
    hg.save(model, tmp_path / "m.safetensors")
    loaded = safetensors_numpy.load_file(str(tmp_path / "m.safetensors"))
    W = np.asarray(model.synapse("hidden").Ws[0])
    assert loaded["synapses/hidden/Ws/0"].tobytes() == W.tobytes()
    with safetensors.safe_open(str(tmp_path / "m.safetensors"), framework="np") as f:
        assert f.metadata()["format"] == "hamux_graph-model"


def test_we_read_files_the_safetensors_package_wrote(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = every_dtype()
    path = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata={"framework": "np"})
    back, meta = parse_safetensors(path.read_bytes(), str(path))
    assert meta == {"framework": "np"}
    for name, arr in arrays.items():
        assert back[name].dtype == arr.dtype and back[name].tobytes() == arr.tobytes(), name
    assert back["BF16"].dtype == BF16


def test_a_model_written_by_the_safetensors_package_loads(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = zoo_models.random_model("modern_hopfield")
    ours = tmp_path / "ours.safetensors"
    hg.save(model, ours)
    arrays, meta = parse_safetensors(ours.read_bytes(), str(ours))
    theirs = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(arrays, str(theirs), metadata=meta)
    assert_same_model(hg.load(theirs), model)


def test_bfloat16_parameters_are_refused_by_hamux_but_not_by_safetensors(tmp_path):
    model = zoo_models.random_model("hn")
    named = hg.formats.saving.parameter_arrays(model)
    cast = {n: a.astype(BF16) for n, a in named.items()}
    data = safetensors_bytes(cast)
    back, _ = parse_safetensors(data, "bf16")
    assert all(back[n].dtype == BF16 and back[n].tobytes() == cast[n].tobytes() for n in cast)


# ---- hostile and malformed files -------------------------------------------------------------------------


GOOD_HEADER = {
    "__metadata__": {"k": "v"},
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "I8", "shape": [2], "data_offsets": [8, 10]},
}
GOOD_BUFFER = struct.pack("<ff", 1.0, 2.0) + bytes([3, 4])


def _with(**entries):
    header = json.loads(json.dumps(GOOD_HEADER))
    for key, value in entries.items():
        if value is None:
            header.pop(key)
        else:
            header[key] = value
    return header


def _entry(**fields):
    entry = dict(GOOD_HEADER["a"])
    for key, value in fields.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    return entry


MALFORMED = [
    ("empty file", b"", r"0 bytes, too short"),
    ("seven bytes", b"\x01\x00\x00\x00\x00\x00\x00", r"7 bytes, too short"),
    (
        "header over the cap",
        struct.pack("<Q", 2**40) + b"{}",
        r"declares 1,099,511,627,776 bytes, more than max_header_bytes",
    ),
    ("header past the end", struct.pack("<Q", 64) + b"{}", r"declares 64 bytes, but the file has only 2"),
    ("header not an object", raw(None, text=b"[1, 2]  "), r"must be a JSON object starting with"),
    ("header not json", raw(None, text=b"{nope}"), r"not valid JSON"),
    ("header not utf-8", raw(None, text=b'{"\xff": 1}'), r"not UTF-8"),
    ("duplicate tensor", raw(None, text=b'{"a": {}, "a": {}}'), r"the key 'a' appears twice"),
    ("nan in header", raw(None, text=b'{"a": NaN}'), r"NaN is not a JSON number"),
    ("deep header", raw(None, text=b'{"a": [[[[[1]]]]]}'), r"nested 6 levels"),
    (
        "metadata not strings",
        raw(_with(__metadata__={"k": 1}), GOOD_BUFFER),
        r"__metadata__ must map strings to strings",
    ),
    ("metadata a list", raw(_with(__metadata__=["k"]), GOOD_BUFFER), r"__metadata__ must map strings to strings"),
    ("entry not an object", raw(_with(a=[1]), GOOD_BUFFER), r"tensor 'a': a header entry holds exactly"),
    (
        "entry without offsets",
        raw(_with(a=_entry(data_offsets=None)), GOOD_BUFFER),
        r"tensor 'a': a header entry holds",
    ),
    ("entry with an extra key", raw(_with(a=_entry(align=8)), GOOD_BUFFER), r"tensor 'a': a header entry holds"),
    ("unknown dtype", raw(_with(a=_entry(dtype="F8_E4M3")), GOOD_BUFFER), r"tensor 'a': dtype 'F8_E4M3' is not one of"),
    ("object dtype", raw(_with(a=_entry(dtype="O")), GOOD_BUFFER), r"dtype 'O' is not one of"),
    ("dtype not a string", raw(_with(a=_entry(dtype=4)), GOOD_BUFFER), r"dtype 4 is not one of"),
    (
        "negative dim",
        raw(_with(a=_entry(shape=[-2])), GOOD_BUFFER),
        r"tensor 'a': shape must be a list of non-negative",
    ),
    ("bool dim", raw(_with(a=_entry(shape=[True, 2])), GOOD_BUFFER), r"shape must be a list of non-negative"),
    ("float dim", raw(_with(a=_entry(shape=[2.0])), GOOD_BUFFER), r"shape must be a list of non-negative"),
    (
        "three offsets",
        raw(_with(a=_entry(data_offsets=[0, 4, 8])), GOOD_BUFFER),
        r"data_offsets must be \[begin, end\]",
    ),
    (
        "negative offset",
        raw(_with(a=_entry(data_offsets=[-8, 0])), GOOD_BUFFER),
        r"data_offsets must be \[begin, end\]",
    ),
    (
        "end before begin",
        raw(_with(a=_entry(data_offsets=[8, 0])), GOOD_BUFFER),
        r"span -8 bytes, but shape \[2\] of F32 needs 8",
    ),
    (
        "shape and bytes disagree",
        raw(_with(a=_entry(shape=[3])), GOOD_BUFFER),
        r"tensor 'a': data_offsets \[0, 8\] span 8 bytes, but shape \[3\]",
    ),
    (
        "huge shape",
        raw(_with(a=_entry(shape=[2**40, 2**40])), GOOD_BUFFER),
        r"shape \[1099511627776, 1099511627776\] of F32 needs",
    ),
    (
        "overlap",
        raw(_with(b={"dtype": "I8", "shape": [2], "data_offsets": [6, 8]}), GOOD_BUFFER[:8]),
        r"tensor 'b' starts at byte 6 and overlaps the tensor before it",
    ),
    (
        "gap",
        raw(_with(b={"dtype": "I8", "shape": [2], "data_offsets": [9, 11]}), GOOD_BUFFER + b"\x00"),
        r"tensor 'b' starts at byte 9 and leaves a gap",
    ),
    (
        "not starting at zero",
        raw(_with(a=_entry(data_offsets=[2, 10]), b=None), GOOD_BUFFER),
        r"tensor 'a' starts at byte 2",
    ),
    ("trailing bytes", raw(GOOD_HEADER, GOOD_BUFFER + b"xx"), r"cover 10 bytes of data, but the file holds 12"),
    ("truncated data", raw(GOOD_HEADER, GOOD_BUFFER[:9]), r"cover 10 bytes of data, but the file holds 9"),
    (
        "bool not 0 or 1",
        raw({"m": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02"),
        r"tensor 'm' is BOOL but holds",
    ),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_files_raise_one_format_error_naming_the_file(tmp_path, case):
    _, data, match = case
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(hg.FormatError, match=match) as info:
        parse_safetensors(path.read_bytes(), str(path))
    assert str(info.value).startswith(str(path))
    with pytest.raises(hg.FormatError):
        hg.load(path)


def test_the_good_file_of_the_malformed_cases_reads():
    arrays, meta = parse_safetensors(raw(GOOD_HEADER, GOOD_BUFFER), "good")
    assert arrays["a"].tolist() == [1.0, 2.0] and arrays["b"].tolist() == [3, 4] and meta == {"k": "v"}


def _saved(tmp_path, name="hn"):
    path = tmp_path / "m.safetensors"
    hg.save(zoo_models.random_model(name), path)
    arrays, meta = parse_safetensors(path.read_bytes(), str(path))
    return path, arrays, meta


def test_model_files_whose_metadata_or_tensors_do_not_fit_are_refused(tmp_path):
    path, arrays, meta = _saved(tmp_path)
    cases = [
        (arrays, {}, r"format=None, expected 'hamux_graph-model': a safetensors file of weights alone"),
        (arrays, {**meta, "format_version": "2"}, r"format_version '2' is not supported"),
        (arrays, {k: v for k, v in meta.items() if k != "architecture_graphml"}, r"no 'architecture_graphml'"),
        (arrays, {**meta, "architecture_graphml": "<graphml/>"}, r"__metadata__ architecture_graphml"),
        ({k: v for k, v in arrays.items() if "bias" not in k}, meta, r"missing parameters \['layers/label/bias'\]"),
        ({**arrays, "extra": np.zeros(2, np.float32)}, meta, r"unexpected parameters \['extra'\]"),
        (
            {**arrays, "layers/label/bias": arrays["layers/label/bias"].astype(np.float64)},
            meta,
            r"'layers/label/bias' is stored with shape \(3,\) and dtype float64",
        ),
    ]
    for new_arrays, new_meta, match in cases:
        path.write_bytes(safetensors_bytes(new_arrays, new_meta))
        with pytest.raises(hg.FormatError, match=match):
            hg.load(path)


@pytest.mark.bad_arguments
def test_save_refuses_what_safetensors_cannot_name():
    with pytest.raises(hg.FormatError, match=r"tensor 'z' has dtype complex64"):
        safetensors_bytes({"z": np.zeros(2, np.complex64)})
    with pytest.raises(hg.FormatError, match=r"'__metadata__' cannot name a tensor"):
        safetensors_bytes({"__metadata__": np.zeros(2, np.float32)})
    with pytest.raises(hg.FormatError, match=r"strings to strings"):
        safetensors_bytes({}, {"k": 1})  # type: ignore[dict-item]


def test_a_fuzz_run_raises_only_format_errors(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, os.path.join(here, "helpers", "fuzz_files.py"), str(tmp_path), "25", "safetensors,hif"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "fuzzed 100 files" in out.stdout


def test_the_architecture_alone_reads_from_a_safetensors_file(tmp_path):
    model = zoo_models.random_model("energy_attn")
    hg.save(model, tmp_path / "m.safetensors")
    plan = hg.formats.load_architecture_plan(tmp_path / "m.safetensors")
    assert plan.connections == model.plan().connections
    assert hg.formats.load_architecture(tmp_path / "m.safetensors").layers["tokens"].shape == (2, 2, 8)
