"""Hypothesis strategies shared by the tests: random valid HAM graphs.

``random_hams`` draws small graphs of dense synapses over elementwise, softmax and norm
layers (the dynamics tests: descent, grouping, packing); ``hams_of_every_type`` draws graphs
that use every layer, Lagrangian and synapse type, a registered user synapse and weight
sharing (the file-format tests: every type must round-trip).
"""

from __future__ import annotations

from hypothesis import strategies as st

import hamux_graph as hg

from .synapses import ScaledBilinear


LAGRANGIANS = [
    lambda: hg.LIdentity(),
    lambda: hg.LRepu(n=3),
    lambda: hg.LRelu(),
    lambda: hg.LExp(beta=0.5),
    lambda: hg.LRexp(beta=0.8),
    lambda: hg.LTanh(beta=1.5),
    lambda: hg.LSigmoid(beta=1.0, scale=1.5),
    lambda: hg.LSoftmax(beta=2.0),
    lambda: hg.LLayerNorm(gamma=1.0, delta=0.1, eps=0.1),  # tiny eps: too stiff for a fixed Euler step
    lambda: hg.LSphericalNorm(gamma=1.0, delta=0.0, eps=0.1),
]


@st.composite
def random_hams(draw):
    ham = hg.HAM()
    n_layers = draw(st.integers(1, 4))
    shapes = []
    for i in range(n_layers):
        rank = draw(st.integers(1, 2))
        shape = tuple(draw(st.integers(2, 4)) for _ in range(rank))
        lag = LAGRANGIANS[draw(st.integers(0, len(LAGRANGIANS) - 1))]()
        tau = draw(st.sampled_from([0.5, 1.0, 2.0]))
        ham.add_layer(f"l{i}", hg.Layer(lag, shape=shape, tau=tau, use_bias=draw(st.booleans())))
        shapes.append(shape)
    for j in range(draw(st.integers(1, 4))):
        k = draw(st.integers(1, 3))
        conn = [f"l{draw(st.integers(0, n_layers - 1))}" for _ in range(k)]
        kind = draw(st.integers(0, 3))
        if kind == 0 or k == 1:
            syn = hg.DenseSynapse(stdinit=0.3)
        elif kind == 1:
            syn = hg.DenseTensorSynapseWithHiddenLayer(nhid=3, num_heads=2, stdinit=0.3)
        elif kind == 2:
            syn = hg.DenseMatrixSynapseWithHiddenLayer(
                nhid=4, stdinit=0.3, hidden_lagrangian=hg.LSoftmax(beta=1.0), do_norm=draw(st.booleans())
            )
        else:
            syn = hg.DenseSynapse(stdinit=0.3)
        ham.add_synapse(f"s{j}", syn, layers=conn)
    return ham, draw(st.integers(0, 2**30))


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
def hams_of_every_type(draw):
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
    if pool["tok"]:
        types += ["Attention", "SelfAttention", "BinaryMixer"]
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
