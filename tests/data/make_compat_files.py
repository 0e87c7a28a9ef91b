"""Write the compatibility files under tests/data/compat (run once per format version).

Every zoo model, a registered custom synapse and weight sharing, as GraphML and as saved
models, with the energy of fixed states recorded at write time (``energies.json``).
``tests/test_formats_compat.py`` loads them with the current code and compares. Rerunning this
script overwrites the files: do it only when a new ``format_version`` is introduced, and keep
the old files loading.

Usage: ``python tests/data/make_compat_files.py`` (all models), or
``python tests/data/make_compat_files.py NAME ...`` to add the files of models that joined
since (the existing files are left as they are and ``energies.json`` gains their records).
"""

from __future__ import annotations

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from helpers.synapses import CompatBilinear  # noqa: E402  (registered under that name)

import hamux_graph as hg  # noqa: E402

OUT = os.path.join(HERE, "compat")


def zoo_models():
    """Name -> HAM for every zoo entry, at small sizes."""
    pats = np.sign(np.random.default_rng(0).standard_normal((3, 16))).astype(np.float32)
    small = {
        "hn": dict(input_shape=(4, 4), num_classes=3, nhid=8),
        "hn_relu": dict(input_shape=(4, 4), num_classes=3, nhid=8),
        "hn_repu": dict(input_shape=(4, 4), num_classes=3, nhid=8),
        "hn_softmax": dict(input_shape=(4, 4), num_classes=3, nhid=8),
        "conv_ham": dict(input_shape=(6, 6, 1), num_classes=3, channels=2, nhid=8),
        "conv_ham_avg": dict(input_shape=(6, 6, 1), num_classes=3, channels=2, nhid=8),
        "conv_ham_max": dict(input_shape=(6, 6, 1), num_classes=3, channels=2, nhid=8),
        "energy_attn": dict(input_shape=(4, 4, 1), num_classes=3, dim=8, num_heads=2, zspace_dim=4, nhid=8),
        "classical_hopfield": dict(patterns=jnp.asarray(pats)),
        "dense_associative_memory": dict(patterns=jnp.asarray(pats)),
        "modern_hopfield": dict(patterns=jnp.asarray(pats), beta=2.0),
        "sparse_hopfield": dict(patterns=jnp.asarray(pats), beta=2.0),
        "gaussian_memory": dict(patterns=jnp.asarray(pats), beta=0.5),
        "epanechnikov_memory": dict(patterns=jnp.asarray(pats), beta=0.1),
        "random_feature_memory": dict(patterns=jnp.asarray(pats), num_features=64, beta=0.5, key=jax.random.key(3)),
    }
    missing = sorted(set(hg.zoo.names()) - set(small))
    if missing:
        raise SystemExit(f"add small arguments for the zoo models {missing}")
    return {name: hg.zoo.create(name, **kw) for name, kw in small.items()}


def custom_and_shared():
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((5,), beta=1.5, use_bias=True))
    ham.add_layer("b", hg.SoftmaxLayer((4,), beta=2.0))
    ham.add_layer("c", hg.TanhLayer((5,)))
    ham.add_synapse("bil", CompatBilinear(scale=0.5), layers=("a", "b"))
    ham.add_synapse("ab", hg.DenseSynapse(stdinit=0.3), layers=("a", "b"))
    ham.add_synapse("cb", shares="ab", layers=("c", "b"))
    ham.add_synapse("aa", hg.DenseSynapse(stdinit=0.3), layers=("a", "a"))
    return {"custom_shared": ham}


def main(only=()):
    os.makedirs(OUT, exist_ok=True)
    record = {"hamux_graph_version": hg.__version__, "models": {}}
    models = {**zoo_models(), **custom_and_shared()}
    if only:
        with open(os.path.join(OUT, "energies.json")) as f:
            record = json.load(f)
        unknown = sorted(set(only) - set(models))
        if unknown:
            raise SystemExit(f"unknown model names {unknown}")
        models = {n: models[n] for n in only}
    for name, ham in models.items():
        model = ham.compile(key=jax.random.key(7))
        xs = model.init_states(batch_size=2, key=jax.random.key(11))
        hg.write_graphml(ham, os.path.join(OUT, f"{name}.graphml"))
        hg.save(model, os.path.join(OUT, f"{name}.hamux"))
        np.savez(os.path.join(OUT, f"{name}_states.npz"), **{k: np.asarray(v) for k, v in xs.items()})
        # the GraphML architecture compiled with the same key gives the same model
        record["models"][name] = {
            "energy": [float(e) for e in np.asarray(model.energy(xs))],
            "energy_after_run": [float(e) for e in np.asarray(model.run(xs, steps=5, dt=0.05)[1][-1])],
        }
    with open(os.path.join(OUT, "energies.json"), "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    print(f"wrote {len(models)} models to {OUT} ({len(record['models'])} recorded)")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
