"""The model zoo: factories that return a ``HAM`` graph (inspect, draw, edit, save, then compile).

Classifiers (the 2022 HAMUX families), with a clamped ``"input"`` layer and a softmax
``"label"`` layer read out after a few steps of energy descent:

- ``hn``: a dense Hopfield network, ``input`` and ``label`` joined by one hidden layer of
  memories (``DenseMatrixSynapseWithHiddenLayer``) with a relu, repu (n = 5) or softmax
  hidden Lagrangian;
- ``conv_ham``: a convolution + pooling synapse (avg or max) from the image to a feature
  layer, then a dense hidden-layer synapse from the features to the label;
- ``energy_attn``: convolutional patch tokens, self-attention among the tokens and
  cross-attention from the label to the tokens.

The Energy Transformer (``energy_transformer``): one ``"tokens"`` layer (CLS + one token per
image patch) with ET's energy layer norm, multi-head energy attention and a ReLU² Hopfield
memory; its image pipeline (patches, encoder/decoder, CLS/MASK tokens, positions) is
``hg.vision``. The Graph Energy Transformer (``graph_energy_transformer``): one token per
node of a networkx graph, attention masked by the adjacency, a joint feature–token memory.

Associative memories, with a ``"visible"`` layer that is set to a probe and relaxes to a
stored pattern:

- ``classical_hopfield``: Hebbian weights ``W = (1/N) Σ ξξᵀ`` on a self-connection;
- ``dense_associative_memory``: a ``"memories"`` layer with a rectified-power Lagrangian;
- ``modern_hopfield``: a ``"memories"`` softmax layer (inverse temperature β) whose
  weights are the stored patterns;
- ``sparse_hopfield``: the same with a sparsemax (``alpha=2``) or α-entmax memory layer
  (exact retrieval of well separated patterns);
- ``gaussian_memory``, ``epanechnikov_memory``, ``random_feature_memory``: distance-kernel
  memory synapses over the visible layer (Gaussian, log-sum-ReLU with emergent minima, and
  the distributed random-feature estimate of the Gaussian one).

Sets: ``hopfield_pooling``, hopfield-layers' ``HopfieldPooling`` as a HAM: learned query
states (trainable parameters of the model) attend over a clamped ``"set"`` layer through an
energy attention synapse, then a readout to a ``"label"`` layer (multiple-instance learning).

``create(name, **kwargs)`` builds any of them by name; ``names()`` lists the names.

Example:
    >>> import jax, hamux_graph as hg
    >>> ham = hg.zoo.create("hn", input_shape=(8, 8), num_classes=10, hidden="repu")
    >>> sorted(ham.layers)
    ['input', 'label']
    >>> model = ham.compile(key=jax.random.key(0))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .._api import HAM
from .._errors import ValidationError
from .classifiers import conv_ham, energy_attn, hn
from .graphs import graph_energy_transformer
from .memories import classical_hopfield, dense_associative_memory, modern_hopfield, recall
from .pooling import hopfield_pooling
from .sparse_memories import epanechnikov_memory, gaussian_memory, random_feature_memory, sparse_hopfield
from .transformers import energy_transformer


__all__ = [
    "create",
    "names",
    "builtin_names",
    "register",
    "hn",
    "conv_ham",
    "energy_attn",
    "classical_hopfield",
    "dense_associative_memory",
    "modern_hopfield",
    "recall",
    "sparse_hopfield",
    "gaussian_memory",
    "epanechnikov_memory",
    "random_feature_memory",
    "energy_transformer",
    "graph_energy_transformer",
    "hopfield_pooling",
]

_REGISTRY: dict[str, Callable[..., HAM]] = {}


def register(name: str, factory: Callable[..., HAM]) -> None:
    """Add a factory (a callable returning a ``HAM``) to the zoo under ``name``.

    Raises:
        ValidationError: if ``name`` is taken or ``factory`` is not callable.

    Example:
        >>> import hamux_graph as hg
        >>> hg.zoo.register("tiny_hn", lambda: hg.zoo.hn((4,), 2, nhid=4))
        >>> hg.zoo.create("tiny_hn").layers["input"].shape
        (4,)
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"zoo.register: name must be a non-empty string, got {name!r}.")
    if name in _REGISTRY:
        raise ValidationError(f"zoo.register: {name!r} is already registered; pick another name.")
    if not callable(factory):
        raise ValidationError(f"zoo.register: factory for {name!r} must be callable, got {type(factory).__name__}.")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered model names, sorted.

    Example:
        >>> import hamux_graph as hg
        >>> "modern_hopfield" in hg.zoo.names()
        True
    """
    return sorted(_REGISTRY)


def create(name: str, **kwargs: Any) -> HAM:
    """Build the zoo model ``name`` with the factory's keyword arguments.

    Raises:
        ValidationError: for an unknown name (listing the known ones), arguments the
            factory does not take (listing the ones it does), or a factory that returns
            something other than an ``hg.HAM``.

    Example:
        >>> import hamux_graph as hg
        >>> hg.zoo.create("hn", input_shape=(64,), num_classes=10, hidden="softmax").layers["label"].shape
        (10,)
    """
    if name not in _REGISTRY:
        raise ValidationError(f"zoo: unknown model {name!r}; known models: {names()}.")
    factory = _REGISTRY[name]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as err:
        params = list(inspect.signature(factory).parameters)
        raise ValidationError(
            f"zoo: model {name!r} does not accept {sorted(kwargs)} ({err}); its arguments are {params}."
        ) from None
    out = factory(**kwargs)
    if not isinstance(out, HAM):
        raise ValidationError(
            f"zoo: the factory of model {name!r} returned {type(out).__name__}, not an hg.HAM; a registered factory "
            "must build and return the HAM."
        )
    return out


def _variant(factory: Callable[..., HAM], **fixed: Any) -> Callable[..., HAM]:
    def make(*args: Any, **kwargs: Any) -> HAM:
        return factory(*args, **{**fixed, **kwargs})

    sig = inspect.signature(factory)
    make.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(default=fixed[p.name]) if p.name in fixed else p for p in sig.parameters.values()]
    )
    make.__doc__ = factory.__doc__
    return make


for _name, _factory in {
    "hn": hn,
    "hn_relu": _variant(hn, hidden="relu"),
    "hn_repu": _variant(hn, hidden="repu", n=5.0),
    "hn_softmax": _variant(hn, hidden="softmax"),
    "conv_ham": conv_ham,
    "conv_ham_avg": _variant(conv_ham, pool_type="avg"),
    "conv_ham_max": _variant(conv_ham, pool_type="max"),
    "energy_attn": energy_attn,
    "classical_hopfield": classical_hopfield,
    "dense_associative_memory": dense_associative_memory,
    "modern_hopfield": modern_hopfield,
    "sparse_hopfield": sparse_hopfield,
    "gaussian_memory": gaussian_memory,
    "epanechnikov_memory": epanechnikov_memory,
    "random_feature_memory": random_feature_memory,
    "energy_transformer": energy_transformer,
    "graph_energy_transformer": graph_energy_transformer,
    "hopfield_pooling": hopfield_pooling,
}.items():
    register(_name, _factory)

_BUILTIN = frozenset(_REGISTRY)


def builtin_names() -> list[str]:
    """The names of the zoo's own models (without user registrations), sorted.

    Example:
        >>> import hamux_graph as hg
        >>> "hn" in hg.zoo.builtin_names()
        True
    """
    return sorted(_BUILTIN)
