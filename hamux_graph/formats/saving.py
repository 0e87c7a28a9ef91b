"""Saved models: architecture plus every parameter in one zip file, without pickle.

A saved model is a zip archive holding ``manifest.json`` (format name and version),
``model.graphml`` (the architecture, as ``write_graphml`` writes it) and ``weights.npz``
(one ``.npy`` member per parameter array, named by its place in the model, e.g.
``synapses/mem/W`` or ``layers/v/bias``). Loading reads the GraphML, derives the expected
parameter names, shapes and dtypes from the architecture without allocating anything,
checks the stored arrays against them exactly, and only then builds the model. See
docs/files.md.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._api import CompiledHAM, HAM
from .._energy.core import leaf_name
from .._errors import FormatError, HamuxGraphError, ValidationError
from .._graph.compile import compile_fields
from .._graph.validate import Plan
from .._internal.files import atomic_write
from .._internal.parse import parse_path
from .._internal.untrusted import check_unique_members, npy_data, npy_header, read_limited, read_options, unique_pairs
from .._internal.version import package_version
from ..parallel.processes import gather
from .graphml import graphml_bytes, parse_graphml_plan
from .safetensors import parse_safetensors, safetensors_bytes


__all__ = [
    "save",
    "load",
    "load_architecture",
    "load_architecture_plan",
    "parameter_names",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "parameter_arrays",
    "expected_parameters",
    "model_from_arrays",
    "check_parameters",
    "read_safetensors_model",
    "is_safetensors_path",
    "safetensors_metadata",
    "SAFETENSORS_SUFFIX",
    "SAFETENSORS_ARCHITECTURE",
]

MODEL_FORMAT = "hamux_graph-model"
MODEL_FORMAT_VERSION = 1
SAFETENSORS_SUFFIX = ".safetensors"
SAFETENSORS_ARCHITECTURE = "architecture_graphml"
"""The ``__metadata__`` key of a saved model's safetensors file that holds the GraphML architecture."""
DEFAULT_MAX_BYTES = 4 * 2**30
_MANIFEST, _GRAPHML, _WEIGHTS = "manifest.json", "model.graphml", "weights.npz"
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: identical models give identical files


# ---- parameter names ------------------------------------------------------------------


def _named_leaves(model: CompiledHAM) -> tuple[list[tuple[str | None, Any]], Any]:
    """``[(name or None for non-arrays, leaf)]`` and the treedef of ``model``."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(model)
    out: list[tuple[str | None, Any]] = []
    for path, leaf in leaves:
        is_arr = isinstance(leaf, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))
        out.append((leaf_name(model, path) if is_arr else None, leaf))
    return out, treedef


def parameter_names(model: CompiledHAM) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every parameter array of ``model`` by its saved name: ``{name: (shape, dtype)}``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,), use_bias=True))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> sorted(hg.parameter_names(ham.compile(key=jax.random.key(0))))
        ['layers/v/bias', 'layers/v/lagrangian/beta', 'synapses/s/W']
    """
    named, _ = _named_leaves(model)
    return {n: (tuple(leaf.shape), str(np.dtype(leaf.dtype))) for n, leaf in named if n is not None}


# ---- saving -------------------------------------------------------------------------------


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes, compress: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _npz_bytes(arrays: dict[str, np.ndarray], compress: bool) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            _zip_write(zf, name + ".npy", member.getvalue(), compress)
    return buf.getvalue()


