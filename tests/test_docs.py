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
