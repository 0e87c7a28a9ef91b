"""The library's error types: one root, each subclass also a builtin exception type."""

from __future__ import annotations


__all__ = ["HamuxGraphError", "ValidationError", "StateError", "ArgumentError", "FormatError", "ConvergenceError"]


class HamuxGraphError(Exception):
    """Root of every error raised on purpose by hamux_graph."""


class ValidationError(HamuxGraphError, ValueError):
    """A graph, layer, synapse or parameter that cannot describe a valid HAM.

    The message names the node or edge at fault, what was expected, what was found and
    how to fix it.
    """


class StateError(HamuxGraphError, ValueError):
    """States, clamp specifications or inputs that do not match a compiled model.

    The message names the layer, the shape expected and the shape found.
    """


class ArgumentError(HamuxGraphError, ValueError):
    """A function argument or settings object outside what it accepts.

    For example a step size ``dt <= 0``, a negative number of steps, an adjoint of another
    library, a bad training or device-mesh setting. The message names the argument, the
    value received and what is accepted.
    """


class FormatError(HamuxGraphError, ValueError):
    """A file that cannot be read as a hamux_graph GraphML or saved-model file."""


class ConvergenceError(HamuxGraphError, RuntimeError):
    """Dynamics that did not reach a fixed point within the allowed number of steps.

    Raised outside ``jax.jit``; inside a traced function the same failure is an equinox
    runtime error whose message starts with ``ConvergenceError``. Where it is raised for a
    result, the result is attached as ``err.result``.
    """

    result: object = None
