"""Every registered zoo entry at a small size, for the zoo-wide file round trips.

``small_zoo_hams()`` builds each name of ``hg.zoo.names()``: with the small arguments of
``SMALL`` where listed, otherwise with the factory's defaults, so a zoo entry added later is
covered without editing this file (add it to ``SMALL`` if its defaults are large).
``compiled(name)`` caches the compiled model of each (key 7) for the test files of one process.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

import hamux_graph as hg


def _patterns():
    return jnp.asarray(np.sign(np.random.default_rng(0).standard_normal((3, 16))).astype(np.float32))


def small_arguments() -> dict[str, dict]:
    """Small factory arguments per zoo entry (the entries of tests/data/make_compat_files.py)."""
    pats = _patterns()
    classifier = dict(input_shape=(4, 4), num_classes=3, nhid=8)
    conv = dict(input_shape=(6, 6, 1), num_classes=3, channels=2, nhid=8)
    return {
        "hn": classifier,
        "hn_relu": classifier,
        "hn_repu": classifier,
        "hn_softmax": classifier,
        "conv_ham": conv,
        "conv_ham_avg": conv,
        "conv_ham_max": conv,
        "energy_attn": dict(input_shape=(4, 4, 1), num_classes=3, dim=8, num_heads=2, zspace_dim=4, nhid=8),
        "classical_hopfield": dict(patterns=pats),
        "dense_associative_memory": dict(patterns=pats),
        "modern_hopfield": dict(patterns=pats, beta=2.0),
        "sparse_hopfield": dict(patterns=pats, beta=2.0),
        "gaussian_memory": dict(patterns=pats, beta=0.5),
        "epanechnikov_memory": dict(patterns=pats, beta=0.1),
        "random_feature_memory": dict(patterns=pats, num_features=64, beta=0.5, key=jax.random.key(3)),
        "hopfield_pooling": dict(set_shape=(5, 4), num_queries=2, zspace_dim=4, num_classes=2),
        "graph_energy_transformer": dict(graph=nx.cycle_graph(5), feature_dim=3, dim=4, zspace_dim=4, num_memories=6),
    }


def zoo_names() -> list[str]:
    """Every registered zoo entry (built-in and registered since), sorted."""
    return hg.zoo.names()


@functools.cache
def ham(name: str) -> hg.HAM:
    """The zoo entry ``name`` at a small size (its defaults when ``SMALL`` does not list it)."""
    return hg.zoo.create(name, **small_arguments().get(name, {}))


@functools.cache
def compiled(name: str) -> hg.CompiledHAM:
    """The compiled zoo entry ``name`` (key 7), cached."""
    return ham(name).compile(key=jax.random.key(7))


def states(model: hg.CompiledHAM, seed: int = 11):
    """A batch of two random states of ``model``."""
    return model.init_states(batch_size=2, key=jax.random.key(seed))


@functools.cache
def random_model(name: str) -> hg.CompiledHAM:
    """The zoo entry ``name`` with random parameter bits of the right shapes and dtypes (no compile).

    Built from the abstract model (nothing is jitted), so zoo-wide weight-file round trips stay
    fast; the values are random (normals; positive scalars), which a bit-exact round trip must keep.
    """
    from hamux_graph.formats.saving import expected_parameters, model_from_arrays

    plan = ham(name).plan()
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    # learnable scalars (β, γ, ...) positive: they are written into the architecture, which checks them
    arrays = {
        k: (rng.uniform(0.5, 2.0, shape) if shape == () else rng.standard_normal(shape)).astype(dtype)
        for k, (shape, dtype) in expected_parameters(plan, name).items()
    }
    return model_from_arrays(plan, arrays, name)
