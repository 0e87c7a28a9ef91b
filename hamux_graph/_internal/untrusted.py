"""Reading untrusted files and writing files safely: the hardening every reader and writer shares.

Readers never trust a file's size, compression or markup: ``read_limited`` caps the bytes
read, ``check_compression`` refuses compressed content unless asked for (and caps what
decompression produces), ``check_xml_text`` refuses binary data, non-UTF-8 text and DTD or
entity declarations before any XML parser sees the text, ``read_npz`` reads ``.npz``
archives without pickle and without trusting declared sizes. (Writers use
``_files.atomic_write``.)
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib

import numpy as np

from .._errors import ArgumentError, FormatError
from .files import special_kind
from .parse import parse_bool, parse_int, parse_path


__all__ = [
    "read_limited",
    "read_options",
    "read_head",
    "unique_pairs",
    "check_unique_members",
    "check_compression",
    "decompress",
    "check_xml_text",
    "check_graphml_structure",
    "read_npz",
    "npy_header",
    "npy_data",
    "COMPRESSED_SUFFIXES",
]

COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".xz", ".lzma", ".zst", ".zip")
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def read_limited(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, refusing more than ``max_bytes`` (FormatError).

    Only regular files are opened (a FIFO, device, socket or directory is refused with an
    ``ArgumentError`` naming it, without blocking), and at most ``max_bytes + 1`` bytes are
    ever read, whatever the file claims its size is.

    Raises:
        ArgumentError: for a path that is not a path, names no regular file, or a
            ``max_bytes`` that is not a positive int.
        FormatError: for a file larger than ``max_bytes``.
        OSError: for a missing file or no permission (naming the path).
    """
    source = parse_path(path, "path")
    max_bytes = parse_int(max_bytes, "max_bytes", minimum=1, error=ArgumentError)
    fd, st = _open_regular(source)
    try:
        if st.st_size > max_bytes:
            raise FormatError(
                f"{source}: the file has {st.st_size:,} bytes, more than max_bytes={max_bytes:,}. Pass a larger "
                "max_bytes if you trust this file."
            )
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > max_bytes:
        raise FormatError(f"{source}: the file grew past max_bytes={max_bytes:,} while being read.")
    return b"".join(chunks)


def _open_regular(source: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file ``source`` (opened without blocking on a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source, flags)
    except OSError as e:
        raise type(e)(e.errno, e.strerror, source) from None
    st = os.fstat(fd)
    kind = special_kind(st.st_mode)
    if kind is not None:
        os.close(fd)
        raise ArgumentError(f"cannot read {source!r}: it is {kind}, not a regular file. Give the path of a file.")
    return fd, st


def read_head(path: str | os.PathLike[str], count: int) -> bytes:
    """The first ``count`` bytes of the regular file ``path`` (fewer if it is shorter); see ``read_limited``."""
    fd, _ = _open_regular(parse_path(path, "path"))
    try:
        return os.read(fd, count)
    finally:
        os.close(fd)


def read_options(max_bytes: object, allow_compressed: object) -> tuple[int, bool]:
    """The reading options every reader takes, parsed: ``max_bytes`` a positive int, ``allow_compressed`` a bool.

    Raises:
        ArgumentError: naming the option (``allow_compressed="no"`` is refused, not read as true).

    Example:
        >>> from hamux_graph._internal.untrusted import read_options
        >>> read_options(10, False)
        (10, False)
        >>> read_options(-1, False)
        Traceback (most recent call last):
        hamux_graph._errors.ArgumentError: max_bytes must be an int >= 1, got -1.
    """
    return (
        parse_int(max_bytes, "max_bytes", minimum=1, error=ArgumentError),
        parse_bool(allow_compressed, "allow_compressed", error=ArgumentError),
    )


def unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """The ``object_pairs_hook`` that refuses a JSON object naming one key twice (ValueError).

    ``json.loads`` keeps the last of two equal keys; a file that says two things is refused
    instead. Callers turn the ``ValueError`` into their ``FormatError`` naming the file.

    Example:
        >>> import json
        >>> from hamux_graph._internal.untrusted import unique_pairs
        >>> json.loads('{"a": 1, "a": 2}', object_pairs_hook=unique_pairs)
        Traceback (most recent call last):
        ValueError: the key 'a' appears twice in one JSON object; a file that says two things is refused
    """
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(
                f"the key {key!r} appears twice in one JSON object; a file that says two things is refused"
            )
        out[key] = value
    return out


def check_unique_members(zf: zipfile.ZipFile, source: str) -> None:
    """Refuse a zip archive holding two members of one name (``getinfo`` would silently pick the last)."""
    seen: set[str] = set()
    for info in zf.infolist():
        if info.filename in seen:
            raise FormatError(
                f"{source}: two archive members are both named {info.filename!r}; a file that says two things is "
                "refused."
            )
        seen.add(info.filename)


def decompress(data: bytes, kind: str, source: str, max_bytes: int) -> bytes:
    """Decompress ``data`` (``kind`` from the magic bytes), refusing more than ``max_bytes`` out."""
    opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}.get(kind)
    if opener is None:
        raise FormatError(f"{source}: {kind}-compressed content is not supported; decompress it first.")
    try:
        with opener(fileobj=io.BytesIO(data)) if kind == "gzip" else opener(io.BytesIO(data)) as f:
            out = f.read(max_bytes + 1)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise FormatError(f"{source}: corrupt {kind} data ({e}).") from None
    if len(out) > max_bytes:
        raise FormatError(
            f"{source}: decompresses to more than max_bytes={max_bytes:,} bytes (a compression bomb?). "
            "Pass a larger max_bytes if you trust this file."
        )
    return out


