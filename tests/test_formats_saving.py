"""Saved models: bit-exact parameters and runs, the documented layout, and bad weight files."""

from __future__ import annotations

import io
import json
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg

from helpers.compare import assert_same_model, structure
from helpers.synapses import ScaledBilinear


def every_type_ham():
    """One HAM with every Lagrangian and every synapse type (the new families when present)."""
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((5,), beta=2.5, tau=0.5))
    ham.add_layer("r", hg.RepuLayer((3,), n=3.0))
    ham.add_layer("e", hg.ExpLayer((3,), beta=0.5))
    ham.add_layer("x", hg.RexpLayer((3,), beta=1.5))
    ham.add_layer("s", hg.SigmoidLayer((3,), beta=2.0, scale=1.5, use_bias=True))
    ham.add_layer("i", hg.IdentityLayer((3,)))
    ham.add_layer("u", hg.ReluLayer((3,)))
    ham.add_layer("t", hg.LayerNormLayer((2, 3), gamma=1.5, delta=[0.1, 0.2, 0.3]))
    ham.add_layer("q", hg.SphericalNormLayer((2, 3), axis=0, eps=1e-3))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    ham.add_synapse("self", hg.SimpleDenseSynapse(stdinit=0.1), layers=("v", "v"))
    ham.add_synapse("tri", hg.DenseSynapse(), layers=("r", "e", "r"))
    ham.add_synapse(
        "ten",
        hg.DenseTensorSynapseWithHiddenLayer(nhid=3, num_heads=2, hidden_lagrangian=hg.LSoftmax(beta=2.0)),
        layers=("x", "s"),
    )
    ham.add_synapse("mat", hg.DenseMatrixSynapseWithHiddenLayer(nhid=4, do_norm=True), layers=("i", "u", "t"))
    ham.add_synapse("usr", ScaledBilinear(scale=0.5, squash=hg.LTanh(beta=2.0)), layers=("q", "v"))
    ham.add_synapse("mem2", shares="mem", layers=("v", "h"))
    if hasattr(hg, "AttentionSynapse"):
        ham.add_synapse("att", hg.AttentionSynapse(num_heads=2, zspace_dim=2), layers=("t", "q"))
        ham.add_synapse("sat", hg.SelfAttentionSynapse(zspace_dim=2, do_qk_norm=True), layers="t")
        ham.add_synapse("mix", hg.BinaryMixerSynapse(num_heads=1, zspace_dim=2), layers=("t", "q"))
    if hasattr(hg, "ConvSynapse"):
        ham.add_layer("img", hg.TanhLayer((4, 4, 2)))
        ham.add_layer("fm", hg.ReluLayer((2, 2, 3)))
        ham.add_layer("pool", hg.ReluLayer((2, 2, 2)))
        ham.add_synapse("conv", hg.ConvSynapse(3, strides=2, padding="SAME"), layers=("img", "fm"))
        ham.add_synapse(
            "cpool",
            hg.ConvSynapseWithPool(3, pool_window=2, pool_stride=2, pool_type="max", use_bias=False),
            layers=("img", "pool"),
        )
    return ham


def perturbed(model, seed=1):
    """The model with every parameter moved off its initial value (done in numpy: no JAX compiles)."""
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda a: (
            jnp.asarray(np.asarray(a) + 0.01 * rng.standard_normal(a.shape).astype(a.dtype))
            if eqx.is_inexact_array(a)
            else a
        ),
        model,
    )


@pytest.fixture(scope="module")
def trained():
    """A model of every type with random parameters (drawn in numpy, built without JAX compiles)."""
    ham = every_type_ham()
    abstract = eqx.filter_eval_shape(lambda k: ham.compile(key=k), jax.random.key(0))
    rng = np.random.default_rng(0)
    return jax.tree_util.tree_map(
        lambda a: (
            jnp.asarray(rng.standard_normal(a.shape).astype(a.dtype)) if isinstance(a, jax.ShapeDtypeStruct) else a
        ),
        abstract,
    )


def test_save_load_bit_identical(tmp_path, trained):
    path = tmp_path / "m.hamux"
    hg.save(trained, path)
    loaded = hg.load(path)
    assert_same_model(trained, loaded)
    assert structure(loaded.to_ham()) == structure(trained.to_ham())
    # saving is deterministic: the same model gives the same bytes
    hg.save(loaded, tmp_path / "again.hamux")
    assert (tmp_path / "again.hamux").read_bytes() == path.read_bytes()