def save(model: CompiledHAM, path: str | os.PathLike, *, compress: bool = False) -> None:
    """Save a compiled model (architecture and every parameter) to one file, without pickle.

    Parameters are stored exactly (bit for bit, in their own dtypes). The file is written
    to a temporary name first and then moved into place. A model laid out on a device mesh
    (``hg.parallel.shard_model``, ``compile(mesh=...)``) is gathered to the host first;
    with several processes every process must call ``save`` (the gathering is a
    collective) and process 0 alone writes the file.

    Args:
        model: the compiled model (e.g. after training).
        path: the file to write. A path ending in ``.safetensors`` gets a safetensors file
            (the parameters under their ``parameter_names``, the GraphML architecture and the
            format version in ``__metadata__``; any framework reads the weights); any other
            path the ``.hamux`` zip (the conventional suffix).
        compress: deflate the archive members (reading them back then needs
            ``load(..., allow_compressed=True)``); ignored for safetensors.

    Raises:
        ValidationError: if ``model`` is not a ``CompiledHAM``.
        FormatError: if a type is not registered or a parameter cannot be stored.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hamux")
        >>> hg.save(model, path)
        >>> bool((hg.load(path).synapse("s").W == model.synapse("s").W).all())
        True
    """
    if not isinstance(model, CompiledHAM):
        raise ValidationError(
            f"hg.save expects a compiled model (ham.compile(key=...)), got {type(model).__name__}. "
            "For an architecture alone use hg.write_graphml."
        )
    path = parse_path(path, "path")
    graph = graphml_bytes(model.plan())
    arrays = parameter_arrays(model)
    if is_safetensors_path(path):
        data = safetensors_bytes(arrays, safetensors_metadata(graph))
    else:
        bf16 = sorted(n for n, a in arrays.items() if a.dtype == np.dtype(jnp.bfloat16))
        if bf16:
            raise FormatError(
                f"parameter(s) {bf16[:4]} have dtype bfloat16, which a .hamux file (numpy .npz) cannot store. Save "
                "to a path ending in .safetensors instead."
            )
        manifest = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "hamux_graph_version": package_version(),
            "parameters": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in arrays.items()},
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            _zip_write(zf, _MANIFEST, json.dumps(manifest, indent=1).encode(), compress)
            _zip_write(zf, _GRAPHML, graph, compress)
            _zip_write(zf, _WEIGHTS, _npz_bytes(arrays, compress), compress)
        data = buf.getvalue()
    if jax.process_index() == 0:
        atomic_write(path, data)


def parameter_arrays(model: CompiledHAM) -> dict[str, np.ndarray]:
    """Every parameter of ``model`` as a host numpy array, by its saved name (gathered from a mesh).

    Raises:
        FormatError: for a PRNG-key leaf, a non-numeric dtype, two leaves with one name, or a
            device buffer that cannot be read.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> hg.formats.saving.parameter_arrays(ham.compile(key=jax.random.key(0)))["synapses/s/W"].shape
        (3, 3)
    """
    named, _ = _named_leaves(gather(model))
    arrays: dict[str, np.ndarray] = {}
    for name, leaf in named:
        if name is None:
            continue
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            raise FormatError(f"parameter {name!r} is a PRNG key array, which a weights file cannot store.")
        try:
            arr = np.asarray(jax.block_until_ready(leaf))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as e:  # a device buffer that could not be materialised (failed allocation, ...)
            raise FormatError(f"parameter {name!r} cannot be read from its device ({type(e).__name__}: {e}).") from None
        if arr.dtype.kind not in "biufc" and arr.dtype != np.dtype(jnp.bfloat16):
            raise FormatError(f"parameter {name!r} has dtype {arr.dtype}, which a weights file cannot store.")
        if name in arrays:
            raise FormatError(f"two parameters are both named {name!r}; rename the nodes or fields.")
        arrays[name] = arr
    return arrays


def is_safetensors_path(path: str | os.PathLike) -> bool:
    """Whether ``hg.save``/``hg.load`` treat ``path`` as a safetensors file (by its suffix)."""
    return parse_path(path, "path").lower().endswith(SAFETENSORS_SUFFIX)


