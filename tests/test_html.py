"""The interactive page: a self-contained file, checked as text and in a real headless Chromium.

Browser tests load generated pages from file URLs with the network emulated offline (and
resolver and proxy pointing nowhere) and assert: no console errors, no requests but the
page itself, as many layer / synapse / group elements as the graph (or its collapsed
form) has, a hover card on a synthetic mouse-over, more elements after expanding a group,
and a screenshot that is not blank. Without Chromium they skip, saying so; with
``HAMUX_REQUIRE_BROWSER=1`` (CI) a missing browser fails them.
"""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph.cli import main
from hamux_graph.draw import collapse_groups
from hamux_graph.html import page_data, page_html

from helpers.browser import Browser, require_browser
from helpers.graphs import chain


COUNT = (
    "JSON.stringify(['layer','synapse','group'].map(k => document.querySelectorAll('[data-kind=' + k + ']').length))"
)


def counts(browser) -> list[int]:
    return json.loads(browser.evaluate(COUNT))


def expected_counts(ham: hg.HAM, collapsed: bool) -> list[int]:
    plan = ham.plan()
    groups = collapse_groups(plan) if collapsed else ()
    inside = {m for g in groups for m in g.layers + g.synapses}
    return [
        sum(l not in inside for l in plan.layer_names),
        sum(s not in inside for s in plan.synapse_names),
        len(groups),
    ]


# ---- the file, as text ---------------------------------------------------------------------------


