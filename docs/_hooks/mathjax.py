"""mkdocs hook: copy MathJax from the jupyter-server-mathjax package into the built site.

The maths of the site renders offline: MathJax 2 (with its fonts) ships on PyPI inside
``jupyter-server-mathjax`` (the ``docs`` extra), so ``pip install -e .[docs]`` and
``mkdocs build --strict`` need no npm, apt or network. After the build, this hook copies the
package's ``static/`` folder to ``site/assets/mathjax/`` (never committed) and writes the site's
configuration next to it as ``config/local.js`` (from ``mathjax_config.js`` beside this hook), so
every page, the notebook pages included, loads
``assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,local`` (the combined configuration
of the package, then the site's).
"""

from __future__ import annotations

import importlib.util
import os
import shutil

from mkdocs.exceptions import PluginError


HERE = os.path.dirname(os.path.abspath(__file__))


def skip_locales(folder: str, names: list[str]) -> list[str]:
    """The locales other than English (the maths menu is off, so they are never loaded)."""
    return [n for n in names if n != "en"] if os.path.basename(folder) == "localization" else []


def mathjax_source() -> str:
    """The folder of MathJax inside the installed jupyter-server-mathjax package."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            "the documentation renders its maths with MathJax from the package jupyter-server-mathjax, "
            "which is not installed: pip install -e '.[docs]'"
        )
    static = os.path.join(list(spec.submodule_search_locations)[0], "static")
    if not os.path.isfile(os.path.join(static, "MathJax.js")):
        raise PluginError(
            f"jupyter-server-mathjax has no MathJax.js under {static}: reinstall it (pip install -e '.[docs]')"
        )
    return static


def on_post_build(config, **kwargs) -> None:
    target = os.path.join(config["site_dir"], "assets", "mathjax")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(mathjax_source(), target, ignore=skip_locales)
    with open(os.path.join(HERE, "mathjax_config.js"), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(target, "config", "local.js"), "w", encoding="utf-8") as f:
        f.write(text + '\nMathJax.Ajax.loadComplete("[MathJax]/config/local.js");\n')
