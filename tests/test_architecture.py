"""The package's shape: the pipeline is the import graph.

Every module of ``hamux_graph`` is parsed with ``ast``; imports count wherever they stand
(module level, inside functions, under ``TYPE_CHECKING``). The import graph must be acyclic,
no module may import another module's underscore names (except from the leaf modules
``_errors``, ``_types``, ``_config``) or read underscore attributes it does not define, and
nothing may get around those rules with dynamic imports or ``getattr`` of underscore names.
"""

from __future__ import annotations

import ast
import os

import networkx as nx
import pytest

import hamux_graph

ROOT = os.path.dirname(hamux_graph.__file__)
LEAVES = {"_errors", "_types", "_config"}
# the public methods of NamedTuple, which carry an underscore by design
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _modules() -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


MODULES = _modules()
TREES = {m: ast.parse(open(p, encoding="utf-8").read(), filename=p) for m, p in MODULES.items()}


def _package(module: str) -> str:
    return module if MODULES[module].endswith("__init__.py") else module.rsplit(".", 1)[0]


def _imports(module: str):
    """``(target module, imported name or None, line)`` for every import in ``module``."""
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module)
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                mod = base + ("." + node.module if node.module else "")
            else:
                mod = node.module or ""
            for a in node.names:
                full = f"{mod}.{a.name}"
                yield (full, None, node.lineno) if full in MODULES else (mod, a.name, node.lineno)


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        if "." not in target:
            return None
        target = target.rsplit(".", 1)[0]
    return target


def import_graph() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(MODULES)
    for m in MODULES:
        for target, _, _ in _imports(m):
            t = _resolve(target)
            if t is None or t == m:
                continue
            # a package's __init__ re-exporting its own submodules is not a dependency back up
            if MODULES[m].endswith("__init__.py") and t.startswith(m + "."):
                continue
            G.add_edge(m, t)
    return G


def test_the_parser_sees_the_whole_package():
    assert {"hamux_graph._api", "hamux_graph._energy", "hamux_graph.synapses.dense"} <= set(MODULES)
    G = import_graph()
    assert G.has_edge("hamux_graph._api", "hamux_graph._energy")  # a module-level import
    assert G.number_of_edges() > 60


def test_import_graph_is_acyclic():
    G = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_lower_stages_do_not_import_the_user_facing_classes():
    G = import_graph()
    below = {"hamux_graph." + m for m in ("_energy", "_euler", "_relax", "_ode", "_eqprop", "_dynamics",
                                          "compile", "validate", "_builder", "_schema", "draw", "summary",
                                          "lagrangians", "layers", "registry", "_grouping", "_jitcache",
                                          "_trace", "_collapse", "_scene", "_layout", "_labels", "_sizing", "html",
                                          "animation")}
    for m in below:
        assert not nx.has_path(G, m, "hamux_graph._api"), m


def test_no_module_imports_underscore_names_of_another():
    bad = []
    for m in MODULES:
        for target, name, line in _imports(m):
            t = _resolve(target)
            if t is None or t == m or name is None:
                continue
            if name.startswith("_") and not name.startswith("__") and t.rsplit(".", 1)[-1] not in LEAVES:
                bad.append(f"{m}:{line} imports {t}.{name}")
    assert not bad, "\n".join(bad)


def _defined_underscore_names(tree: ast.AST) -> set[str]:
    """Underscore names a module defines: functions, classes, assignments, attributes it sets."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return {n for n in out if n.startswith("_")}


def test_no_module_reads_underscore_attributes_it_does_not_define():
    bad = []
    for m, tree in TREES.items():
        own = _defined_underscore_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                a = node.attr
                if a.startswith("_") and not a.startswith("__") and a not in own and a not in NAMEDTUPLE_API:
                    bad.append(f"{m}:{node.lineno} reads .{a}")
    assert not bad, "\n".join(bad)


def test_no_dynamic_imports_or_underscore_getattr():
    bad = []
    for m, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name in ("__import__", "import_module", "exec", "eval", "spec_from_file_location"):
                    bad.append(f"{m}:{node.lineno} calls {name}")
                if name in ("getattr", "setattr", "hasattr") and len(node.args) >= 2:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("_"):
                        bad.append(f"{m}:{node.lineno} {name}(..., {arg.value!r})")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] == "importlib" and n != "importlib" and "metadata" not in n for n in names):
                    bad.append(f"{m}:{node.lineno} imports importlib machinery")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    with open(MODULES[module], encoding="utf-8") as f:
        n = sum(1 for _ in f)
    assert n <= 520, f"{module} has {n} lines; split it (one concept per module)"


def test_init_only_reexports_with_one_all():
    tree = TREES["hamux_graph"]
    alls = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign)) and "__all__" in ast.dump(n)]
    assert len(alls) == 1 and isinstance(alls[0], ast.Assign)
    exported = set(hamux_graph.__all__)
    assert all(hasattr(hamux_graph, n) for n in exported)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 1 and node.module != "_config":
            for a in node.names:
                assert a.asname == a.name, f"re-export {a.name} as itself ({a.name} as {a.name})"


def test_version_has_one_source():
    from importlib import metadata

    assert hamux_graph.__version__ == metadata.version("hamux_graph")
    for m, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                assert not isinstance(node.value, ast.Constant), f"{m} writes the version as a literal"
