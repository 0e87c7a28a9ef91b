"""The test run's own settings are on (tests/conftest.py, pyproject.toml), so they cannot lapse unseen.

Rank promotion raises, in this process and in a fresh interpreter started as the subprocess
tests start theirs; the package's annotations are checked at run time (when pytest runs with
``--jaxtyping-packages``, the default); a test marked ``bad_arguments`` runs without the checker.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import jaxtyping
import pytest

import hamux_graph as hg


def test_rank_promotion_raises_here_and_in_a_fresh_interpreter():
    with pytest.raises(ValueError, match="jax_numpy_rank_promotion"):
        jnp.ones((2, 3)) + jnp.ones((3,))
    np_ok = jnp.ones((2, 3)) + jnp.ones((3,))[None]  # written out: fine
    assert np_ok.shape == (2, 3)
    code = "import jax, jax.numpy as jnp\ntry:\n    jnp.ones((2, 3)) + jnp.ones((3,))\nexcept ValueError:\n    print('raised')\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert out.stdout.strip() == "raised", (out.stdout, out.stderr[-2000:])


@pytest.fixture
def checked(request):
    if not request.config.getoption("jaxtyping_packages"):
        pytest.skip("run without --jaxtyping-packages (pyproject.toml's addopts set it)")


def test_annotations_are_checked_at_run_time(checked):
    with pytest.raises(jaxtyping.TypeCheckError, match="beta"):
        hg.TanhLayer((3,), beta="2.0")
    with pytest.raises(jaxtyping.TypeCheckError, match="patterns"):  # a dimension string: K patterns of N
        hg.memory.hebbian(jnp.ones((4,)))
    assert hg.TanhLayer((3,), beta=2).lagrangian.beta == 2.0  # an int is a float (PEP 484), as statically


@pytest.mark.bad_arguments
def test_the_bad_arguments_marker_turns_the_checker_off(checked):
    assert jaxtyping.config.jaxtyping_disable
    with pytest.raises(hg.ValidationError, match="beta"):  # the library's own error, not the checker's
        hg.TanhLayer((3,), beta="2.0")


def test_the_checker_is_back_on_after_a_marked_test(checked):
    assert not jaxtyping.config.jaxtyping_disable
    assert jax.config.jax_numpy_rank_promotion == "raise"
