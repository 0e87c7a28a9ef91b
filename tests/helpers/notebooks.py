"""Run the tutorial notebooks (docs/tutorials/*.ipynb) in a real Jupyter kernel (nbclient + ipykernel).

``execute(paths)`` runs each notebook top to bottom and returns a ``Run`` per notebook: the executed
copy, its wall time and the kernel's CPU time for it (on a shared, loaded machine the CPU time is
the steadier number). By default the notebooks share one kernel, each starting from an empty namespace
(``%reset -f``): the imports stay loaded, so four notebooks cost one kernel start and one JAX
import. ``fresh=True`` gives each notebook its own kernel, ``full=True`` sets
``HAMUX_TUTORIAL_FULL=1`` (the notebooks' full settings).

``structure(nb)`` is what a re-execution must reproduce: per code cell, the kinds of its outputs
(stream name, or output type with its MIME types), stderr left out (warnings vary), consecutive
outputs of one stream counted once.

Storing the outputs after editing a notebook (the site renders them, it does not execute):

    python tests/helpers/notebooks.py docs/tutorials/*.ipynb          # small settings
    HAMUX_TUTORIAL_FULL=1 python tests/helpers/notebooks.py ...       # full settings
"""

from __future__ import annotations

import copy
import os
import sys
import time
from typing import Any, NamedTuple


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESET = "%reset -f"
# run after each notebook (then removed from the copy): the kernel's CPU seconds so far
CPU = "import resource as _resource; _usage = _resource.getrusage(_resource.RUSAGE_SELF); print(_usage.ru_utime + _usage.ru_stime)"


class Run(NamedTuple):
    """One executed notebook: the executed copy, its wall seconds and the kernel's CPU seconds."""

    notebook: Any
    seconds: float
    cpu_seconds: float


def kernel_env(full: bool) -> dict[str, str]:
    """The kernel's environment: this checkout first on the path, the inline plots backend."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the notebooks use %matplotlib inline
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["HAMUX_TUTORIAL_FULL"] = "1" if full else "0"
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def execute(paths: list[str], *, full: bool = False, fresh: bool = False, timeout: int = 600) -> list[Run]:
    """A ``Run`` for each path, in order (module docstring)."""
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager

    results = []
    km = None
    cpu_before = 0.0  # the kernel's CPU seconds when the notebook started (its own start included)
    try:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            if km is None or fresh:
                if km is not None:
                    km.shutdown_kernel(now=True)
                km = KernelManager(kernel_name="python3")
                km.start_kernel(env=kernel_env(full), cwd=os.path.dirname(os.path.abspath(path)))
                cpu_before = 0.0
            run = copy.deepcopy(nb)
            run.cells.insert(0, nbformat.v4.new_code_cell(RESET))
            run.cells.append(nbformat.v4.new_code_cell(CPU))
            client = nbclient.NotebookClient(run, km=km, timeout=timeout, kernel_name="python3")
            start = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - start
            cpu = float(run.cells.pop().outputs[0].text)
            run.cells.pop(0)
            results.append(Run(run, seconds, cpu - cpu_before))
            cpu_before = cpu
    finally:
        if km is not None:
            km.shutdown_kernel(now=True)
    return results


def structure(nb: Any) -> list[list[str]]:
    """Per code cell, the kinds of its outputs (stderr left out)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kinds = []
        for o in cell.outputs:
            if o.output_type == "stream":
                if o.name != "stderr":
                    kinds.append(f"stream:{o.name}")
            else:
                kinds.append(o.output_type + ":" + ",".join(sorted(o.get("data", {}))))
        # consecutive stream outputs of one stream may arrive merged or apart: count them once
        out.append([k for i, k in enumerate(kinds) if not (k.startswith("stream:") and i and kinds[i - 1] == k)])
    return out


def errors(nb: Any) -> list[str]:
    """The error outputs of a notebook, as ``ename: evalue``."""
    return [
        f"{o.ename}: {o.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.output_type == "error"
    ]


def main(paths: list[str]) -> None:
    import nbformat

    full = os.environ.get("HAMUX_TUTORIAL_FULL") == "1"
    for path, (nb, seconds, cpu_seconds) in zip(paths, execute(paths, full=full, fresh=True)):
        problems = errors(nb)
        if problems:
            raise SystemExit(f"{path} raised: {problems}")
        for cell in nb.cells:  # stderr (warnings, progress) is not part of the stored page
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        nbformat.write(nb, path)
        print(f"{path}: {seconds:.1f} s (kernel CPU {cpu_seconds:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
