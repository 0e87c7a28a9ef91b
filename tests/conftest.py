"""Shared test fixtures and settings.

The package's annotations are checked at run time (``--jaxtyping-packages`` in pyproject.toml:
jaxtyping shapes and dtypes, beartype for the rest). A test that passes arguments outside their
annotations on purpose, to test the library's own error messages, is marked
``@pytest.mark.bad_arguments``: the checker is off while it runs, as it would refuse those
arguments before the library sees them (and users run without it).

Rank promotion raises (as equinox and diffrax test): an implicit broadcast between arrays of
different ranks is an error, so every broadcast in the package and the tests is written out.
The environment variable carries the setting into subprocesses that import jax afresh (the
command line, the examples, the fuzzer, the parallel runs: they all inherit ``os.environ``).
"""

from __future__ import annotations

import itertools
import os


os.environ["JAX_NUMPY_RANK_PROMOTION"] = "raise"

import jax  # noqa: E402
import jaxtyping  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402


jax.config.update("jax_numpy_rank_promotion", "raise")  # jax may be imported already (by a plugin)


@pytest.fixture(autouse=True)
def _type_checks_off_for_bad_arguments(request):
    """Turn the run-time type checker off for a test marked ``bad_arguments`` (see above)."""
    if request.node.get_closest_marker("bad_arguments") is None:
        yield
        return
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", before)


@pytest.fixture
def getkey():
    """Return a function that yields a fresh, deterministic PRNG key on each call."""
    counter = itertools.count()
    base = jax.random.key(1234)

    def _getkey():
        return jax.random.fold_in(base, next(counter))

    return _getkey


# CI runs a fixed, reproducible set of hypothesis examples; local runs explore new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
