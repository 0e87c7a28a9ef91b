"""Hypothesis strategies shared by the file-format tests: random valid HAMs of every type."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import networkx as nx
import numpy as np
from hypothesis import strategies as st

import hamux_graph as hg


@hg.register_synapse
class ScaledBilinear(hg.Synapse):
    """A user-defined synapse (registered) with a hyperparameter and a nested Lagrangian."""

    scale: float = eqx.field(static=True, converter=float, default=1.0)
    squash: hg.Lagrangian = eqx.field(default_factory=hg.LIdentity)
    W: jax.Array | None = None

    def param_shapes(self, shapes):
        return {"W": (math.prod(shapes[0]), math.prod(shapes[1]))}

    def __call__(self, g1, g2):
        return self.scale * self.squash(g1.ravel() @ self.W @ g2.ravel())


BETAS = st.sampled_from([0.5, 1.0, 2.0, 3.25])


@st.composite
def lagrangians(draw, shape):
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    kind = draw(
        st.sampled_from(
            [
                "LIdentity",
                "LRepu",
                "LRelu",
                "LExp",
                "LRexp",
                "LTanh",
                "LSigmoid",
                "LSoftmax",
                "LLayerNorm",
                "LSphericalNorm",
            ]
        )
    )
    if kind == "LIdentity":
        return hg.LIdentity()
    if kind == "LRepu":
        return hg.LRepu(n=draw(st.sampled_from([2.0, 3.0])))
    if kind == "LRelu":
        return hg.LRelu()
    if kind in ("LExp", "LRexp", "LTanh"):
        return getattr(hg, kind)(beta=draw(BETAS), min_beta=draw(st.sampled_from([1e-6, 0.1])))
    if kind == "LSigmoid":
        return hg.LSigmoid(beta=draw(BETAS), scale=draw(st.sampled_from([1.0, 2.5])))
    if kind == "LSoftmax":
        return hg.LSoftmax(beta=draw(BETAS), axis=axis)
    cls = getattr(hg, kind)
    vector = draw(st.booleans())
    delta = [0.1 * (i + 1) for i in range(shape[axis])] if vector else draw(st.sampled_from([0.0, 0.5]))
    return cls(gamma=draw(st.sampled_from([1.0, 1.5])), delta=delta, axis=axis, eps=draw(st.sampled_from([1e-5, 1e-3])))


def hidden_lagrangians():
    return st.sampled_from([hg.LRelu(), hg.LSoftmax(beta=2.0), hg.LTanh(beta=0.5), hg.LRepu(n=3.0)])


@st.composite
def hams(draw):
    """A random valid HAM using every available layer, Lagrangian and synapse type.

    Shapes come from a few small values so that JAX's per-shape caches keep the tests fast.
    """
    ham = hg.HAM()
    counter = iter(range(1000))

    def new_layer(shape):
        name = f"L{next(counter)}"
        lag = draw(lagrangians(shape))
        ham.add_layer(
            name,
            hg.Layer(lag, shape=shape, tau=draw(st.sampled_from([0.5, 1.0, 2.0])), use_bias=draw(st.booleans())),
        )
        return name

    pool = {
        "vec": [new_layer((draw(st.sampled_from([3, 4])),)) for _ in range(draw(st.integers(1, 3)))],
        "tok": [new_layer(draw(st.sampled_from([(2, 3), (1, 4)]))) for _ in range(draw(st.integers(0, 2)))],
    }
    anyl = pool["vec"] + pool["tok"]
    types = ["SimpleDense", "Dense", "DenseFlat", "DenseTensor", "DenseMatrix", "User"]
    if pool["tok"] and hasattr(hg, "AttentionSynapse"):
        types += ["Attention", "SelfAttention", "BinaryMixer"]
    if hasattr(hg, "ConvSynapse"):
        types += ["Conv", "ConvPool"]
    owners: list[tuple[str, tuple[str, ...]]] = []
    for _ in range(draw(st.integers(1, 4))):
        t = draw(st.sampled_from(types))
        name = f"S{next(counter)}"
        pick = lambda opts, k: tuple(draw(st.lists(st.sampled_from(opts), min_size=k, max_size=k)))  # noqa: E731
        if t == "SimpleDense":
            syn, conn = hg.SimpleDenseSynapse(stdinit=draw(st.sampled_from([0.02, 0.1]))), pick(pool["vec"], 2)
        elif t == "Dense":
            conn = pick(anyl, draw(st.integers(1, 3)))
            syn = hg.DenseSynapse(stdinit=draw(st.sampled_from([0.02, 0.1])))
        elif t == "DenseFlat":
            conn = pick(pool["vec"], draw(st.integers(1, 3)))
            syn = hg.DenseSynapse(flatten_args=False)
        elif t == "DenseTensor":
            conn = pick(anyl, draw(st.integers(1, 2)))
            syn = hg.DenseTensorSynapseWithHiddenLayer(
                nhid=draw(st.sampled_from([2, 3])),
                num_heads=draw(st.integers(1, 2)),
                hidden_lagrangian=draw(hidden_lagrangians()),
            )
        elif t == "DenseMatrix":
            conn = pick(anyl, draw(st.integers(1, 3)))
            syn = hg.DenseMatrixSynapseWithHiddenLayer(
                nhid=draw(st.sampled_from([2, 3])),
                hidden_lagrangian=draw(hidden_lagrangians()),
                do_norm=draw(st.booleans()),
            )
        elif t == "User":
            conn = pick(anyl, 2)
            syn = ScaledBilinear(
                scale=draw(st.sampled_from([0.5, 2.0])),
                squash=draw(st.sampled_from([hg.LIdentity(), hg.LTanh(beta=2.0)])),
            )
        elif t == "Attention":
            conn = pick(pool["tok"], 2)
            syn = hg.AttentionSynapse(num_heads=draw(st.integers(1, 2)), zspace_dim=2)
        elif t == "SelfAttention":
            conn = pick(pool["tok"], 1)
            syn = hg.SelfAttentionSynapse(
                num_heads=draw(st.integers(1, 2)), zspace_dim=2, do_qk_norm=draw(st.booleans())
            )
        elif t == "BinaryMixer":
            conn = pick(pool["tok"], 2)
            syn = hg.BinaryMixerSynapse(num_heads=draw(st.integers(1, 2)), zspace_dim=2)
        else:  # convolutions get their own image layers
            size = 4
            image = new_layer((size, size, draw(st.integers(1, 2))))
            if t == "Conv":
                syn = hg.ConvSynapse(
                    draw(st.sampled_from([1, 3])),
                    strides=draw(st.sampled_from([1, 2])),
                    padding=draw(st.sampled_from(["SAME", "VALID"])),
                    use_bias=draw(st.booleans()),
                )
            else:
                syn = hg.ConvSynapseWithPool(
                    3,
                    pool_window=2,
                    pool_stride=2,
                    pool_type=draw(st.sampled_from(["avg", "max"])),
                    padding="SAME",
                )
            out = new_layer(syn.output_shape(ham.layers[image].shape, draw(st.integers(1, 2))))
            conn = (image, out)
        ham.add_synapse(name, syn, layers=conn)
        owners.append((name, conn))
        if draw(st.integers(0, 3)) == 0:
            owner, oconn = draw(st.sampled_from(owners))
            ham.add_synapse(f"S{next(counter)}", shares=owner, layers=oconn)
    ham.validate()
    return ham


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


def random_states(model, key, batch=2):
    return {
        n: 0.5 * jax.random.normal(k, (batch,) + s)
        for n, s, k in zip(model.layer_names, model.shapes, jax.random.split(key, len(model.shapes)))
    }


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
