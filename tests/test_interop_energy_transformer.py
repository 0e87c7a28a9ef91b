"""hg.interop.load_energy_transformer: published ET checkpoints (synthetic files in that format).

The references below are the Energy Transformer formulas written out on the raw arrays in
the file's own layout (Wq/Wk ``(heads, Y, D)``, Xi ``(D, M)``, CHW patches in (channel,
row, column) order), not through the library.
"""

from __future__ import annotations

import io
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings, strategies as st

import hamux_graph as hg


EPS = 1e-5


def checkpoint(rng, side=8, p=4, D=16, heads=2, Y=8, M=32, dtype=np.float32):
    """Arrays in the published format for 3 × side × side images in p × p patches."""
    P, NP = 3 * p * p, (side // p) ** 2
    n = lambda *shape: rng.normal(size=shape).astype(dtype)  # noqa: E731
    return {
        "Wq": n(heads, Y, D),
        "Wk": n(heads, Y, D),
        "Xi": 0.3 * n(D, M),
        "Wenc": n(P, D),
        "Benc": n(D),
        "Wdec": n(D, P),
        "Bdec": n(P),
        "POS_embed": n(1 + NP, D),
        "CLS_token": n(D),
        "MASK_token": n(D),
        "LNORM_gamma": np.array(1.3, dtype),
        "LNORM_bias": 0.1 * n(D),
    }


def write(tmp_path, arrays, name="et.npz", compressed=False):
    path = os.path.join(tmp_path, name)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


@pytest.fixture
def ckpt(tmp_path):
    w = checkpoint(np.random.default_rng(0))
    return w, write(tmp_path, w)


# ---- the Energy Transformer, by hand, on the file's arrays ----


def ref_layernorm(w, x):
    xc = x - x.mean(-1, keepdims=True)
    gamma, bias = (jnp.broadcast_to(w[k], x.shape) for k in ("LNORM_gamma", "LNORM_bias"))
    return gamma * xc / jnp.sqrt((xc**2).mean(-1, keepdims=True) + EPS) + bias


def ref_lagrangian(w, x):
    D = x.shape[-1]
    xc = x - x.mean(-1, keepdims=True)
    bias = jnp.broadcast_to(w["LNORM_bias"], x.shape)
    return jnp.sum(D * w["LNORM_gamma"] * jnp.sqrt((xc**2).mean(-1) + EPS)) + jnp.sum(bias * x)


def ref_attention(w, g):
    beta = 1 / np.sqrt(w["Wq"].shape[1])
    K = jnp.einsum("kd,hzd->khz", g, w["Wk"])
    Q = jnp.einsum("qd,hzd->qhz", g, w["Wq"])
    return -(1 / beta) * jax.nn.logsumexp(beta * jnp.einsum("qhz,khz->hqk", Q, K), -1).sum()


def ref_memory(w, g):
    return -0.5 * jnp.sum(jax.nn.relu(g @ w["Xi"]) ** 2)


def ref_et(w, g):
    return ref_attention(w, g) + ref_memory(w, g)


def cut_chw(images, p):
    """CHW images (B, 3, H, W) -> patches (B, NP, 3·p²), row-major grid, (c, r, s) inside."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p).transpose(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def paste_chw(patches, side, p):
    B = patches.shape[0]
    x = patches.reshape(B, side // p, side // p, 3, p, p).transpose(0, 3, 1, 4, 2, 5)
    return x.reshape(B, 3, side, side)


def ref_encode(w, images_chw, p, mask):
    x = cut_chw(images_chw, p) @ w["Wenc"] + w["Benc"]
    x = np.where(mask[..., None], w["MASK_token"], x)
    cls = np.broadcast_to(w["CLS_token"], (x.shape[0], 1, x.shape[-1]))
    return np.concatenate([cls, x], axis=1) + w["POS_embed"]


# ---- (a) energy and gradient ----


def test_the_loaded_model_has_the_et_energy_and_gradient(ckpt, getkey):
    w, path = ckpt
    ham, model = hg.interop.load_energy_transformer(path)
    assert ham.layers["tokens"].shape == (5, 16) and sorted(ham.synapses) == ["attention", "memory"]
    assert ham.connections("attention") == ("tokens",) and ham.connections("memory") == ("tokens",)
    x = 2.0 * jax.random.normal(getkey(), (3, 5, 16))
    xs = {"tokens": x}

    @jax.jit
    @jax.vmap
    def reference(v):
        g = ref_layernorm(w, v)
        e_layer = jnp.sum(g * v) - ref_lagrangian(w, v)
        return g, e_layer, ref_attention(w, g), ref_memory(w, g), jax.grad(lambda u: ref_et(w, u))(g)

    g, e_layer, e_att, e_mem, dEdg_et = reference(x)
    np.testing.assert_allclose(model.activations(xs)["tokens"], g, rtol=1e-5, atol=1e-5)
    tree = model.energy_tree(xs)
    np.testing.assert_allclose(tree["synapses"]["attention"], e_att, rtol=1e-5)
    np.testing.assert_allclose(tree["synapses"]["memory"], e_mem, rtol=1e-5)
    np.testing.assert_allclose(tree["layers"]["tokens"], e_layer, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.energy(xs), e_layer + e_att + e_mem, rtol=1e-5)
    # ∂E/∂g: the synapses' gradient (the published dEdg) plus the Legendre term x
    np.testing.assert_allclose(model.dEdg(xs)["tokens"], x + dEdg_et, rtol=1e-4, atol=1e-4)
    # explicit weights: any key compiles the same model
    again = ham.compile(key=getkey())
    np.testing.assert_array_equal(again.energy(xs), model.energy(xs))


def test_the_attention_weights_are_the_files_transposed(ckpt):
    w, path = ckpt
    _, model = hg.interop.load_energy_transformer(path)
    att, mem = model.synapse("attention"), model.synapse("memory")
    np.testing.assert_array_equal(att.Wq, w["Wq"].transpose(2, 0, 1))
    np.testing.assert_array_equal(att.Wk, w["Wk"].transpose(2, 0, 1))
    np.testing.assert_array_equal(mem.Ws[0], w["Xi"])
    assert att.exclude_self is False and float(att.hidden_lagrangian.beta) == pytest.approx(1 / np.sqrt(8))


# ---- (b) the pipeline ----


def test_the_pipeline_is_the_published_encoder_and_decoder_on_chw_images(ckpt, getkey):
    w, path = ckpt
    pipe = hg.interop.load_energy_transformer_pipeline(path)
    assert pipe.image_shape == (8, 8, 3) and pipe.patch_size == (4, 4)
    images = np.asarray(jax.random.normal(getkey(), (2, 8, 8, 3)))
    mask = np.array([[True, False, False, True], [False, False, True, False]])
    chw = images.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(pipe.encode(images, mask), ref_encode(w, chw, 4, mask), rtol=1e-5, atol=1e-5)
    g = np.asarray(jax.random.normal(getkey(), (2, 5, 16)))
    want_chw = paste_chw(g[:, 1:] @ w["Wdec"] + w["Bdec"], 8, 4)
    np.testing.assert_allclose(pipe.decode(g), want_chw.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


def test_the_published_geometry_is_inferred(tmp_path, getkey):
    w = checkpoint(np.random.default_rng(1), side=224, p=16, D=4, heads=1, Y=2, M=3)
    path = write(tmp_path, w)
    pipe = hg.interop.load_energy_transformer_pipeline(path)
    assert (pipe.image_shape, pipe.patch_size, pipe.num_patches, pipe.patch_dim) == ((224, 224, 3), (16, 16), 196, 768)
    ham, _ = hg.interop.load_energy_transformer(path)
    assert ham.layers["tokens"].shape == (197, 4)
    images = np.asarray(jax.random.normal(getkey(), (1, 224, 224, 3)))
    mask = np.zeros((1, 196), bool)
    np.testing.assert_allclose(
        pipe.encode(images), ref_encode(w, images.transpose(0, 3, 1, 2), 16, mask), rtol=1e-4, atol=1e-3
    )


# ---- (c) dynamics ----


def test_steps_are_the_ham_update_and_give_the_published_one(ckpt, getkey):
    w, path = ckpt
    _, model = hg.interop.load_energy_transformer(path)
    alpha = 0.05
    x0 = jax.random.normal(getkey(), (5, 16))
    grad_et = jax.jit(lambda v: jax.grad(lambda u: ref_et(w, u))(ref_layernorm(w, v)))  # ∂E_ET/∂g at g = LN(x)
    x, xs = x0, {"tokens": x0}
    for _ in range(3):
        # the library's dynamics: x ← x − α ∂E/∂g with the HAM energy (Legendre term x included)
        x = x - alpha * (x + grad_et(x))
        xs = model.step(xs, dt=alpha)
        np.testing.assert_allclose(xs["tokens"], x, rtol=1e-4, atol=1e-4)
    # the published update x ← x − α ∂(E_attn + E_memory)/∂g, from the model's gradient
    published = x0 - alpha * grad_et(x0)
    from_model = x0 - alpha * (model.dEdg({"tokens": x0})["tokens"] - x0)
    np.testing.assert_allclose(from_model, published, rtol=1e-4, atol=1e-4)
    # no clamp: every token (CLS and every patch) evolves
    final, energies = model.run({"tokens": x0}, steps=5, dt=alpha)
    assert bool(jnp.all(jnp.any(final["tokens"] != x0, axis=-1)))
    assert bool(jnp.all(jnp.diff(energies) <= 1e-4))


# ---- (d) refusals ----


def _without(w, key):
    return {k: v for k, v in w.items() if k != key}


def _with(w, key, value):
    return {**w, key: value}


def _bad_files(w):
    return {
        "missing": (_without(w, "Xi"), r"missing keys \['Xi'\]"),
        "extra": (_with(w, "Wv", w["Wq"]), r"unexpected keys \['Wv'\]"),
        "rank": (_with(w, "Benc", w["Benc"][None]), r"key 'Benc' has shape \(1, 16\), expected rank 1"),
        "inconsistent": (_with(w, "Wk", w["Wk"][:, :4]), r"key 'Wk' has shape \(2, 4, 16\): axis 1 \(Y\) is 4"),
        "gamma-rank": (_with(w, "LNORM_gamma", np.ones(1, np.float32)), r"key 'LNORM_gamma' .* expected rank 0"),
        "nonfinite": (_with(w, "Xi", np.full_like(w["Xi"], np.nan)), r"key 'Xi' holds non-finite"),
        "int": (_with(w, "Wenc", w["Wenc"].astype(np.int32)), r"key 'Wenc' has dtype int32"),
        "complex": (_with(w, "Wq", w["Wq"].astype(np.complex64)), r"key 'Wq' has dtype complex64"),
        "patch": (
            _with(_with(w, "Wenc", w["Wenc"][:40]), "Wdec", w["Wdec"][:, :40]) | {"Bdec": w["Bdec"][:40]},
            r"key 'Wenc' has 40 rows, expected P = 3·p²",
        ),
        "grid": (_with(w, "POS_embed", w["POS_embed"][:4]), r"key 'POS_embed' has 4 rows.*NP = 3"),
        "gamma": (_with(w, "LNORM_gamma", np.array(-1.0, np.float32)), r"key 'LNORM_gamma' is -1.0"),
    }


@pytest.mark.parametrize("kind", list(_bad_files(checkpoint(np.random.default_rng(0)))))
def test_malformed_checkpoints_are_refused(tmp_path, kind):
    arrays, match = _bad_files(checkpoint(np.random.default_rng(0)))[kind]
    path = write(tmp_path, arrays, name=f"{kind}.npz")
    for load in (hg.interop.load_energy_transformer, hg.interop.load_energy_transformer_pipeline):
        with pytest.raises(hg.FormatError, match=rf"{kind}\.npz: .*{match}"):
            load(path)


def test_files_that_are_not_npz_or_too_large_are_refused(ckpt, tmp_path):
    _, path = ckpt
    with pytest.raises(hg.FormatError, match=r"et\.npz: the file has .* bytes, more than max_bytes=1,000"):
        hg.interop.load_energy_transformer(path, max_bytes=1000)
    with pytest.raises(hg.ArgumentError, match="max_bytes"):
        hg.interop.load_energy_transformer(path, max_bytes=-1)
    text = os.path.join(tmp_path, "notes.npz")
    with open(text, "w") as f:
        f.write("not a zip")
    with pytest.raises(hg.FormatError, match=r"notes\.npz: not an \.npz file"):
        hg.interop.load_energy_transformer(text)
    one = os.path.join(tmp_path, "one.npy")
    np.save(one, np.zeros(3))
    with pytest.raises(hg.FormatError, match=r"one\.npy: not an \.npz file"):
        hg.interop.load_energy_transformer(one)


def _zip(tmp_path, members, name, compress=zipfile.ZIP_STORED):
    path = os.path.join(tmp_path, name)
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for n, data in members:
            zf.writestr(n, data)
    return path


def _npy(a, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_archive_tricks_are_refused(ckpt, tmp_path):
    w, _ = ckpt
    members = [(k + ".npy", _npy(v)) for k, v in w.items()]
    cases = {
        "dup.npz": (members + [members[0]], r"a second member named 'Wq\.npy'"),
        "txt.npz": (members + [("readme.txt", b"hi")], r"the member 'readme\.txt'"),
        "short.npz": (
            [(n, d[:-4] if n == "Xi.npy" else d) for n, d in members],
            r"key 'Xi' holds 2,044 data bytes, but its header declares shape \(16, 32\)",
        ),
        "header.npz": (
            [(n, b"\x93NUMPY\x01\x00garbage" if n == "Xi.npy" else d) for n, d in members],
            r"key 'Xi' is not a valid \.npy array",
        ),
    }
    for name, (ms, match) in cases.items():
        with pytest.raises(hg.FormatError, match=rf"{name}: {match}"):
            hg.interop.load_energy_transformer(_zip(tmp_path, ms, name))
    # a deflated member that expands past max_bytes (a compression bomb) is cut off
    bomb = _zip(tmp_path, members + [("big.npy", _npy(np.zeros(2**22)))], "bomb.npz", zipfile.ZIP_DEFLATED)
    assert os.path.getsize(bomb) < 2**20
    with pytest.raises(hg.FormatError, match=r"bomb\.npz: key 'big' declares 33,554,560 bytes, more than"):
        hg.interop.load_energy_transformer(bomb, max_bytes=2**20)
    # compressed checkpoints (np.savez_compressed) are read
    ham, _ = hg.interop.load_energy_transformer(write(tmp_path, w, "zipped.npz", compressed=True))
    assert ham.layers["tokens"].shape == (5, 16)


RAN: list[str] = []


def _mark(what):
    RAN.append(what)


class _Payload:
    def __reduce__(self):
        return (_mark, ("executed",))


def test_a_pickle_inside_is_refused_without_running_it(ckpt, tmp_path):
    w, _ = ckpt
    members = [(k + ".npy", _npy(v)) for k, v in w.items() if k != "CLS_token"]
    evil = np.empty(16, dtype=object)
    evil[:] = [_Payload() for _ in range(16)]
    path = _zip(tmp_path, members + [("CLS_token.npy", _npy(evil, allow_pickle=True))], "evil.npz")
    with pytest.raises(hg.FormatError, match=r"evil\.npz: key 'CLS_token' is an object array .* refused"):
        hg.interop.load_energy_transformer(path)
    assert RAN == []
    np.load(path, allow_pickle=True)["CLS_token"]  # the payload is live: numpy with pickle runs it
    assert RAN == ["executed"] * 16


_GOOD = io.BytesIO()
np.savez(_GOOD, **checkpoint(np.random.default_rng(2), D=4, heads=1, Y=2, M=3))
GOOD = _GOOD.getvalue()


def _read_bytes(tmp_path, data):
    path = os.path.join(tmp_path, "fuzz.npz")
    with open(path, "wb") as f:
        f.write(data)
    try:
        hg.interop.load_energy_transformer_pipeline(path)
    except hg.FormatError:
        pass


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.integers(0, len(GOOD)).map(lambda n: GOOD[:n]),
        st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)).map(
            lambda t: GOOD[: t[0]] + bytes([GOOD[t[0]] ^ t[1]]) + GOOD[t[0] + 1 :]
        ),
    )
)
def test_random_and_damaged_files_raise_only_format_error(tmp_path_factory, data):
    _read_bytes(tmp_path_factory.mktemp("fuzz"), data)


# ---- the published update: layer_energy=False ----


def test_published_update_is_the_published_step_and_descends(ckpt, getkey, tmp_path):
    w, path = ckpt
    ham, model = hg.interop.load_energy_transformer(path, published_update=True)
    assert ham.layers["tokens"].layer_energy is False
    alpha = 0.05
    x0 = jax.random.normal(getkey(), (5, 16))
    grad_et = jax.jit(lambda v: jax.grad(lambda u: ref_et(w, u))(ref_layernorm(w, v)))  # ∂E_ET/∂g at g = LN(x)
    stepped = model.step({"tokens": x0}, dt=alpha)["tokens"]
    published = x0 - alpha * grad_et(x0)  # x ← x − α ∂(E_attn + E_memory)/∂g, no leak
    rel = float(jnp.linalg.norm(stepped - published) / jnp.linalg.norm(published))
    print(f"published ET step: relative difference {rel:.2e}")
    assert rel <= 1e-5
    # the energy is E_attn + E_memory only, and never increases over 50 small steps
    e_ref = ref_et(w, ref_layernorm(w, x0))
    np.testing.assert_allclose(model.energy({"tokens": x0}), e_ref, rtol=1e-5)
    assert model.energy_tree({"tokens": x0})["layers"]["tokens"] == 0.0
    _, energies = model.run({"tokens": x0}, steps=50, dt=0.01)
    assert bool(jnp.all(jnp.diff(energies) <= 1e-6 * jnp.abs(energies[:-1])))
    # saved models and GraphML carry the option
    hg.save(model, str(tmp_path / "m"))
    again = hg.load(str(tmp_path / "m"))
    np.testing.assert_allclose(again.step({"tokens": x0}, dt=alpha)["tokens"], stepped, rtol=1e-6, atol=1e-6)
    hg.write_graphml(ham, str(tmp_path / "et.graphml"))
    assert hg.read_graphml(str(tmp_path / "et.graphml")).layers["tokens"].layer_energy is False


def test_the_zoo_builds_the_published_update():
    ham = hg.zoo.create("energy_transformer", image_shape=(8, 8, 1), patch_size=(4, 4), dim=8, published_update=True)
    assert ham.layers["tokens"].layer_energy is False
    default = hg.zoo.create("energy_transformer", image_shape=(8, 8, 1), patch_size=(4, 4), dim=8)
    assert default.layers["tokens"].layer_energy is True
