"""Resumable training: checkpoints of the whole training state, written atomically.

``TrainState`` is what a training loop needs to continue exactly where it stopped: the
model, the optimizer state, the step count, the RNG key and the data order of the current
epoch (plus small JSON values such as the loss history). ``Checkpointer(directory,
every=N, keep=k)`` writes it with orbax-checkpoint (the ``checkpoint`` extra) every ``N``
steps and keeps the last ``k``; ``restore`` brings back the newest *complete* one.

On disk a checkpoint is a folder ``step_<9 digits>`` holding ``state/`` (orbax's arrays,
sharded and multi-process aware) and ``checkpoint.json`` (format, step, the JSON values,
every array's shape and dtype, and the size and CRC-32 of every file of ``state/``). Both
are written into a temporary folder that is renamed into place at the end, so a folder
with the final name is always finished; a folder whose files do not match its
``checkpoint.json`` (a truncated or damaged file) is skipped with a warning and the
previous checkpoint is used.

Example:
    >>> import os, tempfile, jax, optax, hamux_graph as hg
    >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=8).compile(key=jax.random.key(0))
    >>> opt = optax.adam(1e-2)
    >>> state = hg.train.TrainState(model, hg.train.init_opt_state(opt, model), step=4, key=jax.random.key(1))
    >>> ckpt = hg.train.Checkpointer(os.path.join(tempfile.mkdtemp(), "ckpt"), every=2, keep=2)
    >>> ckpt.save(state)
    True
    >>> ckpt.restore(state._replace(step=0)).step
    4
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import warnings
import zlib
from typing import Any, NamedTuple, TypeGuard

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree

from .._errors import ArgumentError, FormatError, HamuxGraphError
from .._internal.files import atomic_write
from .._internal.optional import require
from .._internal.parse import parse_bool, parse_int, parse_path
from .._internal.untrusted import unique_pairs
from .._internal.version import package_version


__all__ = ["TrainState", "Checkpointer", "CHECKPOINT_FORMAT", "CHECKPOINT_FORMAT_VERSION"]

CHECKPOINT_FORMAT = "hamux_graph-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_MANIFEST = "checkpoint.json"
_STATE = "state"
_NAME = re.compile(r"^step_(\d{9})$")
_MAX_MANIFEST = 64 * 2**20


class TrainState(NamedTuple):
    """Everything a training loop needs to continue exactly: see ``Checkpointer``.

    Attributes:
        model: the model (an equinox Module, e.g. a ``CompiledHAM``).
        opt_state: the optax state.
        step: optimizer steps taken so far.
        key: the RNG key the loop draws from next (or ``None``).
        order: the data order of the current epoch, e.g. a permutation (or ``None``).
        info: small JSON-able values to keep with it (loss history, epoch counters).
    """

    model: PyTree
    opt_state: PyTree
    step: int = 0
    key: PRNGKeyArray | None = None
    order: Array | np.ndarray | None = None
    info: dict | None = None


def _arrays(tree: PyTree) -> list[Any]:
    return [x for x in jax.tree.leaves(tree) if eqx.is_array(x)]


def _describe(leaves: list[Any]) -> list[list[Any]]:
    return [[list(np.shape(x)), str(np.dtype(x.dtype))] for x in leaves]


def _host_only(x: Any) -> bool:
    # with several processes, arrays living on one process's devices are saved as numpy
    return jax.process_count() > 1 and isinstance(x, jax.Array) and x.is_fully_addressable


def _files(folder: str) -> dict[str, list[int]]:
    out = {}
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            crc = 0
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    crc = zlib.crc32(chunk, crc)
            out[os.path.relpath(path, folder).replace(os.sep, "/")] = [os.path.getsize(path), crc]
    return dict(sorted(out.items()))


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


class Checkpointer:
    """Write a ``TrainState`` every ``every`` steps (atomically), keep the last ``keep``, resume.

    ``save(state)`` writes when ``state.step`` is a multiple of ``every`` (or with
    ``force=True``) and returns whether it wrote. ``restore(template)`` returns the newest
    complete checkpoint in the layout (shapes, dtypes, shardings) of ``template``, or
    ``None`` when there is none; an incomplete or damaged checkpoint (a damaged file, or a
    ``checkpoint.json`` of any wrong shape) is skipped with a ``UserWarning`` naming it, and
    the one before it is tried. Saving step ``s`` discards checkpoints of later steps (they
    belong to a run that was rolled back) and all but the ``keep`` newest, but a
    ``Checkpointer`` never discards what its run did not write: a save at a step at or below
    the newest checkpoint in the folder is refused unless this ``Checkpointer`` restored
    from (or wrote) a step at or below it, or ``overwrite=True`` is passed. While it saves it
    holds a lock file (``.lock``), so a second writer on the same folder gets a clear error.
    With several processes every process calls ``save`` and ``restore`` (orbax writes each
    array's shards once); process 0 writes the manifest and renames.

    For a resumed run to be bit-identical to an uninterrupted one, draw everything random
    from ``state.key`` (or from ``(seed, step)``) and the data order from ``(seed, epoch)``
    (``state.order`` is checked against it by the caller), and restore before the first step.

    Args:
        directory: the folder of the checkpoints (created if missing).
        every: save every this many steps.
        keep: how many of the newest checkpoints to keep.

    Raises:
        ArgumentError: for a bad ``every``/``keep`` or a ``directory`` that cannot be a folder
            (an empty path, bytes, ``None``, a file).
        ImportError: without orbax-checkpoint (the ``checkpoint`` extra).

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ckpt = hg.train.Checkpointer(os.path.join(tempfile.mkdtemp(), "run"), every=100)
        >>> ckpt.steps(), ckpt.due(200), ckpt.due(250)
        ([], True, False)
    """

    def __init__(self, directory: str | os.PathLike, *, every: int, keep: int = 3):
        self.every = parse_int(every, "Checkpointer: every", minimum=1, error=ArgumentError)
        self.keep = parse_int(keep, "Checkpointer: keep", minimum=1, error=ArgumentError)
        self.directory = os.path.abspath(parse_path(directory, "Checkpointer: directory"))
        self._base: int | None = None  # the lowest step this run restored from or wrote
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ArgumentError(
                f"Checkpointer: directory {self.directory!r} exists and is not a folder; give a folder path "
                "(it is created if missing)."
            )
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as e:
            raise ArgumentError(f"Checkpointer: cannot create the folder {self.directory!r} ({e.strerror}).") from None
        self._ocp = require("orbax.checkpoint", feature="hg.train.Checkpointer")

    def __repr__(self) -> str:
        return f"Checkpointer({self.directory!r}, every={self.every}, keep={self.keep})"

    # ---- listing --------------------------------------------------------------------------

    def _path(self, step: int) -> str:
        return os.path.join(self.directory, f"step_{step:09d}")

    def _all_steps(self) -> list[int]:
        return sorted(int(m.group(1)) for n in os.listdir(self.directory) if (m := _NAME.match(n)))

    def _problem(self, step: int, full: bool) -> str | None:
        """Why checkpoint ``step`` cannot be used (None if it is complete)."""
        path = self._path(step)
        try:
            manifest = self._manifest(step)
        except FormatError as e:
            return str(e)
        if manifest.get("step") != step:
            return f"{_MANIFEST} names step {manifest.get('step')!r}"
        recorded = manifest.get("files")
        if not isinstance(recorded, dict) or not recorded:
            return f"{_MANIFEST} lists no files"
        if full:
            found = _files(os.path.join(path, _STATE))
        else:
            found = {}
            for rel in recorded:
                p = os.path.join(path, _STATE, *rel.split("/"))
                found[rel] = [os.path.getsize(p), None] if os.path.isfile(p) else None
        for rel, want in recorded.items():
            got = found.get(rel)
            if got is None:
                return f"file state/{rel} is missing"
            if got[0] != want[0]:
                return f"file state/{rel} has {got[0]} bytes, expected {want[0]} (truncated?)"
            if full and got[1] != want[1]:
                return f"file state/{rel} does not match its recorded CRC-32 (damaged)"
        return None

    def _manifest(self, step: int) -> dict:
        path = os.path.join(self._path(step), _MANIFEST)
        if not os.path.isfile(path):
            raise FormatError(f"{self._path(step)}: no {_MANIFEST} (an incomplete checkpoint).")
        if os.path.getsize(path) > _MAX_MANIFEST:
            raise FormatError(f"{path}: larger than {_MAX_MANIFEST:,} bytes; not a checkpoint manifest.")
        try:
            with open(path, "rb") as f:
                manifest = json.loads(f.read(_MAX_MANIFEST + 1).decode("utf-8"), object_pairs_hook=unique_pairs)
        except (ValueError, OSError, RecursionError) as e:
            raise FormatError(f"{path}: not readable JSON ({e}).") from None
        if not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT:
            raise FormatError(f"{path}: not a {CHECKPOINT_FORMAT!r} manifest.")
        if manifest.get("format_version") != CHECKPOINT_FORMAT_VERSION:
            raise FormatError(
                f"{path}: checkpoint format_version {manifest.get('format_version')!r} is not supported; this "
                f"hamux_graph reads version {CHECKPOINT_FORMAT_VERSION}."
            )
        problem = _manifest_problem(manifest, step)
        if problem is not None:
            raise FormatError(f"{path}: {problem}.")
        return manifest

    def steps(self) -> list[int]:
        """The steps of the complete checkpoints (their files present with their recorded sizes), oldest first."""
        return [s for s in self._all_steps() if self._problem(s, full=False) is None]

    def due(self, step: int) -> bool:
        """Whether ``save`` writes at ``step`` (a positive multiple of ``every``)."""
        return int(step) > 0 and int(step) % self.every == 0

    # ---- saving ---------------------------------------------------------------------------

    def save(self, state: TrainState, *, force: bool = False, overwrite: bool = False) -> bool:
        """Write ``state`` if its step is due (see ``due``) or ``force``; return whether it wrote.

        Args:
            state: the training state.
            force: write even if the step is not a multiple of ``every``.
            overwrite: allow a step at or below the newest checkpoint in the folder although
                this ``Checkpointer`` did not restore from it (the later checkpoints are
                then discarded, as for a rolled-back run).

        Raises:
            ArgumentError: if ``state`` is not a ``TrainState``, its step is negative or past
                int32, its ``info`` is not a JSON object, the folder holds later checkpoints
                this run did not write (pass ``overwrite=True`` or restore first), or
                another writer holds the folder's lock.
            OSError: if the disk is full (naming the folder; no temporary folder is left).
        """
        if not isinstance(state, TrainState):
            raise ArgumentError(f"Checkpointer.save takes a hg.train.TrainState, got {type(state).__name__}.")
        step = parse_int(state.step, "Checkpointer.save: state.step", minimum=0, maximum=2**31 - 1, error=ArgumentError)
        force = parse_bool(force, "Checkpointer.save: force", error=ArgumentError)
        overwrite = parse_bool(overwrite, "Checkpointer.save: overwrite", error=ArgumentError)
        if not (force or self.due(step)):
            return False
        if state.info is not None and not isinstance(state.info, dict):
            raise ArgumentError(
                f"Checkpointer.save: state.info must be a JSON object (a dict of JSON values) or None, got "
                f"{type(state.info).__name__}. Wrap it: info={{'values': ...}}."
            )
        try:
            json.dumps(state.info or {}, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ArgumentError(
                f"Checkpointer.save: state.info must hold JSON values only (numbers, strings, lists, dicts): {e}. "
                "Convert arrays with .tolist() or float()."
            ) from None
        main = jax.process_index() == 0
        if main:
            newest = max(self._all_steps(), default=None)
            owned = self._base is not None and step >= self._base
            if newest is not None and step <= newest and not (overwrite or owned):
                raise ArgumentError(
                    f"Checkpointer.save: {self.directory!r} already holds checkpoints up to step {newest}, which this "
                    f"run did not write; saving step {step} would replace or discard them. Restore first "
                    "(Checkpointer.restore) to continue that run, use another directory for a new run, or pass "
                    "overwrite=True to discard them."
                )
        tree, described = self._tree(state)
        with self._lock(main):
            self._write(state, step, tree, described, main)
        self._base = step if self._base is None else min(self._base, step)
        return True

    def _lock(self, main: bool) -> Any:
        """The folder's writer lock (``.lock``, an exclusive ``flock``) for one save."""
        import contextlib

        if not main:
            return contextlib.nullcontext()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - platforms without fcntl
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def held() -> Any:
            fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise ArgumentError(
                        f"Checkpointer.save: another writer is saving into {self.directory!r} right now (it holds "
                        f"{os.path.join(self.directory, '.lock')}). Give each run its own directory."
                    ) from None
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                yield
            finally:
                os.close(fd)

        return held()

    def _write(self, state: TrainState, step: int, tree: dict, described: dict, main: bool) -> None:
        final, tmp = self._path(step), os.path.join(self.directory, f".tmp-step_{step:09d}")
        try:
            self._write_tmp(state, step, tree, described, main, tmp)
        except BaseException as e:
            if main:
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError) and not isinstance(e, HamuxGraphError):
                raise type(e)(
                    e.errno,
                    f"cannot write checkpoint {final!r}: {e.strerror or e}. No temporary folder is left.",
                    final,
                ) from None
            if isinstance(e, (ValueError, RuntimeError)) and not isinstance(e, HamuxGraphError):  # orbax's I/O errors
                raise OSError(
                    f"cannot write checkpoint {final!r}: {type(e).__name__}: {e}. No temporary folder is left "
                    "(a full disk?)."
                ) from None
            raise
        if main:
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._prune(step)
        _barrier(f"hamux_graph checkpoint {step} done")

    def _write_tmp(self, state: TrainState, step: int, tree: dict, described: dict, main: bool, tmp: str) -> None:
        if main:
            if os.path.exists(tmp):  # left by a run killed while writing this step
                shutil.rmtree(tmp)
            os.makedirs(tmp)
        _barrier(f"hamux_graph checkpoint {step} start")
        ckpt = self._ocp.Checkpointer(self._ocp.StandardCheckpointHandler())
        try:
            ckpt.save(os.path.join(tmp, _STATE), args=self._ocp.args.StandardSave(tree))
        finally:
            ckpt.close()
        _barrier(f"hamux_graph checkpoint {step} written")
        if main:
            manifest = {
                "format": CHECKPOINT_FORMAT,
                "format_version": CHECKPOINT_FORMAT_VERSION,
                "hamux_graph_version": package_version(),
                "step": step,
                "info": state.info or {},
                "arrays": described,
                "key_impl": str(jax.random.key_impl(state.key)) if _typed_key(state.key) else None,
                "files": _files(os.path.join(tmp, _STATE)),
            }
            atomic_write(os.path.join(tmp, _MANIFEST), json.dumps(manifest, indent=1).encode())

    def _tree(self, state: TrainState) -> tuple[dict, dict]:
        groups = {"model": _arrays(state.model), "opt_state": _arrays(state.opt_state)}
        tree: dict[str, Any] = {}
        described: dict[str, Any] = {}
        for name, leaves in groups.items():
            described[name] = _describe(leaves)
            if leaves:
                tree[name] = {f"{i:06d}": np.asarray(x) if _host_only(x) else x for i, x in enumerate(leaves)}
        for name, value in (("key", state.key), ("order", state.order)):
            if value is None:
                described[name] = None
                continue
            host = np.asarray(jax.random.key_data(value) if _typed_key(value) else value)
            described[name] = _describe([host])[0]
            tree[name] = host
        return tree, described

    def _prune(self, step: int) -> None:
        for s in self._all_steps():
            if s > step:
                shutil.rmtree(self._path(s), ignore_errors=True)
        steps = self._all_steps()
        complete = [s for s in steps if self._problem(s, full=False) is None]
        keep = set(complete[-self.keep :])
        for s in steps:
            if s not in keep:
                shutil.rmtree(self._path(s), ignore_errors=True)

    # ---- restoring ------------------------------------------------------------------------

    def restore(self, template: TrainState, *, step: int | None = None) -> TrainState | None:
        """The newest complete checkpoint (or checkpoint ``step``) in the layout of ``template``.

        ``template`` gives the structure, shapes, dtypes and shardings to restore into (e.g.
        the freshly initialised model and optimizer state); its ``step``, ``key``, ``order``
        and ``info`` are replaced by the checkpoint's.

        Args:
            template: a ``TrainState`` like the one that was saved.
            step: restore this checkpoint instead of the newest complete one.

        Returns:
            The restored ``TrainState``, or ``None`` when there is no complete checkpoint.

        Raises:
            ArgumentError: if the checkpoint holds arrays of other shapes or dtypes than
                ``template`` (written for another model or optimizer), or ``step`` names no
                checkpoint.
            FormatError: if the checkpoint ``step`` is incomplete or unreadable.
        """
        if not isinstance(template, TrainState):
            raise ArgumentError(f"Checkpointer.restore takes a hg.train.TrainState, got {type(template).__name__}.")
        if step is not None:
            step = parse_int(step, "Checkpointer.restore: step", minimum=0, error=ArgumentError)
            if step not in self._all_steps():
                raise ArgumentError(
                    f"Checkpointer.restore: there is no checkpoint of step {step} in {self.directory!r}; its "
                    f"checkpoints are of steps {self._all_steps()}."
                )
            problem = self._problem(step, full=True)
            if problem is not None:
                raise FormatError(f"{self._path(step)}: not a usable checkpoint: {problem}.")
            return self._restored(self._read(template, step))
        for tmp in sorted(n for n in os.listdir(self.directory) if n.startswith(".tmp-step_")):
            warnings.warn(
                f"checkpoint {os.path.join(self.directory, tmp)} was never finished (the run stopped while writing "
                "it); skipped.",
                UserWarning,
                stacklevel=2,
            )
        for s in reversed(self._all_steps()):
            problem = self._problem(s, full=True)
            if problem is None:
                try:
                    return self._restored(self._read(template, s))
                except FormatError as e:
                    problem = str(e)
            warnings.warn(
                f"checkpoint {self._path(s)} is incomplete or damaged ({problem}); skipped, trying the one before.",
                UserWarning,
                stacklevel=2,
            )
        return None

    def _restored(self, state: TrainState) -> TrainState:
        self._base = int(state.step)
        return state

    def _read(self, template: TrainState, step: int) -> TrainState:
        manifest = self._manifest(step)
        arrays = manifest.get("arrays") or {}
        groups = {"model": _arrays(template.model), "opt_state": _arrays(template.opt_state)}
        target: dict[str, Any] = {}
        for name, leaves in groups.items():
            want = _describe(leaves)
            if arrays.get(name) != want:
                got = arrays.get(name) or []
                first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                raise ArgumentError(
                    f"Checkpointer.restore: {self._path(step)} holds a {name} of {len(got)} arrays that does not match "
                    f"the template's {len(want)} (first difference at array {first}: "
                    f"{got[first] if first < len(got) else None} vs {want[first] if first < len(want) else None}). "
                    "It was written for another model or optimizer: use another directory, or the same settings."
                )
            if leaves:
                target[name] = {f"{i:06d}": _target(x) for i, x in enumerate(leaves)}
        for name in ("key", "order"):
            d = arrays.get(name)
            if d is not None:
                target[name] = np.zeros(tuple(d[0]), np.dtype(d[1]))
        ckpt = self._ocp.Checkpointer(self._ocp.StandardCheckpointHandler())
        try:
            got = ckpt.restore(os.path.join(self._path(step), _STATE), args=self._ocp.args.StandardRestore(target))
        except (ValueError, OSError, RuntimeError, KeyError, TypeError) as e:
            raise FormatError(f"{self._path(step)}: orbax cannot read the arrays ({type(e).__name__}: {e}).") from None
        finally:
            ckpt.close()

        def fill(tree: PyTree, name: str) -> PyTree:
            if name not in got:
                return tree
            new = iter(got[name][k] for k in sorted(got[name]))
            leaves, treedef = jax.tree.flatten(tree)
            out = []
            for x in leaves:
                if not eqx.is_array(x):
                    out.append(x)
                    continue
                v = next(new)
                if isinstance(x, jax.Array) and isinstance(v, np.ndarray):
                    v = jax.device_put(v, x.sharding) if x.committed else jax.numpy.asarray(v)
                out.append(v)
            return jax.tree.unflatten(treedef, out)

        key = None
        if "key" in got:
            impl = manifest.get("key_impl")
            try:
                key = jax.random.wrap_key_data(got["key"], impl=impl) if impl else jax.numpy.asarray(got["key"])
            except (ValueError, TypeError, KeyError) as e:
                raise FormatError(
                    f"{self._path(step)}: the key cannot be rebuilt with key_impl {impl!r} ({e})."
                ) from None
        info = manifest.get("info")
        return TrainState(
            model=fill(template.model, "model"),
            opt_state=fill(template.opt_state, "opt_state"),
            step=int(manifest["step"]),
            key=key,
            order=got.get("order"),
            info=info if isinstance(info, dict) else {},
        )