def test_page_is_one_self_contained_file(tmp_path):
    ham = chain(24)
    text = page_html(ham.plan(), title='</script><script>alert("x")</script> & more')
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]+src|<link[^>]+stylesheet|@import|url\(", text)
    assert set(re.findall(r"https?://[^\s\"')]+", text)) <= {"http://www.w3.org/2000/svg"}
    assert text.count("</script>") == 2 and 'alert("x")' not in text  # the title is escaped everywhere
    data = page_data(ham.plan())
    assert len(data["nodes"]) == 48 and len(data["edges"]) == 2 * 23 + 3
    assert [(g["id"], g["members"]) for g in data["groups"]] == [("x1…x11", 21), ("x13…x22", 19)]
    hg.write_graphml(ham, tmp_path / "m.graphml")
    assert main(["draw", str(tmp_path / "m.graphml"), "-o", str(tmp_path / "m.html")]) == 0
    assert '"collapsed":true' in (tmp_path / "m.html").read_text(encoding="utf-8")
    assert main(["draw", str(tmp_path / "m.graphml"), "-o", str(tmp_path / "n.html"), "--no-collapse"]) == 0
    assert '"collapsed":false' in (tmp_path / "n.html").read_text(encoding="utf-8")


def test_energy_inputs_are_checked():
    plan = chain(4).plan()
    with pytest.raises(hg.StateError, match="not both"):
        page_data(plan, energies={}, trace={"layers": {}, "synapses": {}})
    with pytest.raises(hg.StateError, match="trace must be the dict model.energy_trace"):
        page_data(plan, trace=[1, 2])
    with pytest.raises(hg.StateError, match="leading step axis"):
        page_data(plan, trace={"layers": {"x0": 1.0}, "synapses": {}})
    data = page_data(plan, energies={"layers": {"x0": np.ones(3)}, "synapses": {"s0": -2.0}})
    assert data["energy"]["values"] == {"x0": 1.0, "s0": -2.0} and "mean over 3" in data["energy"]["label"]
    with pytest.raises(hg.ValidationError, match="validated plan"):
        page_html("not a graph")


# ---- in the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    path = require_browser()
    b = Browser(path)
    yield b
    b.close()


def load(browser, tmp_path, name: str, text: str, ready: bool = True) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    url = path.as_uri()
    browser.events.clear()
    browser.open(url)
    if ready:  # the page's script ran to its end
        assert browser.evaluate("document.documentElement.getAttribute('data-ready')") == "true"
    return url


def assert_clean(browser, url: str) -> None:
    assert browser.console_errors() == []
    assert [u for u in browser.requests() if u != url and not u.startswith("data:")] == []


def center(browser, selector: str) -> tuple[float, float]:
    r = browser.evaluate(
        f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return r[0], r[1]


def not_blank(png: bytes) -> bool:
    import matplotlib.image

    img = matplotlib.image.imread(io.BytesIO(png))[..., :3]
    ink = (img < 0.9).any(axis=-1).mean()  # share of pixels that are not (nearly) white
    return ink > 0.005 and len(np.unique(img.reshape(-1, 3), axis=0)) > 8


@pytest.mark.browser
def test_collapsed_chain_hover_expand_and_screenshot(browser, tmp_path):
    ham = chain(24)
    url = load(browser, tmp_path, "chain.html", page_html(ham.plan()))
    assert counts(browser) == expected_counts(ham, collapsed=True) == [3, 5, 2]
    members = browser.evaluate("document.querySelector('[data-node=\"x1…x11\"]').getAttribute('data-members')")
    assert members == "21"
    # every element shows its name in a visible text label
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('[data-node]')).every(e => { const t = e.querySelector('text');"
        " const r = t && t.getBoundingClientRect(); return t && r.width > 0 && r.height > 0 &&"
        " t.textContent.startsWith(e.getAttribute('data-node')); })"
    )
    assert shown is True
    assert not_blank(browser.screenshot())
    x, y = center(browser, '[data-node="s11"] rect')
    browser.mouse("mouseMoved", 2, 60)
    browser.mouse("mouseMoved", x, y)
    assert browser.evaluate("document.getElementById('card').hidden") is False
    card = browser.evaluate("document.getElementById('card').textContent")
    assert "s11" in card and "DenseSynapse" in card and "parameters256" in card.replace(",", "")
    before = sum(counts(browser))
    browser.click(*center(browser, '[data-node="x1…x11"] circle'))
    after = counts(browser)
    assert sum(after) == before + 21 - 1 and after == [14, 15, 1]
    browser.click(*center(browser, '.frame[data-group="x1…x11"] text'))  # collapse it again
    assert counts(browser) == [3, 5, 2]
    # search: typing a name inside a collapsed group highlights the group
    browser.evaluate(
        "(() => { const s = document.getElementById('search'); s.value = 'x7';"
        " s.dispatchEvent(new Event('input')); })()"
    )
    assert browser.evaluate("document.querySelector('[data-node=\"x1…x11\"]').classList.contains('match')") is True
    assert_clean(browser, url)


@pytest.mark.browser
def test_full_page_with_an_energy_trace_in_an_iframe(browser, tmp_path):
    ham = chain(6)  # one group (x1…x2), drawn expanded
    # shaped like model.energy_trace(xs, steps=10) of a batch of 2 (docs/drawing.md runs the real one)
    rng = np.random.default_rng(0)
    plan = ham.plan()
    trace = {
        part: {n: np.cumsum(rng.normal(size=(11, 2)), axis=0) for n in names}
        for part, names in (("layers", plan.layer_names), ("synapses", plan.synapse_names))
    }
    page = page_html(plan, collapse=False, trace=trace)
    url = load(browser, tmp_path, "trace.html", page)
    assert counts(browser) == expected_counts(ham, collapsed=False) == [6, 6, 0]
    assert browser.evaluate("document.querySelectorAll('.frame').length") == 1
    assert browser.evaluate("!!document.getElementById('panel') && !!document.getElementById('step')") is True
    fill = "document.querySelector('[data-node=\"x3\"] circle').getAttribute('fill')"
    last = browser.evaluate(fill)
    browser.evaluate(
        "(() => { const s = document.getElementById('step'); s.value = '0'; s.dispatchEvent(new Event('input')); })()"
    )
    assert browser.evaluate(fill) != last  # the nodes are recoloured at step 0
    x, y = center(browser, '[data-node="x3"] circle')
    browser.mouse("mouseMoved", 2, 60)
    browser.mouse("mouseMoved", x, y)
    assert "energy (step 0)" in browser.evaluate("document.getElementById('card').textContent")
    assert not_blank(browser.screenshot())
    assert_clean(browser, url)
    # the same page inside an iframe (srcdoc: no file access needed)
    host = f"<!DOCTYPE html><html><body><iframe id=f width=900 height=600 srcdoc='{page.replace('&', '&amp;').replace(chr(39), '&#39;')}'></iframe></body></html>"
    url = load(browser, tmp_path, "host.html", host, ready=False)
    for _ in range(50):
        n = browser.evaluate(
            "(() => { const d = document.getElementById('f').contentDocument;"
            " return d ? d.querySelectorAll('[data-kind]').length : 0; })()"
        )
        if n:
            break
        time.sleep(0.05)
    assert n == 12
    assert_clean(browser, url)


@pytest.mark.browser
def test_a_page_of_1200_nodes(browser, tmp_path):
    ham = chain(600)  # 600 layers, 599 links and the skip hyperedge
    url = load(browser, tmp_path, "big.html", page_html(ham.plan()))
    assert counts(browser) == expected_counts(ham, collapsed=True)
    ms = browser.evaluate(
        "(() => { const t = performance.now(); document.getElementById('expand-all').click();"
        " return performance.now() - t; })()"
    )
    assert counts(browser) == [600, 600, 0]
    assert ms < 5000, f"expanding 1200 nodes took {ms:.0f} ms"
    assert not_blank(browser.screenshot())
    assert_clean(browser, url)
