"""The package's shape: the folder tree is the pipeline, and the import graph follows it.

Every module of ``hamux_graph`` is parsed with ``ast``; imports count wherever they stand
(module level, inside functions, under ``TYPE_CHECKING``). Each entry of ``hamux_graph/`` (a
stage sub-package or a root module) may import only the entries ``ALLOWED`` lists for it, so
the entries form an acyclic graph; the module graph is acyclic too. No module imports another
module's underscore names or reads underscore attributes it does not define, and nothing gets
around those rules with dynamic imports (``_internal/optional.py``, the one lazy import of the
optional extras, is the only place that imports by name) or ``getattr`` of underscore names.
"""

from __future__ import annotations

import ast
import os

import networkx as nx

import hamux_graph


ROOT = os.path.dirname(hamux_graph.__file__)
LEAVES = {"_errors", "_types"}
# the one module that imports by name: optional extras, from its fixed table
LAZY_IMPORTER = "hamux_graph._internal.optional"

# Which entries of hamux_graph/ each entry may import (the pipeline, docs/architecture.md).
_BASE = {"_errors", "_types", "_internal"}
_SPEC = _BASE | {"lagrangians", "layers", "synapses", "registry", "draw", "html", "animation"}
_GRAPH = _SPEC | {"_graph"}
_FACES = _GRAPH | {"_present", "draw", "html", "animation"}
_API = _FACES | {"_energy", "_dynamics", "_api"}
_USE = _API | {"parallel", "memory", "vision", "datasets", "train", "analysis", "zoo"}
ALLOWED: dict[str, set[str]] = {
    "_errors": set(),
    "_types": set(),
    "_internal": {"_errors", "_types"},
    "lagrangians": _BASE,
    "synapses": _BASE | {"lagrangians"},
    "layers": _BASE | {"lagrangians"},
    "registry": _BASE | {"lagrangians", "synapses"},
    "_graph": _SPEC,
    "_energy": _GRAPH,
    "_dynamics": _GRAPH | {"_energy"},
    "_present": _GRAPH,
    "draw": _GRAPH | {"_present"},
    "html": _GRAPH | {"_present"},
    "animation": _GRAPH | {"_present"},
    "_api": _FACES | {"_energy", "_dynamics"},
    "parallel": _API,
    "memory": _API,
    "vision": _API,
    "datasets": _API,
    "train": _API | {"parallel"},
    "analysis": _API | {"memory", "train"},
    "learning": _BASE,
    "zoo": _API | {"memory", "vision"},
    "formats": _USE,
    "interop": _USE | {"formats"},
    "cli": _USE | {"formats", "interop", "demo", "__init__"},
    "demo": _USE | {"formats", "interop", "__init__"},
    "__init__": set(),  # re-exports everything; nothing imports it but the entry points
}
STAGE_PACKAGES = {
    "_internal",
    "lagrangians",
    "synapses",
    "_graph",
    "_energy",
    "_dynamics",
    "_present",
    "train",
    "parallel",
    "memory",
    "analysis",
    "zoo",
    "interop",
    "formats",
}
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
    assert {"hamux_graph._api", "hamux_graph._energy.core", "hamux_graph.synapses.dense"} <= set(MODULES)
    G = import_graph()
    assert G.has_edge("hamux_graph._api", "hamux_graph._energy.core")  # a module-level import
    assert G.number_of_edges() > 60