def _target(x: Any) -> Any:
    """What orbax restores a leaf like ``x`` into: its shape, dtype and sharding (numpy for host
    arrays and for arrays not committed to a device, which are then restored uncommitted, as
    a fresh model's are: a jitted step compiled for one then serves the other)."""
    if isinstance(x, jax.Array) and x.committed and not _host_only(x):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=x.sharding)
    return np.zeros(np.shape(x), x.dtype)


def _typed_key(x: Any) -> TypeGuard[Array]:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _shape_and_dtype(value: Any, budget: int) -> str | None:
    """Why ``value`` is not ``[shape, dtype]`` of at most ``budget`` bytes (None if it is)."""
    if not isinstance(value, list) or len(value) != 2:
        return f"{value!r} is not [shape, dtype]"
    shape, dtype = value
    if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**63 for d in shape):
        return f"shape {shape!r} is not a list of non-negative ints"
    try:
        dt = np.dtype(dtype) if isinstance(dtype, str) else None
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.hasobject or dt.kind not in "biufcV" or dt.itemsize == 0:
        return f"dtype {dtype!r} is not an array dtype"
    nbytes = math.prod(shape) * dt.itemsize
    if nbytes > budget:
        return f"shape {shape} of {dt} needs {nbytes:,} bytes, more than the checkpoint's files hold ({budget:,})"
    return None


