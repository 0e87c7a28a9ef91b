"""Strict argument parsing: one set of rules for every constructor and function.

ints are ints (numpy integers accepted; floats, strings and bools refused), bools are bools,
shapes are tuples of positive ints, numbers are finite unless said otherwise. Each parser
raises the error class it is given (``ValidationError`` for specs, ``ArgumentError`` for
calls), with a message naming the argument, the value received and what is accepted.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.core
import numpy as np


__all__ = [
    "describe",
    "parse_int",
    "parse_bool",
    "parse_float",
    "parse_shape",
    "parse_int_or_tuple",
    "parse_choice",
]


def describe(value: Any) -> str:
    """``value`` and its type, for error messages: ``2.5 (float)``."""
    return f"{value!r} ({type(value).__name__})"


def parse_int(value: Any, what: str, *, minimum: int | None = None, error: type[Exception] = ValueError) -> int:
    """``value`` as an int, refusing floats, strings and bools; ``>= minimum`` if given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(f"{what} must be an int, got {describe(value)}.")
    if minimum is not None and value < minimum:
        raise error(f"{what} must be an int >= {minimum}, got {int(value)}.")
    return int(value)


def parse_bool(value: Any, what: str, *, error: type[Exception] = ValueError) -> bool:
    """``value`` if it is a bool (numpy bools accepted); strings like ``"no"`` are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{what} must be True or False, got {describe(value)}.")
    return bool(value)


def parse_float(
    value: Any,
    what: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    finite: bool = True,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a float (ints accepted; strings, bools and arrays refused)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
        if (
            isinstance(value, (jax.Array, np.ndarray))
            and np.ndim(value) == 0
            and not isinstance(value, jax.core.Tracer)
        ):
            value = np.asarray(value).item()
            if isinstance(value, bool):
                raise error(f"{what} must be a number, got a boolean array.")
        else:
            raise error(f"{what} must be a number, got {describe(value)}.")
    f = float(value)
    if finite and not math.isfinite(f):
        raise error(f"{what} must be a finite number, got {f!r}.")
    if positive and not f > 0:
        raise error(f"{what} must be > 0, got {f!r}.")
    if nonnegative and not f >= 0:
        raise error(f"{what} must be >= 0, got {f!r}.")
    return f


def parse_shape(
    value: Any, what: str, *, error: type[Exception] = ValueError, allow_int: bool = True
) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (a bare int ``n`` means ``(n,)`` when ``allow_int``)."""
    if allow_int and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.integer):
        value = tuple(value.tolist())
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise error(f"{what} must be a tuple of positive ints such as (64,) or (8, 8, 3), got {describe(value)}.")
    out = []
    for s in value:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s <= 0:
            raise error(f"{what} must be a tuple of positive ints such as (64,) or (8, 8, 3), got {value!r}.")
        out.append(int(s))
    if not out:
        raise error(f"{what} must be a non-empty tuple of positive ints such as (64,), got {value!r}.")
    return tuple(out)


def parse_int_or_tuple(value: Any, what: str, *, error: type[Exception] = ValueError) -> int | tuple[int, ...] | None:
    """``None``, a positive int, or a tuple (or list) of positive ints (kernel sizes, strides, ...)."""
    if value is None:
        return None
    bad = f"{what} must be a positive int or a tuple of positive ints, got {value!r}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if value < 1:
            raise error(bad + ".")
        return int(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise error(f"{bad} ({type(value).__name__}).")
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1 for v in value):
        raise error(bad + ".")
    return tuple(int(v) for v in value)


def parse_choice(value: Any, what: str, choices: tuple[str, ...], *, error: type[Exception] = ValueError) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{what} must be one of {list(choices)}, got {value!r}.")
    return value
