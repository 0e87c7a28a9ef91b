"""Comparisons of models and graphs: what a file round trip must preserve, and nothing else."""

from __future__ import annotations

import jax
import networkx as nx
import numpy as np

import hamux_graph as hg


def structure(ham: hg.HAM):
    """Everything a file must preserve, as plain comparable values."""
    out = []
    for n, d in ham.graph.nodes(data=True):
        if d["kind"] == "layer":
            lag = d["lagrangian"]
            out.append((n, "layer", type(lag), lag.config(), tuple(d["shape"]), d["tau"], d["use_bias"]))
        elif d.get("synapse") is not None:
            syn = d["synapse"]
            nested = tuple(type(getattr(syn, f)) for f in ("hidden_lagrangian", "squash") if hasattr(syn, f))
            out.append((n, "synapse", type(syn), syn.config(), nested, ham.connections(n)))
        else:
            out.append((n, "shares", d["shares"], ham.connections(n)))
    return out


def assert_same_model(m1, m2):
    """Same static structure and bit-identical array leaves."""
    assert jax.tree_util.tree_structure(m1) == jax.tree_util.tree_structure(m2)
    l1, l2 = jax.tree_util.tree_leaves(m1), jax.tree_util.tree_leaves(m2)
    assert len(l1) == len(l2)
    for a, b in zip(l1, l2):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def graph_snapshot(G: nx.MultiDiGraph):
    """Identity-based snapshot of a graph (arrays inside modules cannot be compared with ==)."""
    return (
        {k: id(v) for k, v in G.graph.items()},
        [(n, {k: id(v) for k, v in d.items()}) for n, d in G.nodes(data=True)],
        [(u, v, k, dict(d)) for u, v, k, d in G.edges(keys=True, data=True)],
    )
