"""Argument checks shared by the zoo factories (a private module; its names serve the zoo)."""

from __future__ import annotations

from typing import Any

from .._errors import ValidationError
from .._internal.parse import parse_shape
from ..lagrangians.elementwise import Lagrangian, LRelu, LRepu, LSoftmax


def check_shape(factory: str, shape: Any, rank: int | None = None, what: str = "input_shape") -> tuple[int, ...]:
    """``parse_shape`` of a factory's shape argument, of rank ``rank`` if given (images: 3)."""
    out = parse_shape(shape, f"zoo.{factory}: {what}", error=ValidationError)
    if rank is not None and len(out) != rank:
        hint = " Add a channel axis, e.g. (8, 8, 1) for grey-scale images." if rank == 3 and len(out) == 2 else ""
        raise ValidationError(
            f"zoo.{factory}: {what} must have rank {rank} (height, width, channels), got {out} (rank {len(out)}).{hint}"
        )
    return out


def hidden_lagrangian(factory: str, hidden: Any, n: float, beta: float) -> Lagrangian:
    if isinstance(hidden, Lagrangian):
        return hidden
    table = {"relu": lambda: LRelu(), "repu": lambda: LRepu(n=n), "softmax": lambda: LSoftmax(beta=beta)}
    if hidden not in table:
        raise ValidationError(
            f"zoo.{factory}: hidden must be one of {sorted(table)} or a hg.Lagrangian, got {hidden!r}."
        )
    return table[hidden]()
