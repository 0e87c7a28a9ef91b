"""Optional extras: the one place that imports a package only when a feature needs it.

Each optional dependency is listed once, with the extra of ``pyproject.toml`` that installs
it; ``require`` imports it on first use and turns a missing package into an ``ImportError``
that names the feature and the ``pip install`` command. ``import_if_installed`` is for
features that are skipped or replaced without the package (a plain progress report
without tqdm).
"""

from __future__ import annotations

import importlib
from types import ModuleType


__all__ = ["EXTRAS", "require", "import_if_installed"]

EXTRAS: dict[str, str] = {
    "matplotlib": "draw",
    "matplotlib.pyplot": "draw",
    "matplotlib.animation": "draw",
    "matplotlib.backends.backend_agg": "draw",
    "matplotlib.font_manager": "draw",
    "diffrax": "ode",
    "orbax.checkpoint": "checkpoint",
    "hamux": "interop",
    "mlxtend.data": "data",
    "sklearn.datasets": "examples",
    "sklearn.model_selection": "examples",
    "tqdm.auto": "progress",
    "xgi": "hypergraph",
}
"""The optional modules the package may import, each with the extra that installs it."""


def require(module: str, *, feature: str) -> ModuleType:
    """Import the optional ``module`` for ``feature``, or say which extra installs it.

    Args:
        module: a module listed in ``EXTRAS`` (e.g. ``"matplotlib.pyplot"``).
        feature: what needs it, for the message (e.g. ``"drawing"``).

    Returns:
        The imported module.

    Raises:
        ImportError: when the module is not installed, naming the feature and the extra.
        KeyError: for a module that is not an optional dependency of the package.

    Example:
        >>> from hamux_graph._internal.optional import require
        >>> require("matplotlib.pyplot", feature="drawing").__name__
        'matplotlib.pyplot'
    """
    extra = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        raise ImportError(
            f"{feature}: {top} is not installed. Install the '{extra}' extra: pip install hamux_graph[{extra}]"
        ) from err


def import_if_installed(module: str) -> ModuleType | None:
    """Import the optional ``module`` if it is installed, else ``None`` (the caller falls back).

    Args:
        module: a module listed in ``EXTRAS``.

    Raises:
        KeyError: for a module that is not an optional dependency of the package.

    Example:
        >>> from hamux_graph._internal.optional import import_if_installed
        >>> import_if_installed("matplotlib.pyplot").__name__
        'matplotlib.pyplot'
    """
    if module not in EXTRAS:
        raise KeyError(f"{module!r} is not an optional dependency of hamux_graph (see EXTRAS).")
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