def test_import_graph_is_acyclic():
    G = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _entry(module: str) -> str:
    """The entry of ``hamux_graph/`` a module belongs to (its sub-package, or itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def folder_graph() -> nx.DiGraph:
    G = nx.DiGraph()
    for u, v in import_graph().edges:
        a, b = _entry(u), _entry(v)
        if a != b and a != "__init__":
            G.add_edge(a, b)
    return G


def test_the_tree_shows_the_stages():
    entries = sorted(e for e in os.listdir(ROOT) if e != "__pycache__")
    assert len(entries) <= 30, f"hamux_graph/ has {len(entries)} entries; group them by concern: {entries}"
    packages = {e for e in entries if os.path.isdir(os.path.join(ROOT, e))}
    assert packages >= STAGE_PACKAGES - {"learning"}, sorted(STAGE_PACKAGES - packages)
    assert len(packages) >= 8
    # every entry has a rule, and every rule an entry (a new entry states what it may import)
    names = {e[:-3] if e.endswith(".py") else e for e in entries if e.endswith(".py") or e in packages}
    assert names <= set(ALLOWED), f"entries without a rule in ALLOWED: {sorted(names - set(ALLOWED))}"


def test_entries_import_only_the_stages_they_build_on():
    bad = []
    for m in MODULES:
        for target, _, line in _imports(m):
            t = _resolve(target)
            if t is None:
                continue
            a, b = _entry(m), _entry(t)
            if a != b and a != "__init__" and b not in ALLOWED[a]:
                bad.append(f"{m}:{line} imports {t} ({a} may import {sorted(ALLOWED[a])})")
    assert not bad, "\n".join(bad)


def test_folder_imports_are_acyclic():
    G = folder_graph()
    assert G.number_of_edges() > 30
    cycles = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
    assert not cycles, f"folder-level import cycles: {cycles}"


def test_lower_stages_do_not_import_the_user_facing_classes():
    G = import_graph()
    for m in MODULES:
        if _entry(m) in ALLOWED["_api"] - {"_api"}:
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
                dynamic = ("__import__", "import_module", "exec", "eval", "spec_from_file_location")
                if name in dynamic and not (m == LAZY_IMPORTER and name == "import_module"):
                    bad.append(f"{m}:{node.lineno} calls {name}")
                if name in ("getattr", "setattr", "hasattr") and len(node.args) >= 2:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("_"):
                        bad.append(f"{m}:{node.lineno} {name}(..., {arg.value!r})")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{a.name}" for a in node.names]
                else:
                    names = [a.name for a in node.names]
                machinery = [n for n in names if n and n.split(".")[0] == "importlib" and "metadata" not in n]
                if machinery and not (m == LAZY_IMPORTER and machinery == ["importlib"]):
                    bad.append(f"{m}:{node.lineno} imports importlib machinery")
    assert not bad, "\n".join(bad)


def test_init_only_reexports_with_one_all():
    tree = TREES["hamux_graph"]
    alls = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign)) and "__all__" in ast.dump(n)]
    assert len(alls) == 1 and isinstance(alls[0], ast.Assign)
    exported = set(hamux_graph.__all__)
    assert all(hasattr(hamux_graph, n) for n in exported)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 1 and node.module != "_internal.version":
            for a in node.names:
                assert a.asname == a.name, f"re-export {a.name} as itself ({a.name} as {a.name})"


def test_version_has_one_source():
    from importlib import metadata

    assert hamux_graph.__version__ == metadata.version("hamux_graph")
    for m, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                assert not isinstance(node.value, ast.Constant), f"{m} writes the version as a literal"


# the public namespaces: every module object reachable as hg.NAME is one of these (or an alias
# kept for one release), so a stage's module never leaks into hg (hg.compile used to be a module)
NAMESPACES = {"analysis", "datasets", "formats", "interop", "memory", "parallel", "train", "vision", "zoo", "learning"}
PUBLIC_MODULES = {"lagrangians", "layers", "synapses", "registry", "draw", "html", "animation", "cli", "demo"}
ONE_RELEASE_ALIASES = {"saving"}  # hamux_graph.saving -> hamux_graph.formats.saving (CHANGELOG.md)


def test_the_public_namespace_holds_only_the_documented_modules():
    import types

    # (the package's own modules: jaxtyping's test-time import hook may add itself to the namespace)
    modules = {
        n
        for n, v in vars(hamux_graph).items()
        if isinstance(v, types.ModuleType) and not n.startswith("_") and v.__name__.startswith("hamux_graph.")
    }
    assert modules <= NAMESPACES | PUBLIC_MODULES | ONE_RELEASE_ALIASES, sorted(
        modules - NAMESPACES - PUBLIC_MODULES - ONE_RELEASE_ALIASES
    )
    assert set(hamux_graph.__all__) >= NAMESPACES
    for name in ("compile", "validate", "graphml", "packed", "summary", "checkpoint"):
        assert not isinstance(getattr(hamux_graph, name, None), types.ModuleType), name
    assert hamux_graph.saving.load_architecture is hamux_graph.formats.load_architecture


# ---- one dynamics engine ----------------------------------------------------------------------

_RATE_WORDS = {"rate", "rates", "dt", "tau", "taus"}


def _euler_updates() -> list[str]:
    """Every ``x − r·d`` in the package whose factor ``r`` names a rate, a step size or a τ."""
    found = []
    for m, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
                right = node.right
                if isinstance(right, ast.BinOp) and isinstance(right.op, ast.Mult):
                    names = {n.id for n in ast.walk(right) if isinstance(n, ast.Name)}
                    names |= {n.attr for n in ast.walk(right) if isinstance(n, ast.Attribute)}
                    if any(_RATE_WORDS & set(name.lower().split("_")) for name in names):
                        found.append(f"{m}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_euler_update_is_written_once():
    # step, run, energy_trace, relax (loop and implicit map), the ODE field and eqprop all use it
    found = _euler_updates()
    assert len(found) == 1, "the Euler update x − rate·d must appear once (common.euler_step):\n" + "\n".join(found)
    assert found[0].startswith("hamux_graph._dynamics.common:"), found
    body = ast.unparse(
        next(n for n in ast.walk(TREES["hamux_graph._dynamics.common"]) if getattr(n, "name", "") == "euler_step")
    )
    assert found[0].split(": ", 1)[1] in body


def test_the_energy_core_internal_api_is_not_on_the_user_class():
    from hamux_graph._energy import core

    internal = (
        "states_in",
        "states_out",
        "flat_states",
        "as_dict",
        "sample_energy",
        "sample_dEdg",
        "sample_energy_and_dEdg",
    )
    for name in internal:
        assert not hasattr(hamux_graph.CompiledHAM, name), name
        assert callable(getattr(core, name)), name
