"""The tutorial notebooks (docs/tutorials/*.ipynb) run, and their stored outputs are current.

The default run executes the four notebooks in a real Jupyter kernel (nbclient + ipykernel, one
kernel shared, an empty namespace for each) with their small settings; a notebook that raises
fails. The site renders the stored outputs without executing, so a re-execution must give the
same cell structure (``helpers.notebooks.structure``) as what is stored, every notebook must
store a matplotlib figure (``image/png``), and the notebook cell that shows a HAM must display
its interactive page (``HAM._repr_html_``) through the kernel. The ``slow`` variant runs each
notebook in a fresh kernel with the full settings (``HAMUX_TUTORIAL_FULL=1``).
"""

from __future__ import annotations

import glob
import html
import os
import re

import nbformat
import pytest

from helpers.notebooks import errors, execute, ROOT, structure


TUTORIALS = os.path.join(ROOT, "docs", "tutorials")
NOTEBOOKS = sorted(glob.glob(os.path.join(TUTORIALS, "*.ipynb")))
NAMES = [os.path.basename(p) for p in NOTEBOOKS]


def stored(path: str):
    return nbformat.read(path, as_version=4)


def pngs(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def inline_pages(nb) -> list[str]:
    """The ``text/html`` outputs that are an inline interactive page (an iframe with srcdoc)."""
    return [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "text/html" in o.get("data", {}) and o["data"]["text/html"].startswith("<iframe")
    ]


def test_the_four_tutorials_are_there():
    assert NAMES == ["energy_transformer.ipynb", "getting_started.ipynb", "memories.ipynb", "topology.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_stored_outputs(path):
    """What the site shows: outputs stored, no errors, at least one figure, no execution left out."""
    nb = stored(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{path}: store the outputs (tests/helpers/notebooks.py)"
    assert errors(nb) == []
    assert pngs(nb) >= 1, f"{path} stores no matplotlib figure (image/png)"


@pytest.fixture(scope="module")
def executed():
    """Each notebook executed now, by name; its wall and kernel CPU times are printed (the closing note's numbers)."""
    runs = execute(NOTEBOOKS)
    for name, run in zip(NAMES, runs):
        print(f"\n{name}: {run.seconds:.1f} s (kernel CPU {run.cpu_seconds:.1f} s)")
    wall, cpu = sum(run.seconds for run in runs), sum(run.cpu_seconds for run in runs)
    print(f"four notebooks: {wall:.1f} s (kernel CPU {cpu:.1f} s)")
    return {name: run.notebook for name, run in zip(NAMES, runs)}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_its_stored_outputs_are_current(executed, name):
    nb = executed[name]
    assert errors(nb) == [], f"{name} raised"
    want = structure(stored(os.path.join(TUTORIALS, name)))
    assert structure(nb) == want, (
        f"{name}: re-executing gives other outputs than the stored ones; store them again "
        "(python tests/helpers/notebooks.py docs/tutorials/*.ipynb)"
    )
    assert pngs(nb) >= 1


def test_a_ham_displays_its_interactive_page_through_the_kernel(executed):
    """The getting-started cell ``ham``: text/html is the page in a sandboxed srcdoc iframe."""
    nb = executed["getting_started.ipynb"]
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == "ham"]
    (out,) = cell.outputs
    assert out.output_type == "execute_result"
    assert out["data"]["text/plain"] == "HAM(3 layers, 2 synapses)"
    frame = out["data"]["text/html"]
    assert frame.startswith('<iframe sandbox="allow-scripts"') and frame.endswith("</iframe>")
    assert "base64" not in frame and "data:text/html" not in frame
    m = re.search(r'srcdoc="([^"]*)"', frame)
    assert m, "the page is in the srcdoc attribute, escaped (no raw double quote inside)"
    page = html.unescape(m.group(1))
    assert page.startswith("<!DOCTYPE html>") and "data-node" in page
    # every node of the graph is in the page's data (page.js draws one data-node element each)
    for node in ("visible", "hidden", "label", "memory", "readout"):
        assert f'"id":"{node}"' in page
    # the compiled model displays itself the same way
    assert len(inline_pages(nb)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_full_settings(path):
    ((nb, seconds, cpu_seconds),) = execute([path], full=True, fresh=True)
    print(f"\n{os.path.basename(path)} (full settings): {seconds:.1f} s (kernel CPU {cpu_seconds:.1f} s)")
    assert errors(nb) == []
    assert structure(nb) == structure(stored(path))


# ---- the exported notebook in a browser --------------------------------------------------------


@pytest.mark.browser
def test_the_exported_notebook_draws_every_node_offline(tmp_path):
    """nbconvert's HTML of the stored getting-started notebook, opened offline: the inline page draws
    every node of the HAM inside its sandboxed frame, with no request and no console error."""
    import time

    from nbconvert import HTMLExporter

    from helpers.browser import Browser, require_browser

    path = require_browser()
    nb = stored(os.path.join(TUTORIALS, "getting_started.ipynb"))
    # the cell that shows the HAM (the compiled model's frame follows later in the notebook)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == "ham"]
    page, _ = HTMLExporter(template_name="basic").from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert "<iframe" in page and "srcdoc=" in page
    host = tmp_path / "notebook.html"
    host.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{page}</body></html>', "utf-8")
    browser = Browser(path, width=1000, height=600)
    try:
        browser.open(host.as_uri())
        want = ["hidden", "label", "memory", "readout", "visible"]
        drawn = None
        for _ in range(100):
            try:
                drawn = browser.evaluate_in_frame(
                    "[...document.querySelectorAll('[data-node]')].map(e => e.getAttribute('data-node')).sort()"
                )
            except Exception:  # the frame is not there yet
                drawn = None
            if drawn == want:
                break
            time.sleep(0.05)
        assert drawn == want
        assert browser.evaluate_in_frame("document.documentElement.getAttribute('data-ready')") == "true"
        status = browser.evaluate_in_frame("document.querySelector('.stats').textContent")
        assert status == "5 nodes; showing 3 layers, 2 synapses, 0 groups"
        # sandboxed: the frame's document is not reachable from the notebook page
        assert browser.evaluate("document.querySelector('iframe').contentDocument") is None
        if os.environ.get("HAMUX_WRITE_SCREENSHOTS") == "1":
            with open(os.path.join(ROOT, "docs", "images", "notebook_inline_ham.png"), "wb") as f:
                f.write(browser.screenshot())
        assert browser.console_errors() == []
        assert [u for u in browser.requests() if not u.startswith(("file:", "data:", "about:"))] == []
    finally:
        browser.close()
