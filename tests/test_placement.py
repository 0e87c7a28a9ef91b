"""Readable static drawings, measured in the rendered figure: no two labels overlap, every
node (or group) label is there and inside the figure, fonts >= 6 pt, figures <= 20 x 20 in."""

from __future__ import annotations

import matplotlib


matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hamux_graph as hg  # noqa: E402
from hamux_graph.draw import collapse_groups, layout_positions  # noqa: E402

from helpers.graphs import chain  # noqa: E402


def random_graph(seed: int = 0, n_layers: int = 30, n_synapses: int = 30) -> hg.HAM:
    """60 nodes: random layers (four Lagrangians, four sizes) and hyperedges of 1 to 4 slots."""
    rng = np.random.default_rng(seed)
    makers = [hg.TanhLayer, lambda s: hg.SoftmaxLayer(s, beta=2.0), hg.ReluLayer, hg.IdentityLayer]
    ham = hg.HAM()
    for i in range(n_layers):
        ham.add_layer(f"l{i}", makers[int(rng.integers(4))]((int(rng.choice([4, 8, 32, 256])),)))
    for j in range(n_synapses):
        k = int(rng.integers(1, 5))
        ham.add_synapse(f"h{j}", hg.DenseSynapse(), layers=tuple(f"l{int(x)}" for x in rng.choice(n_layers, k)))
    return ham


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def measure(ax) -> dict:
    """Every visible text of the figure, measured with the renderer after drawing."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
    for lg in list(fig.legends) + ([ax.get_legend()] if ax.get_legend() else []):
        texts += [t for t in lg.get_texts() if t.get_text()]
    boxes = np.array([tuple(t.get_window_extent(renderer).extents) for t in texts])
    x0, y0, x1, y1 = (boxes[:, i][:, None] for i in range(4))
    hit = (x0 < x1.T) & (x0.T < x1) & (y0 < y1.T) & (y0.T < y1)
    np.fill_diagonal(hit, False)
    pairs = [(texts[i].get_text(), texts[j].get_text()) for i, j in zip(*np.nonzero(np.triu(hit)))]
    W, H = fig.bbox.width, fig.bbox.height
    outside = [t.get_text() for t, b in zip(texts, boxes) if b[0] < -1 or b[1] < -1 or b[2] > W + 1 or b[3] > H + 1]
    return {
        "overlaps": pairs,
        "outside": outside,
        "fonts": [t.get_fontsize() for t in texts],
        "size": tuple(fig.get_size_inches()),
        "first_lines": {t.get_text().split("\n")[0] for t in ax.texts},
    }


def expected_labels(ham: hg.HAM, collapse: bool) -> set[str]:
    plan = ham.plan()
    groups = collapse_groups(plan) if collapse else ()
    inside = {m for g in groups for m in g.layers + g.synapses}
    return {n for n in plan.layer_names + plan.synapse_names if n not in inside} | {g.label for g in groups}


def assert_readable(ham: hg.HAM, collapse: bool = False) -> dict:
    m = measure(ham.draw(collapse=collapse))
    assert m["overlaps"] == [], f"{len(m['overlaps'])} overlapping labels, e.g. {m['overlaps'][:3]}"
    assert m["outside"] == [], f"labels outside the figure: {m['outside'][:5]}"
    assert min(m["fonts"]) >= 6.0
    assert max(m["size"]) <= 20.0
    missing = expected_labels(ham, collapse) - m["first_lines"]
    assert not missing, f"labels missing: {sorted(missing)[:5]}"
    return m


CASES = {
    "chain24": (lambda: chain(24), False),
    "chain24-collapsed": (lambda: chain(24), True),
    "chain128": (lambda: chain(128, skip=False), False),
    "chain128-collapsed": (lambda: chain(128, skip=False), True),
    "energy_attn": (lambda: hg.zoo.create("energy_attn"), False),
    "conv_ham": (lambda: hg.zoo.create("conv_ham"), False),
    "random60": (random_graph, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_labels_never_overlap_and_all_are_there(case):
    make, collapse = CASES[case]
    assert_readable(make(), collapse)


def test_chain24_numbers():
    ham = chain(24)
    m = assert_readable(ham)
    assert m["size"][0] <= 20 and m["size"][1] <= 20 and min(m["fonts"]) >= 7  # room for 8 pt labels here
    ax = ham.draw(collapse=True)
    marks = {a.get_gid(): len(a.get_offsets()) for a in ax.collections if a.get_gid()}
    assert marks["hamux-layers"] == 3 and marks["hamux-groups"] == 2 and marks["hamux-synapses"] == 5


def test_collapsed_counts_are_a_property_of_the_graph():
    groups = collapse_groups(chain(24).plan())
    assert [(g.label, g.members) for g in groups] == [("x1…x11 ×11", 21), ("x13…x22 ×10", 19)]
    assert groups[0].synapses == tuple(f"s{i}" for i in range(1, 11))
    # x12 is on the skip hyperedge: it stays visible, and so do x0, x23 and the synapses touching them
    assert all("x12" not in g.layers for g in groups)
    (g,) = collapse_groups(chain(128, skip=False).plan())
    assert g.label == "x1…x126 ×126" and len(g.synapses) == 125
    (g,) = collapse_groups(chain(512, skip=False).plan())
    assert g.label == "x1…x510 ×510"
    # the graph itself, not the drawing: a networkx graph gives the same groups
    assert collapse_groups(chain(24).graph) == groups


def test_collapse_rule_details():
    ham = hg.HAM()
    for i in range(6):
        ham.add_layer(f"a{i}", hg.TanhLayer((4,), beta=2.0 if i == 3 else 1.0))  # a3 differs (beta)
    for i in range(5):
        ham.add_synapse(f"e{i}", hg.DenseSynapse(), layers=(f"a{i}", f"a{i + 1}"))
    # a3 (another beta) cuts the run; a4 is alone between a3 and the end a5
    assert [(g.layers, g.synapses) for g in collapse_groups(ham.plan())] == [(("a1", "a2"), ("e1",))]
    ham = hg.HAM()
    for i in range(6):
        ham.add_layer(f"b{i}", hg.TanhLayer((4,)))
    for i in range(5):  # alternating slot direction: interior layers are attached differently
        pair = (f"b{i}", f"b{i + 1}") if i % 2 == 0 else (f"b{i + 1}", f"b{i}")
        ham.add_synapse(f"f{i}", hg.DenseSynapse(), layers=pair)
    assert collapse_groups(ham.plan()) == ()
    ham = hg.HAM()  # weight sharing: the sharers are alike, the owner is not
    for i in range(6):
        ham.add_layer(f"c{i}", hg.TanhLayer((4,)))
    ham.add_synapse("w0", hg.DenseSynapse(), layers=("c0", "c1"))
    for i in range(1, 5):
        ham.add_synapse(f"w{i}", shares="w0", layers=(f"c{i}", f"c{i + 1}"))
    (g,) = collapse_groups(ham.plan())
    assert g.layers == ("c2", "c3", "c4") and g.synapses == ("w2", "w3")


def test_collapsed_groups_refine_the_compilers_grouping(getkey):
    from hamux_graph._energy import kernel

    model = chain(12).compile(key=getkey())
    st = kernel.build(model)
    layer_group = {model.layer_names[i]: gid for gid, lg in enumerate(st.layer_groups) for i in lg.members}
    edge_group = {model.synapse_names[e]: k for k, eg in enumerate(st.edge_groups) for e in eg.edges}
    for g in collapse_groups(model.plan()):
        assert len({layer_group[l] for l in g.layers}) == 1
        assert len({edge_group[s] for s in g.synapses}) == 1


def test_layout_follows_the_data_flow():
    ham = hg.zoo.create("hn", input_shape=(8, 8), num_classes=10)
    pos = layout_positions(ham.plan())
    assert pos["input"][0] < pos["label"][0]
    pos = layout_positions(ham.plan(), first=["label"], last=["input"])
    assert pos["label"][0] < pos["input"][0]
    with pytest.raises(hg.ArgumentError, match="'nope', which is not a layer"):
        layout_positions(ham.plan(), first=["nope"])
    with pytest.raises(
        hg.ArgumentError, match=r"font_size must be a finite number >= 6.0, got 4.0. Font sizes are in points"
    ):
        ham.draw(font_size=4)
    with pytest.raises(hg.ValidationError, match="no layers to draw"):
        hg.HAM().draw()
    # a long chain wraps into bands (a serpentine): the second band runs right to left
    pos = layout_positions(chain(128, skip=False).plan())
    ys = sorted({round(p[1], 6) for n, p in pos.items() if n.startswith("x")})
    assert len(ys) > 2
    band = [n for n, p in pos.items() if n.startswith("x") and round(p[1], 6) == ys[-2]]
    assert pos[band[0]][0] > pos[band[-1]][0]


def test_layout_positions_match_the_drawing_when_collapsed():
    ham = chain(24)
    pos = layout_positions(ham.plan(), collapse=True)
    assert "x1…x11" in pos and "x5" not in pos and "s5" not in pos
    ax = ham.draw(collapse=True)
    (groups,) = [a for a in ax.collections if a.get_gid() == "hamux-groups"]
    np.testing.assert_allclose(groups.get_offsets(), [pos["x1…x11"], pos["x13…x22"]])


@pytest.mark.slow
def test_very_long_chains():
    # 799 nodes still fit 20 x 20 inches at 6 pt
    m = assert_readable(chain(400, skip=False))
    assert min(m["fonts"]) == 6.0
    # 1599 nodes do not: a warning says what to do, and the labels stay readable in a taller figure
    with pytest.warns(UserWarning, match="collapse=True"):
        m = measure(chain(800, skip=False).draw())
    assert m["overlaps"] == [] and m["outside"] == [] and min(m["fonts"]) >= 6.0 and m["size"][0] <= 20.0
    assert_readable(chain(800, skip=False), collapse=True)
