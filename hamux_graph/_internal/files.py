"""Writing files safely: a leaf module every writer (pages, animations, GraphML, models) uses.

``atomic_write`` never damages what is at a path: it writes only to a regular file or a new
path (a symlink is followed: its target is replaced and the link stays; a device, FIFO,
socket or directory is refused with an ``ArgumentError``). The data goes to a temporary
file in the target's folder, is fsynced, renamed over the target, and the folder is
fsynced. The temporary file is removed on any error, on ``SIGTERM`` during the write (a
handler is installed for the write's duration in the main thread), and, if the process was
killed outright (``SIGKILL``), by the next write to the same path.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import tempfile
import threading
from typing import Any

from .._errors import ArgumentError
from .parse import parse_path


__all__ = ["atomic_write", "special_kind", "temp_prefix"]

_ACTIVE: set[str] = set()
_LOCK = threading.Lock()


def special_kind(mode: int) -> str | None:
    """What a non-regular file is (``"a directory"``, ``"a FIFO"``, ...), or None for a regular file.

    Example:
        >>> import os
        >>> from hamux_graph._internal.files import special_kind
        >>> special_kind(os.stat(os.devnull).st_mode)
        'a character device'
    """
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def temp_prefix(target: str) -> str:
    """The name prefix of the temporary files of writes to ``target`` (in its folder)."""
    return f".{os.path.basename(target)}.hamux-"


_TEMP = re.compile(r"^(\d+)-[A-Za-z0-9_]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_orphans(target: str) -> None:
    """Remove temporary files of earlier writes to ``target`` whose process is gone."""
    folder, prefix = os.path.dirname(target), temp_prefix(target)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        m = _TEMP.match(name[len(prefix) :])
        path = os.path.join(folder, name)
        if m is None or path in _ACTIVE or (int(m.group(1)) != os.getpid() and _alive(int(m.group(1)))):
            continue
        try:
            os.remove(path)
        except OSError:
            pass


def _on_sigterm(previous: Any) -> Any:
    def handler(signum: int, frame: Any) -> None:
        for path in list(_ACTIVE):
            try:
                os.remove(path)
            except OSError:
                pass
        _ACTIVE.clear()
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _resolve(path: Any) -> tuple[str, os.stat_result | None]:
    """The file a write to ``path`` replaces (symlinks followed) and its stat (None if new)."""
    target = parse_path(path, "path")
    real = os.path.realpath(target) if os.path.islink(target) else os.path.abspath(target)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real, None
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {target!r}: {e.strerror}", target) from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        via = f" (the symlink {target!r} points to {real!r})" if real != os.path.abspath(target) else ""
        raise ArgumentError(
            f"cannot write {target!r}: it is {kind}{via}, not a regular file. Files are written only to regular "
            "files or new paths, so nothing else is replaced; give a file name."
        )
    return real, st


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync and a rename.

    A new file gets the permissions a plain ``open(path, "wb")`` would (``0o666`` less the
    umask); a replaced file keeps its permissions. A symlink at ``path`` is followed (its
    target is replaced, the link stays). On any failure the temporary file is removed and
    the old file is untouched.

    Raises:
        ArgumentError: for a path that is not a ``str``/``os.PathLike[str]`` (or holds NUL),
            or that names a directory, device, FIFO or socket.
        OSError: naming ``path`` (a missing folder, no permission, no space left, ...).

    Example:
        >>> import os, tempfile
        >>> from hamux_graph._internal.files import atomic_write
        >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> atomic_write(path, b"hello"); open(path, "rb").read()
        b'hello'
    """
    real, st = _resolve(path)
    shown = os.fspath(path)
    folder = os.path.dirname(real)
    _remove_orphans(real)
    previous: Any = None
    installed = False
    main = threading.current_thread() is threading.main_thread()
    tmp = ""
    try:
        with _LOCK:
            if main and not _ACTIVE and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
                previous = signal.getsignal(signal.SIGTERM)
                signal.signal(signal.SIGTERM, _on_sigterm(previous))
                installed = True
            fd, tmp = tempfile.mkstemp(prefix=f"{temp_prefix(real)}{os.getpid()}-", suffix=".tmp", dir=folder)
            _ACTIVE.add(tmp)
        try:
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
        _ACTIVE.discard(tmp)
        tmp = ""
        _fsync_folder(folder)
    except OSError as e:
        full = e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        note = " (the disk is full or a file size limit was reached)" if full else ""
        kept = " The old file is unchanged." if st is not None else ""
        raise type(e)(e.errno, f"cannot write {shown!r}: {e.strerror}{note}.{kept}", shown) from None
    finally:
        if tmp:
            _ACTIVE.discard(tmp)
            try:
                os.remove(tmp)
            except OSError:
                pass
        if installed:
            with _LOCK:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without folder fsync
        pass
    finally:
        os.close(fd)
