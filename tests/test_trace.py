"""model.energy_trace: per-node energies along a run, in one scan, consistent with run and energy_tree."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import hamux_graph as hg


@pytest.fixture(scope="module")
def model():
    """One compiled model for the module (compiling draws every synapse's weights: seconds)."""
    return small_model(jax.random.key(7))


def small_model(key):
    ham = hg.HAM()
    for i in range(4):  # a run of identical layers (stacked groups) and two different ones
        ham.add_layer(f"x{i}", hg.TanhLayer((6,)))
    ham.add_layer("h", hg.SoftmaxLayer((7,), beta=2.0, use_bias=True))
    ham.add_layer("v", hg.IdentityLayer((3,)))
    for i in range(3):
        ham.add_synapse(f"s{i}", hg.DenseSynapse(stdinit=0.3), layers=(f"x{i}", f"x{i + 1}"))
    ham.add_synapse("hv", hg.DenseSynapse(stdinit=0.3), layers=("h", "v", "x2"))
    ham.add_synapse("self", hg.DenseSynapse(stdinit=0.3), layers=("v", "v"))
    return ham.compile(key=key)


def totals(trace):
    return np.asarray(sum(v for part in trace.values() for v in part.values()))


def test_components_sum_to_the_energies_of_run(model, getkey):
    xs = {k: 3 * v for k, v in model.init_states(batch_size=4, key=getkey()).items()}
    clamp = ("x0", "v")
    trace = model.energy_trace(xs, steps=15, dt=0.1, clamp=clamp)
    final, energies = model.run(xs, steps=15, dt=0.1, clamp=clamp)
    assert set(trace) == {"layers", "synapses"}
    assert set(trace["layers"]) == set(model.layer_names) and set(trace["synapses"]) == set(model.synapse_names)
    assert all(v.shape == (16, 4) for part in trace.values() for v in part.values())
    np.testing.assert_allclose(totals(trace), np.asarray(energies), rtol=1e-5, atol=1e-5)
    last = model.energy_tree(final)
    for part in ("layers", "synapses"):
        for name, e in last[part].items():
            np.testing.assert_allclose(np.asarray(trace[part][name][-1]), np.asarray(e), rtol=1e-5, atol=1e-6)
    # a held layer's own energy depends on its state only: constant along the run
    assert np.ptp(np.asarray(trace["layers"]["x0"]), axis=0).max() == 0.0


def test_unbatched_states_and_a_mask(model, getkey):
    xs = model.init_states(key=getkey())
    clamp = {"x1": np.arange(6) < 3}
    trace = model.energy_trace(xs, steps=4, clamp=clamp)
    assert trace["synapses"]["s1"].shape == (5,)
    _, energies = model.run(xs, steps=4, clamp=clamp)
    np.testing.assert_allclose(totals(trace), np.asarray(energies), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_packed_states(model, getkey):
    xs = model.init_states(key=getkey())
    packed = model.energy_trace(model.pack(xs), steps=4)
    np.testing.assert_allclose(totals(packed), totals(model.energy_trace(xs, steps=4)), rtol=1e-6)


def test_bad_arguments_name_the_fix(model):
    xs = model.init_states()
    with pytest.raises(hg.ArgumentError, match=r"steps must be an int in \[0, 2147483647\]"):
        model.energy_trace(xs, steps=-1)
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        model.energy_trace(xs, steps=2, dt=0.0)
    with pytest.raises(hg.StateError, match="clamp names unknown layer 'nope'"):
        model.energy_trace(xs, steps=2, clamp=("nope",))
    with pytest.raises(hg.StateError, match="missing"):
        model.energy_trace({"x0": xs["x0"]}, steps=2)


def test_nothing_held_and_a_held_stacked_group(model, getkey):
    # nothing held (no held parts at all), and two identical held layers (a stacked held
    # group, whose energies are computed once and repeated along the steps)
    xs = {k: 2 * v for k, v in model.init_states(batch_size=3, key=getkey()).items()}
    first = model.energy_tree(xs)
    for clamp in (None, ("x0", "x1")):
        trace = model.energy_trace(xs, steps=3, dt=0.1, clamp=clamp)
        _, energies = model.run(xs, steps=3, dt=0.1, clamp=clamp)
        np.testing.assert_allclose(totals(trace), np.asarray(energies), rtol=1e-5, atol=1e-5)
        for part in ("layers", "synapses"):
            for name, e in first[part].items():
                np.testing.assert_allclose(np.asarray(trace[part][name][0]), np.asarray(e), rtol=1e-5, atol=1e-6)
    for name in ("x0", "x1"):
        assert trace["layers"][name].shape == (4, 3)
        assert np.ptp(np.asarray(trace["layers"][name]), axis=0).max() == 0.0
