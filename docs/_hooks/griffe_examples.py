"""griffe extension: read the library's ``Example:`` sections as Google-style ``Examples:``.

The house style (CONTRIBUTING.md) names the section ``Example:``; griffe's Google parser knows
only ``Examples:`` and would otherwise render the doctest lines as Markdown. Nothing else of a
docstring changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
