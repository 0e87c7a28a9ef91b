"""hg.vision: patches, the ET image pipeline and its clamp, against plain numpy loops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hamux_graph as hg


def np_patchify(img, p, q):
    """Patches of one (H, W, C) image with explicit loops: grid row-major, (row, col, ch) inside."""
    H, W, C = img.shape
    out = []
    for i in range(H // p):
        for j in range(W // q):
            vals = [img[i * p + r, j * q + s, c] for r in range(p) for s in range(q) for c in range(C)]
            out.append(vals)
    return np.array(out)


@settings(max_examples=25, deadline=None)
@given(
    gh=st.integers(1, 3),
    gw=st.integers(1, 3),
    p=st.integers(1, 3),
    q=st.integers(1, 3),
    c=st.integers(1, 3),
    batch=st.sampled_from([(), (2,)]),
)
def test_patchify_matches_loops_and_unpatchify_inverts(gh, gw, p, q, c, batch):
    rng = np.random.default_rng(gh * 100 + gw * 10 + p)
    x = rng.normal(size=batch + (gh * p, gw * q, c)).astype(np.float32)
    P = hg.vision.patchify(x, (p, q))
    flat = x.reshape((-1,) + x.shape[-3:])
    want = np.stack([np_patchify(im, p, q) for im in flat]).reshape(batch + (gh * gw, p * q * c))
    np.testing.assert_array_equal(np.asarray(P), want)
    np.testing.assert_array_equal(np.asarray(hg.vision.unpatchify(P, x.shape[-3:], (p, q))), x)


def test_encode_decode_and_clamp_follow_the_formulas(getkey):
    pipe = hg.vision.patch_pipeline((4, 6, 2), (2, 3), dim=5, key=getkey(), stdinit=1.0)
    pipe = jax.tree_util.tree_map(lambda a: a + 0.1, pipe)  # nonzero biases too
    imgs = np.asarray(jax.random.normal(getkey(), (3, 4, 6, 2)))
    mask = np.array([[True, False, False, True], [False] * 4, [True] * 4])
    got = np.asarray(pipe.encode(imgs, mask))
    Wenc, Benc = np.asarray(pipe.Wenc), np.asarray(pipe.Benc)
    for b in range(3):
        patches = np_patchify(imgs[b], 2, 3)
        rows = [np.asarray(pipe.cls_token)] + [
            np.asarray(pipe.mask_token) if mask[b, i] else patches[i] @ Wenc + Benc for i in range(4)
        ]
        np.testing.assert_allclose(got[b], np.stack(rows) + np.asarray(pipe.pos_embed), rtol=1e-5, atol=1e-5)
    g = np.asarray(jax.random.normal(getkey(), (3, 5, 5)))
    dec = np.asarray(pipe.decode(g))
    for b in range(3):
        patches = g[b, 1:] @ np.asarray(pipe.Wdec) + np.asarray(pipe.Bdec)
        np.testing.assert_allclose(np_patchify(dec[b], 2, 3), patches, rtol=1e-5, atol=1e-5)
    held = np.asarray(pipe.clamp(mask)["tokens"])
    assert held.shape == (3, 5, 1)
    np.testing.assert_array_equal(held[:, 0, 0], False)  # CLS free
    np.testing.assert_array_equal(held[:, 1:, 0], ~mask)  # visible held, masked free


def test_completion_run_holds_visible_tokens(getkey):
    ham = hg.zoo.energy_transformer((8, 8, 1), (4, 4), dim=8, num_heads=2, zspace_dim=4, num_memories=16)
    model = ham.compile(key=getkey())
    pipe = hg.vision.patch_pipeline((8, 8, 1), (4, 4), dim=8, key=getkey(), stdinit=0.5)
    mask = hg.vision.random_mask(4, 2, key=getkey(), batch_size=3)
    x0 = pipe.encode(jax.random.uniform(getkey(), (3, 8, 8, 1)), mask)
    xs, _ = model.run({"tokens": x0}, steps=5, dt=0.2, clamp=pipe.clamp(mask))
    moved = np.abs(np.asarray(xs["tokens"] - x0)).max(-1) > 0
    np.testing.assert_array_equal(moved[:, 1:], np.asarray(mask))
    assert moved[:, 0].all()


def test_random_mask_counts_and_randomness(getkey):
    m = np.asarray(hg.vision.random_mask(10, 3, key=getkey(), batch_size=200))
    assert (m.sum(-1) == 3).all()
    assert 0.2 < m.mean(0).min() and m.mean(0).max() < 0.4  # every patch masked about 30 % of the time
    assert hg.vision.random_mask(5, 0, key=getkey()).sum() == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hg.vision.patchify(jnp.ones((5, 4, 1)), 2), "does not tile"),
        (lambda: hg.vision.patchify(jnp.ones((4, 4)), 2), r"\(\.\.\., height, width, channels\)"),
        (lambda: hg.vision.unpatchify(jnp.ones((3, 4)), (4, 4, 1), 2), r"must end in shape \(4, 4\)"),
        (lambda: hg.vision.random_mask(4, 5, key=jax.random.key(0)), "at most num_patches"),
        (lambda: hg.vision.random_mask(4, 1.5, key=jax.random.key(0)), "num_masked"),
        (lambda: hg.vision.num_patches((8, 8), 2), r"\(height, width, channels\)"),
    ],
)
@pytest.mark.bad_arguments
def test_argument_errors(call, match):
    with pytest.raises(hg.ArgumentError, match=match):
        call()


@pytest.mark.bad_arguments
def test_pipeline_errors(getkey):
    pipe = hg.vision.patch_pipeline((8, 8, 1), 4, dim=6, key=getkey())
    with pytest.raises(hg.ArgumentError, match="must be boolean"):
        pipe.encode(jnp.ones((8, 8, 1)), jnp.zeros(4))
    with pytest.raises(hg.ArgumentError, match=r"must end in \(4,\)"):
        pipe.clamp(jnp.zeros(5, bool))
    with pytest.raises(hg.ArgumentError, match=r"must end in shape \(8, 8, 1\)"):
        pipe.encode(jnp.ones((2, 8, 8, 3)))
    with pytest.raises(hg.ValidationError, match=r"pos_embed has shape \(4, 6\), expected \(5, 6\)"):
        hg.vision.PatchPipeline(
            (8, 8, 1),
            (4, 4),
            pipe.Wenc,
            pipe.Benc,
            pipe.Wdec,
            pipe.Bdec,
            pipe.pos_embed[:4],
            pipe.cls_token,
            pipe.mask_token,
        )
    with pytest.raises(hg.ValidationError, match="dim"):
        hg.vision.patch_pipeline((8, 8, 1), 4, dim=0, key=getkey())
