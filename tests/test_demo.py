"""Tests for the end-to-end demo (hamux_graph.demo) in a short configuration."""

from __future__ import annotations

import os
import sys

import pytest


pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from hamux_graph import demo  # noqa: E402


def test_short_demo_writes_everything_and_reloads_identically(tmp_path):
    lines: list[str] = []
    result = demo.run_demo(tmp_path / "demo", epochs=2, nhid=32, memories=30, progress=False, log=lines.append)
    names = sorted(os.path.basename(f) for f in result["files"])
    for want in (
        "classifier.graphml",
        "classifier.hamux",
        "classifier_topology.png",
        "training.png",
        "retrieval.png",
        "retrieval_energy.png",
        "classifier_energy.png",
        "memory.graphml",
        "classifier.html",
        "retrieval.gif",
    ):
        assert want in names
    for f in result["files"]:
        assert os.path.getsize(f) > 0
    with open(tmp_path / "demo" / "retrieval.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "demo" / "retrieval.gif", "rb") as fh:
        assert fh.read(6) == b"GIF89a"
    assert result["reload_identical"] is True
    assert result["test_accuracy"] > 0.5  # two epochs, ten classes
    assert result["retrieval_accuracy"] >= 0.9
    text = "\n".join(lines)
    assert "test accuracy" in text and "same architecture: True" in text and "identical" in text


def test_demo_without_scikit_learn_says_which_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    with pytest.raises(ImportError, match=r"pip install hamux_graph\[examples\]"):
        demo.run_demo("unused", epochs=1)
    assert demo.main(["--out", "unused", "--no-progress"]) == 1
    assert "hamux_graph[examples]" in capsys.readouterr().err
    assert not os.path.exists("unused")


def test_help_works_without_docstrings(monkeypatch, capsys):
    # python -OO strips the module docstring; the parser's description must not need it
    monkeypatch.setattr(demo, "__doc__", None)
    with pytest.raises(SystemExit) as info:
        demo.main(["--help"])
    assert info.value.code == 0
    assert "--epochs" in capsys.readouterr().out
