"""The ``hamux-graph`` command line: inspect, validate, draw and convert HAM files.

Usage::

    hamux-graph info FILE                 # summary table of a .graphml or saved model
    hamux-graph validate FILE             # exit 0 if valid, 1 with the error otherwise
    hamux-graph draw FILE -o out.png      # draw the architecture (needs matplotlib)
    hamux-graph draw FILE -o out.html     # the interactive page (one self-contained file)
    hamux-graph convert IN OUT            # between the formats below (OUT's suffix picks one)

Inputs: a directory is a model directory (``hg.save_pretrained``); a name ending in
``.safetensors`` a safetensors model (``hg.save``), in ``.json`` (``.hif.json``) a HIF
architecture (``hg.write_hif``); otherwise the content decides: a zip archive is a saved
model (``hg.save``), anything else is read as GraphML. Outputs of ``convert``: ``.graphml``,
``.hif.json``, ``.safetensors``, a name ending in ``/`` (or an existing directory) for a model
directory, anything else a ``.hamux`` saved model. Errors are one line on stderr and a non-zero exit status.
New subcommands are added to ``COMMANDS`` (name -> (help, configure, run)).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TYPE_CHECKING

from ._errors import ArgumentError, HamuxGraphError
from ._internal.parse import parse_int_text


if TYPE_CHECKING:
    from ._api import CompiledHAM
    from ._graph.validate import Plan


__all__ = ["main", "COMMANDS", "build_parser"]


def _is_model_file(path: str) -> bool:
    from ._internal.untrusted import read_head

    return read_head(path, 4) == b"PK\x03\x04"


def _is_hif_path(path: str) -> bool:
    return path.lower().endswith((".json", ".hif"))


def _is_directory_output(path: str) -> bool:
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def _read(args: argparse.Namespace, path: str, *, weights: bool = True) -> tuple[Plan, CompiledHAM | None]:
    """``(the validated plan, the model or None)`` of any file or model directory the CLI reads."""
    from .formats.graphml import read_graphml_plan
    from .formats.hif import read_hif_plan
    from .formats.pretrained import load_pretrained
    from .formats.saving import is_safetensors_path, load, load_architecture_plan, read_safetensors_model

    opts: dict[str, Any] = {}
    if args.max_bytes is not None:
        opts["max_bytes"] = args.max_bytes
    if os.path.isdir(path):
        model = load_pretrained(path, **opts)
        return model.plan(), model
    if is_safetensors_path(path):
        if weights:
            model = load(path, **opts)
            return model.plan(), model
        return read_safetensors_model(path, **opts)[0], None
    if _is_hif_path(path):
        return read_hif_plan(path, **opts), None
    opts["allow_compressed"] = args.allow_compressed
    if _is_model_file(path):
        if weights:
            model = load(path, **opts)
            return model.plan(), model
        return load_architecture_plan(path, **opts), None
    return read_graphml_plan(path, **opts), None


def _architecture_kind(path: str) -> str:
    return "HIF architecture" if _is_hif_path(path) else "GraphML architecture"


def _positive_int(text: str) -> int:
    """The argparse type of a positive int option (argparse names the option in its message)."""
    return parse_int_text(text, "the value", minimum=1, error=argparse.ArgumentTypeError)


def _add_debug(p: argparse.ArgumentParser, default: Any) -> None:
    # accepted before or after the subcommand: `hamux-graph --debug info f` and `hamux-graph info f --debug`
    p.add_argument("--debug", action="store_true", default=default, help="show full tracebacks on errors")


def _add_read_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-bytes", type=_positive_int, default=None, help="refuse files larger than this (bytes)")
    p.add_argument("--allow-compressed", action="store_true", help="accept compressed files (decompression is capped)")


# ---- commands -------------------------------------------------------------------------------


def _configure_info(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="a .graphml or .hif.json file, a saved model (.hamux, .safetensors) or a model directory"
    )
    _add_read_options(p)


def _run_info(args: argparse.Namespace) -> int:
    from ._present.summary import summarize

    plan, model = _read(args, args.file)
    kind = "saved model" if model is not None else _architecture_kind(args.file)
    print(f"{args.file}: {kind}")
    print(model.summary() if model is not None else summarize(plan))
    return 0


def _configure_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="a .graphml or .hif.json file, a saved model (.hamux, .safetensors) or a model directory"
    )
    _add_read_options(p)


def _run_validate(args: argparse.Namespace) -> int:
    plan, model = _read(args, args.file)
    nl, ns = len(plan.layer_names), len(plan.synapse_names)
    what = "saved model (weights match the architecture)" if model is not None else _architecture_kind(args.file)
    print(f"OK: {args.file} is a valid {what}: {nl} layers, {ns} synapses")
    return 0


def _configure_draw(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="a .graphml or .hif.json file, a saved model (.hamux, .safetensors) or a model directory"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="file to write: an image (.png, .svg, .pdf, ...) or an interactive page (.html)",
    )
    p.add_argument("--layout", default="layered", help="layered (default), spring, kamada_kawai, circular, shell, ...")
    p.add_argument(
        "--collapse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw each run of identical layers as one node (default: on for .html, off for images)",
    )
    p.add_argument("--dpi", type=_positive_int, default=150, help="resolution of raster images (default 150)")
    _add_read_options(p)


def _run_draw(args: argparse.Namespace) -> int:
    from ._internal.optional import require
    from .draw import draw_ham
    from .html import write_html

    plan, _ = _read(args, args.file, weights=False)
    if args.output.lower().endswith((".html", ".htm")):
        write_html(plan, args.output, collapse=True if args.collapse is None else args.collapse)
        print(f"wrote {args.output}")
        return 0
    require("matplotlib", feature="hamux-graph draw (an image)").use("Agg")
    plt = require("matplotlib.pyplot", feature="hamux-graph draw (an image)")

    ext = os.path.splitext(args.output)[1].lower().lstrip(".")
    formats = plt.gcf().canvas.get_supported_filetypes()
    plt.close("all")
    if ext not in formats:
        raise ArgumentError(
            f"-o/--output {args.output!r}: the file name must end in .html (an interactive page) or an image "
            f"format matplotlib writes, one of {sorted('.' + f for f in formats)} (for example m.png)."
        )
    ax = draw_ham(plan, layout=args.layout, collapse=bool(args.collapse))
    ax.figure.savefig(args.output, dpi=args.dpi, bbox_inches="tight", format=ext)
    plt.close(ax.figure)
    print(f"wrote {args.output}")
    return 0


def _configure_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input", help="a saved model (.hamux or .safetensors), a model directory, a .graphml or a .hif.json file"
    )
    p.add_argument(
        "output",
        help="a .graphml or .hif.json file (architecture only), a .safetensors or .hamux saved model, or a "
        "directory (a name ending in '/': hg.save_pretrained); an architecture input is compiled",
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for the weights when compiling an architecture input")
    p.add_argument("--compress", action="store_true", help="deflate a saved model's members")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    p.add_argument("--no-drawing", action="store_true", help="leave topology.png out of a model directory")
    _add_read_options(p)


#: the suffixes ``convert`` writes: an architecture (GraphML, HIF) or a saved model (.hamux, safetensors)
_CONVERT_SUFFIXES = (".graphml", ".graphml.gz", ".xml", ".hif.json", ".json", ".hif", ".hamux", ".safetensors")


def _check_convert_output(output: str) -> None:
    """Refuse an output name whose suffix says another format (``out.txt`` would hold a zip archive)."""
    if not (output.lower().endswith(_CONVERT_SUFFIXES) or _is_directory_output(output)):
        raise ArgumentError(
            f"output {output!r}: the name must end in .graphml or .hif.json (the architecture), .hamux or "
            ".safetensors (a saved model), or in '/' (a model directory); convert writes one of "
            f"{list(_CONVERT_SUFFIXES)} or a directory."
        )


def _run_convert(args: argparse.Namespace) -> int:
    from .formats.graphml import write_graphml
    from .formats.hif import write_hif
    from .formats.pretrained import save_pretrained
    from .formats.saving import save

    output = args.output
    _check_convert_output(output)
    architecture_only = output.lower().endswith((".graphml", ".graphml.gz", ".xml")) or _is_hif_path(output)
    plan, model = _read(args, args.input, weights=not architecture_only)
    if output.lower().endswith((".graphml", ".graphml.gz", ".xml")):
        write_graphml(plan, output)
        print(f"wrote architecture to {output}")
        return 0
    if _is_hif_path(output):
        write_hif(plan, output)
        print(f"wrote architecture (HIF) to {output}")
        return 0
    if model is None:
        import jax

        from ._api import CompiledHAM
        from ._graph.compile import compile_fields

        model = CompiledHAM(**compile_fields(plan, key=jax.random.key(args.seed)))
        note = f" (weights drawn with seed {args.seed})"
    else:
        note = ""
    if _is_directory_output(output):
        save_pretrained(model, output, overwrite=args.overwrite, draw=not args.no_drawing)
        print(f"wrote model directory {output}{note}")
        return 0
    save(model, output, compress=args.compress)
    kind = "safetensors model" if output.lower().endswith(".safetensors") else "saved model"
    print(f"wrote {kind} to {output}{note}")
    return 0


#: subcommand name -> (help line, configure(subparser), run(args) -> exit status)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "info": ("print the summary table of a GraphML file or saved model", _configure_info, _run_info),
    "validate": ("check a file; exit 0 if valid, 1 with the error", _configure_validate, _run_validate),
    "draw": ("draw the architecture to an image file or an interactive HTML page", _configure_draw, _run_draw),
    "convert": (
        "convert between saved models (.hamux, .safetensors, model directories) and architectures (.graphml, .hif.json)",
        _configure_convert,
        _run_convert,
    ),
}


def _configure_demo(p: argparse.ArgumentParser) -> None:
    from .demo import configure_parser

    configure_parser(p)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_from_args

    return run_from_args(args)


COMMANDS["demo"] = (
    "train and retrieve on a small real data set, writing figures and files",
    _configure_demo,
    _run_demo,
)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one subparser per entry of ``COMMANDS``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hamux-graph",
        description="Inspect, validate, draw and convert hamux_graph files (GraphML architectures, saved models).",
    )
    parser.add_argument("--version", action="version", version=f"hamux_graph {__version__}")
    _add_debug(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, configure, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        _add_debug(p, argparse.SUPPRESS)
        p.set_defaults(run_command=run)
    return parser


_KEYWORDS_AS_FLAGS = {
    "allow_compressed=True": "--allow-compressed",
    "max_bytes": "--max-bytes",
    "overwrite=True": "--overwrite",
}


def _cli_words(message: str) -> str:
    """A library message in the command line's words: keyword arguments become flags."""
    for keyword, flag in _KEYWORDS_AS_FLAGS.items():
        message = message.replace("Pass " + keyword, "Pass " + flag).replace("pass " + keyword, "pass " + flag)
        message = message.replace("a larger " + keyword, "a larger " + flag)
    return message


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage error).

    Example:
        >>> from hamux_graph.cli import main
        >>> main(["validate", "no-such-file.graphml"])
        1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run_command(args))
    except KeyboardInterrupt:
        print("hamux-graph: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        prefix = "error" if isinstance(e, (HamuxGraphError, OSError, ImportError)) else f"error ({type(e).__name__})"
        if isinstance(e, FileNotFoundError):
            msg = f"no such file: {e.filename}"
        elif isinstance(e, OSError) and e.filename:
            msg = _cli_words(f"{e.filename}: {e.strerror or _one_line(e)}")
        else:
            msg = _cli_words(_one_line(e))
        print(f"hamux-graph: {prefix}: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
