"""HIF files: the published schema, zoo-wide round trips, other tools' files and hostile input.

The schema (tests/data/hif_schema.json) is written from the published HIF specification,
version 0.1.0 of the Hypergraph Interchange Format (https://github.com/pszufe/HIF-standard,
schemas/hif_schema_v0.1.0.json; "The hypergraph interchange format for higher-order
networks", Network Science 2025), as strict as it is: only its top-level and record keys,
string or integer ids.
"""

from __future__ import annotations

import json
import os

import jax
import jsonschema
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph.formats import hif_bytes, hif_document

from helpers import zoo_models
from helpers.compare import structure
from helpers.graphs import small_ham


SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "data", "hif_schema.json")
with open(SCHEMA_PATH) as _f:
    SCHEMA = json.load(_f)
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def write(tmp_path, doc_or_bytes, name="bad.hif.json"):
    p = tmp_path / name
    data = doc_or_bytes if isinstance(doc_or_bytes, bytes) else json.dumps(doc_or_bytes).encode()
    p.write_bytes(data)
    return p


def sorted_structure(ham):
    return sorted(structure(ham), key=lambda row: row[0])


# ---- the schema ---------------------------------------------------------------------------------


def test_schema_is_draft_07_and_as_strict_as_published():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "0.1.0" in SCHEMA["$comment"] and "pszufe/HIF-standard" in SCHEMA["$comment"]
    assert SCHEMA["additionalProperties"] is False
    assert set(SCHEMA["properties"]) == {"network-type", "metadata", "incidences", "nodes", "edges"}
    for field, keys in {
        "nodes": {"node", "weight", "attrs"},
        "edges": {"edge", "weight", "attrs"},
        "incidences": {"edge", "node", "weight", "direction", "attrs"},
    }.items():
        items = SCHEMA["properties"][field]["items"]
        assert set(items["properties"]) == keys and items["additionalProperties"] is False
    # it can fail: each of these breaks one rule
    good = {"incidences": [{"edge": 1, "node": "a"}]}
    assert VALIDATOR.is_valid(good)
    for bad in (
        {"incidences": [], "extra": 1},
        {"incidences": [{"edge": 1, "node": "a", "slot": 0}]},
        {"incidences": [{"edge": 1.5, "node": "a"}]},
        {"incidences": [{"edge": True, "node": "a"}]},
        {"incidences": [], "nodes": [{"node": "a", "label": "x"}]},
        {"incidences": [], "edges": [{"attrs": {}}]},
        {"incidences": [], "network-type": "hypergraph"},
        {"nodes": []},
    ):
        assert not VALIDATOR.is_valid(bad), bad


# ---- zoo-wide round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("name", zoo_models.zoo_names())
def test_every_zoo_model_validates_and_round_trips(name, tmp_path):
    ham = zoo_models.ham(name)
    path = tmp_path / f"{name}.hif.json"
    hg.write_hif(ham, path)
    doc = json.loads(path.read_text())
    VALIDATOR.validate(doc)
    plan = ham.plan()
    # layers as nodes, synapses as edges, one incidence per slot, written out from the plan
    assert [n["node"] for n in doc["nodes"]] == list(plan.layer_names)
    assert [e["edge"] for e in doc["edges"]] == list(plan.synapse_names)
    expected = [(s, layer, k) for s, conn in zip(plan.synapse_names, plan.connections) for k, layer in enumerate(conn)]
    assert [(i["edge"], i["node"], i["attrs"]["slot"]) for i in doc["incidences"]] == expected
    assert doc["metadata"]["format"] == "hamux_graph" and doc["metadata"]["format_version"] == 1
    back = hg.read_hif(path)
    assert sorted_structure(back) == sorted_structure(ham)
    assert back.plan().layer_names == plan.layer_names and back.plan().synapse_names == plan.synapse_names
    assert back.plan().connections == plan.connections
    # the same architecture: the same parameters (names, shapes, dtypes) and the same GraphML
    assert hg.formats.saving.expected_parameters(back.plan(), "hif") == hg.formats.saving.expected_parameters(plan, "x")
    assert hg.formats.graphml_bytes(back.plan()).replace(b"\n", b"") != b""
    assert hif_bytes(back.plan()) == hif_bytes(plan)


