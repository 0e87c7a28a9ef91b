"""Writing files safely: a leaf module every writer (pages, animations, GraphML, models) uses.

``atomic_write`` goes through a temporary file in the target folder and a rename, so a
reader never sees a half-written file, and the file gets the permissions a plain ``open``
would give it.
"""

from __future__ import annotations

import os
import tempfile


__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the permissions a plain ``open(path, "wb")`` would (``0o666`` less the
    umask). On any failure the temporary file is removed and ``path`` is untouched.

    Raises:
        OSError: naming ``path`` (a missing folder, a directory at ``path``, no permission).
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise IsADirectoryError(21, f"cannot write {target!r}: it is a directory; give a file name", target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hamux-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {target!r}: {e.strerror}", target) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
