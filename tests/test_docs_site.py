"""The documentation site (mkdocs.yml): the API reference covers every export, the site is offline.

Default run (no build): every public name (``hamux_graph.__all__``, and every name of each public
namespace in it: ``hg.train``, ``hg.memory``, ...) has a ``::: hamux_graph.…`` entry in a page of
``docs/reference/`` (a failure prints the exact lines to add, and where); every entry resolves;
every page is in the navigation; the configuration keeps the site offline (no web fonts, no
privacy plugin, MathJax from the local copy).

``slow`` (``.ci/run`` runs it right after its own ``mkdocs build --strict``, with
``HAMUX_DOCS_SITE=site``; without it the test builds into a temporary folder): no ``src`` or
``href`` of the built site points to an external script, stylesheet, font or image, and, served on
127.0.0.1 to a headless Chromium, the API page of ``HAM`` shows ``add_synapse`` with its signature,
the search finds ``relax``, formulas are typeset, a tutorial page shows its figures, no request
leaves loopback and the console stays clean.
"""

from __future__ import annotations

import functools
import glob
import http.server
import importlib
import inspect
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
import types
from html.parser import HTMLParser

import pytest

import hamux_graph as hg

from helpers.browser import Browser, require_browser


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
REFERENCE = os.path.join(DOCS, "reference")
ENTRY = re.compile(r"^:::\s+(\S+)\s*$", re.MULTILINE)

# where a top-level name is documented, by the module that defines it (for the failure message)
STAGE_PAGES = {
    "hamux_graph._errors": "errors.md",
    "hamux_graph.lagrangians": "spec.md",
    "hamux_graph.layers": "spec.md",
    "hamux_graph.synapses": "spec.md",
    "hamux_graph.registry": "spec.md",
    "hamux_graph._api": "model.md",
    "hamux_graph._energy": "model.md",
    "hamux_graph._dynamics": "dynamics.md",
    "hamux_graph.draw": "present.md",
    "hamux_graph.animation": "present.md",
    "hamux_graph.html": "present.md",
    "hamux_graph.formats": "formats.md",
}


def exports() -> list[tuple[str, object]]:
    """Every public name as ``(dotted path, object)``: ``hg.__all__`` and each namespace's ``__all__``."""
    out = []
    for name in hg.__all__:
        value = getattr(hg, name)
        if isinstance(value, types.ModuleType):
            out += [(f"hamux_graph.{name}.{member}", getattr(value, member)) for member in value.__all__]
        else:
            out.append((f"hamux_graph.{name}", value))
    return out


def namespaces() -> list[str]:
    return [n for n in hg.__all__ if isinstance(getattr(hg, n), types.ModuleType)]


def reference_entries() -> dict[str, str]:
    """``{identifier: page}`` of every ``::: identifier`` line of docs/reference/*.md."""
    found = {}
    for path in sorted(glob.glob(os.path.join(REFERENCE, "*.md"))):
        with open(path, encoding="utf-8") as f:
            for ident in ENTRY.findall(f.read()):
                found[ident] = os.path.basename(path)
    return found


def resolve(ident: str) -> object:
    """The object a dotted identifier names (a module, or attributes of one)."""
    parts = ident.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(ident)


def has_identity(obj: object) -> bool:
    """Objects documented once under another public path count (functions, classes, modules)."""
    return inspect.isfunction(obj) or inspect.isclass(obj) or isinstance(obj, types.ModuleType) or callable(obj)


def suggested_page(path: str, obj: object) -> str:
    parts = path.split(".")
    if len(parts) == 3:
        page = f"{parts[1]}.md"
        exists = os.path.exists(os.path.join(REFERENCE, page))
        return f"docs/reference/{page}" + ("" if exists else " (a new page: add it to the nav of mkdocs.yml too)")
    module = getattr(obj, "__module__", "") or ""
    for prefix, page in STAGE_PAGES.items():
        if module == prefix or module.startswith(prefix + "."):
            return f"docs/reference/{page}"
    return "the docs/reference page of its pipeline stage"


def test_the_reference_covers_every_export():
    entries = reference_entries()
    documented = {}
    for ident in entries:
        documented[ident] = resolve(ident)
    ids = {id(obj) for obj in documented.values() if has_identity(obj)}
    wanted = exports()
    missing = [
        (path, obj) for path, obj in wanted if path not in documented and not (has_identity(obj) and id(obj) in ids)
    ]
    covered = len(wanted) - len(missing)
    print(f"\nAPI reference: {covered} of {len(wanted)} exports documented ({100 * covered / len(wanted):.0f} %)")
    if missing:
        lines = "\n".join(f"    ::: {path}        <- in {suggested_page(path, obj)}" for path, obj in missing)
        pytest.fail(
            f"{len(missing)} of {len(wanted)} public names have no entry in docs/reference/ ({covered} covered); "
            f"add these lines (one per name):\n{lines}"
        )