def _explicit_weights(plan):
    """Whether a synapse of ``plan`` was given its parameter arrays (stored patterns), which HIF does not hold."""
    return any(getattr(spec, p, None) is not None for spec in plan.specs.values() for p in spec.param_names())


def _energies_agree(name):
    ham = zoo_models.ham(name)
    back = hg.formats.parse_hif_plan(hif_bytes(ham.plan()), name)
    original = zoo_models.compiled(name)
    if _explicit_weights(ham.plan()):
        # an architecture file holds no weights (as GraphML): the stored patterns are carried over
        arrays = hg.formats.saving.parameter_arrays(original)
        again = hg.formats.saving.model_from_arrays(back, arrays, name)
    else:
        again = hg.HAM.from_plan(back).compile(key=jax.random.key(7))
    xs = zoo_models.states(original)
    np.testing.assert_array_equal(np.asarray(again.energy(xs)), np.asarray(original.energy(xs)))


def test_energies_agree_after_compiling_with_the_same_key(tmp_path):
    ham = small_ham()
    hg.write_hif(ham, tmp_path / "m.hif.json")
    original = ham.compile(key=jax.random.key(3))
    again = hg.read_hif(tmp_path / "m.hif.json").compile(key=jax.random.key(3))
    xs = original.init_states(batch_size=2, key=jax.random.key(4))
    np.testing.assert_array_equal(np.asarray(again.energy(xs)), np.asarray(original.energy(xs)))


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo_models.zoo_names())
def test_energies_agree_for_every_zoo_model(name):
    _energies_agree(name)


def test_self_connections_repeat_the_incidence_and_sharing_is_kept(tmp_path):
    doc = hif_document(small_ham().plan())
    VALIDATOR.validate(doc)
    selfs = [i for i in doc["incidences"] if i["edge"] == "self"]
    assert [(i["node"], i["attrs"]["slot"]) for i in selfs] == [("v", 0), ("v", 1)]
    edges = {e["edge"]: e["attrs"] for e in doc["edges"]}
    assert edges["mem2"] == {"shares": "mem"}
    assert edges["mem"]["type"] == "DenseSynapse" and edges["mem"]["config"]["stdinit"] == 0.1
    nodes = {n["node"]: n["attrs"] for n in doc["nodes"]}
    assert nodes["h"]["shape"] == [6] and nodes["h"]["tau"] == 0.5 and nodes["v"]["use_bias"] is True
    assert nodes["v"]["config"]["lagrangian"]["type"] == "LTanh" and nodes["v"]["config"]["lagrangian"]["beta"] == 2.0
    hg.write_hif(small_ham(), tmp_path / "m.hif.json")
    assert sorted_structure(hg.read_hif(tmp_path / "m.hif.json")) == sorted_structure(small_ham())


def test_write_hif_takes_a_ham_a_plan_a_graph_and_a_model_with_its_current_scalars(tmp_path):
    ham = small_ham()
    for i, obj in enumerate((ham, ham.plan(), ham.graph)):
        hg.write_hif(obj, tmp_path / f"{i}.hif.json")
        assert (tmp_path / f"{i}.hif.json").read_bytes() == hif_bytes(ham.plan())
    expected = hg.formats.saving.expected_parameters(ham.plan(), "x")
    arrays = {n: np.full(s, 3.0 if n.endswith("lagrangian/beta") else 0.0, d) for n, (s, d) in expected.items()}
    model = hg.formats.saving.model_from_arrays(ham.plan(), arrays, "x")
    hg.write_hif(model, tmp_path / "model.hif.json")
    nodes = {n["node"]: n["attrs"] for n in json.loads((tmp_path / "model.hif.json").read_text())["nodes"]}
    assert nodes["v"]["config"]["lagrangian"]["beta"] == 3.0 and nodes["h"]["config"]["lagrangian"]["beta"] == 3.0


# ---- files of other tools --------------------------------------------------------------------------


def test_a_plain_hypergraph_written_by_xgi_names_what_is_missing(tmp_path):
    xgi = pytest.importorskip("xgi")
    H = xgi.Hypergraph([["a", "b", "c"], ["b", "c"]])
    path = tmp_path / "plain.json"
    xgi.write_hif(H, str(path))
    VALIDATOR.validate(json.loads(path.read_text()))
    with pytest.raises(
        hg.FormatError, match=r"plain\.json: not a hamux_graph architecture \(missing \['metadata\.format'"
    ):
        hg.read_hif(path)
    # with the format named but no specs, the message names the first missing attributes
    doc = json.loads(path.read_text())
    doc["metadata"] = {"format": "hamux_graph", "format_version": 1}
    doc["nodes"] = [{"node": n} for n in "abc"]
    with pytest.raises(hg.FormatError, match=r"nodes\[0\] \('a'\): attrs has no \['shape', 'config'\]"):
        hg.read_hif(write(tmp_path, doc))