def _manifest_problem(manifest: dict, step: int) -> str | None:
    """What is wrong with the shape of a checkpoint manifest (None if nothing): every field is checked
    before it is used, so a damaged manifest of any shape is a ``FormatError`` and the checkpoint is skipped."""
    if type(manifest.get("step")) is not int or manifest["step"] != step:
        return f"names step {manifest.get('step')!r}, expected {step}"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "lists no files"
    for rel, entry in files.items():
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not all(type(v) is int and v >= 0 for v in entry)
            or rel.startswith("/")
            or ".." in rel.split("/")
        ):
            return f"the entry of file {rel!r} is {entry!r}, not [size, crc32]"
    budget = sum(entry[0] for entry in files.values())
    info = manifest.get("info")
    if info is not None and not isinstance(info, dict):
        return f"info is {type(info).__name__}, not a JSON object"
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict):
        return f"arrays is {type(arrays).__name__}, not an object"
    for name in ("model", "opt_state"):
        group = arrays.get(name)
        if not isinstance(group, list):
            return f"arrays.{name} is {type(group).__name__}, not a list"
        for i, value in enumerate(group):
            problem = _shape_and_dtype(value, budget)
            if problem is not None:
                return f"arrays.{name}[{i}]: {problem}"
    for name in ("key", "order"):
        value = arrays.get(name)
        if value is not None:
            problem = _shape_and_dtype(value, budget)
            if problem is not None:
                return f"arrays.{name}: {problem}"
    impl = manifest.get("key_impl")
    if impl is not None:
        known = _key_impls()
        if not isinstance(impl, str) or (known and impl not in known):
            return f"key_impl {impl!r} is not a known PRNG implementation ({sorted(known)})"
    return None


@functools.cache
def _key_impls() -> frozenset[str]:
    """The names of the PRNG implementations this jax knows (as ``str(jax.random.key_impl(k))`` gives them)."""
    names = set()
    for impl in ("threefry2x32", "rbg", "unsafe_rbg"):
        try:
            names.add(str(jax.random.key_impl(jax.random.key(0, impl=impl))))
        except (ValueError, TypeError, KeyError):  # pragma: no cover - an implementation this jax lacks
            pass
    return frozenset(names)
