"""Drawing: matplotlib figures (headless), DOT text, energy traces, summaries."""

from __future__ import annotations

import re
import sys

import matplotlib


matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

import hamux_graph as hg  # noqa: E402
from hamux_graph.draw import dot_quote, layout_positions  # noqa: E402


def sample_ham():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((16,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((64,), beta=2.0))
    ham.add_layer("lab", hg.SoftmaxLayer((3,)))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("tri", hg.DenseSynapse(), layers=("v", "lab", "v"))
    ham.add_synapse("cls", hg.DenseTensorSynapseWithHiddenLayer(nhid=2), layers=("h", "lab"))
    ham.add_synapse("bias_h", hg.DenseSynapse(), layers="h")
    ham.add_synapse("mem2", shares="mem", layers=("v", "h"))
    return ham


def artists(ax, gid):
    return [a for a in list(ax.collections) + list(ax.patches) if a.get_gid() == gid]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("layout", ["layered", "spring", "circular", "shell", "kamada_kawai", "bipartite"])
def test_one_marker_per_node_and_one_edge_per_slot(tmp_path, layout):
    ham = sample_ham()
    ax = ham.draw(layout=layout)
    (layers,) = artists(ax, "hamux-layers")
    (synapses,) = artists(ax, "hamux-synapses")
    assert len(layers.get_offsets()) == 3 and len(synapses.get_offsets()) == 6
    edges = artists(ax, "hamux-edge")
    assert len(edges) == 2 + 2 + 3 + 2 + 1 + 2  # one per slot
    # slot numbers are written on multi-slot synapses only (bias_h has one slot)
    slot_labels = [t.get_text() for t in ax.texts if re.fullmatch(r"\d", t.get_text())]
    assert sorted(slot_labels) == sorted(["0", "1"] * 5 + ["2"])
    # positions of the markers are those of the layout
    pos = layout_positions(ham.plan(), layout)
    np.testing.assert_allclose(layers.get_offsets(), [pos[n] for n in ("v", "h", "lab")])
    out = tmp_path / f"{layout}.png"
    ax.figure.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parallel_edges_are_distinct_arcs():
    ax = sample_ham().draw()
    edges = artists(ax, "hamux-edge")
    rads = [e.get_connectionstyle().rad for e in edges]
    # self (v, v) and tri (v, lab, v) have two parallel edges each: opposite bends; others straight
    bent = sorted(r for r in rads if r != 0)
    assert len(bent) == 4 and bent[0] < 0 < bent[-1] and bent[0] == -bent[-1]
    assert rads.count(0.0) == len(edges) - 4


def test_labels_show_name_shape_lagrangian_and_type():
    ax = sample_ham().draw()
    texts = [t.get_text() for t in ax.texts]
    assert "v\n16\nLTanh(beta=2)" in texts
    assert "h\n64\nLSoftmax(beta=2)" in texts
    assert "mem\nDenseSynapse" in texts and "mem2\nshares mem" in texts
    assert any(t.startswith("cls\nDenseTensorSynapse") for t in texts)
    sizes = artists(ax, "hamux-layers")[0].get_sizes()
    assert sizes[1] > sizes[0] > sizes[2]  # area grows with the neuron count (64 > 16 > 3)


def test_layered_layout_keeps_synapses_off_the_layer_line():
    pos = layout_positions(sample_ham().plan())
    assert [pos[n][1] for n in ("v", "h", "lab")] == [0.0, 0.0, 0.0]
    assert all(pos[s][1] > 0 for s in ("mem", "self", "tri", "cls", "bias_h", "mem2"))
    assert len({pos[s] for s in ("mem", "self", "tri", "cls", "bias_h", "mem2")}) == 6  # no two on one spot
    assert pos["self"][0] == pos["v"][0]  # a self-connection sits over its layer
    with pytest.raises(hg.ValidationError, match="unknown layout 'nope'"):
        layout_positions(sample_ham().plan(), "nope")
    with pytest.raises(hg.ValidationError, match="missing nodes"):
        layout_positions(sample_ham().plan(), {"v": (0, 0)})


def test_energy_colours_and_colorbar(getkey):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,)))
    ham.add_layer("h", hg.SoftmaxLayer((5,)))
    ham.add_layer("lab", hg.IdentityLayer((2,)))
    ham.add_synapse("mem", hg.DenseSynapse(stdinit=1.0), layers=("v", "h", "lab"))
    model = ham.compile(key=getkey())
    xs = model.init_states(batch_size=4, key=getkey())
    xs = {n: 50 * x for n, x in xs.items()}
    tree = model.energy_tree(xs)
    fig, ax = plt.subplots()
    ham.draw(ax=ax, energies=tree, cmap="viridis")
    assert len(fig.axes) == 2 and "mean over 4 samples" in fig.axes[1].get_ylabel()
    values = {n: float(np.mean(np.asarray(e))) for part in tree.values() for n, e in part.items()}
    norm = Normalize(min(values.values()), max(values.values()))
    expected = [matplotlib.colormaps["viridis"](norm(values[n])) for n in ("v", "h", "lab")]
    np.testing.assert_allclose(artists(ax, "hamux-layers")[0].get_facecolors(), expected, atol=1e-6)
    with pytest.raises(hg.StateError, match="energy of node 'v' has shape"):
        ham.draw(energies={"v": np.zeros((2, 2))})


def test_plot_energy_one_line_per_sample():
    e = np.cumsum(-np.ones((11, 3)), axis=0)
    ax = hg.plot_energy(e)
    assert len(ax.lines) == 3 and ax.get_xlabel() == "step"
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), e[:, 1])
    ax = hg.plot_energy(e[:, 0], title="run")
    assert len(ax.lines) == 1 and ax.get_title() == "run"
    with pytest.raises(hg.StateError, match=r"shape \(steps\+1,\)"):
        hg.plot_energy(np.zeros((2, 2, 2)))


def test_to_dot():
    dot = sample_ham().to_dot()
    assert dot.startswith("digraph HAM {") and dot.rstrip().endswith("}")
    edges = [l for l in dot.splitlines() if "->" in l]
    assert len(edges) == 12
    assert '  "tri" -> "v" [label="2"];' in edges
    assert '  "bias_h" -> "h";' in edges  # one slot: no number
    assert '"v" [shape=ellipse' in dot and '"mem" [shape=box' in dot and "shares mem" in dot
    assert dot_quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"hamux_graph\[draw\]"):
        sample_ham().draw()


def test_summaries_count_parameters(getkey):
    ham = sample_ham()
    text = ham.summary()
    # independent counts: W shapes from the layer sizes, biases, one beta per Lagrangian
    synapse = 16 * 64 + 16 * 16 + 16 * 3 * 16 + 1 * 2 * 64 * 3 + 64
    layers = 16 + 3  # bias of v + three betas
    assert f"Total parameters:  {synapse + layers:,}" in text
    assert f"in synapses:     {synapse:,} parameters" in text
    assert "in layers:       19 parameters (16 in biases, 3 Lagrangian scalars)" in text
    assert re.search(r"mem2\s+DenseSynapse\s+v -> h\s+shared with mem", text)
    assert re.search(r"tri\s+DenseSynapse\s+v -> lab -> v\s+768", text)
    assert re.search(r"v\s+\(16,\)\s+16\s+LTanh\(beta=2\)\s+1\s+yes\s+17", text)
    model = ham.compile(key=getkey())
    mtext = model.summary()
    assert f"Total parameters:  {synapse + layers:,}" in mtext and mtext.startswith("CompiledHAM: 3 layers, 6 synapses")
