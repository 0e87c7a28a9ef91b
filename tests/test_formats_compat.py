"""Files written by earlier versions keep loading, with the energies recorded at write time.

The files under tests/data/compat were written by tests/data/make_compat_files.py (format
version 1 of both GraphML and saved models). Every later format change bumps
``format_version`` and must keep these loading.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

import hamux_graph as hg

from helpers.synapses import CompatBilinear  # noqa: F401  (registered, as the writer did)


DATA = os.path.join(os.path.dirname(__file__), "data", "compat")
with open(os.path.join(DATA, "energies.json")) as _f:
    RECORD = json.load(_f)["models"]
# models whose weights are given explicitly (the stored patterns): a GraphML file holds no weights
EXPLICIT = {
    "classical_hopfield",
    "dense_associative_memory",
    "modern_hopfield",
    "sparse_hopfield",
    "gaussian_memory",
    "epanechnikov_memory",
    "random_feature_memory",
}


def _states(name):
    with np.load(os.path.join(DATA, f"{name}_states.npz")) as z:
        return {k: z[k] for k in z.files}


def test_the_recorded_zoo_models_still_exist():
    # the files cover every zoo model of the day they were written; none may disappear
    assert set(RECORD) - {"custom_shared"} <= set(hg.zoo.builtin_names())


@pytest.mark.parametrize("name", sorted(RECORD))
def test_saved_model_loads_with_recorded_energies(name):
    model = hg.load(os.path.join(DATA, f"{name}.hamux"))
    xs = _states(name)
    np.testing.assert_allclose(np.asarray(model.energy(xs)), RECORD[name]["energy"], rtol=1e-5, atol=1e-5)
    _, es = model.run(xs, steps=5, dt=0.05)
    np.testing.assert_allclose(np.asarray(es[-1]), RECORD[name]["energy_after_run"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(RECORD))
def test_graphml_reads_back_the_same_architecture(name):
    ham = hg.read_graphml(os.path.join(DATA, f"{name}.graphml"))
    saved = hg.load(os.path.join(DATA, f"{name}.hamux"))
    model = ham.compile(key=jax.random.key(7))  # the key the writer compiled with
    assert model.layer_names == saved.layer_names and model.synapse_names == saved.synapse_names
    assert hg.parameter_names(model) == hg.parameter_names(saved)
    if name not in EXPLICIT:
        np.testing.assert_allclose(
            np.asarray(model.energy(_states(name))), RECORD[name]["energy"], rtol=1e-5, atol=1e-5
        )
