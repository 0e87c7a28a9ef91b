"""safetensors files, written and read with the standard library and numpy (no new dependency).

The layout (https://github.com/huggingface/safetensors): 8 bytes, the little-endian length
``N`` of the header; ``N`` bytes of UTF-8 JSON, ``{name: {"dtype", "shape", "data_offsets"},
"__metadata__": {str: str}}`` (padded with spaces to a multiple of 8); then the tensors' raw
little-endian bytes, ``data_offsets`` being ``[begin, end)`` within that buffer. bfloat16 is
numpy's ``ml_dtypes`` type (``jax.numpy.bfloat16``), installed with jax.

The reader treats the file as untrusted: the header's length is capped and must fit in the
file, its JSON is read strictly (``untrusted_json``), dtypes come from a whitelist, each
shape must account for exactly its byte count, and the tensors must tile the data buffer
(contiguous from 0 to its end, so nothing overlaps, nothing is out of bounds and no bytes
are unaccounted for). Every failure is one ``FormatError`` naming the file and the tensor.
``hg.save``/``hg.load`` use this module for paths ending in ``.safetensors``.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._errors import FormatError
from .untrusted_json import parse_json


__all__ = ["safetensors_bytes", "parse_safetensors", "DTYPES", "METADATA_KEY", "DEFAULT_MAX_HEADER_BYTES"]

METADATA_KEY = "__metadata__"
DEFAULT_MAX_HEADER_BYTES = 100 * 2**20
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}

DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(jnp.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
}
"""The safetensors dtype names this module reads and writes, with their numpy dtypes."""
_NAME_OF = {dtype: name for name, dtype in DTYPES.items()}


def _little_endian_bytes(arr: np.ndarray) -> bytes:
    """The C-order bytes of ``arr`` in little-endian order, whatever the machine's order."""
    unsigned = np.dtype(f"<u{arr.dtype.itemsize}") if arr.dtype.itemsize > 1 else np.dtype(np.uint8)
    return np.ascontiguousarray(arr).view(f"u{arr.dtype.itemsize}").astype(unsigned, copy=False).tobytes()


def _from_little_endian(buffer: bytes, dtype: np.dtype, shape: tuple[int, ...], begin: int) -> np.ndarray:
    count = math.prod(shape)
    unsigned = np.dtype(f"<u{dtype.itemsize}") if dtype.itemsize > 1 else np.dtype(np.uint8)
    raw = np.frombuffer(buffer, dtype=unsigned, count=count, offset=begin)
    return raw.astype(f"u{dtype.itemsize}").view(dtype).reshape(shape)


