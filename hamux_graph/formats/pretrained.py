"""A model directory: architecture, weights, a model card and a config a reader can check.

``save_pretrained(model, directory)`` writes

- ``model.graphml``: the architecture (``write_graphml``);
- ``model.safetensors``: the parameters under ``hg.parameter_names``, the same GraphML and the
  format version in ``__metadata__`` (``hg.save(model, "m.safetensors")``);
- ``README.md``: a model card (summary table, parameter count, Lagrangians, the drawing
  ``topology.png``, the library version and how to load it);
- ``config.json``: format and versions, the parameter names with shapes and dtypes, and the
  SHA-256 of each part.

Each file is written atomically into a fresh temporary folder next to ``directory``, and the
folder is renamed into place last: the directory is complete or absent. ``load_pretrained``
treats the directory as untrusted and refuses it, naming the part, unless every part is there
and they agree (hashes, the architecture of both files, the parameter table). Nothing here
touches a network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from typing import Any

import jax

from .._api import CompiledHAM
from .._errors import ArgumentError, FormatError, ValidationError
from .._graph.validate import Plan
from .._internal.files import atomic_write
from .._internal.optional import import_if_installed
from .._internal.parse import parse_bool, parse_path
from .._internal.untrusted import read_limited
from .._internal.version import package_version
from .graphml import FORMAT_VERSION, graphml_bytes, parse_graphml_plan
from .safetensors import parse_safetensors, safetensors_bytes
from .saving import (
    DEFAULT_MAX_BYTES,
    expected_parameters,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    model_from_arrays,
    parameter_arrays,
    SAFETENSORS_ARCHITECTURE,
    safetensors_metadata,
)
from .untrusted_json import parse_json


__all__ = [
    "save_pretrained",
    "load_pretrained",
    "PRETRAINED_FORMAT",
    "PRETRAINED_FORMAT_VERSION",
    "ARCHITECTURE_FILE",
    "WEIGHTS_FILE",
    "CARD_FILE",
    "CONFIG_FILE",
    "DRAWING_FILE",
]

PRETRAINED_FORMAT = "hamux_graph-pretrained"
PRETRAINED_FORMAT_VERSION = 1
ARCHITECTURE_FILE, WEIGHTS_FILE, CARD_FILE = "model.graphml", "model.safetensors", "README.md"
CONFIG_FILE, DRAWING_FILE = "config.json", "topology.png"
_CONFIG_MAX_BYTES = 64 * 2**20


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- the model card ------------------------------------------------------------------------


def _lagrangian_text(lagrangian: Any) -> str:
    config = ", ".join(f"{k}={v}" for k, v in lagrangian.config().items())
    return f"{type(lagrangian).__name__}({config})"


def model_card(model: CompiledHAM, arrays: dict[str, Any], name: str, drawing: bool) -> str:
    """The README.md model card of a model directory (markdown).

    Example:
        >>> import jax, hamux_graph as hg
        >>> from hamux_graph.formats.pretrained import model_card
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> model_card(model, hg.formats.saving.parameter_arrays(model), "tiny", False).splitlines()[0]
        '# tiny'
    """
    plan = model.plan()
    count = sum(int(a.size) for a in arrays.values())
    nbytes = sum(int(a.nbytes) for a in arrays.values())
    lagrangians = sorted({_lagrangian_text(layer.lagrangian) for layer in plan.layers})
    rows = [
        f"| `{n}` | {tuple(layer.shape)} | {_lagrangian_text(layer.lagrangian)} | {layer.tau:g} | "
        f"{'yes' if layer.use_bias else 'no'} |"
        for n, layer in zip(plan.layer_names, plan.layers)
    ]
    synapse_rows = []
    for n, owner, conn in zip(plan.synapse_names, plan.owners, plan.connections):
        own = sum(int(a.size) for k, a in arrays.items() if k.startswith(f"synapses/{n}/"))
        kind = type(plan.specs[owner]).__name__ if owner == n else f"shares `{owner}`"
        synapse_rows.append(f"| `{n}` | {kind} | {' → '.join(conn)} | {own:,} |")
    lines = [
        f"# {name}",
        "",
        f"A Hierarchical Associative Memory saved with hamux_graph {package_version()} (`hg.save_pretrained`).",
        "",
        "| | |",
        "|---|---|",
        f"| layers | {len(plan.layer_names)} |",
        f"| synapses | {len(plan.synapse_names)} |",
        f"| parameters | {count:,} ({nbytes:,} bytes) |",
        f"| Lagrangians | {', '.join(sorted({type(layer.lagrangian).__name__ for layer in plan.layers}))} |",
        f"| hamux_graph | {package_version()} |",
        "",
    ]
    if drawing:
        lines += [f"![the architecture: layers as circles, synapses as squares]({DRAWING_FILE})", ""]
    lines += [
        "## Layers",
        "",
        "| layer | shape | Lagrangian | τ | bias |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## Synapses",
        "",
        "| synapse | type | layers (slot order) | parameters |",
        "|---|---|---|---|",
        *synapse_rows,
        "",
        "## Lagrangians",
        "",
        *[f"- `{text}`" for text in lagrangians],
        "",
        "## Summary",
        "",
        "```text",
        model.summary(),
        "```",
        "",
        "## How to load",
        "",
        "```python",
        "import hamux_graph as hg",
        "",
        'model = hg.load_pretrained("path/to/this/directory")',
        "```",
        "",
        f"`{ARCHITECTURE_FILE}` is plain GraphML (networkx, Gephi, yEd); `{WEIGHTS_FILE}` is read by any "
        f"safetensors library (the parameter names are listed in `{CONFIG_FILE}`).",
        "",
    ]
    return "\n".join(lines)


def _drawing_png(plan: Plan) -> bytes | None:
    """The drawing of ``plan`` as PNG bytes, or None without matplotlib."""
    plt = import_if_installed("matplotlib.pyplot")
    if plt is None:
        return None
    from ..draw import draw_ham

    ax = draw_ham(plan)
    buf = io.BytesIO()
    try:
        ax.figure.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(ax.figure)
    return buf.getvalue()


# ---- writing ---------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def save_pretrained(
    model: CompiledHAM, directory: str | os.PathLike, *, overwrite: bool = False, draw: bool = True
) -> None:
    """Write a compiled model as a self-describing model directory.

    The directory gets ``model.graphml`` (architecture), ``model.safetensors`` (weights,
    bit-exact), ``README.md`` (a model card), ``topology.png`` (the drawing, when matplotlib
    is installed and ``draw``) and ``config.json`` (format, versions, parameter names and the
    SHA-256 of every part). Everything is written into a temporary folder beside
    ``directory`` (each file atomically) and the folder is renamed into place last, so the
    directory is either complete or absent. No network is used.

    Args:
        model: the compiled model.
        directory: the folder to create (with missing parent folders). It must not exist (or
            be empty) unless ``overwrite``.
        overwrite: replace an existing directory (its old content is removed only once the new
            one is in place).
        draw: write ``topology.png`` (needs matplotlib; skipped without it).

    Raises:
        ValidationError: if ``model`` is not a compiled model.
        FileExistsError: if ``directory`` exists, is not empty and ``overwrite`` is False.
        FormatError: if a parameter cannot be stored.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> folder = os.path.join(tempfile.mkdtemp(), "tiny")
        >>> hg.save_pretrained(model, folder, draw=False)
        >>> sorted(os.listdir(folder))
        ['README.md', 'config.json', 'model.graphml', 'model.safetensors']
        >>> bool((hg.load_pretrained(folder).synapse("s").W == model.synapse("s").W).all())
        True
    """
    if not isinstance(model, CompiledHAM):
        raise ValidationError(
            f"hg.save_pretrained expects a compiled model (ham.compile(key=...)), got {type(model).__name__}."
        )
    target = os.path.abspath(parse_path(directory, "save_pretrained: directory"))
    overwrite = parse_bool(overwrite, "save_pretrained: overwrite", error=ArgumentError)
    draw = parse_bool(draw, "save_pretrained: draw", error=ArgumentError)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise FileExistsError(17, f"cannot write the model directory {target!r}: a file of that name exists", target)
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise FileExistsError(
            17, f"the model directory {target!r} exists and is not empty; pass overwrite=True to replace it", target
        )
    plan = model.plan()
    graph = graphml_bytes(plan)
    arrays = parameter_arrays(model)  # every process gathers (a collective); process 0 writes
    weights = safetensors_bytes(arrays, safetensors_metadata(graph))
    png = _drawing_png(plan) if draw and jax.process_index() == 0 else None
    name = os.path.basename(target.rstrip(os.sep)) or "model"
    files: dict[str, bytes] = {
        ARCHITECTURE_FILE: graph,
        WEIGHTS_FILE: weights,
        CARD_FILE: model_card(model, arrays, name, png is not None).encode("utf-8"),
    }
    if png is not None:
        files[DRAWING_FILE] = png
    config = {
        "format": PRETRAINED_FORMAT,
        "format_version": PRETRAINED_FORMAT_VERSION,
        "hamux_graph_version": package_version(),
        "graphml_format_version": FORMAT_VERSION,
        "model_format": MODEL_FORMAT,
        "model_format_version": MODEL_FORMAT_VERSION,
        "files": {part: _sha256(data) for part, data in files.items()},
        "parameters": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in arrays.items()},
    }
    files[CONFIG_FILE] = _json_bytes(config)
    if jax.process_index() != 0:
        return
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)  # as `mkdir -p`: the missing parent folders
    staging = tempfile.mkdtemp(prefix=".hamux-pretrained-", dir=parent)
    try:
        for part, data in files.items():
            atomic_write(os.path.join(staging, part), data)
        os.chmod(staging, 0o777 & ~_umask())
        if os.path.isdir(target):
            old = tempfile.mkdtemp(prefix=".hamux-old-", dir=parent)
            os.replace(target, os.path.join(old, "model"))
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(os.path.join(old, "model"), target)  # put the old directory back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- reading ---------------------------------------------------------------------------------


def _part(folder: str, part: str, max_bytes: int) -> bytes:
    path = os.path.join(folder, part)
    if not os.path.isfile(path):
        raise FormatError(
            f"{folder}: the model directory has no {part} (a model directory holds {CONFIG_FILE}, "
            f"{ARCHITECTURE_FILE}, {WEIGHTS_FILE} and {CARD_FILE}; write one with hg.save_pretrained)."
        )
    return read_limited(path, max_bytes)


def _config(data: bytes, folder: str) -> dict[str, Any]:
    source = os.path.join(folder, CONFIG_FILE)
    config = parse_json(data, source, max_bytes=_CONFIG_MAX_BYTES, max_depth=8)
    if not isinstance(config, dict) or config.get("format") != PRETRAINED_FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise FormatError(f"{source}: format is {got!r}, expected {PRETRAINED_FORMAT!r}.")
    if config.get("format_version") != PRETRAINED_FORMAT_VERSION:
        raise FormatError(
            f"{source}: format_version {config.get('format_version')!r} is not supported; this hamux_graph reads "
            f"version {PRETRAINED_FORMAT_VERSION}."
        )
    for key in ("files", "parameters"):
        if not isinstance(config.get(key), dict):
            raise FormatError(f"{source}: {key!r} must be a JSON object, got {type(config.get(key)).__name__}.")
    return config


def load_pretrained(directory: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CompiledHAM:
    """Load a model directory written by ``save_pretrained``, after checking that its parts agree.

    The directory is untrusted: ``config.json``, ``model.graphml``, ``model.safetensors`` and
    ``README.md`` must all be there; each part's SHA-256 must be the one ``config.json``
    records; the GraphML in the weights file's metadata must be ``model.graphml`` byte for
    byte; and the stored parameters must be exactly those the architecture implies and
    ``config.json`` lists (names, shapes, dtypes). Each file is read with its reader's
    checks (size caps, strict JSON, the safetensors header and offsets).

    Args:
        directory: the model directory.
        max_bytes: refuse any part larger than this.

    Returns:
        The compiled model, its parameters bit-identical to the saved ones.

    Raises:
        FormatError: naming the directory and the missing or mismatched part.

    Example:
        >>> import os, tempfile, jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,), use_bias=True))
        >>> folder = os.path.join(tempfile.mkdtemp(), "m")
        >>> hg.save_pretrained(ham.compile(key=jax.random.key(0)), folder, draw=False)
        >>> hg.load_pretrained(folder).layer_names
        ('v',)
    """
    folder = parse_path(directory, "load_pretrained: directory")
    if not os.path.isdir(folder):
        what = "does not exist" if not os.path.lexists(folder) else "is not a directory"
        raise FormatError(f"{folder}: {what}; hg.load_pretrained reads a directory written by hg.save_pretrained.")
    config = _config(_part(folder, CONFIG_FILE, max_bytes), folder)
    parts = {part: _part(folder, part, max_bytes) for part in (ARCHITECTURE_FILE, WEIGHTS_FILE, CARD_FILE)}
    recorded = config["files"]
    for part in sorted(set(recorded) - set(parts)):
        if not isinstance(part, str) or os.path.basename(part) != part or part in ("", ".", ".."):
            raise FormatError(f"{os.path.join(folder, CONFIG_FILE)}: 'files' names {part!r}, which is not a part name.")
        parts[part] = _part(folder, part, max_bytes)
    for part, data in parts.items():
        if recorded.get(part) != _sha256(data):
            state = "is not listed in" if part not in recorded else "does not match the SHA-256 recorded in"
            raise FormatError(
                f"{os.path.join(folder, part)}: the part {state} {CONFIG_FILE}: it was changed or replaced after "
                "hg.save_pretrained wrote the directory."
            )
    graph = parts[ARCHITECTURE_FILE]
    plan = parse_graphml_plan(graph, os.path.join(folder, ARCHITECTURE_FILE), max_bytes=max_bytes)
    weights_source = os.path.join(folder, WEIGHTS_FILE)
    arrays, metadata = parse_safetensors(parts[WEIGHTS_FILE], weights_source)
    if metadata.get("format") != MODEL_FORMAT or metadata.get(SAFETENSORS_ARCHITECTURE, "").encode("utf-8") != graph:
        raise FormatError(
            f"{weights_source}: its __metadata__ does not hold the architecture of {ARCHITECTURE_FILE}; the two "
            "parts come from different models."
        )
    expected = expected_parameters(plan, os.path.join(folder, ARCHITECTURE_FILE))
    listed = {n: {"shape": list(shape), "dtype": str(dtype)} for n, (shape, dtype) in expected.items()}
    if config["parameters"] != listed:
        differ = sorted(set(config["parameters"]) ^ set(listed)) or sorted(
            n for n in listed if config["parameters"].get(n) != listed[n]
        )
        raise FormatError(
            f"{os.path.join(folder, CONFIG_FILE)}: its parameter table does not match {ARCHITECTURE_FILE} "
            f"(first differences: {differ[:6]})."
        )
    return model_from_arrays(plan, arrays, weights_source)
