"""Print the exact floor pins of hamux_graph: every `>=X` of pyproject.toml as `==X`.

Core dependencies and the extras that `all` names (the ones the tests use). CI installs
these pins into a second virtual environment and runs the default test suite there, so the
floors the project declares are floors that pass. One source: pyproject.toml.

Usage: python .ci/floors.py [pyproject.toml]
"""

from __future__ import annotations

import re
import sys
import tomllib


path = sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"
with open(path, "rb") as f:
    project = tomllib.load(f)["project"]
extras = project.get("optional-dependencies", {})
wanted = (
    [e for e in re.findall(r"\[([^\]]*)\]", " ".join(extras.get("all", [])))[0].split(",")] if "all" in extras else []
)
# the `check` extra holds the linters and the type checker, pinned exactly, and the `docs` extra the
# site builder (mkdocs, its plugins, MathJax): tools, not floors of the library
TOOLS = {"check", "docs"}
reqs = list(project["dependencies"]) + [r for e in wanted if e.strip() not in TOOLS for r in extras.get(e.strip(), [])]
pins: dict[str, str] = {}
for req in reqs:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?:>=\s*([0-9][^,;\s]*))?.*", req)
    if not m:
        raise SystemExit(f"cannot read the requirement {req!r}")
    name, floor = m.group(1).lower(), m.group(2)
    if floor is None:
        raise SystemExit(f"{req!r} declares no floor (>=X): every dependency needs one")
    if name in pins and pins[name] != floor:
        floor = max(pins[name], floor, key=lambda v: tuple(int(p) for p in re.findall(r"\d+", v)))
    pins[name] = floor
for name, floor in pins.items():
    print(f"{name}=={floor}")