def safetensors_bytes(arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file holding ``arrays`` (name -> numpy array) and string ``metadata``.

    Tensors are laid out by decreasing item size, then by name (every tensor stays aligned
    to its item size); the same arrays always give the same bytes.

    Raises:
        FormatError: for a dtype safetensors has no name for (complex, object, ...), the
            reserved name ``__metadata__``, or metadata that is not ``str -> str``.

    Example:
        >>> import numpy as np
        >>> from hamux_graph.formats.safetensors import parse_safetensors, safetensors_bytes
        >>> data = safetensors_bytes({"w": np.arange(3, dtype=np.float32)}, {"note": "hi"})
        >>> arrays, meta = parse_safetensors(data, "mem")
        >>> arrays["w"].tolist(), meta
        ([0.0, 1.0, 2.0], {'note': 'hi'})
    """
    meta = dict(metadata or {})
    bad = {k: v for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        raise FormatError(f"safetensors metadata maps strings to strings; these entries are not: {sorted(bad)[:5]}.")
    header: dict[str, Any] = {METADATA_KEY: meta} if meta else {}
    order = sorted(arrays, key=lambda n: (-np.asarray(arrays[n]).dtype.itemsize, n))
    chunks, offset = [], 0
    for name in order:
        arr = np.asarray(arrays[name])
        if name == METADATA_KEY or not isinstance(name, str) or not name:
            raise FormatError(f"safetensors: {name!r} cannot name a tensor (empty or reserved).")
        if arr.dtype not in _NAME_OF:
            raise FormatError(
                f"safetensors: tensor {name!r} has dtype {arr.dtype}, which safetensors has no name for; it stores "
                f"{sorted(_NAME_OF[d] for d in _NAME_OF)}. Save the model as .hamux instead."
            )
        data = _little_endian_bytes(arr)
        header[name] = {
            "dtype": _NAME_OF[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(name: str, entry: Any, source: str) -> tuple[np.dtype, tuple[int, ...], int, int]:
    where = f"{source}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise FormatError(f"{where}: a header entry holds exactly {sorted(_ENTRY_KEYS)}, got {keys}.")
    dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise FormatError(f"{where}: dtype {dtype_name!r} is not one of {sorted(DTYPES)}.")
    if not isinstance(shape, list) or not all(_natural(s) for s in shape):
        raise FormatError(f"{where}: shape must be a list of non-negative integers, got {shape!r}.")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
        raise FormatError(f"{where}: data_offsets must be [begin, end] (non-negative integers), got {offsets!r}.")
    begin, end = offsets
    dtype = DTYPES[dtype_name]
    nbytes = math.prod(shape) * dtype.itemsize
    if end < begin or end - begin != nbytes:
        raise FormatError(
            f"{where}: data_offsets {offsets} span {end - begin:,} bytes, but shape {shape} of {dtype_name} needs "
            f"{nbytes:,}."
        )
    return dtype, tuple(shape), begin, end


def parse_safetensors(
    data: bytes, source: str, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of safetensors bytes, read as untrusted input.

    Args:
        data: the whole file.
        source: names the file in errors.
        max_header_bytes: refuse a header longer than this.

    Returns:
        ``(arrays, metadata)``: name -> numpy array (native byte order, a copy), and the
        ``__metadata__`` strings (empty without one).

    Raises:
        FormatError: naming ``source`` (and the tensor) for any malformed file.

    Example:
        >>> from hamux_graph.formats.safetensors import parse_safetensors
        >>> parse_safetensors(b"\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}", "empty.safetensors")
        ({}, {})
    """
    if len(data) < 8:
        raise FormatError(f"{source}: {len(data)} bytes, too short for a safetensors file (8-byte header length).")
    (n,) = struct.unpack("<Q", data[:8])
    if n > max_header_bytes:
        raise FormatError(
            f"{source}: the header declares {n:,} bytes, more than max_header_bytes={max_header_bytes:,}. Not a "
            "safetensors file, or pass a larger max_header_bytes if you trust it."
        )
    if 8 + n > len(data):
        raise FormatError(
            f"{source}: the header declares {n:,} bytes, but the file has only {len(data) - 8:,} after it."
        )
    if n < 2 or data[8:9] != b"{":
        raise FormatError(f"{source}: the header must be a JSON object starting with '{{'.")
    header = parse_json(data[8 : 8 + n], f"{source} (header)", max_bytes=max_header_bytes, max_depth=4)
    if not isinstance(header, dict):
        raise FormatError(f"{source}: the header must be a JSON object, got {type(header).__name__}.")
    metadata = header.pop(METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError(f"{source}: {METADATA_KEY} must map strings to strings, got {str(metadata)[:200]}.")
    buffer = data[8 + n :]
    entries = {name: _entry(name, entry, source) for name, entry in header.items()}
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else "leaves a gap before it"
            raise FormatError(
                f"{source}: tensor {name!r} starts at byte {begin:,} and {what} (which ends at {position:,}); "
                "tensors must tile the data buffer."
            )
        position = end
    if position != len(buffer):
        raise FormatError(
            f"{source}: the tensors cover {position:,} bytes of data, but the file holds {len(buffer):,} after the "
            "header (truncated, or trailing bytes)."
        )
    arrays = {
        name: _from_little_endian(buffer, dtype, shape, begin) for name, (dtype, shape, begin, _) in entries.items()
    }
    for name, arr in arrays.items():
        if arr.dtype == np.bool_ and arr.size and arr.view(np.uint8).max() > 1:
            raise FormatError(f"{source}: tensor {name!r} is BOOL but holds bytes other than 0 and 1.")
    return arrays, dict(metadata)
