"""Shared test fixtures."""

from __future__ import annotations

import itertools

import jax
import pytest


jax.config.update("jax_numpy_rank_promotion", "allow")


@pytest.fixture
def getkey():
    """Return a function that yields a fresh, deterministic PRNG key on each call."""
    counter = itertools.count()
    base = jax.random.key(1234)

    def _getkey():
        return jax.random.fold_in(base, next(counter))

    return _getkey


# CI runs a fixed, reproducible set of hypothesis examples; local runs explore new ones.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402


settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
