"""The documentation runs: the docstring examples of every module, and the code of every page.

Each count is asserted, not only each failure: a public module that defines functions or
classes runs at least one docstring example, and every page (``docs/*.md`` and the README)
runs at least one ```` ```python```` block, so a page whose blocks are all mis-fenced (```` ```py````,
```` ```Python````) or marked ``no-run`` fails instead of passing with nothing run.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import sys
import textwrap
import types

import pytest

import hamux_graph


MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(hamux_graph.__path__, prefix="hamux_graph.")
    if not m.name.split(".")[-1].startswith("__")
)


def is_public(name: str) -> bool:
    """A module a user imports: no part of its dotted name starts with an underscore."""
    return not any(part.startswith("_") for part in name.split("."))


def defines_public_names(module: types.ModuleType) -> bool:
    """Whether the module defines (not re-exports) a public function or class."""
    return any(
        not key.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
        for key, value in vars(module).items()
    )


@pytest.mark.parametrize("name", ["hamux_graph"] + MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if is_public(name) and defines_public_names(module):
        assert result.attempted > 0, (
            f"{name} defines public functions or classes but runs no docstring example: give the "
            "function that does the work a short runnable example (Google style, 'Example:' section)"
        )


def test_public_names_are_told_apart_from_re_exports():
    """The rule above sees a module's own definitions and skips re-exports (so it can fail)."""
    assert defines_public_names(importlib.import_module("hamux_graph.vision"))
    assert not defines_public_names(importlib.import_module("hamux_graph.lagrangians"))
    assert is_public("hamux_graph.train.step") and not is_public("hamux_graph._energy.kernel")


# ---- the pages: every ```python block of a page runs, in order, in one fresh namespace ----


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PAGES = sorted(os.path.join("docs", f) for f in os.listdir(DOCS) if f.endswith(".md")) + ["README.md"]
# pages of prose only (no code fence at all): the count rule below does not apply to them
PROSE = {os.path.join("docs", "architecture.md")}
# the info strings a fence may carry; ```python runs, ```python no-run is shown only
FENCES = {"python", "python no-run", "bash", "console", "text", "xml", "json", "toml"}
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")  # indented fences too (in lists)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(info string, code)`` of every fenced block of a markdown page, in order.

    A fence closes on a line of the same fence characters, at least as many, and nothing else
    (CommonMark); an unclosed fence is an error, as it swallows the rest of the page.
    """
    blocks: list[tuple[str, str]] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i].rstrip("\n"))
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2).strip()
        start = i + 1
        i = start
        while i < len(lines) and not (
            lines[i].strip().startswith(fence[0] * len(fence)) and set(lines[i].strip()) == {fence[0]}
        ):
            i += 1
        if i == len(lines):
            raise AssertionError(f"the fence opened on line {start} ({fence}{info}) is never closed")
        blocks.append((info, textwrap.dedent("".join(lines[start:i]))))
        i += 1
    return blocks


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown page (blocks marked ```python no-run are left out)."""
    return [code for info, code in fenced_blocks(text) if info == "python"]


def test_fence_parser_counts_what_runs():
    page = "a\n```python\nx = 1\n```\n```python no-run\ny\n```\n````text\n```python\nz\n```\n````\n```py\nw\n```\n"
    page += "1. a list item\n\n   ```python\n   v = 2\n   ```\n"
    assert fenced_blocks(page) == [
        ("python", "x = 1\n"),
        ("python no-run", "y\n"),
        ("text", "```python\nz\n```\n"),
        ("py", "w\n"),
        ("python", "v = 2\n"),
    ]
    assert python_blocks(page) == ["x = 1\n", "v = 2\n"]
    with pytest.raises(AssertionError, match="never closed"):
        fenced_blocks("```python\nx = 1\n")


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_code_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        blocks = fenced_blocks(f.read())
    unknown = sorted({info for info, _ in blocks} - FENCES)
    assert not unknown, f"{page}: fences marked {unknown}; mark Python code ```python (or ```python no-run)"
    code_blocks = [code for info, code in blocks if info == "python"]
    if page in PROSE:
        assert not blocks, f"{page} has code now: take it out of PROSE, so that its blocks must run"
        return
    assert code_blocks, f"{page} runs no ```python block: every page shows at least one runnable example"
    monkeypatch.chdir(tmp_path)  # pages may write files
    stem = os.path.splitext(os.path.basename(page))[0]
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", stem))  # classes need a real module
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for i, block in enumerate(code_blocks):
        code = compile(block, f"{page} block {i + 1}", "exec")
        exec(code, module.__dict__)  # noqa: S102 - the project's own documentation
    import matplotlib.pyplot as plt

    plt.close("all")
