"""Fuzz the file readers: mutate valid GraphML and .hamux bytes, read them back.

Usage: ``python tests/helpers/fuzz_files.py DIR N [GROUPS]`` (run by tests/test_formats_graphml.py and
tests/test_formats_safetensors.py in a subprocess, so that a process abort would fail the test); GROUPS is a
comma-separated choice among ``graphml``, ``hamux``, ``hif`` and ``safetensors`` (default: graphml,hamux). Each of ``N`` hypothesis examples per format
mutates the bytes (flips, deletions, insertions, truncation) or the structure (attribute
values swapped for other ones) of a valid file. Reading must either raise
``hg.FormatError`` or succeed, and a file that reads successfully must round-trip: written
again and read again, it gives the same architecture (and parameters).
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import zipfile

import jax
import numpy as np
from hypothesis import given, HealthCheck, settings, strategies as st

import hamux_graph as hg


OUT = sys.argv[1] if len(sys.argv) > 1 else "."
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
GROUPS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["graphml", "hamux"]


def _ham():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((4,), beta=1.5, tau=0.5))
    ham.add_synapse("mem", hg.DenseMatrixSynapseWithHiddenLayer(nhid=3), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
    ham.add_synapse("copy", shares="self", layers=("v", "v"))
    return ham


HAM = _ham()
MODEL = HAM.compile(key=jax.random.key(0))
hg.write_graphml(HAM, os.path.join(OUT, "good.graphml"))
hg.save(MODEL, os.path.join(OUT, "good.hamux"))
GRAPHML = open(os.path.join(OUT, "good.graphml"), "rb").read()
HAMUX = open(os.path.join(OUT, "good.hamux"), "rb").read()
VALUES = [b"-1", b"0", b"1e309", b"NaN", b"true", b"[]", b"{}", b'"x"', b"[0.5]", b"LTanh", b"mem", b"", b"99999999999"]


def byte_mutation(data: bytes):
    op = st.sampled_from(["flip", "delete", "insert", "truncate"])
    pos = st.integers(0, len(data) - 1)
    return st.tuples(op, pos, st.binary(min_size=1, max_size=8))


def apply(data: bytes, op: str, pos: int, chunk: bytes) -> bytes:
    if op == "flip":
        return data[:pos] + bytes([data[pos] ^ (chunk[0] or 1)]) + data[pos + 1 :]
    if op == "delete":
        return data[:pos] + data[pos + len(chunk) :]
    if op == "insert":
        return data[:pos] + chunk + data[pos:]
    return data[:pos]


def value_mutation(text: bytes, k: int, value: bytes) -> bytes:
    """Replace the k-th data value (``>…</data>``) by ``value``."""
    spans = [m.span(1) for m in re.finditer(rb">([^<>]*)</data>", text)]
    a, b = spans[k % len(spans)]
    return text[:a] + value + text[b:]


def _reads_and_round_trips(data: bytes, suffix: str, read, write, as_bytes) -> None:
    """Write ``data`` to a file and read it: a ``FormatError`` is the only allowed failure, and
    a file that reads must write and read back to the same bytes (``as_bytes`` of what was read)."""
    path = os.path.join(OUT, "fuzz" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    try:
        first = read(path)
    except hg.FormatError:
        return
    again = os.path.join(OUT, "again" + suffix)
    write(first, again)
    assert as_bytes(read(again)) == as_bytes(first), "a file that reads must round-trip"


def _leaf_bytes(model) -> list[bytes]:
    return [np.asarray(leaf).tobytes() for leaf in jax.tree.leaves(model)]


def read_graphml_bytes(data: bytes):
    _reads_and_round_trips(
        data, ".graphml", hg.read_graphml, hg.write_graphml, lambda ham: hg.formats.graphml_bytes(ham.plan())
    )


def read_hamux_bytes(data: bytes):
    _reads_and_round_trips(data, ".hamux", hg.load, hg.save, _leaf_bytes)


FUZZ = settings(max_examples=N, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@FUZZ
@given(byte_mutation(GRAPHML))
def fuzz_graphml_bytes(m):
    read_graphml_bytes(apply(GRAPHML, *m))


@FUZZ
@given(st.integers(0, 200), st.sampled_from(VALUES))
def fuzz_graphml_values(k, value):
    read_graphml_bytes(value_mutation(GRAPHML, k, value))


@FUZZ
@given(byte_mutation(HAMUX))
def fuzz_hamux_bytes(m):
    read_hamux_bytes(apply(HAMUX, *m))


@FUZZ
@given(st.sampled_from(["manifest.json", "model.graphml"]), st.integers(0, 200), st.sampled_from(VALUES))
def fuzz_hamux_members(member, k, value):
    with zipfile.ZipFile(io.BytesIO(HAMUX)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if member == "model.graphml":
        members[member] = value_mutation(members[member], k, value)
    else:
        text = members[member]
        spans = [m.span() for m in re.finditer(rb"[0-9]+|\"[a-z_]+\"", text)]
        a, b = spans[k % len(spans)]
        members[member] = text[:a] + value + text[b:]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    read_hamux_bytes(buf.getvalue())


# ---- HIF and safetensors --------------------------------------------------------------------------

hg.write_hif(HAM, os.path.join(OUT, "good.hif.json"))
hg.save(MODEL, os.path.join(OUT, "good.safetensors"))
HIF = open(os.path.join(OUT, "good.hif.json"), "rb").read()
SAFETENSORS = open(os.path.join(OUT, "good.safetensors"), "rb").read()
JSON_VALUES = [
    b"-1",
    b"0",
    b"1e999",
    b"NaN",
    b"true",
    b"null",
    b"[]",
    b"{}",
    b'"x"',
    b"[0.5]",
    b'"v"',
    b'"mem"',
    b"2",
    b"99999999999999999999",
]


def json_value_mutation(text: bytes, k: int, value: bytes) -> bytes:
    """Replace the k-th JSON scalar (a string, a number, true/false/null) by ``value``."""
    spans = [m.span() for m in re.finditer(rb'"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null', text)]
    a, b = spans[k % len(spans)]
    return text[:a] + value + text[b:]


def read_hif_bytes(data: bytes):
    _reads_and_round_trips(data, ".hif.json", hg.read_hif, hg.write_hif, lambda ham: hg.formats.hif_bytes(ham.plan()))


def read_safetensors_bytes(data: bytes):
    _reads_and_round_trips(data, ".safetensors", hg.load, hg.save, _leaf_bytes)


@FUZZ
@given(byte_mutation(HIF))
def fuzz_hif_bytes(m):
    read_hif_bytes(apply(HIF, *m))


@FUZZ
@given(st.integers(0, 400), st.sampled_from(JSON_VALUES))
def fuzz_hif_values(k, value):
    read_hif_bytes(json_value_mutation(HIF, k, value))


@FUZZ
@given(byte_mutation(SAFETENSORS))
def fuzz_safetensors_bytes(m):
    read_safetensors_bytes(apply(SAFETENSORS, *m))


@FUZZ
@given(st.integers(0, 400), st.sampled_from(JSON_VALUES))
def fuzz_safetensors_header(k, value):
    (n,) = struct.unpack("<Q", SAFETENSORS[:8])
    header = json_value_mutation(SAFETENSORS[8 : 8 + n], k, value)
    read_safetensors_bytes(struct.pack("<Q", len(header)) + header + SAFETENSORS[8 + n :])


FUZZERS = {
    "graphml": (fuzz_graphml_bytes, fuzz_graphml_values),
    "hamux": (fuzz_hamux_bytes, fuzz_hamux_members),
    "hif": (fuzz_hif_bytes, fuzz_hif_values),
    "safetensors": (fuzz_safetensors_bytes, fuzz_safetensors_header),
}


if __name__ == "__main__":
    count = 0
    for group in GROUPS:
        for fuzz in FUZZERS[group]:
            fuzz()
            count += N
    print(f"fuzzed {count} files: every failure was a FormatError")
