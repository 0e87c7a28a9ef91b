"""The registry of types that files may name: Lagrangians and synapses.

A GraphML or saved-model file names each Lagrangian and synapse by a short type name
(``"LTanh"``, ``"DenseSynapse"``). Reading a file resolves those names here and nowhere
else: a name found in a file is never imported or evaluated. The built-in classes are the
explicit table ``BUILTIN_TYPES``; user-defined classes join with ``register_synapse`` /
``register_lagrangian``.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from . import lagrangians
from ._errors import FormatError, ValidationError
from .lagrangians.elementwise import Lagrangian
from .synapses import (
    AttentionSynapse,
    BinaryMixerSynapse,
    ConvSynapse,
    ConvSynapseWithPool,
    DenseMatrixSynapseWithHiddenLayer,
    DenseSynapse,
    DenseTensorSynapseWithHiddenLayer,
    EpanechnikovMemorySynapse,
    GaussianMemorySynapse,
    RandomFeatureMemorySynapse,
    SelfAttentionSynapse,
    SimpleDenseSynapse,
    SimplicialMemorySynapse,
    Synapse,
)


__all__ = [
    "register_synapse",
    "register_lagrangian",
    "registered_types",
    "lookup_type",
    "type_name",
    "BUILTIN_TYPES",
]

T = TypeVar("T", bound=type)

_USER: dict[str, type] = {}


def _concrete(obj: Any, base: type) -> bool:
    return (
        isinstance(obj, type)
        and issubclass(obj, base)
        and obj is not base
        and not inspect.isabstract(obj)
        and not obj.__name__.startswith("_")
    )


# The built-in types files may name: an explicit table (a type added to the library joins here).
BUILTIN_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        lagrangians.LIdentity,
        lagrangians.LRepu,
        lagrangians.LRelu,
        lagrangians.LExp,
        lagrangians.LRexp,
        lagrangians.LTanh,
        lagrangians.LSigmoid,
        lagrangians.LSoftmax,
        lagrangians.LLayerNorm,
        lagrangians.LSphericalNorm,
        lagrangians.LSparsemax,
        lagrangians.LEntmax,
        lagrangians.LGhostmax,
        SimpleDenseSynapse,
        DenseSynapse,
        DenseTensorSynapseWithHiddenLayer,
        DenseMatrixSynapseWithHiddenLayer,
        ConvSynapse,
        ConvSynapseWithPool,
        AttentionSynapse,
        SelfAttentionSynapse,
        BinaryMixerSynapse,
        GaussianMemorySynapse,
        EpanechnikovMemorySynapse,
        RandomFeatureMemorySynapse,
        SimplicialMemorySynapse,
    )
}


def registered_types() -> dict[str, type]:
    """Every type name a file may use, mapped to its class (built-ins first).

    Example:
        >>> import hamux_graph as hg
        >>> hg.registered_types()["DenseSynapse"] is hg.DenseSynapse
        True
    """
    out = dict(BUILTIN_TYPES)
    for name, cls in _USER.items():
        out.setdefault(name, cls)
    return out


def _register(cls: Any, base: type, what: str, name: str | None) -> type:
    if not _concrete(cls, base):
        raise ValidationError(
            f"register_{what}: expected a concrete (non-abstract, public) subclass of hg.{base.__name__}, got {cls!r}."
        )
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValidationError(f"register_{what}: the type name must be a Python identifier, got {name!r}.")
    known = registered_types().get(name)
    redefined = (
        known is not None
        and _USER.get(name) is known
        and (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__)
    )  # the same class defined again (a re-run notebook cell or script) replaces the old one
    if known is not None and known is not cls and not redefined:
        raise ValidationError(
            f"register_{what}: the type name {name!r} already belongs to {known.__module__}.{known.__qualname__}. "
            f"Register {cls.__qualname__} under another name: register_{what}(cls, name='My{name}')."
        )
    _USER[name] = cls
    return cls


def register_synapse(cls: T | None = None, *, name: str | None = None) -> Any:
    """Make a user-defined ``Synapse`` subclass readable from and writable to files.

    Usable as a plain call or a decorator (with or without ``name=``). The class must
    follow the library convention: every hyperparameter a JSON-able static field whose
    name is the constructor keyword, so that ``type(s)(**s.config())`` rebuilds it.

    Args:
        cls: the synapse class.
        name: the type name written into files (default: the class name).

    Returns:
        ``cls`` unchanged (or a decorator when ``cls`` is omitted).

    Raises:
        ValidationError: if ``cls`` is not a concrete ``Synapse`` subclass, or the name is
            taken by another class.

    Example:
        >>> import math, jax, hamux_graph as hg
        >>> @hg.register_synapse
        ... class Bilinear(hg.Synapse):
        ...     W: jax.Array | None = None
        ...     def param_shapes(self, shapes):
        ...         return {"W": (math.prod(shapes[0]), math.prod(shapes[1]))}
        ...     def __call__(self, g1, g2):
        ...         return g1.ravel() @ self.W @ g2.ravel()
        >>> hg.registered_types()["Bilinear"] is Bilinear
        True
    """
    if cls is None:
        return lambda c: _register(c, Synapse, "synapse", name)
    return _register(cls, Synapse, "synapse", name)


def register_lagrangian(cls: T | None = None, *, name: str | None = None) -> Any:
    """Make a user-defined ``Lagrangian`` subclass readable from and writable to files.

    Same contract as ``register_synapse``; usable as a decorator.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> @hg.register_lagrangian
        ... class LQuartic(hg.Lagrangian):
        ...     def __call__(self, x):
        ...         return jnp.sum(x**4) / 4
        >>> hg.registered_types()["LQuartic"] is LQuartic
        True
    """
    if cls is None:
        return lambda c: _register(c, Lagrangian, "lagrangian", name)
    return _register(cls, Lagrangian, "lagrangian", name)


def lookup_type(name: Any, base: type | tuple[type, ...], where: str) -> type:
    """Resolve a type name read from a file (never imports anything).

    Args:
        name: the name found in the file.
        base: the class (or tuple of classes) the resolved type must subclass.
        where: file and node, for the error message.

    Raises:
        FormatError: for a non-string or unknown name, or a class of the wrong family.
    """
    bases = base if isinstance(base, tuple) else (base,)
    family_name = " or ".join(b.__name__ for b in bases)
    types = registered_types()
    if not isinstance(name, str) or name not in types:
        family = sorted(n for n, c in types.items() if issubclass(c, bases))
        hint = " or ".join(f"hg.register_{b.__name__.lower()}(cls)" for b in bases)
        raise FormatError(
            f"{where}: unknown {family_name} type {name!r}. Known types: {family}. A user-defined "
            f"class must be registered ({hint}) before the file is read."
        )
    cls = types[name]
    if not issubclass(cls, bases):
        raise FormatError(f"{where}: type {name!r} is not a {family_name}.")
    return cls


def type_name(obj: Any, where: str) -> str:
    """The registered type name of ``obj``'s class, checked to resolve back to that class.

    Raises:
        FormatError: if the class is not registered (files could not name it).
    """
    cls = type(obj)
    for name, known in registered_types().items():
        if known is cls:
            return name
    what = "synapse" if isinstance(obj, Synapse) else "lagrangian"
    raise FormatError(
        f"{where}: type {cls.__qualname__} is not registered, so a file cannot name it. Decorate the class "
        f"with @hg.register_{what} (then read files only after that registration has run)."
    )