def safetensors_metadata(graph: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a saved model's safetensors file: format, versions and architecture."""
    return {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "hamux_graph_version": package_version(),
        SAFETENSORS_ARCHITECTURE: graph.decode("utf-8"),
    }


# ---- loading -------------------------------------------------------------------------------


def _open_zip(src: io.BytesIO, source: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise FormatError(f"{source}: not a saved hamux_graph model (not a readable zip archive: {e}).") from None
    check_unique_members(zf, source)
    return zf


def _member(zf: zipfile.ZipFile, name: str, source: str, budget: list[int], allow_compressed: bool) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FormatError(
            f"{source}: missing the archive member {name!r}; a saved model holds {[_MANIFEST, _GRAPHML, _WEIGHTS]}."
        ) from None
    if info.compress_type != zipfile.ZIP_STORED and not allow_compressed:
        raise FormatError(
            f"{source}: member {name!r} is compressed; compressed content is refused by default. Pass "
            "allow_compressed=True (decompression stays capped at max_bytes) if you trust the file."
        )
    if info.file_size > budget[0]:
        raise FormatError(
            f"{source}: member {name!r} declares {info.file_size:,} bytes, more than the remaining "
            f"max_bytes budget ({budget[0]:,}). Pass a larger max_bytes if you trust the file."
        )
    try:
        with zf.open(info) as f:
            data = f.read(budget[0] + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise FormatError(f"{source}: member {name!r} cannot be read ({e}).") from None
    if len(data) > budget[0] or len(data) != info.file_size:
        raise FormatError(f"{source}: member {name!r} does not have its declared size {info.file_size:,}.")
    budget[0] -= len(data)
    return data


def _check_manifest(data: bytes, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"), object_pairs_hook=unique_pairs)
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{source}: {_MANIFEST} is not valid JSON ({e}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise FormatError(f"{source}: {_MANIFEST} has format={got!r}, expected {MODEL_FORMAT!r}.")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise FormatError(
            f"{source}: saved-model format_version {version!r} is not supported; this hamux_graph reads "
            f"version {MODEL_FORMAT_VERSION}."
        )
    return manifest


def _read_weights(
    data: bytes, expected: dict[str, tuple[tuple[int, ...], np.dtype]], source: str, allow_compressed: bool
) -> dict[str, np.ndarray]:
    zf = _open_zip(io.BytesIO(data), source + "!" + _WEIGHTS)
    stored = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise FormatError(f"{source}: {_WEIGHTS} holds {info.filename!r}, which is not a .npy member.")
        stored[info.filename[: -len(".npy")]] = info
    _check_names(stored, expected, source)
    budget = [len(data)]
    out = {}
    for name, (shape, dtype) in expected.items():
        raw = _member(zf, stored[name].filename, source + "!" + _WEIGHTS, budget, allow_compressed)
        header = npy_header(raw, f"weights member {name!r}", source)
        got_shape, got_dtype, _, offset = header
        if got_shape != shape or got_dtype != dtype:
            raise FormatError(
                f"{source}: parameter {name!r} is stored with shape {got_shape} and dtype {got_dtype}, but the "
                f"architecture needs shape {shape} and dtype {dtype}. The weights were written for a different "
                "architecture (or with a different jax_enable_x64 setting)."
            )
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(raw) - offset != nbytes:
            raise FormatError(
                f"{source}: parameter {name!r} holds {len(raw) - offset:,} data bytes, expected {nbytes:,}."
            )
        out[name] = npy_data(raw, f"parameter {name!r}", source, header)
    return out


def load_architecture(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_compressed: bool = False
) -> HAM:
    """The architecture (``HAM``) stored in a saved-model file, without reading the weights.

    Raises:
        FormatError: if the file is not a valid saved model.
    """
    return HAM.from_plan(load_architecture_plan(path, max_bytes=max_bytes, allow_compressed=allow_compressed))


def load_architecture_plan(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_compressed: bool = False
) -> Plan:
    """The validated ``Plan`` stored in a saved-model file: ``load_architecture`` without the ``HAM``.

    Raises:
        FormatError: if the file is not a valid saved model.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hamux")
        >>> hg.save(ham.compile(key=jax.random.key(0)), path)
        >>> hg.formats.load_architecture_plan(path).layer_names
        ('v',)
    """
    if is_safetensors_path(path):
        return read_safetensors_model(path, max_bytes=max_bytes)[0]
    plan, _, _, _ = _open_model(path, max_bytes, allow_compressed)
    return plan


def _open_model(
    path: str | os.PathLike, max_bytes: int, allow_compressed: bool
) -> tuple[Plan, zipfile.ZipFile, list[int], dict[str, Any]]:
    source = parse_path(path, "path")
    max_bytes, allow_compressed = read_options(max_bytes, allow_compressed)
    zf = _open_zip(io.BytesIO(read_limited(path, max_bytes)), source)
    budget = [max_bytes]
    manifest = _check_manifest(_member(zf, _MANIFEST, source, budget, allow_compressed), source)
    plan = parse_graphml_plan(
        _member(zf, _GRAPHML, source, budget, allow_compressed), source + "!" + _GRAPHML, max_bytes=max_bytes
    )
    return plan, zf, budget, manifest


def _check_manifest_parameters(manifest: dict[str, Any], expected: dict[str, Any], source: str) -> None:
    """The manifest's parameter list must be the one the architecture implies."""
    listed = manifest.get("parameters")
    if not isinstance(listed, dict):
        raise FormatError(f"{source}: {_MANIFEST} has no 'parameters' table (got {type(listed).__name__}).")
    want = {n: {"shape": list(shape), "dtype": str(dtype)} for n, (shape, dtype) in expected.items()}
    if listed != want:
        missing = sorted(set(want) - set(listed))
        extra = sorted(set(listed) - set(want))
        differ = sorted(n for n in set(want) & set(listed) if listed[n] != want[n])
        raise FormatError(
            f"{source}: {_MANIFEST} lists parameters that do not match the architecture: missing {missing[:6]}, "
            f"unexpected {extra[:6]}, different shape/dtype {differ[:6]}. The file was edited or written for "
            "another architecture."
        )


def load(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_compressed: bool = False) -> CompiledHAM:
    """Load a model written by ``save``: the architecture with every stored parameter.

    The file is treated as untrusted: no pickle, the size is capped, compressed members are
    refused unless asked for, and every stored array must match the name, shape and dtype
    that the architecture implies before anything is built.

    Args:
        path: the file to read: a ``.hamux`` zip, or a path ending in ``.safetensors``
            (written by ``save``: its ``__metadata__`` holds the architecture; the header,
            dtypes, shapes and offsets are checked before any array is read).
        max_bytes: refuse files whose (decompressed) content exceeds this.
        allow_compressed: accept a file written with ``save(..., compress=True)``.

    Returns:
        The compiled model, its parameters bit-identical to the saved ones.

    Raises:
        FormatError: naming the file and the problem (not a saved model, bad GraphML,
            weights of a different architecture, ...).
        OSError: if the file cannot be opened.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hamux")
        >>> hg.save(ham.compile(key=jax.random.key(0)), path)
        >>> hg.load(path).layer_names
        ('v',)
    """
    source = parse_path(path, "path")
    if is_safetensors_path(source):
        plan, arrays = read_safetensors_model(source, max_bytes=max_bytes)
        return model_from_arrays(plan, arrays, source)
    plan, zf, budget, manifest = _open_model(path, max_bytes, allow_compressed)
    weights = _member(zf, _WEIGHTS, source, budget, allow_compressed)
    named, treedef, expected = _abstract_model(plan, source)
    arrays = _read_weights(weights, expected, source, allow_compressed)
    _check_manifest_parameters(manifest, expected, source)
    leaves = [leaf if n is None else jnp.asarray(arrays[n]) for n, leaf in named]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _abstract_model(plan: Plan, source: str) -> tuple[list[tuple[str | None, Any]], Any, dict[str, Any]]:
    """The model's named leaves (abstract: nothing allocated), treedef and ``{name: (shape, dtype)}``."""
    try:
        # abstract shapes only (nothing is allocated); the stored arrays bound the real size
        abstract = eqx.filter_eval_shape(
            lambda k: CompiledHAM(**compile_fields(plan, key=k, max_param_bytes=sys.maxsize)), jax.random.key(0)
        )
    except (HamuxGraphError, ValueError, TypeError) as e:
        raise FormatError(f"{source}: the architecture cannot be built ({e}).") from e
    named, treedef = _named_leaves(abstract)
    expected = {n: (tuple(leaf.shape), np.dtype(leaf.dtype)) for n, leaf in named if n is not None}
    return named, treedef, expected


def expected_parameters(plan: Plan, source: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of every parameter the architecture implies (nothing allocated).

    Raises:
        FormatError: naming ``source`` if the architecture cannot be built.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,), use_bias=True))
        >>> sorted(hg.formats.saving.expected_parameters(ham.plan(), "here").items())
        [('layers/v/bias', ((3,), dtype('float32'))), ('layers/v/lagrangian/beta', ((), dtype('float32')))]
    """
    return _abstract_model(plan, source)[2]


def model_from_arrays(plan: Plan, arrays: dict[str, np.ndarray], source: str) -> CompiledHAM:
    """The compiled model of ``plan`` with exactly the parameters ``arrays`` (checked first).

    Every name, shape and dtype the architecture implies must be there, and nothing else.

    Raises:
        FormatError: naming ``source`` and the first mismatching parameters.

    Example:
        >>> import jax, hamux_graph as hg
        >>> from hamux_graph.formats.saving import model_from_arrays, parameter_arrays
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> model_from_arrays(ham.plan(), parameter_arrays(model), "here").layer_names
        ('v',)
    """
    named, treedef, expected = _abstract_model(plan, source)
    check_parameters(arrays, expected, source)
    leaves = [leaf if n is None else jnp.asarray(arrays[n]) for n, leaf in named]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _check_names(stored: Any, expected: Any, source: str) -> None:
    """The stored parameter names are exactly the architecture's (FormatError naming the first misfits)."""
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        raise FormatError(
            f"{source}: the weights do not match the architecture: missing parameters {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected parameters {extra[:8]}{' ...' if len(extra) > 8 else ''}. "
            "The weights file was written for a different architecture."
        )


def check_parameters(
    arrays: dict[str, np.ndarray], expected: dict[str, tuple[tuple[int, ...], np.dtype]], source: str
) -> None:
    """``arrays`` hold exactly the ``expected`` names, shapes and dtypes (FormatError naming the first misfits)."""
    _check_names(arrays, expected, source)
    for name, (shape, dtype) in expected.items():
        arr = arrays[name]
        if tuple(arr.shape) != shape or arr.dtype != dtype:
            raise FormatError(
                f"{source}: parameter {name!r} is stored with shape {tuple(arr.shape)} and dtype {arr.dtype}, but the "
                f"architecture needs shape {shape} and dtype {dtype}. The weights were written for a different "
                "architecture (or with a different jax_enable_x64 setting)."
            )


def read_safetensors_model(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[Plan, dict[str, np.ndarray]]:
    """The architecture and the parameter arrays of a safetensors file written by ``hg.save``.

    The file is untrusted (``formats.safetensors.parse_safetensors``); its ``__metadata__``
    must name the saved-model format and version and hold the GraphML architecture.

    Raises:
        FormatError: naming the file and the problem.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> hg.save(ham.compile(key=jax.random.key(0)), path)
        >>> plan, arrays = hg.formats.saving.read_safetensors_model(path)
        >>> plan.layer_names, sorted(arrays)
        (('v',), ['layers/v/lagrangian/beta'])
    """
    source = os.fspath(path)
    arrays, metadata = parse_safetensors(read_limited(path, max_bytes), source)
    fmt, version = metadata.get("format"), metadata.get("format_version")
    if fmt != MODEL_FORMAT:
        raise FormatError(
            f"{source}: __metadata__ has format={fmt!r}, expected {MODEL_FORMAT!r}: a safetensors file of weights "
            "alone, without a hamux_graph architecture. Write one with hg.save(model, 'm.safetensors'); plain "
            "weights are read with hg.formats.safetensors.parse_safetensors."
        )
    if version != str(MODEL_FORMAT_VERSION):
        raise FormatError(
            f"{source}: saved-model format_version {version!r} is not supported; this hamux_graph reads version "
            f"{MODEL_FORMAT_VERSION}."
        )
    if SAFETENSORS_ARCHITECTURE not in metadata:
        raise FormatError(f"{source}: __metadata__ has no {SAFETENSORS_ARCHITECTURE!r} (the GraphML architecture).")
    graph = metadata[SAFETENSORS_ARCHITECTURE].encode("utf-8")
    plan = parse_graphml_plan(graph, f"{source} (__metadata__ {SAFETENSORS_ARCHITECTURE})", max_bytes=max_bytes)
    return plan, arrays
