"""Argument checks shared by the zoo factories (a private module; its names serve the zoo)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ValidationError
from ..lagrangians.elementwise import Lagrangian, LRelu, LRepu, LSoftmax


def check_shape(factory: str, shape: Any, rank: int | None = None, what: str = "input_shape") -> tuple[int, ...]:
    try:
        items = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        out = tuple(int(s) for s in items)
        ok = len(out) > 0 and all(s > 0 for s in out) and not any(isinstance(s, bool) for s in items)
    except (TypeError, ValueError):
        ok, out = False, ()
    if not ok:
        raise ValidationError(f"zoo.{factory}: {what} must be a tuple of positive ints such as (8, 8), got {shape!r}.")
    if rank is not None and len(out) != rank:
        hint = " Add a channel axis, e.g. (8, 8, 1) for grey-scale images." if rank == 3 and len(out) == 2 else ""
        raise ValidationError(
            f"zoo.{factory}: {what} must have rank {rank} (height, width, channels), got {out} (rank {len(out)}).{hint}"
        )
    return out


def check_int(factory: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValidationError(f"zoo.{factory}: {name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def hidden_lagrangian(factory: str, hidden: Any, n: float, beta: float) -> Lagrangian:
    if isinstance(hidden, Lagrangian):
        return hidden
    table = {"relu": lambda: LRelu(), "repu": lambda: LRepu(n=n), "softmax": lambda: LSoftmax(beta=beta)}
    if hidden not in table:
        raise ValidationError(
            f"zoo.{factory}: hidden must be one of {sorted(table)} or a hg.Lagrangian, got {hidden!r}."
        )
    return table[hidden]()