def check_compression(data: bytes, source: str, allow_compressed: bool, max_bytes: int) -> bytes:
    """``data`` itself, or decompressed (capped) when compressed input is allowed; FormatError otherwise."""
    kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None and source.lower().endswith(COMPRESSED_SUFFIXES):
        raise FormatError(f"{source}: the name says compressed but the content is not; rename the file.")
    if kind is None:
        return data
    if kind == "zip":
        raise FormatError(
            f"{source}: this is a zip archive, not GraphML. A saved model (hg.save) is read with hg.load."
        )
    if not allow_compressed:
        raise FormatError(
            f"{source}: the file is {kind}-compressed; compressed input is refused by default. Pass "
            "allow_compressed=True (decompression stays capped at max_bytes) if you trust it."
        )
    return decompress(data, kind, source, max_bytes)


_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def check_xml_text(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text, refusing binary data, UTF-16/32 and DTD/entity declarations."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")) or b"\x00" in data:
        raise FormatError(f"{source}: not UTF-8 text (UTF-16/32 or binary data); GraphML files are read as UTF-8.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if _DTD_RE.search(data):
        raise FormatError(
            f"{source}: the file contains a DTD or entity declaration (<!DOCTYPE/<!ENTITY). These are refused "
            "(entity expansion and external entities are unsafe); a GraphML file needs none."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{source}: not valid UTF-8 ({e}).") from None


def check_graphml_structure(text: str, source: str) -> None:
    """One ``<graph>`` directly under ``<graphml>``, no nested graphs, unique node and edge ids.

    networkx would silently keep the last of two nodes with one id and ignore extra graphs;
    a file that says two things is refused instead.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise FormatError(f"{source}: not readable as GraphML (ParseError: {e}).") from None
    tag = lambda el: el.tag.rsplit("}", 1)[-1]
    if tag(root) != "graphml":
        raise FormatError(f"{source}: the root element is <{tag(root)}>, expected <graphml>.")
    graphs = [el for el in root if tag(el) == "graph"]
    if len(graphs) != 1:
        raise FormatError(
            f"{source}: a hamux_graph file holds exactly one <graph>, found {len(graphs)}. Split the graphs into "
            "separate files."
        )
    nested = [el for el in graphs[0].iter() if tag(el) == "graph" and el is not graphs[0]]
    if nested:
        raise FormatError(f"{source}: nested <graph> elements (hypergraph nesting) are not part of the format.")
    keys = {el.get("id"): (el.get("attr.name"), el.get("attr.type", "string")) for el in root if tag(el) == "key"}
    parse = {"int": int, "long": int, "double": float, "float": float, "boolean": _xml_bool}
    for el in [graphs[0], *graphs[0]]:
        owner = "graph" if el is graphs[0] else f"{tag(el)} {el.get('id', el.get('source'))!r}"
        for data in el:
            if tag(data) != "data" or data.get("key") not in keys:
                continue
            name, typ = keys[data.get("key")]
            if typ in parse:
                try:
                    parse[typ]((data.text or "").strip())
                except ValueError:
                    raise FormatError(
                        f"{source}: {owner}: attribute {name!r} is declared {typ} but holds {data.text!r}."
                    ) from None
    declared = {el.get("id") for el in graphs[0] if tag(el) == "node"}
    for el in graphs[0]:
        if tag(el) != "edge":
            continue
        for end in ("source", "target"):
            if el.get(end) not in declared:
                raise FormatError(
                    f"{source}: <edge id={el.get('id')!r}> names {end}={el.get(end)!r}, but no <node> has that id. "
                    "Declare the node, or fix the edge."
                )
    for kind in ("node", "edge"):
        seen: set[str] = set()
        for el in graphs[0]:
            i = el.get("id")
            if tag(el) != kind or i is None:
                continue
            if i in seen:
                raise FormatError(f"{source}: two <{kind}> elements have id {i!r}; ids are unique.")
            seen.add(i)


def _xml_bool(text: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise ValueError(text)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    ValueError,
    EOFError,
    struct.error,
    RuntimeError,
    NotImplementedError,
    OverflowError,
    zlib.error,
    lzma.LZMAError,
)


def read_npz(data: bytes, source: str, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive held in ``data``, read as untrusted input.

    No pickle (object arrays are refused from the header, before any data is read); every
    member must be a ``.npy`` file with a unique name; members may be stored or deflated,
    and all of them together may not produce more than ``max_bytes`` (what decompression
    yields is capped, whatever the archive declares); each array's data must have exactly the
    size its header declares. Any failure is a ``FormatError`` naming ``source`` and the key.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except _ZIP_ERRORS as e:
        raise FormatError(f"{source}: not an .npz file (not a readable zip archive: {e}).") from None
    budget, out = max_bytes, {}
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in out:
            what = "a second member named" if name.endswith(".npy") else "the member"
            raise FormatError(f"{source}: {what} {name!r}; an .npz archive holds one uniquely named .npy file per key.")
        key = name[:-4]
        if info.file_size > budget:
            raise FormatError(
                f"{source}: key {key!r} declares {info.file_size:,} bytes, more than the remaining max_bytes budget "
                f"({budget:,}). Pass a larger max_bytes if you trust the file."
            )
        try:
            with zf.open(info) as f:
                raw = f.read(budget + 1)
        except _ZIP_ERRORS as e:
            raise FormatError(f"{source}: key {key!r} cannot be read ({e}).") from None
        if len(raw) > budget:
            raise FormatError(f"{source}: key {key!r} holds more than max_bytes={max_bytes:,} bytes once decompressed.")
        budget -= len(raw)
        out[key] = _npy_array(raw, key, source)
    return out


def npy_header(raw: bytes, what: str, source: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """``(shape, dtype, fortran_order, data_offset)`` of the ``.npy`` bytes ``raw``, untrusted.

    Only format versions 1.0 and 2.0; object dtypes (which need pickle) are refused from the
    header. Errors are ``FormatError`` naming ``source`` and ``what`` (e.g. ``"key 'W'"``).
    """
    f = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy format version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    except (ValueError, EOFError, SyntaxError, TypeError, OverflowError, MemoryError, RecursionError) as e:
        raise FormatError(f"{source}: {what} is not a valid .npy array ({e}).") from None
    if dtype.hasobject:
        raise FormatError(
            f"{source}: {what} is an object array (dtype {dtype}); object arrays need pickle and are refused."
        )
    return tuple(shape), dtype, fortran, f.tell()


def npy_data(raw: bytes, what: str, source: str, header: tuple[tuple[int, ...], np.dtype, bool, int]) -> np.ndarray:
    """The array of ``raw`` for a ``header`` from ``npy_header`` whose data size was checked."""
    shape, dtype, fortran, offset = header
    try:
        arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape, dtype=object)), offset=offset)
        return arr.reshape(shape, order="F" if fortran else "C").copy()
    except (ValueError, TypeError, MemoryError) as e:  # e.g. a zero-size item type
        raise FormatError(f"{source}: {what} cannot be read as {dtype} of shape {shape} ({e}).") from None


def _npy_array(raw: bytes, key: str, source: str) -> np.ndarray:
    header = npy_header(raw, f"key {key!r}", source)
    shape, dtype, _, offset = header
    count = int(np.prod(shape, dtype=object))
    if len(raw) - offset != count * dtype.itemsize:
        raise FormatError(
            f"{source}: key {key!r} holds {len(raw) - offset:,} data bytes, but its header declares shape "
            f"{shape} of {dtype} ({count * dtype.itemsize:,} bytes). The file is truncated or corrupt."
        )
    return npy_data(raw, f"key {key!r}", source, header)
