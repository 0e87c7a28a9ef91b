"""griffe extensions for the API reference (mkdocs.yml names this file).

- ``ExampleSections``: the house style (CONTRIBUTING.md) names the docstring section ``Example:``;
  griffe's Google parser knows only ``Examples:`` and would otherwise render the doctest lines as
  Markdown. Nothing else of a docstring changes.
- ``SourceAnnotations``: the reference is built by inspection (equinox Modules get their
  ``__init__`` signature from the dataclass machinery, which static analysis cannot see), and
  inspection evaluates annotations, so ``Float[ArrayLike, "K N"]`` would read
  ``Float[Union, 'K N']``. The library's modules use ``from __future__ import annotations``, so each
  function keeps its annotations as the source text; this puts that text back in the signature.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class SourceAnnotations(griffe.Extension):
    def on_function_instance(self, *, node: Any, func: griffe.Function, **kwargs: Any) -> None:
        raw = getattr(getattr(node, "obj", None), "__annotations__", None)
        if not isinstance(raw, dict):
            return
        for parameter in func.parameters:
            if isinstance(raw.get(parameter.name), str):
                parameter.annotation = raw[parameter.name]
        if isinstance(raw.get("return"), str):
            func.returns = raw["return"]


class ExampleSections(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
