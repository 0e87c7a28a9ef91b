"""Building HAM graphs and validating them: every error names the culprit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import hamux_graph as hg

from helpers import bad_inputs


def _small():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,)))
    ham.add_layer("h", hg.SoftmaxLayer((6,), beta=2.0))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    return ham


def test_graph_layout_is_bipartite_with_slots():
    ham = _small()
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("tri", hg.DenseSynapse(), layers=("h", "v", "h"))
    G = ham.graph
    assert isinstance(G, nx.MultiDiGraph)
    assert G.nodes["v"]["kind"] == "layer" and G.nodes["mem"]["kind"] == "synapse"
    assert G.number_of_edges("self", "v") == 2  # a self-connection is two parallel edges
    assert sorted(d["slot"] for _, _, d in G.out_edges("tri", data=True)) == [0, 1, 2]
    assert ham.connections("tri") == ("h", "v", "h")
    assert nx.is_bipartite(nx.Graph(G))
    ham.validate()


def test_slot_order_comes_from_slot_attribute_not_insertion():
    G = nx.MultiDiGraph()
    G.add_node("a", kind="layer", lagrangian=hg.LIdentity(), shape=(2,), tau=1.0, use_bias=False)
    G.add_node("b", kind="layer", lagrangian=hg.LIdentity(), shape=(3,), tau=1.0, use_bias=False)
    G.add_node("s", kind="synapse", synapse=hg.DenseSynapse())
    G.add_edge("s", "b", slot=1)
    G.add_edge("s", "a", slot=0)
    ham = hg.HAM.from_networkx(G)
    assert ham.connections("s") == ("a", "b")
    model = ham.compile(key=jax.random.key(0))
    assert model.synapse("s").W.shape == (2, 3)


def test_from_networkx_copies_and_to_networkx_copies():
    ham = _small()
    G = ham.to_networkx()
    G.remove_node("mem")
    assert "mem" in ham.graph
    ham2 = hg.HAM.from_networkx(ham.graph)
    ham2.graph.remove_node("mem")
    assert "mem" in ham.graph


def test_unknown_layer_in_add_synapse():
    ham = _small()
    with pytest.raises(hg.ValidationError, match=r"synapse 'bad': unknown layer 'nope'"):
        ham.add_synapse("bad", hg.DenseSynapse(), layers=("v", "nope"))
    assert "bad" not in ham.graph


def test_duplicate_name():
    ham = _small()
    with pytest.raises(hg.ValidationError, match=r"layer 'v'.*already exists"):
        ham.add_layer("v", hg.TanhLayer((2,)))
    with pytest.raises(hg.ValidationError, match=r"synapse 'v'.*already exists"):
        ham.add_synapse("v", hg.DenseSynapse(), layers=("h",))


@pytest.mark.bad_arguments
def test_bad_names():
    ham = hg.HAM()
    for bad in ["", "1abc", "has space", "a/b", 3]:
        with pytest.raises(hg.ValidationError, match="not a valid name"):
            ham.add_layer(bad, hg.TanhLayer((2,)))


def test_wrong_arity():
    ham = _small()
    ham.add_layer("c", hg.TanhLayer((3,)))
    with pytest.raises(hg.ValidationError, match=r"synapse 's3'.*SimpleDenseSynapse connects exactly 2 layer"):
        ham.add_synapse("s3", hg.SimpleDenseSynapse(), layers=("v", "h", "c"))
        ham.validate()


def test_simple_dense_needs_vectors():
    ham = hg.HAM()
    ham.add_layer("img", hg.TanhLayer((2, 2)))
    ham.add_layer("h", hg.TanhLayer((3,)))
    ham.add_synapse("s", hg.SimpleDenseSynapse(), layers=("img", "h"))
    with pytest.raises(hg.ValidationError, match=r"synapse 's'.*vector \(rank-1\) layers"):
        ham.validate()


def test_explicit_weight_of_wrong_shape():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,)))
    ham.add_layer("h", hg.TanhLayer((6,)))
    ham.add_synapse("mem", hg.DenseSynapse(W=jnp.zeros((6, 4))), layers=("v", "h"))
    with pytest.raises(hg.ValidationError, match=r"synapse 'mem'.*`W` has shape \(6, 4\).*need \(4, 6\)"):
        ham.validate()
    with pytest.raises(hg.ValidationError, match=r"synapse 'mem'"):
        ham.compile(key=jax.random.key(0))


def test_explicit_weight_list_of_wrong_shapes():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,)))
    ham.add_synapse("m", hg.DenseMatrixSynapseWithHiddenLayer(nhid=3, Ws=[jnp.zeros((4, 2))]), layers=("v",))
    with pytest.raises(hg.ValidationError, match=r"`Ws` has shape \[\(4, 2\)\].*need \[\(4, 3\)\]"):
        ham.validate()


def test_tau_must_be_positive():
    with pytest.raises(hg.ValidationError, match=r"tau \(the time constant\) must be > 0, got 0.0"):
        hg.TanhLayer((3,), tau=0.0)
    with pytest.raises(ValueError, match="tau .*must be > 0, got -1.0"):
        hg.Layer(hg.LIdentity(), shape=(3,), tau=-1.0)
    # a graph edited by hand is caught by validate, naming the node
    ham = _small()
    ham.graph.nodes["v"]["tau"] = -2.0
    with pytest.raises(hg.ValidationError, match=r"layer 'v': .*tau"):
        ham.validate()


def test_softmax_axis_out_of_range_in_graph():
    ham = _small()
    ham.graph.nodes["h"]["lagrangian"] = hg.LSoftmax(axis=2)
    with pytest.raises(hg.ValidationError, match=r"layer 'h': LSoftmax\(axis=2\)"):
        ham.validate()


@pytest.mark.bad_arguments
def test_from_networkx_rejects_non_ham_graphs():
    with pytest.raises(hg.ValidationError, match="undirected"):
        hg.HAM.from_networkx(nx.Graph())
    with pytest.raises(hg.ValidationError, match="MultiDiGraph"):
        hg.HAM.from_networkx(nx.DiGraph())
    with pytest.raises(hg.ValidationError, match="networkx graph"):
        hg.HAM.from_networkx({"v": 1})
    G = nx.MultiDiGraph()
    G.add_node("x")
    with pytest.raises(hg.ValidationError, match=r"node 'x': attribute kind=None"):
        hg.HAM.from_networkx(G)
    G = _small().to_networkx()
    G.add_edge("v", "h", slot=0)
    with pytest.raises(hg.ValidationError, match=r"edge 'v' -> 'h'.*from a synapse node to a layer node"):
        hg.HAM.from_networkx(G)
    G = _small().to_networkx()
    G.add_edge("mem", "v", slot=3)
    with pytest.raises(hg.ValidationError, match=r"synapse 'mem': slots must be 0..2"):
        hg.HAM.from_networkx(G)
    G = _small().to_networkx()
    G.add_edge("mem", "v", slot="0")
    with pytest.raises(hg.ValidationError, match=r"'slot' must be an int"):
        hg.HAM.from_networkx(G)
    G = _small().to_networkx()
    del G.nodes["v"]["shape"]
    with pytest.raises(hg.ValidationError, match=r"layer 'v': missing node attribute"):
        hg.HAM.from_networkx(G)


def test_weight_sharing():
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((3,)))
    ham.add_layer("b", hg.TanhLayer((4,)))
    ham.add_layer("c", hg.TanhLayer((3,)))
    ham.add_layer("d", hg.TanhLayer((5,)))
    ham.add_synapse("s1", hg.DenseSynapse(), layers=("a", "b"))
    ham.add_synapse("s2", shares="s1", layers=("c", "b"))
    model = ham.compile(key=jax.random.key(0))
    assert len(model.synapses) == 1
    assert model.synapse("s1") is model.synapse("s2")
    ham.add_synapse("s3", shares="s1", layers=("d", "b"))
    with pytest.raises(hg.ValidationError, match=r"synapse 's3' \(sharing the parameters of 's1'\).*shapes"):
        ham.validate()
    with pytest.raises(hg.ValidationError, match="shares='zz' is not a synapse"):
        ham.add_synapse("s4", shares="zz", layers=("a", "b"))
    with pytest.raises(hg.ValidationError, match="exactly one of"):
        ham.add_synapse("s5", layers=("a", "b"))


def test_summary_lists_everything():
    ham = _small()
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    text = ham.summary()
    for word in ["v", "h", "mem", "self", "LSoftmax", "DenseSynapse", "v -> h", "v -> v"]:
        assert word in text
    # 4*6 + 4*4 synapse weights
    assert "40 parameters" in text


def test_model_to_ham_keeps_order_and_sharing(getkey):
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((3,)))
    ham.add_layer("b", hg.TanhLayer((4,), use_bias=True))
    ham.add_synapse("s1", hg.DenseSynapse(), layers=("a", "b"))
    ham.add_synapse("s2", shares="s1", layers=("a", "b"))
    ham.add_synapse("s0", hg.DenseSynapse(), layers=("b", "b"))
    G = ham.graph
    # make the sharing node come before its owner in node order, as a hand-built graph may
    G2 = type(G)()
    for n in ["a", "b", "s2", "s1", "s0"]:
        G2.add_node(n, **G.nodes[n])
    G2.add_edges_from(G.edges(keys=True, data=True))
    model = hg.HAM.from_networkx(G2).compile(key=getkey())
    back = model.to_ham()
    assert list(back.graph.nodes) == ["a", "b", "s2", "s1", "s0"]
    assert back.graph.nodes["s2"]["shares"] == "s1"
    assert back.connections("s0") == ("b", "b")
    assert back.layers["b"].use_bias
    again = back.compile(key=getkey())
    xs = model.init_states(batch_size=2, key=getkey())
    np.testing.assert_allclose(np.asarray(again.energy(xs)), np.asarray(model.energy(xs)), rtol=1e-6)


# ---- bad inputs, generated from the signatures (tests/helpers/bad_inputs.py) ----


@pytest.mark.parametrize("case", bad_inputs.constructor_cases("layer") + bad_inputs.shape_cases(), ids=lambda c: c.id)
@pytest.mark.bad_arguments
def test_bad_layer_arguments_raise_named_errors(case):
    bad_inputs.check(case)


@pytest.mark.parametrize(
    "case", bad_inputs.constructor_cases("synapse") + bad_inputs.constructor_cases("adjoint"), ids=lambda c: c.id
)
@pytest.mark.bad_arguments
def test_bad_synapse_and_adjoint_arguments_raise_named_errors(case):
    bad_inputs.check(case)


# ---- graph editing keeps the invariants ----


def _editable():
    ham = hg.HAM()
    for n in ("a", "b", "c"):
        ham.add_layer(n, hg.TanhLayer((3,)))
    ham.add_synapse("ab", hg.DenseSynapse(), layers=("a", "b"))
    ham.add_synapse("abc", hg.DenseSynapse(), layers=("a", "b", "c"))
    ham.add_synapse("bc", shares="ab", layers=("b", "c"))
    return ham


def test_remove_rename_copy():
    ham = _editable()
    with pytest.raises(
        hg.ValidationError, match=r"remove_layer: layer 'c' is connected by the synapse\(s\) \['abc', 'bc'\]"
    ):
        ham.remove_layer("c")
    with pytest.raises(hg.ValidationError, match=r"remove_synapse: synapses \['bc'\] share the parameters of 'ab'"):
        ham.remove_synapse("ab")
    other = ham.copy()
    other.remove_layer("c", with_synapses=True)
    assert sorted(other.synapses) == ["ab"] and sorted(ham.synapses) == ["ab", "abc", "bc"]
    other.validate()
    ham.rename("ab", "hub")
    assert ham.graph.nodes["bc"]["shares"] == "hub" and ham.connections("hub") == ("a", "b")
    ham.rename("a", "x")
    assert ham.connections("abc") == ("x", "b", "c")
    ham.compile(key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="already exists"):
        ham.rename("x", "b")
    with pytest.raises(hg.ValidationError, match="is not a valid name"):
        ham.rename("x", "has space")
    with pytest.raises(hg.ValidationError, match="'nope' is not a node"):
        ham.rename("nope", "y")
    with pytest.raises(hg.ValidationError, match="not a synapse"):
        ham.remove_synapse("x")


@pytest.mark.bad_arguments
def test_remove_layer_takes_a_flag():
    with pytest.raises(hg.ArgumentError, match="with_synapses"):
        _editable().remove_layer("c", with_synapses="yes")


def test_raw_networkx_edit_that_drops_a_slot_is_caught():
    ham = _editable()
    ham.graph.remove_node("c")  # the last slot of 'abc' (and 'bc''s) silently gone
    with pytest.raises(hg.ValidationError, match=r"synapse 'abc': was built with 3 argument slot\(s\) but now has 2"):
        ham.validate()


class _VectorAlignment(hg.Synapse):
    W: jax.Array | None = None

    def param_shapes(self, shapes):
        return {"W": (shapes[0][0], shapes[1][0])}

    def __call__(self, g1, g2):
        return (g1 @ self.W) * g2  # a vector: energy() would sum it while energy_tree reported one entry


class _NoParamShapes(hg.Synapse):
    W: jax.Array | None = None

    def __call__(self, g1, g2):
        return g1 @ self.W @ g2


class _ParamShapesOfNothing(hg.Synapse):
    def param_shapes(self, shapes):
        return {"V": (3, 3)}

    def __call__(self, g1, g2):
        return jnp.sum(g1 * g2)


@pytest.mark.parametrize(
    "syn, message",
    [
        (_VectorAlignment(), r"must return a scalar alignment F, but it returns shape \(3,\)"),
        (_NoParamShapes(), r"parameter field\(s\) \['W'\] are None but param_shapes does not give their shape"),
        (_ParamShapesOfNothing(), r"param_shapes names \['V'\], which are not fields"),
    ],
)
@pytest.mark.bad_arguments
def test_custom_synapses_are_checked_at_validate_time(syn, message):
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((3,)))
    ham.add_layer("b", hg.TanhLayer((3,)))
    ham.add_synapse("s", syn, layers=("a", "b"))
    with pytest.raises(hg.ValidationError, match=r"synapse 's' over layers \['a', 'b'\]: .*" + message):
        ham.validate()


def test_layer_energy_false_needs_a_bounded_activation():
    for layer in (hg.IdentityLayer, hg.ReluLayer, hg.ExpLayer):
        lag = layer((3,)).lagrangian
        with pytest.raises(hg.ValidationError, match="layer_energy=False needs a Lagrangian with a bounded activation"):
            hg.Layer(lag, shape=(3,), layer_energy=False)
    for lag in (hg.LTanh(), hg.LSigmoid(), hg.LSoftmax(), hg.LLayerNorm(), hg.LSphericalNorm(), hg.LSparsemax()):
        assert hg.Layer(lag, shape=(3,), layer_energy=False).layer_energy is False
    with pytest.raises(hg.ValidationError, match="gamma"):
        hg.Layer(hg.LLayerNorm(gamma=0.0), shape=(3,), layer_energy=False)
    with pytest.raises(hg.ValidationError, match="layer_energy must be True or False"):
        hg.Layer(hg.LTanh(), shape=(3,), layer_energy="no")
    # without the layer energy: E = Σ_σ E_σ and ∂E/∂g has no leak (a tanh pair, by hand)
    W = jnp.array([[0.5, -1.0], [2.0, 0.3]])
    ham = hg.HAM()
    ham.add_layer("a", hg.Layer(hg.LTanh(), shape=(2,), layer_energy=False))
    ham.add_layer("b", hg.Layer(hg.LTanh(), shape=(2,), layer_energy=False))
    ham.add_synapse("ab", hg.DenseSynapse(W=W), layers=("a", "b"))
    model = ham.compile(key=jax.random.key(0))
    xs = {"a": jnp.array([0.3, -0.7]), "b": jnp.array([1.1, 0.2])}
    ga, gb = jnp.tanh(xs["a"]), jnp.tanh(xs["b"])
    assert float(model.energy(xs)) == pytest.approx(float(-ga @ W @ gb), rel=1e-6)
    d = model.dEdg(xs)
    np.testing.assert_allclose(d["a"], -W @ gb, rtol=1e-6)
    np.testing.assert_allclose(d["b"], -W.T @ ga, rtol=1e-6)