def test_a_hamux_hypergraph_written_by_xgi_reads_back(tmp_path):
    xgi = pytest.importorskip("xgi")
    ham = small_ham()
    path = tmp_path / "from_xgi.json"
    xgi.write_hif(hg.interop.to_xgi(ham), str(path))
    doc = json.loads(path.read_text())
    VALIDATOR.validate(doc)
    assert all("attrs" not in i for i in doc["incidences"])  # XGI keeps edge attributes, not incidences'
    back = hg.read_hif(path)
    assert sorted_structure(back) == sorted_structure(ham)


# ---- hostile and malformed files ---------------------------------------------------------------------


def _good():
    return hif_document(small_ham().plan())


def _edit(fn):
    doc = _good()
    fn(doc)
    return doc


def _incidence(doc, edge, slot):
    return next(i for i in doc["incidences"] if i["edge"] == edge and i["attrs"]["slot"] == slot)


BAD = [
    ("not json", b"{'a': 1}", r"not valid JSON"),
    ("not an object", b"[1, 2]", r"holds one JSON object, got list"),
    ("bom", b"\xef\xbb\xbf{}", r"byte-order mark"),
    ("not utf-8", b'{"incidences": [], "metadata": {"x": "\xff"}}', r"not UTF-8"),
    ("duplicate key", b'{"incidences": [], "incidences": []}', r"the key 'incidences' appears twice"),
    ("nan", b'{"incidences": [], "metadata": {"x": NaN}}', r"NaN is not a JSON number"),
    ("infinity", b'{"incidences": [], "metadata": {"x": -Infinity}}', r"-Infinity is not a JSON number"),
    ("overflow", b'{"incidences": [], "metadata": {"x": 1e999}}', r"overflows a float"),
    ("deep", b'{"incidences": [], "metadata": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}", r"nested 101 levels"),
    ("extra top key", lambda d: d.update(hyperedges=[]), r"top-level key\(s\) \['hyperedges'\]"),
    ("no incidences", lambda d: d.pop("incidences"), r"no 'incidences'"),
    ("directed", lambda d: d.update({"network-type": "directed"}), r"network-type is 'directed'"),
    ("metadata list", lambda d: d.update(metadata=[1]), r"'metadata' must be a JSON object"),
    ("other format", lambda d: d["metadata"].update(format="xgi"), r"metadata\.format is 'xgi'"),
    ("newer version", lambda d: d["metadata"].update(format_version=99), r"format_version 99 is not supported"),
    ("extra node key", lambda d: d["nodes"][0].update(label="x"), r"nodes\[0\] has the key\(s\) \['label'\]"),
    ("int node id", lambda d: d["nodes"][1].update(node=3), r"nodes\[1\]: 'node' is 3"),
    ("bool edge id", lambda d: d["edges"][0].update(edge=True), r"edges\[0\]: 'edge' must be a string or an integer"),
    ("records not a list", lambda d: d.update(edges={}), r"'edges' must be a JSON array"),
    ("attrs not an object", lambda d: d["edges"][0].update(attrs=[]), r"edges\[0\]: 'attrs' must be a JSON object"),
    ("weight string", lambda d: d["nodes"][0].update(weight="1"), r"nodes\[0\]: 'weight' must be a number"),
    ("direction", lambda d: d["incidences"][0].update(direction="head"), r"incidences\[0\] has a 'direction'"),
    (
        "unknown synapse type",
        lambda d: d["edges"][0]["attrs"].update(type="EvilSynapse"),
        r"unknown Synapse type 'EvilSynapse'",
    ),
    (
        "unknown lagrangian",
        lambda d: d["nodes"][0]["attrs"]["config"]["lagrangian"].update(type="os.system"),
        r"node 'v'.*unknown Lagrangian type 'os\.system'",
    ),
    (
        "bad shape",
        lambda d: d["nodes"][0]["attrs"].update(shape=[0]),
        r"node 'v'.*'shape' must be a non-empty JSON list",
    ),
    ("tau string", lambda d: d["nodes"][1]["attrs"].update(tau="fast"), r"node 'h'.*tau"),
    (
        "missing slot",
        lambda d: d["incidences"][0]["attrs"].pop("slot"),
        r"incidences\[0\] \(edge 'mem', node 'v'\): attrs has no 'slot'",
    ),
    (
        "string slot",
        lambda d: d["incidences"][1]["attrs"].update(slot="1"),
        r"incidences\[1\].*attrs\.slot must be an integer",
    ),
    ("bool slot", lambda d: d["incidences"][1]["attrs"].update(slot=True), r"attrs\.slot must be an integer"),
    ("duplicate slot", lambda d: _incidence(d, "self", 1)["attrs"].update(slot=0), r"self.*slot"),
    ("slot gap", lambda d: _incidence(d, "self", 1)["attrs"].update(slot=5), r"self.*slot"),
    (
        "unknown node",
        lambda d: d["incidences"][0].update(node="ghost"),
        r"incidences\[0\].*'ghost' has no record in 'nodes'",
    ),
    (
        "unknown edge",
        lambda d: d["incidences"][0].update(edge="ghost"),
        r"incidences\[0\].*'ghost' has no record in 'edges'",
    ),
    (
        "name collision",
        lambda d: d["edges"][0].update(edge="v"),
        r"edges\[0\] \('v'\): the name 'v' is already a layer",
    ),
    (
        "kind mismatch",
        lambda d: d["nodes"][0]["attrs"].update(kind="synapse"),
        r"attrs\.kind is 'synapse', but the record is a layer",
    ),
    (
        "missing synapse spec",
        lambda d: d["edges"][0]["attrs"].pop("type"),
        r"edges\[0\] \('mem'\): attrs has no \['type'\]",
    ),
    ("shares unknown", lambda d: d["edges"][2]["attrs"].update(shares="ghost"), r"mem2.*ghost"),
    ("parameter in config", lambda d: d["edges"][0]["attrs"]["config"].update(W=[[1.0]]), r"parameter array"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_malformed_files_raise_one_format_error_naming_file_and_item(tmp_path, case):
    _, content, match = case
    data = content if isinstance(content, bytes) else json.dumps(_edit(content)).encode()
    path = write(tmp_path, data)
    with pytest.raises(hg.FormatError, match=match) as info:
        hg.read_hif(path)
    assert str(info.value).startswith(str(path)), str(info.value)


def test_size_cap(tmp_path):
    path = tmp_path / "m.hif.json"
    hg.write_hif(small_ham(), path)
    with pytest.raises(hg.FormatError, match=r"more than max_bytes=100"):
        hg.read_hif(path, max_bytes=100)
    assert hg.read_hif(path, max_bytes=10**6).layers["v"].shape == (4,)


def test_a_field_the_graphml_writer_gains_reaches_hif_and_the_reader(monkeypatch):
    # HIF serialises the GraphML writer's attributes: a new layer option (say `layer_energy`) or a
    # new synapse attribute needs no HIF code. Simulated by wrapping the shared attribute graph.
    import hamux_graph.formats.hif as hif_module

    real_graph, real_reader = hif_module.architecture_graph, hif_module.plan_of_architecture_graph

    def graph_with_a_new_field(plan):
        G = real_graph(plan)
        G.nodes["v"]["layer_energy"] = False
        G.nodes["mem"]["mask"] = "[[true, false]]"
        return G

    seen = {}

    def reader(G, source):
        seen.update(v=dict(G.nodes["v"]), mem=dict(G.nodes["mem"]))
        return real_reader(G, source)

    monkeypatch.setattr(hif_module, "architecture_graph", graph_with_a_new_field)
    monkeypatch.setattr(hif_module, "plan_of_architecture_graph", reader)
    doc = hif_document(small_ham().plan())
    nodes = {n["node"]: n["attrs"] for n in doc["nodes"]}
    edges = {e["edge"]: e["attrs"] for e in doc["edges"]}
    assert nodes["v"]["layer_energy"] is False and edges["mem"]["mask"] == "[[true, false]]"
    hg.formats.plan_of_hif_document(doc, "here")
    assert seen["v"]["layer_energy"] is False and seen["mem"]["mask"] == "[[true, false]]"
