"""GraphML files: round trips of every type, plain-networkx readability, and a bad-file corpus."""

from __future__ import annotations

import gzip
import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings

import hamux_graph as hg
from hamux_graph.formats.graphml import graphml_bytes

from helpers.compare import assert_same_model, graph_snapshot, structure
from helpers.graphs import small_ham
from helpers.strategies import hams_of_every_type
from helpers.synapses import ScaledBilinear


def random_states(model, key, batch=2):
    return {
        n: 0.5 * jax.random.normal(k, (batch,) + s)
        for n, s, k in zip(model.layer_names, model.shapes, jax.random.split(key, len(model.shapes)))
    }


@pytest.fixture
def good_text():
    return graphml_bytes(small_ham().plan()).decode()


def write(tmp_path, text, name="bad.graphml"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


# ---- round trips ----------------------------------------------------------------------------


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(ham=hams_of_every_type())
def test_roundtrip_random_hams(ham, tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "m.graphml"
    before = graph_snapshot(ham.graph)
    hg.write_graphml(ham, path)
    assert graph_snapshot(ham.graph) == before  # the caller's graph is untouched
    back = hg.read_graphml(path)
    assert structure(back) == structure(ham)
    # same key -> same parameters (per-node keys come from names) -> identical energies
    key = jax.random.key(7)
    m1, m2 = ham.compile(key=key), back.compile(key=key)
    assert_same_model(m1, m2)
    xs = random_states(m1, jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(m1.energy(xs)), np.asarray(m2.energy(xs)))
    # save/load keeps every parameter bit for bit
    mpath = path.with_suffix(".hamux")
    trained = jax.tree_util.tree_map(lambda a: a + 0.125 if eqx.is_inexact_array(a) else a, m1)
    hg.save(trained, mpath)
    loaded = hg.load(mpath)
    assert_same_model(trained, loaded)
    np.testing.assert_array_equal(np.asarray(trained.energy(xs)), np.asarray(loaded.energy(xs)))


def test_new_synapse_families_are_registered_automatically():
    types = hg.registered_types()
    for name in ["DenseSynapse", "LSoftmax", "LLayerNorm", "ScaledBilinear"]:
        assert name in types
    for name in [
        "ConvSynapse",
        "ConvSynapseWithPool",
        "AttentionSynapse",
        "SelfAttentionSynapse",
        "BinaryMixerSynapse",
    ]:
        if hasattr(hg, name):
            assert types[name] is getattr(hg, name)
    assert "Synapse" not in types and "Lagrangian" not in types  # abstract bases are not file types


def test_plain_networkx_reads_the_file(tmp_path):
    ham = small_ham()
    path = tmp_path / "m.graphml"
    hg.write_graphml(ham, path)
    G = nx.read_graphml(path)  # plain networkx, no hamux_graph involved
    assert G.graph["format"] == "hamux_graph" and G.graph["format_version"] == 1
    assert G.number_of_nodes() == 5 and G.number_of_edges() == 6
    v = G.nodes["v"]
    assert v["kind"] == "layer" and v["type"] == "Layer" and json.loads(v["shape"]) == [4]
    assert v["tau"] == 1.0 and v["use_bias"] is True and G.nodes["h"]["use_bias"] is False
    assert json.loads(v["config"]) == {"lagrangian": {"type": "LTanh", "beta": 2.0, "min_beta": 1e-6}}
    assert json.loads(G.nodes["h"]["config"])["lagrangian"] == {
        "type": "LSoftmax",
        "beta": 2.0,
        "min_beta": 1e-6,
        "axis": -1,
    }
    assert G.nodes["mem"]["type"] == "DenseSynapse"
    assert json.loads(G.nodes["mem"]["config"]) == {"stdinit": 0.1, "flatten_args": True}
    assert G.nodes["mem2"]["shares"] == "mem" and "type" not in G.nodes["mem2"]
    slots = sorted(d["slot"] for u, v, d in G.edges(data=True) if u == "self")
    assert slots == [0, 1] and all(isinstance(d["slot"], int) for *_, d in G.edges(data=True))
    # booleans are written the GraphML way, readable by any tool
    text = path.read_text()
    assert ">true<" in text and ">false<" in text and "<!DOCTYPE" not in text


def test_nested_and_learned_lagrangians_roundtrip(tmp_path, getkey):
    ham = hg.HAM()
    ham.add_layer("x", hg.LayerNormLayer((2, 3), gamma=1.5, delta=[0.1, 0.2, 0.3]))
    ham.add_synapse(
        "s",
        hg.DenseTensorSynapseWithHiddenLayer(nhid=3, num_heads=2, hidden_lagrangian=hg.LSoftmax(beta=3.0)),
        layers="x",
    )
    model = ham.compile(key=getkey())
    # a "trained" model: learned Lagrangian scalars are written with the architecture
    model = eqx.tree_at(lambda m: m.lagrangians[0].gamma, model, jnp.asarray(2.75))
    hg.write_graphml(model, tmp_path / "m.graphml")
    back = hg.read_graphml(tmp_path / "m.graphml")
    lag = back.layers["x"].lagrangian
    assert float(lag.gamma) == 2.75 and np.asarray(lag.delta).tolist() == pytest.approx([0.1, 0.2, 0.3])
    hid = back.synapses["s"].hidden_lagrangian
    assert isinstance(hid, hg.LSoftmax) and float(hid.beta) == 3.0


def test_write_accepts_graphs_and_leaves_them_alone(tmp_path):
    ham = small_ham()
    G = ham.to_networkx()
    G.graph["id"] = ("a", None)  # attributes GraphML cannot store are simply not exported
    G.nodes["v"]["note"] = np.bool_(True)
    before = graph_snapshot(G)
    hg.write_graphml(G, tmp_path / "g.graphml")
    assert graph_snapshot(G) == before
    assert structure(hg.read_graphml(tmp_path / "g.graphml")) == structure(ham)


def test_gzip_written_and_read_only_when_asked(tmp_path):
    path = tmp_path / "m.graphml.gz"
    hg.write_graphml(small_ham(), path)
    with pytest.raises(hg.FormatError, match="gzip-compressed.*allow_compressed=True"):
        hg.read_graphml(path)
    assert structure(hg.read_graphml(path, allow_compressed=True)) == structure(small_ham())


def test_registration_rules():
    with pytest.raises(hg.ValidationError, match="already belongs to"):

        @hg.register_synapse
        class DenseSynapse(hg.Synapse):  # noqa: F811 - a clash with the built-in name
            def __call__(self, g):
                return g.sum()

    with pytest.raises(hg.ValidationError, match="concrete"):
        hg.register_synapse(hg.Synapse)
    with pytest.raises(hg.ValidationError, match="subclass of hg.Lagrangian"):
        hg.register_lagrangian(hg.DenseSynapse)

    @hg.register_synapse(name="RenamedSum")
    class SumSynapse(hg.Synapse):
        def __call__(self, g):
            return g.sum()

    assert hg.registered_types()["RenamedSum"] is SumSynapse
    assert hg.register_synapse(ScaledBilinear) is ScaledBilinear  # registering again is harmless


def test_unregistered_type_cannot_be_written(tmp_path):
    class Unregistered(hg.Synapse):
        def __call__(self, g):
            return g.sum()

    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_synapse("u", Unregistered(), layers="v")
    with pytest.raises(hg.FormatError, match="synapse 'u'.*Unregistered is not registered.*register_synapse"):
        hg.write_graphml(ham, tmp_path / "u.graphml")
    assert not (tmp_path / "u.graphml").exists()


# ---- the bad-file corpus ---------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">
<node id="&lol9;"/></graph></graphml>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE graphml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">
<node id="v"><data key="n_kind">&xxe;</data></node></graph></graphml>
"""


def test_dtd_and_entities_are_refused(tmp_path):
    for i, text in enumerate([BILLION_LAUGHS, EXTERNAL_ENTITY]):
        with pytest.raises(hg.FormatError, match=r"bad\d\.graphml: .*DTD or entity declaration"):
            hg.read_graphml(write(tmp_path, text, f"bad{i}.graphml"))


CASES = [
    # (mutation of the good file, expected message)
    (lambda t: t[: len(t) // 2], r"not readable as GraphML \(ParseError"),
    (lambda t: t.replace(">DenseSynapse<", ">EvilSynapse<"), r"node 'mem': unknown Synapse type 'EvilSynapse'"),
    (lambda t: t.replace(">DenseSynapse<", ">os.system<"), r"node 'mem': unknown Synapse type 'os.system'"),
    (
        lambda t: t.replace('"type": "LTanh"', '"type": "LEvil"'),
        r"node 'v' lagrangian: unknown Lagrangian type 'LEvil'",
    ),
    (lambda t: t.replace(">DenseSynapse<", ">LTanh<"), r"node 'mem': type 'LTanh' is not a Synapse"),
    (lambda t: t.replace('{"stdinit": 0.1', '{"stdinit": 0.1,,'), r"node 'mem': attribute 'config' is not valid JSON"),
    (lambda t: t.replace('"stdinit": 0.1', '"stdinit": NaN'), r"node 'mem': attribute 'config' is not valid JSON"),
    (lambda t: t.replace('"stdinit": 0.1', '"nhid": 3'), r"node 'mem': cannot build DenseSynapse"),
    (
        lambda t: t.replace('"stdinit": 0.1', '"stdinit": -1.0'),
        r"node 'mem': cannot build DenseSynapse.*stdinit must be >= 0",
    ),
    (lambda t: t.replace(">[4]<", ">[0]<"), r"node 'v': 'shape' must be a non-empty JSON list of positive ints"),
    (lambda t: t.replace(">[4]<", ">[2.5]<"), r"node 'v': 'shape' must be"),
    (lambda t: t.replace(">[4]<", ">four<"), r"node 'v': attribute 'shape' is not valid JSON"),
    (lambda t: t.replace('<data key="e_slot">1</data>', "", 1), r"edge 'mem' -> 'h': missing the int attribute 'slot'"),
    (
        lambda t: t.replace('<data key="e_slot">1</data>', '<data key="e_slot">0</data>', 1),
        r"synapse 'mem': slot 0 is used twice",
    ),
    (
        lambda t: t.replace('g_format_version">1<', 'g_format_version">2<'),
        r"format_version 2 is not supported \(written by a newer",
    ),
    (lambda t: t.replace('g_format">hamux_graph<', 'g_format">other<'), r"format='other', expected 'hamux_graph'"),
    (
        lambda t: t.replace('source="mem" target="v"', 'source="h" target="v"', 1),
        r"edge 'h' -> 'v': edges go from a synapse to a layer",
    ),
    (lambda t: t.replace('n_kind">synapse<', 'n_kind">hyperedge<', 1), r"node 'mem': attribute kind='hyperedge'"),
    (
        lambda t: t.replace('"flatten_args": true', '"flatten_args": true, "W": [1.0]'),
        r"node 'mem': config sets the parameter array\(s\) \['W'\]",
    ),
    (
        lambda t: t.replace('n_shares">mem<', 'n_shares">ghost<'),
        r"shares the parameters of 'ghost', which is not a synapse",
    ),
    (lambda t: t.replace('edgedefault="directed"', 'edgedefault="undirected"'), r"the graph is undirected"),
    (
        lambda t: t.replace('<node id="v">', '<node id="v w">').replace('target="v"', 'target="v w"'),
        r"name 'v w' is not a valid name",
    ),
    (
        lambda t: t.replace('"min_beta": 1e-06}', '"min_beta": 1e-06, "bogus": 1}', 1),
        r"node 'v' lagrangian: cannot build LTanh",
    ),
]


@pytest.mark.parametrize("mutate, message", CASES)
def test_bad_files_raise_format_error(tmp_path, good_text, mutate, message):
    text = mutate(good_text)
    assert text != good_text
    path = write(tmp_path, text)
    with pytest.raises(hg.FormatError, match=r"bad\.graphml: .*" + message):
        hg.read_graphml(path)


def test_validation_errors_are_chained(tmp_path, good_text):
    # a SimpleDenseSynapse over three slots: each line is fine, the graph is not
    text = (
        good_text.replace(
            '<edge id="e1" source="mem" target="h">',
            '<edge id="x" source="mem" target="h"><data key="e_slot">2</data></edge><edge id="e1" source="mem" target="h">',
        )
        .replace(">DenseSynapse<", ">SimpleDenseSynapse<", 1)
        .replace('"stdinit": 0.1, "flatten_args": true', '"stdinit": 0.1')
    )
    with pytest.raises(hg.FormatError, match="synapse 'mem' over layers.*connects exactly 2 layer") as info:
        hg.read_graphml(write(tmp_path, text))
    assert isinstance(info.value.__cause__, hg.ValidationError)


def test_size_cap_encoding_and_compression_bombs(tmp_path, good_text):
    path = write(tmp_path, good_text)
    with pytest.raises(hg.FormatError, match="more than max_bytes=100"):
        hg.read_graphml(path, max_bytes=100)
    with pytest.raises(hg.FormatError, match="not UTF-8"):
        hg.read_graphml(write(tmp_path, good_text.encode("utf-16"), "u16.graphml"))
    with pytest.raises(hg.FormatError, match="not valid UTF-8"):
        hg.read_graphml(write(tmp_path, good_text.encode() + b"\xff\xfe\xfa", "latin.graphml"))
    # a gzip bomb: 40 MB of whitespace inside a valid document, 40 kB on disk
    body = good_text.replace("</graphml>", " " * 40_000_000 + "</graphml>").encode()
    bomb = write(tmp_path, gzip.compress(body, compresslevel=1), "bomb.graphml.gz")
    assert os.path.getsize(bomb) < 200_000
    with pytest.raises(hg.FormatError, match="bomb.graphml.gz: the file is gzip-compressed"):
        hg.read_graphml(bomb)
    with pytest.raises(hg.FormatError, match="decompresses to more than max_bytes=1,000,000"):
        hg.read_graphml(bomb, allow_compressed=True, max_bytes=1_000_000)
    # compressed content under an innocent name is caught by its magic bytes
    with pytest.raises(hg.FormatError, match="gzip-compressed"):
        hg.read_graphml(write(tmp_path, gzip.compress(good_text.encode()), "plain.graphml"))
    with pytest.raises(hg.FormatError, match="zip archive.*hg.load"):
        hg.read_graphml(write(tmp_path, b"PK\x03\x04rest", "z.graphml"))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        hg.read_graphml(tmp_path / "nope.graphml")


def test_explicit_parameter_arrays_are_not_written(tmp_path):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((2,)))
    ham.add_synapse("s", hg.SimpleDenseSynapse(W=jnp.eye(2)), layers=("v", "v"))
    hg.write_graphml(ham, tmp_path / "w.graphml")
    assert "W" not in json.loads(nx.read_graphml(tmp_path / "w.graphml").nodes["s"]["config"])
    assert hg.read_graphml(tmp_path / "w.graphml").synapses["s"].W is None


# ---- every file field gets its wrong-type, wrong-range and non-finite cases ----

FIELD_CASES = [
    # layer attributes
    ("tau-negative", lambda t: t.replace('n_tau">1.0<', 'n_tau">-1.0<', 1), r"node 'v'.*tau"),
    ("tau-zero", lambda t: t.replace('n_tau">1.0<', 'n_tau">0.0<', 1), r"node 'v'.*tau"),
    ("tau-nan", lambda t: t.replace('n_tau">1.0<', 'n_tau">NaN<', 1), r"node 'v'.*tau"),
    ("tau-inf", lambda t: t.replace('n_tau">1.0<', 'n_tau">INF<', 1), r"node 'v'.*tau"),
    (
        "use-bias-int",
        lambda t: t.replace('<data key="n_use_bias">true</data>', '<data key="n_use_bias">1</data>', 1).replace(
            'attr.name="use_bias" attr.type="boolean"', 'attr.name="use_bias" attr.type="int"'
        ),
        r"attribute 'use_bias' is declared int but holds 'false'",
    ),
    ("shape-bool", lambda t: t.replace(">[4]<", ">[true]<"), r"node 'v': 'shape' must be"),
    ("shape-negative", lambda t: t.replace(">[4]<", ">[-4]<"), r"node 'v': 'shape' must be"),
    ("shape-empty", lambda t: t.replace(">[4]<", ">[]<"), r"node 'v': 'shape' must be"),
    ("shape-object", lambda t: t.replace(">[4]<", '>{"n": 4}<'), r"node 'v': 'shape' must be"),
    ("shape-missing", lambda t: t.replace('<data key="n_shape">[4]</data>', "", 1), r"node 'v': attribute 'shape'"),
    (
        "layer-type",
        lambda t: t.replace('n_type">Layer<', 'n_type">Neuron<', 1),
        r"node 'v': a layer node has type 'Layer'",
    ),
    (
        "layer-config-extra",
        lambda t: t.replace('{"lagrangian": {"type": "LTanh"', '{"x": 1, "lagrangian": {"type": "LTanh"', 1),
        r"node 'v': a layer's 'config'",
    ),
    (
        "beta-negative",
        lambda t: t.replace('"type": "LTanh", "beta": 2.0', '"type": "LTanh", "beta": -2.0', 1),
        r"node 'v' lagrangian: cannot build LTanh.*beta must be > 0",
    ),
    (
        "beta-zero",
        lambda t: t.replace('"type": "LTanh", "beta": 2.0', '"type": "LTanh", "beta": 0.0', 1),
        r"node 'v' lagrangian.*beta",
    ),
    (
        "beta-str",
        lambda t: t.replace('"type": "LTanh", "beta": 2.0', '"type": "LTanh", "beta": "2"', 1),
        r"node 'v' lagrangian.*beta",
    ),
    (
        "beta-bool",
        lambda t: t.replace('"type": "LTanh", "beta": 2.0', '"type": "LTanh", "beta": true', 1),
        r"node 'v' lagrangian.*beta",
    ),
    (
        "min-beta-negative",
        lambda t: t.replace('"min_beta": 1e-06}', '"min_beta": -1.0}', 1),
        r"node 'v' lagrangian.*min_beta",
    ),
    ("axis-float", lambda t: t.replace('"axis": -1', '"axis": -1.5', 1), r"node 'h' lagrangian.*axis must be an int"),
    ("axis-range", lambda t: t.replace('"axis": -1', '"axis": 3', 1), r"node 'h'.*axis=3\) needs a layer of rank > 3"),
    (
        "lagrangian-not-object",
        lambda t: t.replace(
            '{"lagrangian": {"type": "LTanh", "beta": 2.0, "min_beta": 1e-06}}', '{"lagrangian": "tanh"}', 1
        ),
        r"node 'v' lagrangian: expected a JSON object",
    ),
    # synapse attributes
    (
        "stdinit-str",
        lambda t: t.replace('"stdinit": 0.1', '"stdinit": "0.1"'),
        r"node 'mem': cannot build DenseSynapse.*stdinit",
    ),
    (
        "flatten-args-str",
        lambda t: t.replace('{"stdinit": 0.1, "flatten_args": true}', '{"stdinit": 0.1, "flatten_args": "yes"}'),
        r"node 'mem'.*flatten_args",
    ),
    (
        "synapse-type-missing",
        lambda t: t.replace('<data key="n_type">DenseSynapse</data>', "", 1),
        r"node 'mem': a synapse node needs a 'type'",
    ),
    (
        "synapse-config-list",
        lambda t: t.replace('{"stdinit": 0.1, "flatten_args": true}', "[0.1]"),
        r"node 'mem': 'config' must be a JSON object",
    ),
    (
        "synapse-config-missing",
        lambda t: t.replace('<data key="n_config">{"stdinit": 0.1, "flatten_args": true}</data>', ""),
        r"node 'mem': attribute 'config'",
    ),
    (
        "shares-and-type",
        lambda t: t.replace(
            '<data key="n_shares">mem</data>', '<data key="n_shares">mem</data><data key="n_type">DenseSynapse</data>'
        ),
        r"node 'mem2': a sharing synapse",
    ),
    ("shares-self", lambda t: t.replace('n_shares">mem<', 'n_shares">mem2<'), r"synapse 'mem2'"),
    (
        "hidden-lagrangian-string",
        lambda t: t.replace(
            '>DenseSynapse</data>\n      <data key="n_config">{"stdinit": 0.1, "flatten_args": true}',
            '>DenseMatrixSynapseWithHiddenLayer</data>\n      <data key="n_config">{"nhid": 3, "hidden_lagrangian": "relu"}',
            1,
        ),
        r"node 'mem'.*hidden_lagrangian must be a hamux_graph Lagrangian",
    ),
    (
        "nhid-float",
        lambda t: t.replace(
            '>DenseSynapse</data>\n      <data key="n_config">{"stdinit": 0.1, "flatten_args": true}',
            '>DenseMatrixSynapseWithHiddenLayer</data>\n      <data key="n_config">{"nhid": 3.5}',
            1,
        ),
        r"node 'mem'.*nhid must be an int",
    ),
    ("kind-missing", lambda t: t.replace('<data key="n_kind">layer</data>', "", 1), r"node 'v': attribute kind=None"),
    # edges
    (
        "slot-negative",
        lambda t: t.replace('<data key="e_slot">1</data>', '<data key="e_slot">-1</data>', 1),
        r"'slot' must be an int >= 0",
    ),
    (
        "slot-gap",
        lambda t: t.replace('<data key="e_slot">1</data>', '<data key="e_slot">5</data>', 1),
        r"synapse 'mem': slots must be 0\.\.1 without gaps",
    ),
    (
        "slot-str",
        lambda t: t.replace('<data key="e_slot">1</data>', '<data key="e_slot">one</data>', 1),
        r"edge .*attribute 'slot' is declared int but holds 'one'",
    ),
    ("edge-unknown-node", lambda t: t.replace('source="mem" target="h"', 'source="mem" target="ghost"', 1), r"ghost"),
    # graph attributes and structure
    (
        "format-missing",
        lambda t: t.replace('<data key="g_format">hamux_graph</data>', ""),
        r"format=None, expected 'hamux_graph'",
    ),
    (
        "version-str",
        lambda t: t.replace('g_format_version">1<', 'g_format_version">one<'),
        r"graph: attribute 'format_version' is declared int",
    ),
    (
        "version-fraction",
        lambda t: t.replace('g_format_version">1<', 'g_format_version">1.5<').replace(
            'attr.name="format_version" attr.type="int"', 'attr.name="format_version" attr.type="double"'
        ),
        r"format_version",
    ),
    (
        "version-zero",
        lambda t: t.replace('g_format_version">1<', 'g_format_version">0<'),
        r"format_version 0 is not supported",
    ),
    (
        "duplicate-node-id",
        lambda t: t.replace('<node id="h">', '<node id="v">', 1).replace('target="h"', 'target="v"'),
        r"two <node> elements have id 'v'",
    ),
    (
        "two-graphs",
        lambda t: t.replace("</graphml>", '<graph id="x" edgedefault="directed"/></graphml>'),
        r"exactly one <graph>, found 2",
    ),
    (
        "nested-graph",
        lambda t: t.replace('<node id="v">', '<node id="v"><graph id="inner" edgedefault="directed"/>', 1),
        r"nested <graph>",
    ),
    ("no-graph", lambda t: t[: t.index("<graph id")] + "</graphml>", r"exactly one <graph>, found 0"),
    (
        "wrong-root",
        lambda t: t.replace("<graphml", "<gml", 1).replace("</graphml>", "</gml>"),
        r"root element is <gml>",
    ),
    (
        "dtd",
        lambda t: t.replace("<graphml", '<!DOCTYPE graphml [<!ENTITY x "y">]><graphml', 1),
        r"DTD or entity declaration",
    ),
    ("binary", lambda t: t.replace("<graphml", "\x00<graphml", 1), r"not UTF-8 text"),
]


@pytest.mark.parametrize("case", FIELD_CASES, ids=lambda c: c[0])
@pytest.mark.bad_arguments  # a hostile file's fields reach the constructors as they are
def test_bad_file_fields_raise_format_error_naming_them(tmp_path, good_text, case):
    _, mutate, message = case
    text = mutate(good_text)
    assert text != good_text
    with pytest.raises(hg.FormatError, match=r"bad\.graphml: .*" + message):
        hg.read_graphml(write(tmp_path, text))


def test_readers_let_interrupts_and_memory_errors_through(tmp_path, good_text, monkeypatch):
    import networkx as nx

    path = write(tmp_path, good_text)
    for exc in (KeyboardInterrupt, MemoryError):

        def boom(*a, exc=exc, **k):
            raise exc()

        monkeypatch.setattr(nx, "parse_graphml", boom)
        with pytest.raises(exc):
            hg.read_graphml(path)


def test_networkx_and_igraph_resaves_read_back(tmp_path):
    import networkx as nx

    ham = small_ham()
    hg.write_graphml(ham, tmp_path / "a.graphml")
    G = nx.read_graphml(tmp_path / "a.graphml", force_multigraph=True)
    nx.write_graphml(G, tmp_path / "nx.graphml")
    back = hg.read_graphml(tmp_path / "nx.graphml")
    assert structure(back) == structure(ham)
    with pytest.raises(hg.ValidationError, match="read hamux_graph files with hg.read_graphml"):
        hg.HAM(G)  # the raw networkx graph holds the file's strings
    igraph = pytest.importorskip("igraph")
    g = igraph.Graph.Read_GraphML(str(tmp_path / "a.graphml"))
    g.write_graphml(str(tmp_path / "ig.graphml"))
    text = (tmp_path / "ig.graphml").read_text()
    assert 'node id="n0"' in text and "format_version" in text  # igraph renamed the nodes
    back = hg.read_graphml(tmp_path / "ig.graphml")
    assert structure(back) == structure(ham)


def test_fuzzed_files_only_raise_format_error_in_a_subprocess(tmp_path):
    """Mutated GraphML and .hamux bytes: a FormatError or a successful read that round-trips.

    Runs in a subprocess, so an abort (a crash of the process) fails the test instead of
    killing the test run.
    """
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, os.path.join(here, "helpers", "fuzz_files.py"), str(tmp_path), "60"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "fuzzed" in out.stdout


def test_layer_energy_is_written_only_when_off_and_defaults_on(tmp_path):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_layer("w", hg.Layer(hg.LTanh(), shape=(3,), layer_energy=False))
    ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "w"))
    path = tmp_path / "m.graphml"
    hg.write_graphml(ham, str(path))
    text = path.read_text()
    assert text.count('"layer_energy"') == 1  # one key declaration
    back = hg.read_graphml(str(path))
    assert back.layers["v"].layer_energy is True and back.layers["w"].layer_energy is False
    # a file without the attribute (every file written before it existed) has the default
    plain = hg.HAM()
    plain.add_layer("v", hg.TanhLayer((3,)))
    hg.write_graphml(plain, str(path))
    assert "layer_energy" not in path.read_text()
    assert hg.read_graphml(str(path)).layers["v"].layer_energy is True
    bad = text.replace(">false<", ">maybe<")
    path.write_text(bad)
    with pytest.raises(hg.FormatError):
        hg.read_graphml(str(path))
