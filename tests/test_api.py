"""The user-facing classes as Jupyter shows them: plain reprs with grammatical counts, and the
interactive page inline (``_repr_html_``)."""

from __future__ import annotations

import html
import re

import jax
import jax.numpy as jnp
import pytest

import hamux_graph as hg
from hamux_graph.html import page_html


def two_layers() -> hg.HAM:
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_layer("h", hg.SoftmaxLayer((4,)))
    ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "h"))
    return ham


@pytest.mark.parametrize(
    ("layers", "synapses", "text"),
    [(1, 0, "1 layer, 0 synapses"), (2, 1, "2 layers, 1 synapse"), (3, 2, "3 layers, 2 synapses")],
)
def test_counts_read_grammatically(layers, synapses, text):
    ham = hg.HAM()
    for i in range(layers):
        ham.add_layer(f"x{i}", hg.TanhLayer((2,)))
    for i in range(synapses):
        ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
    assert repr(ham) == f"HAM({text})"
    model = ham.compile(key=jax.random.key(0))
    assert repr(model) == f"CompiledHAM({text})"
    assert ham.summary().splitlines()[0] == f"HAM: {text}"
    assert model.summary().splitlines()[0] == f"CompiledHAM: {text}"
    assert f"<title>HAM: {text}</title>" in page_html(ham.plan())


def test_repr_html_is_the_page_in_a_sandboxed_srcdoc_frame():
    ham = two_layers()
    frame = ham._repr_html_()
    assert re.fullmatch(r'<iframe sandbox="allow-scripts" title="[^"]*" style="[^"]*" srcdoc="[^"]*"></iframe>', frame)
    assert 'title="HAM: 2 layers, 1 synapse"' in frame
    assert "base64" not in frame and "data:text/html" not in frame
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(srcdoc) == page_html(ham.plan())  # the whole page, escaped, nothing else
    assert "<" not in srcdoc and ">" not in srcdoc and "data-node" in srcdoc
    model = ham.compile(key=jax.random.key(0))
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', model._repr_html_()).group(1)) == page_html(model.plan())


def test_an_invalid_ham_shows_its_plain_repr():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_layer("h", hg.TanhLayer((4,)))
    ham.add_synapse("s", hg.DenseSynapse(W=jnp.zeros((5, 5))), layers=("v", "h"))  # W should be (3, 4)
    with pytest.raises(hg.ValidationError, match="shape"):
        ham.validate()
    assert ham._repr_html_() == "<pre>HAM(2 layers, 1 synapse)</pre>"
