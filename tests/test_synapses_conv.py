"""Tests for ConvSynapse and ConvSynapseWithPool against explicit numpy loops."""

from __future__ import annotations

import itertools
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, HealthCheck, settings, strategies as st

import hamux_graph as hg


# ---- independent numpy references ---------------------------------------------------------


def same_pads(size, k, s, di=1, dk=1):
    """The documented SAME rule: output ceil(dilated size / stride), padding split low = total // 2."""
    dilated = (size - 1) * di + 1
    eff = (k - 1) * dk + 1
    out = -(-dilated // s)
    total = max((out - 1) * s + eff - dilated, 0)
    return (total // 2, total - total // 2)


def np_conv(x, k, strides, pads, in_dil, k_dil, groups):
    """Plain-loop n-D convolution of x (*spatial, C_in) with k (*ks, C_in/groups, C_out)."""
    n = x.ndim - 1
    cin = x.shape[-1]
    dil_shape = tuple((s - 1) * d + 1 for s, d in zip(x.shape[:-1], in_dil))
    xd = np.zeros(dil_shape + (cin,))
    xd[tuple(slice(None, None, d) for d in in_dil)] = x
    xp = np.pad(xd, list(pads) + [(0, 0)])
    ks = k.shape[:n]
    cin_g, cout = k.shape[n], k.shape[n + 1]
    cout_g = cout // groups
    eff = [(kk - 1) * d + 1 for kk, d in zip(ks, k_dil)]
    out_sp = [(xp.shape[i] - eff[i]) // strides[i] + 1 for i in range(n)]
    y = np.zeros(out_sp + [cout])
    for o in itertools.product(*map(range, out_sp)):
        for co in range(cout):
            g = co // cout_g
            acc = 0.0
            for t in itertools.product(*map(range, ks)):
                pos = tuple(o[i] * strides[i] + t[i] * k_dil[i] for i in range(n))
                for ci in range(cin_g):
                    acc += xp[pos + (g * cin_g + ci,)] * k[t + (ci, co)]
            y[o + (co,)] = acc
    return y


def np_pool(y, window, stride, kind):
    n = y.ndim - 1
    out_sp = [(y.shape[i] - window[i]) // stride[i] + 1 for i in range(n)]
    out = np.zeros(out_sp + [y.shape[-1]])
    for o in itertools.product(*map(range, out_sp)):
        sl = tuple(slice(o[i] * stride[i], o[i] * stride[i] + window[i]) for i in range(n))
        patch = y[sl].reshape(-1, y.shape[-1])
        out[o] = patch.max(0) if kind == "max" else patch.mean(0)
    return out


def _randn(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- alignment equals the loop reference ------------------------------------------------

# (input shape, kernel, strides, padding, input_dilation, kernel_dilation, groups, C_out, use_bias)
CONV_CASES = [
    ((5, 5, 2), (3, 3), (1, 1), "SAME", (1, 1), (1, 1), 1, 3, True),
    ((6, 6, 2), (3, 3), (2, 2), "SAME", (1, 1), (1, 1), 1, 2, False),
    ((5, 6, 2), (2, 3), (2, 2), "VALID", (1, 1), (1, 1), 1, 3, True),
    ((6, 5, 4), (3, 3), (1, 1), "SAME", (1, 1), (2, 2), 2, 4, True),
    ((4, 4, 2), (3, 3), (2, 2), ((1, 2), (0, 1)), (2, 2), (1, 1), 1, 3, False),
    ((7, 7, 3), (2, 2), (2, 1), "VALID", (1, 1), (1, 1), 3, 6, True),
    ((7, 2), (3,), (2,), "SAME", (1,), (1,), 1, 2, True),  # 1-D convolution over (length, channels)
]


def _pads(in_shape, ks, strides, padding, in_dil, k_dil):
    if padding == "SAME":
        return [same_pads(n, k, s, di, dk) for n, k, s, di, dk in zip(in_shape[:-1], ks, strides, in_dil, k_dil)]
    if padding == "VALID":
        return [(0, 0)] * len(ks)
    return list(padding)


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv_alignment_matches_loops(case):
    in_shape, ks, strides, padding, in_dil, k_dil, groups, cout, use_bias = case
    rng = np.random.default_rng(len(in_shape) + sum(in_shape) + cout)
    kernel = _randn(rng, ks + (in_shape[-1] // groups, cout))
    bias = _randn(rng, (cout,)) if use_bias else None
    g1 = _randn(rng, in_shape)
    y = np_conv(
        g1.astype(np.float64),
        kernel.astype(np.float64),
        strides,
        _pads(in_shape, ks, strides, padding, in_dil, k_dil),
        in_dil,
        k_dil,
        groups,
    )
    g2 = _randn(rng, y.shape)
    syn = hg.ConvSynapse(
        ks,
        strides=strides,
        padding=padding,
        input_dilation=in_dil,
        kernel_dilation=k_dil,
        feature_group_count=groups,
        use_bias=use_bias,
        kernel=kernel,
        bias=bias,
        precision="highest",
    )
    assert syn.output_shape(in_shape, cout) == y.shape
    syn.check_shapes([in_shape, y.shape])
    expected = np.sum(y * g2)
    if use_bias:
        expected += np.sum(bias * g2.reshape(-1, cout).sum(0))
    align, energy = eqx.filter_jit(lambda s, a, b: (s(a, b), s.energy(a, b)))(syn, g1, g2)
    np.testing.assert_allclose(float(align), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(energy), -expected, rtol=1e-4, atol=1e-4)


# (input shape, kernel, strides, padding, pool window, pool stride, pool type, C_out)
POOL_CASES = [
    ((6, 6, 1), (3, 3), (1, 1), "SAME", (2, 2), (2, 2), "max", 2),
    ((7, 7, 2), (2, 2), (1, 1), "VALID", (3, 3), (2, 2), "avg", 3),
    ((8, 8, 2), (3, 3), (2, 2), "SAME", (2, 3), (1, 1), "max", 2),
    ((9, 9, 1), (3, 3), (1, 1), "SAME", (5, 5), (2, 2), "avg", 2),  # the seed's default pooling
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(i) for i in range(len(POOL_CASES))])
def test_pool_alignment_matches_loops(case):
    in_shape, ks, strides, padding, window, pstride, kind, cout = case
    rng = np.random.default_rng(sum(in_shape) + len(kind))
    kernel = _randn(rng, ks + (in_shape[-1], cout))
    bias = _randn(rng, (cout,))
    g1 = _randn(rng, in_shape)
    conv = np_conv(
        g1.astype(np.float64),
        kernel.astype(np.float64),
        strides,
        _pads(in_shape, ks, strides, padding, (1, 1), (1, 1)),
        (1, 1),
        (1, 1),
        1,
    )
    pooled = np_pool(conv + bias, window, pstride, kind)
    g2 = _randn(rng, pooled.shape)
    syn = hg.ConvSynapseWithPool(
        ks,
        pool_window=window,
        pool_stride=pstride,
        pool_type=kind,
        strides=strides,
        padding=padding,
        kernel=kernel,
        bias=bias,
        precision="highest",
    )
    assert syn.output_shape(in_shape, cout) == pooled.shape
    np.testing.assert_allclose(float(eqx.filter_jit(syn)(g1, g2)), np.sum(pooled * g2), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "in_shape, ks, strides, k_dil",
    [((7, 9, 1), (3, 2), (2, 3), (1, 1)), ((5, 8, 1), (4, 4), (1, 3), (2, 1)), ((1, 1, 1), (3, 3), (2, 2), (1, 1))],
)
def test_same_output_shape_agrees_with_lax(in_shape, ks, strides, k_dil):
    x = jnp.zeros((1,) + in_shape)
    k = jnp.zeros(ks + (in_shape[-1], 2))
    y = jax.lax.conv_general_dilated(
        x, k, strides, "SAME", rhs_dilation=k_dil, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    syn = hg.ConvSynapse(ks, strides=strides, kernel_dilation=k_dil)
    assert syn.output_shape(in_shape, 2) == y.shape[1:]
    assert syn.output_shape(in_shape) == y.shape[1:3] + (None,)


# ---- hyperparameters, initialisation, config ---------------------------------------------


def test_config_round_trips_through_json():
    syn = hg.ConvSynapseWithPool(
        (3, 2),
        pool_window=2,
        pool_stride=(1, 2),
        pool_type="MAX",
        strides=2,
        padding=((1, 0), (2, 2)),
        input_dilation=(1, 2),
        kernel_dilation=2,
        feature_group_count=2,
        use_bias=False,
        dtype=jnp.float32,
        param_dtype="bfloat16",
        precision=jax.lax.Precision.HIGHEST,
        kernel_init="he_normal",
        bias_init="normal",
        stdinit=0.1,
    )
    cfg = syn.config()
    assert cfg["pool_type"] == "max" and cfg["dtype"] == "float32" and cfg["precision"] == "highest"
    again = type(syn)(**json.loads(json.dumps(cfg)))
    assert again.config() == cfg
    assert again.output_shape((9, 9, 4), 6) == syn.output_shape((9, 9, 4), 6)


def test_initialisers_and_param_dtype(getkey):
    shapes = [(6, 6, 8), (6, 6, 64)]
    syn = hg.ConvSynapse(3).init(shapes, key=getkey())
    assert syn.kernel.shape == (3, 3, 8, 64) and syn.bias.shape == (64,)
    assert np.all(np.asarray(syn.bias) == 0)
    fan_in = 3 * 3 * 8
    assert abs(float(jnp.std(syn.kernel)) * np.sqrt(fan_in) - 1.0) < 0.1  # lecun_normal: var 1/fan_in
    syn = hg.ConvSynapse(3, kernel_init="normal", stdinit=0.5, bias_init="normal").init(shapes, key=getkey())
    assert abs(float(jnp.std(syn.kernel)) - 0.5) < 0.05 and float(jnp.std(syn.bias)) > 0
    syn = hg.ConvSynapse(3, kernel_init="zeros", use_bias=False, param_dtype="bfloat16").init(shapes, key=getkey())
    assert syn.bias is None and syn.kernel.dtype == jnp.bfloat16 and not np.any(np.asarray(syn.kernel, np.float32))
    assert "bias" not in syn.param_shapes(shapes)


# ---- validation errors ---------------------------------------------------------------------


def _ham(in_shape, out_shape, syn):
    ham = hg.HAM()
    ham.add_layer("img", hg.TanhLayer(in_shape))
    ham.add_layer("feat", hg.ReluLayer(out_shape))
    ham.add_synapse("conv", syn, layers=("img", "feat"))
    return ham


def test_output_shape_mismatch_names_expected_and_found():
    ham = _ham((28, 28, 1), (7, 7, 64), hg.ConvSynapse((4, 4), strides=(2, 2), padding=((2, 2), (2, 2))))
    msg = (
        r"synapse 'conv' over layers \['img', 'feat'\]: ConvSynapse: input \(28, 28, 1\) with kernel \(4, 4\), "
        r"strides \(2, 2\), padding \(\(2, 2\), \(2, 2\)\) gives \(15, 15, C\); the output layer has shape "
        r"\(7, 7, 64\)"
    )
    with pytest.raises(hg.ValidationError, match=msg):
        ham.validate()
    with pytest.raises(hg.ValidationError, match=r"padding \(\(1, 1\), \(1, 1\)\) gives \(14, 14, C\)"):
        _ham((28, 28, 1), (7, 7, 64), hg.ConvSynapse(4, strides=2)).validate()
    _ham((28, 28, 1), (14, 14, 64), hg.ConvSynapse(4, strides=2)).validate()  # the size it asked for


def test_pool_mismatch_and_oversized_window():
    syn = hg.ConvSynapseWithPool(3, pool_window=2, pool_stride=2)
    msg = (
        r"gives \(8, 8, C\), then avg pooling with window \(2, 2\) and stride \(2, 2\) gives \(4, 4, C\); "
        r"the output layer has shape \(8, 8, 3\)"
    )
    with pytest.raises(hg.ValidationError, match=msg):
        _ham((8, 8, 1), (8, 8, 3), syn).validate()
    with pytest.raises(hg.ValidationError, match=r"convolution output \(4, 4, C\), smaller than pool_window \(5, 5\)"):
        _ham((8, 8, 1), (1, 1, 3), hg.ConvSynapseWithPool(3, strides=2)).validate()
    with pytest.raises(hg.ValidationError, match=r"smaller than pool_window"):
        hg.ConvSynapseWithPool(3, strides=2).output_shape((8, 8, 1))


def test_rank_groups_and_kernel_size_errors():
    with pytest.raises(hg.ValidationError, match=r"connects layers of rank 3 .* input layer has shape \(28, 28\)"):
        _ham((28, 28), (28, 28, 2), hg.ConvSynapse(3)).validate()
    with pytest.raises(hg.ValidationError, match=r"the output layer has shape \(28, 28\)"):
        _ham((28, 28, 1), (28, 28), hg.ConvSynapse(3)).validate()
    with pytest.raises(hg.ValidationError, match=r"has 3 channels, not divisible by feature_group_count=2"):
        _ham((6, 6, 3), (6, 6, 4), hg.ConvSynapse(3, feature_group_count=2)).validate()
    with pytest.raises(hg.ValidationError, match=r"output layer \(6, 6, 3\) has 3 channels, not divisible"):
        _ham((6, 6, 4), (6, 6, 3), hg.ConvSynapse(3, feature_group_count=2)).validate()
    with pytest.raises(hg.ValidationError, match=r"kernel spans 5 but the padded input axis has only 4"):
        _ham((4, 4, 1), (1, 1, 1), hg.ConvSynapse(3, padding="VALID", kernel_dilation=2)).validate()
    with pytest.raises(hg.ValidationError, match=r"explicit parameter `kernel` has shape \(3, 3, 1, 2\)"):
        _ham((6, 6, 1), (6, 6, 4), hg.ConvSynapse(3, kernel=np.zeros((3, 3, 1, 2)))).validate()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pool_type="min"), r"pool_type 'min' is not supported; use 'avg' or 'max'"),
        (dict(padding="FULL"), r"padding 'FULL' is not supported"),
        (dict(padding=((1, 1),)), r"padding .* has 1 pairs but the kernel has 2 spatial axes"),
        (dict(padding=-1), r"padding must be >= 0"),
        (dict(strides=(1, 2, 3)), r"strides=\(1, 2, 3\) has 3 entries but the kernel \(3, 3\) has 2"),
        (dict(kernel_dilation=0), r"kernel_dilation must be a positive int"),
        (dict(kernel_init="uniform"), r"kernel_init 'uniform' is not a known initializer"),
        (dict(bias_init="lecun_normal"), r"bias_init 'lecun_normal' is not a known initializer"),
        (dict(use_bias=False, bias=np.zeros(3)), r"explicit bias but use_bias=False"),
        (dict(dtype="int32"), r"dtype 'int32' is not a floating dtype"),
        (dict(dtype="floaty"), r"dtype 'floaty' is not a dtype"),
        (dict(precision="ultra"), r"precision 'ultra' is not a jax.lax.Precision name"),
        (dict(feature_group_count=0), r"feature_group_count must be an int >= 1"),
        (dict(pool_window=(2, 2, 2)), r"pool_window=\(2, 2, 2\) has 3 entries"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(hg.ValidationError, match=match):
        hg.ConvSynapseWithPool(3, **kwargs)


def test_kernel_size_is_required():
    with pytest.raises(hg.ValidationError, match=r"kernel_size is required"):
        hg.ConvSynapse(None)
    with pytest.raises(hg.ValidationError, match=r"kernel_size must be a positive int"):
        hg.ConvSynapse((3, 0))


# ---- the Lyapunov property on random conv graphs --------------------------------------------

_LAGS = {
    "tanh": lambda s: hg.TanhLayer(s, use_bias=True),
    "relu": lambda s: hg.ReluLayer(s),
    "softmax": lambda s: hg.SoftmaxLayer(s, beta=2.0),
    "sigmoid": lambda s: hg.SigmoidLayer(s, tau=2.0),
}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    hw=st.tuples(st.integers(4, 6), st.integers(4, 6)),
    cin=st.sampled_from([1, 2]),
    cout=st.sampled_from([2, 4]),
    ks=st.sampled_from([2, 3]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from(["SAME", "VALID"]),
    pool=st.sampled_from([None, "avg", "max"]),
    lags=st.tuples(st.sampled_from(sorted(_LAGS)), st.sampled_from(sorted(_LAGS))),
    seed=st.integers(0, 2**16),
)
def test_energy_never_increases_on_random_conv_graphs(hw, cin, cout, ks, stride, padding, pool, lags, seed):
    rng = np.random.default_rng(seed)
    groups = 2 if cin == 2 and cout == 4 and seed % 2 else 1
    use_bias = bool(seed % 3)
    # explicit random weights (numpy) keep the example to a single compilation
    kernel = _randn(rng, (ks, ks, cin // groups, cout)) / np.sqrt(ks * ks * cin / groups)
    common = dict(
        strides=stride,
        padding=padding,
        feature_group_count=groups,
        use_bias=use_bias,
        kernel=kernel,
        bias=_randn(rng, (cout,)) if use_bias else None,
    )
    if pool is None:
        syn = hg.ConvSynapse(ks, **common)
    else:
        syn = hg.ConvSynapseWithPool(ks, pool_window=2, pool_stride=1, pool_type=pool, **common)
    try:
        out_shape = syn.output_shape(hw + (cin,), cout)
    except hg.ValidationError:
        assume(False)
    ham = hg.HAM()
    ham.add_layer("img", _LAGS[lags[0]](hw + (cin,)))
    ham.add_layer("feat", _LAGS[lags[1]](out_shape))
    ham.add_layer("label", hg.SoftmaxLayer((3,)))
    ham.add_synapse("conv", syn, layers=("img", "feat"))
    W = 0.3 * _randn(rng, (int(np.prod(out_shape)), 3))
    ham.add_synapse("dense", hg.DenseSynapse(W=W), layers=("feat", "label"))
    model = ham.compile(key=jax.random.key(seed))
    xs = {n: _randn(rng, (2,) + s) for n, s in zip(model.layer_names, model.shapes)}
    # max pooling makes the alignment piecewise bilinear: an Euler step that crosses a kink of
    # the max can overshoot by O(dt * jump of the gradient), so those graphs take smaller steps
    dt, steps = (0.01, 100) if pool == "max" else (0.05, 40)
    _, energies = model.run(xs, steps=steps, dt=dt)
    e = np.asarray(energies)
    assert np.all(np.isfinite(e))
    tol = 1e-5 * (1.0 + np.abs(e[:-1]))
    assert np.all(np.diff(e, axis=0) <= tol), np.diff(e, axis=0).max()
    assert np.all(e[-1] < e[0])


def test_bfloat16_compute_dtype_is_close_to_reference():
    rng = np.random.default_rng(11)
    kernel, g1 = _randn(rng, (3, 3, 2, 2)), _randn(rng, (5, 5, 2))
    y = np_conv(g1.astype(np.float64), kernel.astype(np.float64), (1, 1), [(1, 1), (1, 1)], (1, 1), (1, 1), 1)
    g2 = _randn(rng, y.shape)
    syn = hg.ConvSynapse(3, dtype="bfloat16", use_bias=False, kernel=kernel)
    got = eqx.filter_jit(syn)(g1, g2)
    assert got.dtype == jnp.float32  # bf16 convolution, inner product promoted with the float32 activation
    np.testing.assert_allclose(float(got), np.sum(y * g2), rtol=5e-2, atol=0.5)
