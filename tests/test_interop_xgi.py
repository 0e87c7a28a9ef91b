"""XGI: a HAM as an xgi.Hypergraph (layers as nodes, synapses as edges) and back."""

from __future__ import annotations

import pytest

import hamux_graph as hg

from helpers import zoo_models
from helpers.compare import structure


xgi = pytest.importorskip("xgi")


def small_ham():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((6,), beta=2.0, tau=0.5))
    ham.add_layer("c", hg.TanhLayer((4,)))
    ham.add_synapse("mem", hg.DenseSynapse(stdinit=0.1), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("mem2", shares="mem", layers=("c", "h"))
    ham.add_synapse("three", hg.DenseSynapse(), layers=("h", "v", "c"))
    return ham


@pytest.mark.parametrize("name", zoo_models.zoo_names())
def test_counts_and_member_sets_are_the_hams(name):
    ham = zoo_models.ham(name)
    plan = ham.plan()
    H = hg.interop.to_xgi(ham)
    assert H.num_nodes == len(plan.layer_names) and H.num_edges == len(plan.synapse_names)
    assert sorted(H.nodes) == sorted(plan.layer_names)
    for s, conn in zip(plan.synapse_names, plan.connections):
        assert H.edges.members(s) == set(conn)
        assert H.edges[s]["slots"] == list(conn)
    back = hg.interop.from_xgi(H)
    assert sorted(structure(back), key=lambda r: r[0]) == sorted(structure(ham), key=lambda r: r[0])


def test_xgi_statistics_count_what_the_ham_connects():
    ham = small_ham()
    H = hg.interop.to_xgi(ham)
    # degree: the synapses touching a layer (a self-connection once); edge size: distinct layers
    degree = {n: sum(n in conn for conn in ham.plan().connections) for n in ham.plan().layer_names}
    assert H.nodes.degree.asdict() == degree == {"v": 3, "h": 3, "c": 2}
    assert H.edges.size.asdict() == {"mem": 2, "self": 1, "mem2": 2, "three": 3}
    # the specs travel as attributes
    assert H.nodes["h"]["shape"] == [6] and H.nodes["h"]["tau"] == 0.5
    assert H.nodes["v"]["config"]["lagrangian"] == {"type": "LTanh", "beta": 2.0, "min_beta": 1e-06}
    assert H.edges["mem2"] == {"shares": "mem", "slots": ["c", "h"]}
    assert H.edges["three"]["type"] == "DenseSynapse" and H.edges["three"]["slots"] == ["h", "v", "c"]
    assert H["format"] == "hamux_graph"


def test_from_xgi_restores_slot_order_and_repeats():
    ham = small_ham()
    back = hg.interop.from_xgi(hg.interop.to_xgi(ham))
    for s in ham.plan().synapse_names:
        assert back.connections(s) == ham.connections(s)
    assert back.connections("self") == ("v", "v")


def test_from_xgi_names_what_is_missing():
    plain = xgi.Hypergraph([["a", "b"], ["b", "c"]])
    with pytest.raises(hg.ValidationError, match=r"xgi\.Hypergraph: not a hamux_graph architecture.*metadata\.format"):
        hg.interop.from_xgi(plain)
    H = hg.interop.to_xgi(small_ham())
    H.edges["three"]["slots"] = ["h", "v"]
    with pytest.raises(hg.ValidationError, match=r"edge 'three': attrs\.slots \['h', 'v'\] does not name the layers"):
        hg.interop.from_xgi(H)
    H = hg.interop.to_xgi(small_ham())
    del H.edges["mem"]["slots"]
    with pytest.raises(
        hg.ValidationError, match=r"edge 'mem', node 'h'\): attrs has no 'slot'.*the edge attribute 'slots'"
    ):
        hg.interop.from_xgi(H)
    H = hg.interop.to_xgi(small_ham())
    del H.nodes["c"]["shape"]
    with pytest.raises(hg.ValidationError, match=r"nodes\[2\] \('c'\): attrs has no \['shape'\]"):
        hg.interop.from_xgi(H)


@pytest.mark.bad_arguments
def test_from_xgi_takes_a_hypergraph():
    with pytest.raises(hg.ValidationError, match=r"expects an xgi\.Hypergraph, got HAM"):
        hg.interop.from_xgi(small_ham())
