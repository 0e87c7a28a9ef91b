"""Hypothesis strategies shared by the tests: random HAM graphs of dense synapses."""

from __future__ import annotations

from hypothesis import strategies as st

import hamux_graph as hg


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
