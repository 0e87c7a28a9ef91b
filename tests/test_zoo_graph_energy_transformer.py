"""The Graph Energy Transformer factory and the karate-club completion example."""

from __future__ import annotations

import importlib.util
import os

import networkx as nx
import numpy as np
import pytest

import hamux_graph as hg


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_factory_masks_attention_by_the_adjacency(tmp_path):
    G = nx.karate_club_graph()
    nodes = list(reversed(list(G.nodes)))
    ham = hg.zoo.create(
        "graph_energy_transformer",
        graph=G,
        nodes=nodes,
        feature_dim=3,
        dim=8,
        num_heads=2,
        zspace_dim=4,
        num_memories=5,
    )
    assert ham.layers["features"].shape == (34, 3) and ham.layers["tokens"].shape == (34, 8)
    mask = ham.synapses["attention"].mask
    A = nx.to_numpy_array(G, nodelist=nodes, weight=None) > 0
    assert np.array_equal(mask, A | np.eye(34, dtype=bool))
    assert ham.connections("memory") == ("features", "tokens")
    ham.validate()
    hg.write_graphml(ham, tmp_path / "get.graphml")
    assert np.array_equal(hg.read_graphml(tmp_path / "get.graphml").synapses["attention"].mask, mask)
    with pytest.raises(hg.ValidationError, match="networkx graph"):
        hg.zoo.create("graph_energy_transformer", graph=np.eye(3), feature_dim=2)
    with pytest.raises(hg.ValidationError, match="no allowed score"):
        G2 = nx.Graph()
        G2.add_nodes_from([0, 1])
        G2.add_edge(0, 0)
        hg.zoo.create("graph_energy_transformer", graph=G2, feature_dim=2, self_loops=False).validate()


@pytest.mark.slow
def test_karate_club_completion_matches_label_spreading(capsys):
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location(
        "graph_completion", os.path.join(ROOT, "examples", "graph_completion.py")
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    et, baseline = example.main(["--steps", "200"])
    out = capsys.readouterr().out
    assert "clamped nodes: 2 of 34" in out and "monotone (to float32 rounding): True" in out
    assert baseline > 0.9 and et >= baseline - 0.05
