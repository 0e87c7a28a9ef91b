"""Progress display for training loops: tqdm when installed, else a few printed lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sized
from typing import Any

from .optional import import_if_installed


__all__ = ["progress"]


class _PlainProgress:
    """The fallback progress display when tqdm is not installed: a few printed lines."""

    def __init__(self, iterable: Iterable, total: int | None, desc: str | None, file: Any):
        self._it, self._file, self._desc = iterable, file or sys.stdout, desc or "progress"
        self.total = total if total is not None else (len(iterable) if isinstance(iterable, Sized) else None)
        self._postfix: dict[str, Any] = {}
        self._n, self._t0 = 0, time.perf_counter()
        self._every = max(1, (self.total or 100) // 10)

    def set_postfix(self, **kwargs: Any) -> None:
        self._postfix.update(kwargs)

    def _line(self) -> str:
        tot = f"/{self.total}" if self.total else ""
        post = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self._postfix.items())
        return f"{self._desc}: {self._n}{tot} [{time.perf_counter() - self._t0:.1f}s] {post}".rstrip()

    def __iter__(self):
        for item in self._it:
            yield item
            self._n += 1
            if self._n % self._every == 0 or self._n == self.total:
                print(self._line(), file=self._file, flush=True)

    def close(self) -> None:
        pass


def progress(
    iterable: Iterable,
    *,
    total: int | None = None,
    desc: str | None = None,
    enable: bool = True,
    file: Any = None,
) -> Any:
    """Wrap a loop in a progress bar (tqdm if installed, else a few printed lines).

    The returned object iterates like ``iterable`` and has ``set_postfix(loss=..., acc=...)``.
    tqdm is the optional extra ``progress`` (``pip install hamux_graph[progress]``).

    Example:
        >>> import io, hamux_graph as hg
        >>> bar = hg.train.progress(range(3), desc="epochs", file=io.StringIO())
        >>> for i in bar:
        ...     bar.set_postfix(loss=0.5)
    """
    tqdm_auto = import_if_installed("tqdm.auto") if enable else None
    if tqdm_auto is not None:
        return tqdm_auto.tqdm(iterable, total=total, desc=desc, file=file, dynamic_ncols=True)
    if not enable:
        file = _NullFile()
    return _PlainProgress(iterable, total, desc, file)


class _NullFile:
    def write(self, s: str) -> None:
        pass

    def flush(self) -> None:
        pass
