"""JSON from untrusted files: the checks the HIF, safetensors and model-directory readers share.

``parse_json`` reads JSON text that may be hostile: its size is capped, it must be UTF-8,
its nesting depth is capped before the parser sees it (a deeply nested document would
otherwise exhaust the stack), a key repeated in one object is refused (``json.loads`` would
silently keep the last one, so the file would say two things), and so are ``NaN``,
``Infinity`` and numbers that overflow a float. Every failure is one ``FormatError`` naming
the source. (A candidate for ``_internal/untrusted.py``; kept here while that module is being
reworked.)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .._errors import FormatError


__all__ = ["parse_json", "DEFAULT_MAX_DEPTH"]

DEFAULT_MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class _Refused(ValueError):
    """A value the strict parser refuses (raised inside ``json.loads``'s hooks)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number (non-finite values are refused)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows a float")
    return value


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON bytes (strings skipped)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(data: bytes, source: str, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value of ``data``, read as untrusted input.

    Args:
        data: the raw bytes (UTF-8; a byte-order mark is refused).
        source: names the input in errors (a path, ``"file!member"``).
        max_bytes: refuse more bytes than this.
        max_depth: refuse documents nested deeper than this.

    Raises:
        FormatError: naming ``source`` and the problem (too large, not UTF-8, too deep, a
            duplicate key, a non-finite number, invalid JSON).

    Example:
        >>> from hamux_graph.formats.untrusted_json import parse_json
        >>> parse_json(b'{"a": [1, 2.5]}', "x.json", max_bytes=100)
        {'a': [1, 2.5]}
        >>> parse_json(b'{"a": 1, "a": 2}', "x.json", max_bytes=100)
        Traceback (most recent call last):
        ...
        hamux_graph._errors.FormatError: x.json: not valid JSON (the key 'a' appears twice in one object).
    """
    if len(data) > max_bytes:
        raise FormatError(
            f"{source}: {len(data):,} bytes of JSON, more than max_bytes={max_bytes:,}. Pass a larger max_bytes "
            "if you trust the file."
        )
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise FormatError(f"{source}: the JSON starts with a byte-order mark; write plain UTF-8 without one.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{source}: not UTF-8 text ({e}).") from None
    depth = nesting_depth(data)
    if depth > max_depth:
        raise FormatError(f"{source}: the JSON is nested {depth} levels deep, more than the limit of {max_depth}.")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
    except _Refused as e:
        raise FormatError(f"{source}: not valid JSON ({e}).") from None
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{source}: not valid JSON ({e}).") from None