def test_every_reference_entry_names_a_public_object():
    public = {path for path, _ in exports()}
    stale = [ident for ident in reference_entries() if ident not in public]
    assert stale == [], f"entries of docs/reference/ that are not exported (rename or remove them): {stale}"


def test_the_coverage_rule_can_fail():
    """A name documented nowhere is found missing; one documented under another path is not."""
    assert ("hamux_graph.formats.save", hg.save) in exports()
    assert has_identity(hg.save) and not has_identity(hg.formats.FORMAT_VERSION)
    assert suggested_page("hamux_graph.memory.hebbian", hg.memory.hebbian) == "docs/reference/memory.md"
    assert suggested_page("hamux_graph.relax", hg.relax) == "docs/reference/dynamics.md"
    assert suggested_page("hamux_graph.newthing.f", None).endswith("(a new page: add it to the nav of mkdocs.yml too)")


# ---- the configuration ------------------------------------------------------------------------


@functools.cache
def config() -> dict:
    yaml = pytest.importorskip("yaml")  # a dependency of mkdocs (the docs extra)
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out += nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_navigation():
    nav = set(nav_pages(config()["nav"]))
    pages = {
        os.path.relpath(p, DOCS).replace(os.sep, "/")
        for p in glob.glob(os.path.join(DOCS, "**", "*"), recursive=True)
        if p.endswith((".md", ".ipynb")) and "_hooks" not in p
    }
    assert pages - nav == set(), "pages missing from the nav of mkdocs.yml"
    assert nav - pages == set(), "nav entries without a page"
    for ns in namespaces():
        if ns != "formats":
            assert f"reference/{ns}.md" in nav, f"hg.{ns} has no reference page"


def test_the_configuration_keeps_the_site_offline():
    cfg = config()
    assert cfg["theme"]["font"] is False  # Material would load web fonts
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in cfg["plugins"]]
    assert "privacy" not in plugins  # it downloads at build time
    jupyter = next(p["mkdocs-jupyter"] for p in cfg["plugins"] if isinstance(p, dict) and "mkdocs-jupyter" in p)
    assert jupyter["custom_mathjax_url"].startswith("../") and jupyter["execute"] is False
    assert not jupyter["include_requirejs"]
    assert "repo_url" not in cfg  # the repository widget fetches from the GitHub API
    for src in cfg.get("extra_javascript", []) + cfg.get("extra_css", []):
        assert not re.match(r"^(https?:)?//", src)


def test_the_docs_extra():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", r)[0].lower() for r in extras["docs"]}
    assert {"mkdocs", "mkdocs-material", "mkdocstrings-python", "mkdocs-jupyter", "jupyter-server-mathjax"} <= names
    assert "docs" in re.search(r"\[([^\]]*)\]", extras["all"][0]).group(1).split(",")


# ---- the built site (slow) --------------------------------------------------------------------------


EXTERNAL = re.compile(r"^(https?:)?//", re.IGNORECASE)


