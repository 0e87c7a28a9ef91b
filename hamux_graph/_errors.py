"""The library's error types: one root, each subclass also a builtin exception type."""

from __future__ import annotations


class HamuxGraphError(Exception):
    """Root of every error raised on purpose by hamux_graph."""


class ValidationError(HamuxGraphError, ValueError):
    """A graph, layer, synapse or parameter that cannot describe a valid HAM.

    The message names the node or edge at fault, what was expected, what was found and
    how to fix it.
    """


class StateError(HamuxGraphError, ValueError):
    """A states dictionary (or clamp specification) that does not match a compiled model."""


class FormatError(HamuxGraphError, ValueError):
    """A file that cannot be read as a hamux_graph GraphML or saved-model file."""


class ConvergenceError(HamuxGraphError, RuntimeError):
    """Dynamics that did not reach a fixed point within the allowed number of steps."""
