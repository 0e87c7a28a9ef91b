"""Strict argument parsing: one set of rules for every constructor and function.

ints are ints (numpy integers accepted; floats, strings and bools refused), bools are bools,
shapes are tuples of positive ints, numbers are finite unless said otherwise. Each parser
raises the error class it is given (``ValidationError`` for specs, ``ArgumentError`` for
calls), with a message naming the argument, the value received and what is accepted.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from typing import Any

import jax
import jax.core
import numpy as np

from .._errors import ArgumentError


__all__ = [
    "describe",
    "is_int",
    "parse_int",
    "parse_int_text",
    "parse_bool",
    "parse_float",
    "parse_shape",
    "parse_int_or_tuple",
    "parse_choice",
    "parse_path",
    "parse_steps",
    "parse_sequence",
    "parse_key",
    "INT32_MAX",
]

#: the largest step count or index: loop counters and indices are int32 inside jitted code
INT32_MAX = 2**31 - 1


def describe(value: Any) -> str:
    """``value`` and its type, for error messages: ``2.5 (float)``."""
    return f"{value!r} ({type(value).__name__})"


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (Python or numpy), bools excluded: the one rule for "an int".

    For code that branches on the type (a padding given as an int or as pairs); code that
    refuses anything else calls ``parse_int``.

    Example:
        >>> from hamux_graph._internal.parse import is_int
        >>> import numpy as np
        >>> [is_int(v) for v in (3, np.int64(3), True, 3.0, "3")]
        [True, True, False, False, False]
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _bounds(kind: str, minimum: float | None, maximum: float | None) -> str:
    """What is accepted, for messages: ``an int``, ``an int >= 1``, ``an int in [0, 3]``."""
    if minimum is not None and maximum is not None:
        return f"{kind} in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def parse_int(
    value: Any,
    what: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[Exception] = ValueError,
    hint: str = "",
) -> int:
    """``value`` as an int, refusing floats, strings and bools; within ``[minimum, maximum]`` if given.

    Args:
        value: the argument (numpy integers are accepted and returned as ``int``).
        what: the argument's name in messages, with its owner if useful (``"zoo.hn: num_classes"``).
        minimum: the smallest accepted value (``1`` for a count, ``0`` for an index or step).
        maximum: the largest accepted value (inclusive).
        error: the exception class to raise (``ArgumentError``, ``ValidationError``, ...).
        hint: a sentence appended to the message (how to fix it).

    Raises:
        error: naming ``what``, the value received and the accepted range.

    Example:
        >>> from hamux_graph._internal.parse import parse_int
        >>> parse_int(3, "steps", minimum=0)
        3
        >>> parse_int(2.5, "trials", minimum=1)
        Traceback (most recent call last):
        ValueError: trials must be an int >= 1, got 2.5 (float).
        >>> parse_int(4, "process_id", minimum=0, maximum=1, hint=" There are 2 processes.")
        Traceback (most recent call last):
        ValueError: process_id must be an int in [0, 1], got 4. There are 2 processes.
    """
    accepted = _bounds("an int", minimum, maximum)
    if not is_int(value):
        raise error(f"{what} must be {accepted}, got {describe(value)}.{hint}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{what} must be {accepted}, got {int(value)}.{hint}")
    return int(value)


def parse_int_text(
    text: str, what: str, *, minimum: int | None = None, maximum: int | None = None, error: type[Exception] = ValueError
) -> int:
    """An int written as text (a command-line option), with the rules of ``parse_int``.

    Example:
        >>> import argparse
        >>> from hamux_graph._internal.parse import parse_int_text
        >>> parse_int_text("150", "--dpi", minimum=1)
        150
        >>> parse_int_text("1.5", "--dpi", minimum=1, error=argparse.ArgumentTypeError)
        Traceback (most recent call last):
        argparse.ArgumentTypeError: --dpi must be an int >= 1, got '1.5'.
    """
    try:
        value = int(text)
    except ValueError:
        raise error(f"{what} must be {_bounds('an int', minimum, maximum)}, got {text!r}.") from None
    return parse_int(value, what, minimum=minimum, maximum=maximum, error=error)


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
    minimum: float | None = None,
    maximum: float | None = None,
    error: type[Exception] = ValueError,
    hint: str = "",
) -> float:
    """``value`` as a float (ints and concrete 0-d arrays accepted; strings, bools and other arrays refused).

    Args:
        value: the argument.
        what: the argument's name in messages, with its owner if useful.
        positive: refuse values ``<= 0``.
        nonnegative: refuse values ``< 0``.
        finite: refuse ``inf`` and ``nan`` (default).
        minimum: the smallest accepted value (inclusive).
        maximum: the largest accepted value (inclusive).
        error: the exception class to raise.
        hint: a sentence appended to the message (how to fix it).

    Raises:
        error: naming ``what``, the value received and what is accepted.

    Example:
        >>> from hamux_graph._internal.parse import parse_float
        >>> parse_float(2, "beta", positive=True)
        2.0
        >>> parse_float(1.5, "corrupt: fraction", minimum=0.0, maximum=1.0)
        Traceback (most recent call last):
        ValueError: corrupt: fraction must be a number in [0.0, 1.0], got 1.5.
        >>> parse_float("0.1", "dt", positive=True)
        Traceback (most recent call last):
        ValueError: dt must be a number, got '0.1' (str).
    """
    bounded = minimum is not None or maximum is not None
    kind = "a finite number" if finite and (minimum is None or maximum is None) else "a number"
    accepted = _bounds(kind, minimum, maximum) if bounded else "a number"
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
        if (
            isinstance(value, (jax.Array, np.ndarray))
            and np.ndim(value) == 0
            and not isinstance(value, jax.core.Tracer)
        ):
            value = np.asarray(value).item()
            if isinstance(value, bool):
                raise error(f"{what} must be {accepted}, got a boolean array.{hint}")
        else:
            raise error(f"{what} must be {accepted}, got {describe(value)}.{hint}")
    f = float(value)
    if finite and not math.isfinite(f):
        raise error(f"{what} must be {'a finite number' if not bounded else accepted}, got {f!r}.{hint}")
    if positive and not f > 0:
        raise error(f"{what} must be > 0, got {f!r}.{hint}")
    if nonnegative and not f >= 0:
        raise error(f"{what} must be >= 0, got {f!r}.{hint}")
    if (minimum is not None and not f >= minimum) or (maximum is not None and not f <= maximum):
        raise error(f"{what} must be {accepted}, got {f!r}.{hint}")
    return f


def parse_shape(
    value: Any, what: str, *, error: type[Exception] = ValueError, allow_int: bool = True
) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (a bare int ``n`` means ``(n,)`` when ``allow_int``)."""
    if allow_int and is_int(value):
        value = (value,)
    if isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.integer):
        value = tuple(value.tolist())
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise error(f"{what} must be a tuple of positive ints such as (64,) or (8, 8, 3), got {describe(value)}.")
    out = []
    for s in value:
        if not is_int(s) or s <= 0:
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
    if is_int(value):
        if value < 1:
            raise error(bad + ".")
        return int(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise error(f"{bad} ({type(value).__name__}).")
    if any(not is_int(v) or v < 1 for v in value):
        raise error(bad + ".")
    return tuple(int(v) for v in value)


def parse_choice(value: Any, what: str, choices: tuple[str, ...], *, error: type[Exception] = ValueError) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{what} must be one of {list(choices)}, got {value!r}.")
    return value


def parse_path(value: Any, what: str, *, error: type[Exception] | None = None) -> str:
    """``value`` as a path string: a ``str`` or ``os.PathLike[str]``, non-empty and without NUL.

    ``None``, bytes, bytes paths and open file objects are refused (``ArgumentError`` by
    default), naming ``what``.

    Example:
        >>> import pathlib
        >>> from hamux_graph._internal.parse import parse_path
        >>> parse_path(pathlib.Path("a/b.hamux"), "path")
        'a/b.hamux'
        >>> parse_path(b"a.hamux", "path")
        Traceback (most recent call last):
        hamux_graph._errors.ArgumentError: path must be a path (a str or os.PathLike[str]), got b'a.hamux' (bytes).
    """
    if error is None:
        error = ArgumentError
    text: Any = value
    if not isinstance(value, str):
        text = os.fspath(value) if isinstance(value, os.PathLike) else None
    if not isinstance(text, str):
        hint = " (an open file? give its name)" if isinstance(value, io.IOBase) else ""
        raise error(f"{what} must be a path (a str or os.PathLike[str]), got {describe(value)}{hint}.")
    if not text:
        raise error(f"{what} must be a path, got an empty string.")
    if "\0" in text:
        raise error(f"{what} must be a path without NUL characters, got {text!r}.")
    return text


def parse_steps(value: Any, what: str, *, minimum: int = 0, error: type[Exception] = ValueError) -> int:
    """A step count: an int in ``[minimum, 2**31 - 1]`` (it is an int32 inside jitted loops).

    Example:
        >>> from hamux_graph._internal.parse import parse_steps
        >>> parse_steps(2**31, "steps")
        Traceback (most recent call last):
        ValueError: steps must be an int in [0, 2147483647], got 2147483648. Step counts are int32 inside jitted loops.
    """
    return parse_int(
        value, what, minimum=minimum, maximum=INT32_MAX, error=error, hint=" Step counts are int32 inside jitted loops."
    )


def parse_sequence(value: Any, what: str, *, error: type[Exception] = ValueError) -> tuple[Any, ...]:
    """``value`` as a tuple if it is an ordered collection (tuple, list, range, generator, 1-d array).

    Sets and dicts are refused: their order depends on the hash seed, so anything built
    from it (slot order, a weight's shape) would change from run to run.

    Example:
        >>> from hamux_graph._internal.parse import parse_sequence
        >>> parse_sequence(["a", "b"], "layers")
        ('a', 'b')
        >>> parse_sequence({"a"}, "layers")
        Traceback (most recent call last):
        ValueError: layers must be an ordered sequence (a tuple or list), got a set: its order changes from run to run. Pass a list.
    """
    if isinstance(value, (set, frozenset, dict)) or type(value).__name__ in ("dict_keys", "dict_values"):
        kind = "a set" if isinstance(value, (set, frozenset)) else "a dict"
        raise error(
            f"{what} must be an ordered sequence (a tuple or list), got {kind}: its order changes from run to run. "
            "Pass a list."
        )
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(value.tolist())
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise error(f"{what} must be an ordered sequence (a tuple or list), got {describe(value)}.")
    return tuple(value)  # tuples, lists, ranges, generators: ordered


def parse_key(value: Any, what: str = "key", *, error: type[Exception] | None = None) -> Any:
    """``value`` if it is one JAX PRNG key (``jax.random.key(0)``, or a raw ``uint32[2]`` key).

    An int seed is refused with a message saying how to make a key.

    Example:
        >>> from hamux_graph._internal.parse import parse_key
        >>> parse_key(0, "key")
        Traceback (most recent call last):
        hamux_graph._errors.ArgumentError: key must be one JAX PRNG key such as jax.random.key(0), got 0 (int). Make one with jax.random.key(seed).
    """
    if error is None:
        error = ArgumentError
    ok = isinstance(value, jax.Array) and (
        (jax.numpy.issubdtype(value.dtype, jax.dtypes.prng_key) and value.shape == ())
        or (value.dtype == np.uint32 and value.shape == (2,))
    )
    if not ok:
        got = (
            describe(value)
            if not isinstance(value, jax.Array)
            else f"an array of shape {value.shape}, dtype {value.dtype}"
        )
        raise error(
            f"{what} must be one JAX PRNG key such as jax.random.key(0), got {got}. Make one with jax.random.key(seed)."
        )
    return value