def test_loaded_model_runs_identically(tmp_path):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((6,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((5,), beta=2.0, tau=0.5, use_bias=True))
    ham.add_layer("l", hg.LayerNormLayer((3,), delta=[0.1, 0.0, -0.1]))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("cls", hg.DenseMatrixSynapseWithHiddenLayer(nhid=4), layers=("h", "l"))
    ham.add_synapse("mem2", shares="mem", layers=("v", "h"))
    model = perturbed(ham.compile(key=jax.random.key(3)))
    hg.save(model, tmp_path / "m.hamux")
    loaded = hg.load(tmp_path / "m.hamux")
    xs = model.init_states(batch_size=3, key=jax.random.key(2))
    (x1, e1), (x2, e2) = model.run(xs, steps=8, dt=0.05), loaded.run(xs, steps=8, dt=0.05)
    assert e1.shape == (9, 3)
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))
    for n in model.layer_names:
        np.testing.assert_array_equal(np.asarray(x1[n]), np.asarray(x2[n]))


def test_file_layout_is_plain_zip_npz_graphml(tmp_path, trained):
    path = tmp_path / "m.hamux"
    hg.save(trained, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["manifest.json", "model.graphml", "weights.npz"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        manifest = json.loads(zf.read("manifest.json"))
        weights = np.load(io.BytesIO(zf.read("weights.npz")), allow_pickle=False)
        graph = zf.read("model.graphml")
    assert manifest["format"] == "hamux_graph-model" and manifest["format_version"] == 1
    # every parameter, named by node; values equal the model's
    np.testing.assert_array_equal(weights["synapses/mem/W"], np.asarray(trained.synapse("mem").W))
    np.testing.assert_array_equal(weights["layers/v/bias"], np.asarray(trained.bias("v")))
    np.testing.assert_array_equal(weights["layers/t/lagrangian/delta"], np.asarray(trained.lagrangians[8].delta))
    assert weights["synapses/mat/Ws/2"].shape == (6, 4)
    assert "synapses/mem2/W" not in weights.files  # shared parameters are stored once
    n_leaves = sum(1 for a in jax.tree_util.tree_leaves(trained) if eqx.is_array(a))
    assert len(weights.files) == n_leaves == len(manifest["parameters"])
    assert set(weights.files) == set(hg.parameter_names(trained))
    # the GraphML member is an ordinary hamux_graph GraphML file
    (tmp_path / "arch.graphml").write_bytes(graph)
    assert structure(hg.read_graphml(tmp_path / "arch.graphml")) == structure(trained.to_ham())


def test_convert_between_model_and_graphml_keeps_learned_lagrangians(tmp_path, trained):
    hg.write_graphml(trained, tmp_path / "a.graphml")
    ham = hg.read_graphml(tmp_path / "a.graphml")
    assert float(ham.layers["v"].lagrangian.beta) == float(trained.lagrangians[0].beta)


def test_compressed_files_only_when_asked(tmp_path, trained):
    path = tmp_path / "c.hamux"
    hg.save(trained, path, compress=True)
    with pytest.raises(hg.FormatError, match="c.hamux: member 'manifest.json' is compressed.*allow_compressed=True"):
        hg.load(path)
    assert_same_model(trained, hg.load(path, allow_compressed=True))


@pytest.mark.bad_arguments
def test_save_rejects_non_models(tmp_path):
    with pytest.raises(hg.ValidationError, match="expects a compiled model"):
        hg.save(every_type_ham(), tmp_path / "x.hamux")


# ---- bad weight files --------------------------------------------------------------------------


def small(shape=(3,), use_bias=False, key=0):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer(shape, use_bias=use_bias))
    ham.add_layer("h", hg.SoftmaxLayer((4,)))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    return ham.compile(key=jax.random.key(key))


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(path, parts, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    return path


def npz(arrays, allow_pickle=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, a in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, np.asarray(a), allow_pickle=allow_pickle)
            zf.writestr(n + ".npy", b.getvalue())
    return buf.getvalue()


@pytest.fixture
def good(tmp_path):
    hg.save(small(), tmp_path / "good.hamux")
    return members(tmp_path / "good.hamux")


def test_weights_of_another_architecture(tmp_path, good):
    hg.save(small(shape=(5,)), tmp_path / "other.hamux")
    parts = dict(good, **{"weights.npz": members(tmp_path / "other.hamux")["weights.npz"]})
    with pytest.raises(
        hg.FormatError,
        match=r"bad.hamux: parameter 'synapses/mem/W' is stored with shape \(5, 4\).*needs shape \(3, 4\)",
    ):
        hg.load(rezip(tmp_path / "bad.hamux", parts))
    hg.save(small(use_bias=True), tmp_path / "bias.hamux")
    parts = dict(good, **{"weights.npz": members(tmp_path / "bias.hamux")["weights.npz"]})
    with pytest.raises(
        hg.FormatError,
        match=r"do not match the architecture: missing parameters \[\], unexpected parameters \['layers/v/bias'\]",
    ):
        hg.load(rezip(tmp_path / "bad.hamux", parts))


def weights_of(good):
    z = zipfile.ZipFile(io.BytesIO(good["weights.npz"]))
    return {n[:-4]: np.lib.format.read_array(io.BytesIO(z.read(n))) for n in z.namelist()}


def test_bad_arrays(tmp_path, good):
    w = weights_of(good)
    cases = [
        (
            dict(w, **{"synapses/mem/W": w["synapses/mem/W"].astype(np.float64)}),
            r"dtype float64.*needs shape \(3, 4\) and dtype float32",
        ),
        (dict(w, **{"synapses/mem/W": np.array([[object()] * 4] * 3, dtype=object)}), "dtype object"),
        ({k: v for k, v in w.items() if k != "synapses/mem/W"}, r"missing parameters \['synapses/mem/W'\]"),
    ]
    for i, (arrays, message) in enumerate(cases):
        data = npz(arrays, allow_pickle=True)
        with pytest.raises(hg.FormatError, match=message):
            hg.load(rezip(tmp_path / f"b{i}.hamux", dict(good, **{"weights.npz": data})))
    # a truncated array: the header promises more data than the member holds
    z = zipfile.ZipFile(io.BytesIO(good["weights.npz"]))
    raw = {n: z.read(n) for n in z.namelist()}
    raw["synapses/mem/W.npy"] = raw["synapses/mem/W.npy"][:-8]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for n, d in raw.items():
            out.writestr(n, d)
    with pytest.raises(hg.FormatError, match="'synapses/mem/W' holds 40 data bytes, expected 48"):
        hg.load(rezip(tmp_path / "t.hamux", dict(good, **{"weights.npz": buf.getvalue()})))


def test_bad_containers(tmp_path, good):
    (tmp_path / "text.hamux").write_text("hello")
    with pytest.raises(hg.FormatError, match="text.hamux: not a saved hamux_graph model"):
        hg.load(tmp_path / "text.hamux")
    with pytest.raises(hg.FormatError, match="missing the archive member 'weights.npz'"):
        hg.load(rezip(tmp_path / "m.hamux", {k: v for k, v in good.items() if k != "weights.npz"}))
    manifest = json.loads(good["manifest.json"])
    manifest["format_version"] = 9
    with pytest.raises(hg.FormatError, match="saved-model format_version 9 is not supported"):
        hg.load(rezip(tmp_path / "v.hamux", dict(good, **{"manifest.json": json.dumps(manifest)})))
    bad_graph = good["model.graphml"].replace(b">DenseSynapse<", b">EvilSynapse<")
    with pytest.raises(hg.FormatError, match=r"g.hamux!model.graphml: node 'mem': unknown Synapse type 'EvilSynapse'"):
        hg.load(rezip(tmp_path / "g.hamux", dict(good, **{"model.graphml": bad_graph})))
    with pytest.raises(hg.FormatError, match="more than max_bytes=1,000"):
        hg.load(rezip(tmp_path / "big.hamux", good), max_bytes=1000)


def test_zip_bomb_member_is_refused(tmp_path, good):
    bomb = b"\0" * 30_000_000
    parts = dict(good, **{"model.graphml": bomb})
    path = rezip(tmp_path / "bomb.hamux", parts, compress=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    with pytest.raises(hg.FormatError, match="bomb.hamux: member 'manifest.json' is compressed"):
        hg.load(path)
    with pytest.raises(
        hg.FormatError, match="member 'model.graphml' declares 30,000,000 bytes, more than the remaining max_bytes"
    ):
        hg.load(path, allow_compressed=True, max_bytes=1_000_000)


def test_architecture_too_big_for_its_weights_is_not_allocated(tmp_path, good):
    # a hostile architecture asking for a 10^12-entry weight matrix: shapes are checked
    # abstractly against the stored arrays, nothing that size is ever created
    graph = good["model.graphml"].replace(b">[3]<", b">[1000000]<").replace(b">[4]<", b">[1000000]<")
    with pytest.raises(
        hg.FormatError, match=r"'synapses/mem/W' is stored with shape \(3, 4\).*needs shape \(1000000, 1000000\)"
    ):
        hg.load(rezip(tmp_path / "huge.hamux", dict(good, **{"model.graphml": graph})))


def test_parameter_dtype_must_match_the_architecture(tmp_path):
    # parameters cast to float16 no longer match the float32 the architecture implies
    model = small()
    half = jax.tree_util.tree_map(lambda a: a.astype(jnp.float16) if eqx.is_inexact_array(a) else a, model)
    hg.save(half, tmp_path / "h.hamux")
    with pytest.raises(hg.FormatError, match="dtype float16.*dtype float32"):
        hg.load(tmp_path / "h.hamux")


# ---- every saved-model field gets its wrong cases ----

import os  # noqa: E402


def _manifest(good, **change):
    m = json.loads(good["manifest.json"])
    m.update(change)
    return json.dumps(m).encode()


HAMUX_CASES = [
    (
        "format-wrong",
        lambda g: dict(g, **{"manifest.json": _manifest(g, format="zip")}),
        r"manifest.json has format='zip'",
    ),
    ("format-missing", lambda g: dict(g, **{"manifest.json": b"{}"}), r"manifest.json has format=None"),
    ("manifest-list", lambda g: dict(g, **{"manifest.json": b"[1, 2]"}), r"manifest.json has format=\[1, 2\]"),
    ("manifest-json", lambda g: dict(g, **{"manifest.json": b"{nope"}), r"manifest.json is not valid JSON"),
    (
        "version-new",
        lambda g: dict(g, **{"manifest.json": _manifest(g, format_version=2)}),
        r"format_version 2 is not supported",
    ),
    (
        "version-str",
        lambda g: dict(g, **{"manifest.json": _manifest(g, format_version="1")}),
        r"format_version '1' is not supported",
    ),
    (
        "parameters-missing",
        lambda g: dict(g, **{"manifest.json": _manifest(g, parameters={})}),
        r"manifest.json lists parameters that do not match.*missing \[",
    ),
    (
        "parameters-shape",
        lambda g: dict(
            g,
            **{
                "manifest.json": _manifest(
                    g,
                    parameters={
                        k: {"shape": [9], "dtype": v["dtype"]}
                        for k, v in json.loads(g["manifest.json"])["parameters"].items()
                    },
                )
            },
        ),
        r"different shape/dtype",
    ),
    ("parameters-kind", lambda g: dict(g, **{"manifest.json": _manifest(g, parameters=[1])}), r"no 'parameters' table"),
    (
        "no-graphml",
        lambda g: {k: v for k, v in g.items() if k != "model.graphml"},
        r"missing the archive member 'model.graphml'",
    ),
    (
        "no-weights",
        lambda g: {k: v for k, v in g.items() if k != "weights.npz"},
        r"missing the archive member 'weights.npz'",
    ),
    (
        "no-manifest",
        lambda g: {k: v for k, v in g.items() if k != "manifest.json"},
        r"missing the archive member 'manifest.json'",
    ),
    (
        "weights-not-zip",
        lambda g: dict(g, **{"weights.npz": b"not a zip"}),
        r"weights.npz: not a saved hamux_graph model",
    ),
    (
        "weights-not-npy",
        lambda g: dict(
            g,
            **{
                "weights.npz": npz({"synapses/mem/W": np.zeros((3, 4), np.float32)}).replace(b"\x93NUMPY", b"\x93NUMPX")
            },
        ),
        r"not a valid .npy array|do not match|holds",
    ),
    (
        "graphml-broken",
        lambda g: dict(g, **{"model.graphml": g["model.graphml"][:50]}),
        r"model.graphml: not readable as GraphML",
    ),
    (
        "graphml-nonconvex",
        lambda g: dict(g, **{"model.graphml": g["model.graphml"].replace(b'"beta": 1.0', b'"beta": -1.0', 1)}),
        r"beta must be > 0",
    ),
]


@pytest.mark.parametrize("case", HAMUX_CASES, ids=lambda c: c[0])
def test_bad_saved_model_fields_raise_format_error(tmp_path, good, case):
    _, mutate, message = case
    with pytest.raises(hg.FormatError, match=r"bad\.hamux.*" + message):
        hg.load(rezip(tmp_path / "bad.hamux", mutate(good)))


def test_save_errors_name_the_target_and_files_follow_the_umask(tmp_path):
    model = small()
    (tmp_path / "dir").mkdir()
    with pytest.raises(hg.ArgumentError, match=r"dir.*is a directory"):
        hg.save(model, tmp_path / "dir")
    with pytest.raises(FileNotFoundError, match=r"missing"):
        hg.save(model, tmp_path / "missing" / "m.hamux")
    old = os.umask(0o022)
    try:
        hg.save(model, tmp_path / "m.hamux")
        hg.write_graphml(model, tmp_path / "m.graphml")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "m.hamux").st_mode & 0o777) == 0o644
    assert (os.stat(tmp_path / "m.graphml").st_mode & 0o777) == 0o644
    assert not [p for p in os.listdir(tmp_path) if ".hamux-" in p]  # no temporary files left