class Resources(HTMLParser):
    """The ``src`` and ``href`` of everything a page loads (scripts, styles, icons, images, frames)."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src"}

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.LOADS and a.get(self.LOADS[tag]):
            self.urls.append((tag, a[self.LOADS[tag]]))
        if tag == "link" and a.get("href") and (a.get("rel") or "") != "canonical":
            self.urls.append((f"link rel={a.get('rel')}", a["href"]))
        if tag == "img" and a.get("srcset"):
            self.urls.append(("img srcset", a["srcset"]))


def external_loads(site: str) -> list[str]:
    """Every external resource a built page or stylesheet loads."""
    bad = []
    for path in glob.glob(os.path.join(site, "**", "*.html"), recursive=True):
        parser = Resources()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        bad += [f"{os.path.relpath(path, site)}: {tag} {url}" for tag, url in parser.urls if EXTERNAL.match(url)]
    for path in glob.glob(os.path.join(site, "**", "*.css"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        bad += [
            f"{os.path.relpath(path, site)}: url({u})"
            for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", text)
        ]
        bad += [
            f"{os.path.relpath(path, site)}: @import {u}"
            for u in re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", text)
        ]
    return bad


def test_the_external_resource_scan_can_fail(tmp_path):
    (tmp_path / "a.html").write_text(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css"><script src="//cdn.x/y.js"></script>'
        '<a href="https://github.com">a link is fine</a><img src="data:image/png;base64,AA"><script src="a.js"></script>'
    )
    (tmp_path / "b.css").write_text("@font-face { src: url(https://fonts.gstatic.com/x.woff2) }")
    assert len(external_loads(str(tmp_path))) == 3


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    given = os.environ.get("HAMUX_DOCS_SITE")
    if given:
        path = given if os.path.isabs(given) else os.path.join(ROOT, given)
        assert os.path.isfile(os.path.join(path, "index.html")), f"HAMUX_DOCS_SITE={given} holds no built site"
        return path
    pytest.importorskip("mkdocs")
    path = str(tmp_path_factory.mktemp("site"))
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", path], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="module")
def served(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=site, **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    b = Browser(require_browser(), loopback=True, width=1280, height=900)
    yield b
    b.close()


def wait_for(browser, expression: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def screenshot(browser, name: str) -> None:
    """With HAMUX_WRITE_SCREENSHOTS=1, store the viewport as docs/images/<name> (the issue's screenshots)."""
    png = browser.screenshot()
    assert len(png) > 10_000
    if os.environ.get("HAMUX_WRITE_SCREENSHOTS") == "1":
        with open(os.path.join(DOCS, "images", name), "wb") as f:
            f.write(png)


@pytest.mark.slow
def test_the_built_site_loads_nothing_external(site):
    assert os.path.isfile(os.path.join(site, "assets", "mathjax", "MathJax.js"))
    assert os.path.isfile(os.path.join(site, "assets", "mathjax", "config", "local.js"))
    assert external_loads(site) == []


@pytest.mark.slow
@pytest.mark.browser
def test_the_site_in_a_browser(served, browser):
    browser.events.clear()
    # the API page of HAM: add_synapse with its signature
    browser.open(f"{served}/reference/model/")
    sig = wait_for(
        browser,
        "(() => { const h = document.getElementById('hamux_graph.HAM.add_synapse');"
        " if (!h) return null; const s = h.parentElement.querySelector('.doc-signature');"
        " return s ? s.textContent : null; })()",
    )
    assert sig and "add_synapse(" in sig and "layers" in sig and "shares" in sig, sig
    browser.evaluate("document.getElementById('hamux_graph.HAM.add_synapse').scrollIntoView(); window.scrollBy(0, -70)")
    time.sleep(0.3)
    screenshot(browser, "site_api_ham.png")
    # the search finds relax
    browser.evaluate(
        "(() => { const q = document.querySelector('input.md-search__input'); q.focus();"
        " q.value = 'relax'; q.dispatchEvent(new Event('input', {bubbles: true}));"
        " q.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true, key: 'x'})); })()"
    )
    hits = wait_for(
        browser,
        "(() => { const r = [...document.querySelectorAll('.md-search-result__item')].map(e => e.textContent);"
        " return r.length ? r : null; })()",
    )
    assert hits and any("relax" in h for h in hits), hits
    # formulas are typeset (MathJax's HTML-CSS output, with the local STIX web fonts), not raw TeX
    browser.open(f"{served}/concepts/")
    typeset = wait_for(browser, "document.querySelectorAll('.arithmatex .MathJax').length")
    assert typeset and typeset >= 10
    raw = browser.evaluate(
        "[...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.MathJax')).length"
    )
    assert raw == 0 and browser.evaluate("document.querySelectorAll('.MathJax_Error').length") == 0
    # a tutorial page shows its figures (the PNGs stored in the notebook)
    browser.open(f"{served}/tutorials/memories/")
    figures = wait_for(
        browser,
        "[...document.querySelectorAll('.jp-RenderedImage img, .jp-OutputArea img')]"
        ".filter(i => i.complete && i.naturalWidth > 100).length",
    )
    assert figures and figures >= 3
    browser.evaluate("document.querySelector('.jp-RenderedImage img, .jp-OutputArea img').scrollIntoView()")
    time.sleep(0.3)
    screenshot(browser, "site_tutorial.png")
    # nothing left loopback, nothing went wrong
    outside = [u for u in browser.requests() if not u.startswith((served, "data:", "blob:"))]
    assert outside == []
    assert browser.console_errors() == []
