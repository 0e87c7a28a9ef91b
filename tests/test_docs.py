"""Run the docstring examples of every public module as tests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hamux_graph


MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(hamux_graph.__path__, prefix="hamux_graph.")
    if not m.name.split(".")[-1].startswith("__")
)


@pytest.mark.parametrize("name", ["hamux_graph"] + MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


# ---- the docs pages: every ```python block of a page runs, in order, in one fresh namespace ----

import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402


DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
PAGES = sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown page (blocks marked ```python no-run are left out)."""
    return _BLOCK.findall(text)


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_code_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        blocks = python_blocks(f.read())
    monkeypatch.chdir(tmp_path)  # pages may write files
    module = types.ModuleType("docs_" + page[:-3].replace("-", "_"))  # classes need a real module
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for i, block in enumerate(blocks):
        code = compile(block, f"{page} block {i + 1}", "exec")
        exec(code, module.__dict__)  # noqa: S102 - the project's own documentation
    import matplotlib.pyplot as plt

    plt.close("all")
