"""Training helpers: small pieces to compose into your own optax loop (the equinox way).

A compiled HAM is an equinox Module whose inexact array leaves are its parameters, so
training is ordinary JAX: clamp the input layer, run the energy descent for a fixed number
of Euler steps, read a layer, compute a loss, and differentiate through the whole run
(backpropagation through time). This module provides those pieces:

- ``forward``: the differentiable inference (clamp, ``steps`` Euler steps, read a layer);
- ``cross_entropy`` (with label smoothing) and ``mse`` losses;
- ``trainable``: a filter spec that can freeze learnable Lagrangian scalars (or biases);
- ``init_opt_state`` and ``make_train_step``: a jitted ``eqx.filter_value_and_grad`` +
  optax step, optionally data-parallel over a device mesh (see ``hamux_graph.parallel``);
- ``predict``, ``accuracy``, ``batches`` and ``progress`` for the loop around it.

Example:
    >>> import jax, jax.numpy as jnp, optax, hamux_graph as hg
    >>> from hamux_graph import train
    >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=8).compile(key=jax.random.key(0))
    >>> x, y = jnp.ones((6, 4)), jnp.array([0, 1, 0, 1, 0, 1])
    >>> def loss_fn(m, x, y):
    ...     return train.cross_entropy(train.forward(m, x, steps=3, read="logits"), y)
    >>> opt = optax.adam(1e-2)
    >>> step = train.make_train_step(opt, loss_fn)
    >>> model, opt_state, loss = step(model, train.init_opt_state(opt, model), x, y)
    >>> loss.shape
    ()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree

from .._api import CompiledHAM, HAM
from .._energy.sharding import check_mesh, parameter_shardings
from .._errors import ArgumentError, StateError
from .._internal.parse import parse_int, parse_key
from ..lagrangians.elementwise import Lagrangian, LSoftmax
from ..parallel.processes import data_sharding


__all__ = [
    "forward",
    "cross_entropy",
    "mse",
    "trainable",
    "init_opt_state",
    "make_train_step",
    "predict",
    "accuracy",
    "batches",
    "epoch_order",
]

_READS = ("activation", "state", "logits")


# ---- the differentiable forward pass ---------------------------------------------------------


def _check_layer(model: CompiledHAM, name: str, role: str) -> int:
    if name not in model.layer_names:
        raise StateError(
            f"{role} layer {name!r} is not a layer of this model; its layers are {list(model.layer_names)}. "
            f"Pass {role}=<one of those names>."
        )
    return model.layer_names.index(name)


def forward(
    model: CompiledHAM,
    inputs: Float[ArrayLike, "..."],
    *,
    input: str = "input",
    output: str = "label",
    steps: int = 10,
    dt: float | Array = 0.5,
    read: str = "activation",
    init: dict[str, Array] | None = None,
) -> Float[Array, "..."]:
    """Clamp ``input`` to ``inputs``, run ``steps`` Euler steps, and read the ``output`` layer.

    The other layers start at zero (or at ``init``). The whole run is differentiable, so
    gradients of a loss on the result flow through every step (BPTT).

    Args:
        model: the compiled HAM.
        inputs: values of the input layer, shape ``layer shape`` or ``(B,) + layer shape``.
        input: name of the clamped input layer.
        output: name of the layer to read.
        steps: number of Euler steps.
        dt: step size.
        read: ``"activation"`` (``g``, e.g. class probabilities of a softmax layer),
            ``"state"`` (``x``) or ``"logits"`` (``β·(x − b)`` of a softmax layer, the
            log-probabilities up to a constant: what ``cross_entropy`` wants).
        init: optional starting states ``{layer: array}`` (batched like ``inputs``) for
            the free layers; missing layers start at zero.

    Returns:
        The read-out, shape ``output shape`` or ``(B,) + output shape``.

    Raises:
        StateError: for unknown layers, a bad ``read``, or inputs of the wrong shape.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(8, 8), num_classes=10, nhid=16).compile(key=jax.random.key(0))
        >>> hg.train.forward(model, jnp.zeros((5, 8, 8)), steps=4).shape
        (5, 10)
    """
    i_in = _check_layer(model, input, "input")
    i_out = _check_layer(model, output, "output")
    if read not in _READS:
        raise StateError(f"read must be one of {list(_READS)}, got {read!r}.")
    if read == "logits" and not isinstance(model.lagrangians[i_out], LSoftmax):
        raise StateError(
            f"read='logits' needs a softmax output layer, but layer {output!r} has "
            f"{type(model.lagrangians[i_out]).__name__}. Use read='activation' or read='state'."
        )
    inputs = jnp.asarray(inputs, dtype=jnp.result_type(float))
    shape = model.shapes[i_in]
    if inputs.shape == shape:
        lead: tuple[int, ...] = ()
    elif inputs.ndim == len(shape) + 1 and inputs.shape[1:] == shape:
        lead = inputs.shape[:1]
    else:
        raise StateError(
            f"inputs have shape {inputs.shape}, but input layer {input!r} has shape {shape}; pass {shape} "
            f"(one sample) or (batch,) + {shape}. Reshape your data, e.g. x.reshape(-1, *{shape})."
        )
    init = dict(init or {})
    unknown = [n for n in init if n not in model.layer_names]
    if unknown:
        raise StateError(f"init names unknown layers {unknown}; this model's layers are {list(model.layer_names)}.")
    dtype = jnp.result_type(float)
    xs = {}
    for n, s in zip(model.layer_names, model.shapes):
        a = jnp.asarray(init[n], dtype) if n in init else jnp.zeros(lead + s, dtype)
        if a.shape != lead + s:
            raise StateError(f"init[{n!r}] has shape {a.shape}, expected {lead + s} (batched like the inputs).")
        xs[n] = a
    xs[input] = inputs
    final, _ = model.run(xs, steps=steps, dt=dt, clamp=(input,))
    if read == "state":
        return final[output]
    b = model.biases[i_out]
    x = final[output]
    u = x if b is None else x - jnp.broadcast_to(b, x.shape)  # one bias, every sample
    lag = model.lagrangians[i_out]
    return lag.effective_beta * u if read == "logits" and isinstance(lag, LSoftmax) else lag.activation(u)


# ---- losses ----------------------------------------------------------------------------------


def _one_hot(labels: ArrayLike, num_classes: int) -> Array:
    labels = jnp.asarray(labels)
    if labels.ndim >= 1 and labels.shape[-1] == num_classes and jnp.issubdtype(labels.dtype, jnp.floating):
        return labels
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ArgumentError(
            f"labels must be integer class indices or float one-hot rows of width {num_classes}, "
            f"got dtype {labels.dtype} and shape {labels.shape}."
        )
    if not isinstance(labels, jax.core.Tracer) and labels.size:
        lo, hi = int(jnp.min(labels)), int(jnp.max(labels))
        if lo < 0 or hi >= num_classes:
            raise ArgumentError(
                f"labels must be class indices in [0, {num_classes - 1}] for {num_classes} classes, got labels in "
                f"[{lo}, {hi}]. Check the labels, or the number of classes of the label layer."
            )
    return jax.nn.one_hot(labels, num_classes)


def cross_entropy(
    logits: Float[Array, "*batch classes"],
    labels: Int[ArrayLike, "*batch"] | Float[ArrayLike, "*batch classes"],
    *,
    label_smoothing: float = 0.0,
) -> Float[Array, ""]:
    """Mean softmax cross-entropy of ``logits`` against integer (or one-hot) ``labels``.

    With ``label_smoothing = ε`` the target is ``(1 − ε)·onehot + ε / C``.

    Args:
        logits: unnormalised log-probabilities (e.g. ``forward(..., read="logits")``).
        labels: class indices, or one-hot / soft target rows.
        label_smoothing: ``ε`` in ``[0, 1)``.

    Returns:
        The mean loss, a scalar.

    Raises:
        ArgumentError: for a bad ``label_smoothing`` or labels of the wrong kind.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> round(float(hg.train.cross_entropy(jnp.zeros((1, 4)), jnp.array([2]))), 4)
        1.3863
    """
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ArgumentError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
    c = logits.shape[-1]
    target = _one_hot(labels, c)
    if target.shape != logits.shape:
        raise ArgumentError(f"labels give targets of shape {target.shape}, but logits have shape {logits.shape}.")
    if label_smoothing:
        target = (1.0 - label_smoothing) * target + label_smoothing / c
    return jnp.mean(-jnp.sum(target * jax.nn.log_softmax(logits, axis=-1), axis=-1))


def mse(prediction: Float[Array, "..."], target: Float[Array, "..."]) -> Float[Array, ""]:
    """Mean squared error (e.g. a reconstruction loss on a visible layer).

    Raises:
        ArgumentError: if the shapes differ.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> float(hg.train.mse(jnp.array([1.0, 3.0]), jnp.array([1.0, 1.0])))
        2.0
    """
    if jnp.shape(prediction) != jnp.shape(target):
        raise ArgumentError(f"mse: prediction has shape {jnp.shape(prediction)}, target {jnp.shape(target)}.")
    return jnp.mean((prediction - target) ** 2)


# ---- what trains ---------------------------------------------------------------------------


def trainable(model: PyTree, *, freeze_lagrangians: bool = False, freeze_biases: bool = False) -> PyTree[bool]:
    """A filter spec (a pytree of bools like ``model``): ``True`` for parameters that train.

    Every inexact array leaf trains, except, with ``freeze_lagrangians``, the learnable
    scalars of every Lagrangian (the layers' ``lagrangians`` and the synapses' hidden
    Lagrangians, e.g. softmax β) and, with ``freeze_biases``, the layer biases.

    Example:
        >>> import jax, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=3).compile(key=jax.random.key(0))
        >>> spec = hg.train.trainable(model, freeze_lagrangians=True)
        >>> bool(spec.lagrangians[1].beta), bool(spec.synapses[0].Ws[0])
        (False, True)
    """
    is_lag = lambda x: isinstance(x, Lagrangian)

    def leaf_spec(x):
        if is_lag(x):
            return jax.tree.map(lambda a: (not freeze_lagrangians) and eqx.is_inexact_array(a), x)
        return eqx.is_inexact_array(x)

    spec = jax.tree.map(leaf_spec, model, is_leaf=is_lag)
    if freeze_biases and isinstance(model, CompiledHAM) and any(b is not None for b in model.biases):
        spec = eqx.tree_at(lambda m: m.biases, spec, jax.tree.map(lambda _: False, spec.biases))
    return spec


def init_opt_state(optimizer: optax.GradientTransformation, model: PyTree, filter_spec: Any = None) -> PyTree:
    """``optimizer.init`` on the trainable part of ``model`` (see ``trainable``).

    Example:
        >>> import jax, optax, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=3).compile(key=jax.random.key(0))
        >>> _ = hg.train.init_opt_state(optax.sgd(0.1), model)
    """
    spec = eqx.is_inexact_array if filter_spec is None else filter_spec
    trainable_part = eqx.filter(model, spec)
    if not any(eqx.is_array(x) for x in jax.tree_util.tree_leaves(trainable_part)):
        hint = (
            " It is an uncompiled hg.HAM: compile it first (ham.compile(key=jax.random.key(0)))."
            if isinstance(model, HAM)
            else " Check filter_spec."
        )
        raise ArgumentError(
            f"init_opt_state: model has no trainable arrays (got {type(model).__name__}), so the optimizer state "
            f"would be empty and training would change nothing.{hint}"
        )
    return optimizer.init(trainable_part)


def _check_opt_state(optimizer: optax.GradientTransformation, params: PyTree, opt_state: PyTree) -> None:
    """Refuse (while tracing) an optimiser state built for other trainable leaves."""
    want = jax.tree_util.tree_structure(jax.eval_shape(optimizer.init, params))
    got = jax.tree_util.tree_structure(opt_state)
    if want != got:
        raise ArgumentError(
            "opt_state does not match the trainable parameters of this train step: it was built for another "
            "filter_spec (or another model). Build both from the same spec: "
            "init_opt_state(optimizer, model, spec) and make_train_step(optimizer, loss_fn, filter_spec=spec)."
        )


def make_train_step(
    optimizer: optax.GradientTransformation,
    loss_fn: Callable[..., Any],
    *,
    filter_spec: Any = None,
    has_aux: bool = False,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[..., tuple]:
    """Build a jitted training step ``step(model, opt_state, *batch)``.

    The step differentiates ``loss_fn(model, *batch)`` with ``eqx.filter_value_and_grad``
    with respect to the leaves selected by ``filter_spec`` (default: every inexact array;
    see ``trainable``), applies the optax update and returns
    ``(model, opt_state, loss)`` (plus ``aux`` when ``has_aux``). Everything non-trainable
    (static structure, frozen scalars) passes through unchanged.

    With ``mesh`` (``hamux_graph.parallel.make_mesh(data=..., model=...)`` or
    ``batch_mesh(n)``) the batch arrays are split along their leading axis over the data
    axis, the model keeps the layout of ``parallel.shard_model`` (memory/hidden axes split
    over ``"model"``, the rest replicated) and the optimizer state the layout of the
    parameters it mirrors: the same step runs on 1 or N devices (or processes).

    Args:
        optimizer: an optax gradient transformation.
        loss_fn: ``loss_fn(model, *batch) -> loss`` (or ``(loss, aux)`` with ``has_aux``).
        filter_spec: which leaves train (a bool pytree or a callable on leaves).
        has_aux: whether ``loss_fn`` returns ``(loss, aux)``.
        mesh: an optional device mesh (data and/or model axes).

    Returns:
        The jitted step function.

    Example:
        >>> import jax, jax.numpy as jnp, optax, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=2, nhid=3).compile(key=jax.random.key(0))
        >>> loss_fn = lambda m, x, y: hg.train.cross_entropy(hg.train.forward(m, x, steps=2, read="logits"), y)
        >>> opt = optax.adam(1e-2); step = hg.train.make_train_step(opt, loss_fn)
        >>> model, opt_state, loss = step(model, hg.train.init_opt_state(opt, model), jnp.ones((2, 4)), jnp.array([0, 1]))
    """
    spec = eqx.is_inexact_array if filter_spec is None else filter_spec
    if mesh is not None:
        mesh = check_mesh(mesh, "make_train_step")

    def constrain(model, opt_state, mesh: jax.sharding.Mesh):
        # the layout is a function of the model's structure and shapes: the same in the trace
        model_sh = parameter_shardings(model, mesh)
        repl_sh = NamedSharding(mesh, PartitionSpec())
        dynamic, static = eqx.partition(model, eqx.is_array)
        model = eqx.combine(jax.lax.with_sharding_constraint(dynamic, model_sh), static)
        mask = jax.tree.map(spec, model) if callable(spec) else spec
        try:
            opt_sh = optax.tree_utils.tree_map_params(
                optimizer,
                lambda _, sh: sh,
                opt_state,
                eqx.filter(model_sh, mask),
                transform_non_params=lambda _: repl_sh,
                is_leaf=lambda x: x is None,
            )
        except (TypeError, ValueError, AttributeError):  # an optimizer whose init needs real arrays
            return model, opt_state
        return model, jax.lax.with_sharding_constraint(opt_state, opt_sh)

    @eqx.filter_jit
    def step(model, opt_state, *batch):
        if mesh is not None:
            model, opt_state = constrain(model, opt_state, mesh)
            batch = eqx.filter_shard(batch, data_sharding(mesh))
        params, static = eqx.partition(model, spec)
        _check_opt_state(optimizer, params, opt_state)

        def objective(p):
            return _check_loss(loss_fn(eqx.combine(p, static), *batch), has_aux)

        out, grads = eqx.filter_value_and_grad(objective, has_aux=has_aux)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        model = eqx.combine(eqx.apply_updates(params, updates), static)
        if mesh is not None:
            model, opt_state = constrain(model, opt_state, mesh)
        if has_aux:
            loss, aux = out
            return model, opt_state, loss, aux
        return model, opt_state, out

    return step


def _check_loss(out: Any, has_aux: bool) -> Any:
    """``out`` if ``loss_fn`` returned a real scalar (with ``has_aux``, a ``(loss, aux)`` pair),
    else an ``ArgumentError`` naming ``loss_fn`` (checked while tracing: nothing is computed)."""
    if has_aux and not (isinstance(out, tuple) and len(out) == 2):
        raise ArgumentError(f"loss_fn must return (loss, aux) with has_aux=True, got {type(out).__name__}.")
    loss = out[0] if has_aux else out
    if not isinstance(loss, (jax.Array, float, np.floating)):
        raise ArgumentError(f"loss_fn must return a real scalar loss, got {type(loss).__name__}.")
    dtype = jnp.result_type(loss)
    if jnp.shape(loss) != () or not jnp.issubdtype(dtype, jnp.floating):
        raise ArgumentError(
            f"loss_fn must return a real scalar loss, got shape {jnp.shape(loss)} and dtype {dtype}. Reduce it "
            "(e.g. .mean()) and compute it in floats."
        )
    return out


# ---- evaluation ----------------------------------------------------------------------------


def predict(
    model: CompiledHAM, inputs: Float[ArrayLike, "batch ..."], *, batch_size: int = 1024, **forward_kwargs: Any
) -> Int[Array, " batch"]:
    """Class predictions: the argmax of ``forward`` over the output layer's last axis.

    Args:
        model: the compiled HAM.
        inputs: a batch of inputs.
        batch_size: evaluate this many samples at a time.
        **forward_kwargs: passed to ``forward`` (``input``, ``output``, ``steps``, ``dt``).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=3, nhid=5).compile(key=jax.random.key(0))
        >>> hg.train.predict(model, jnp.ones((7, 4)), steps=2).shape
        (7,)
    """
    batch_size = parse_int(batch_size, "predict: batch_size", minimum=1, error=ArgumentError)
    inputs = jnp.asarray(inputs)
    forward_kwargs.setdefault("read", "activation")
    out = [
        jnp.argmax(forward(model, inputs[i : i + batch_size], **forward_kwargs), axis=-1)
        for i in range(0, inputs.shape[0], batch_size)
    ]
    return jnp.concatenate(out) if out else jnp.zeros((0,), jnp.int32)


def accuracy(
    model: CompiledHAM,
    inputs: Float[ArrayLike, "batch ..."],
    labels: Int[ArrayLike, " batch"],
    *,
    batch_size: int = 1024,
    **forward_kwargs: Any,
) -> float:
    """Fraction of ``inputs`` whose prediction equals ``labels`` (see ``predict``).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> model = hg.zoo.create("hn", input_shape=(4,), num_classes=3, nhid=5).compile(key=jax.random.key(0))
        >>> 0.0 <= hg.train.accuracy(model, jnp.ones((6, 4)), jnp.zeros(6, int), steps=2) <= 1.0
        True
    """
    pred = predict(model, inputs, batch_size=batch_size, **forward_kwargs)
    return float(jnp.mean(pred == jnp.asarray(labels)))


# ---- the loop around it --------------------------------------------------------------------


def batches(
    *arrays: Any,
    batch_size: int,
    key: PRNGKeyArray | None = None,
    drop_last: bool = True,
    order: Any = None,
    start: int = 0,
) -> Iterator[tuple[Array, ...]]:
    """One epoch of minibatches of ``arrays`` (sliced along axis 0), shuffled with ``key``.

    For resumable training make the order a pure function of ``(seed, epoch)``: pass
    ``order=epoch_order(key, epoch, n)`` (or ``key=jax.random.fold_in(key, epoch)``) and,
    to continue an epoch part-way, ``start`` = the number of its batches already used.

    Args:
        *arrays: arrays of equal length.
        batch_size: rows per batch.
        key: shuffle with ``jax.random.permutation(key, n)`` (default: in order).
        drop_last: leave out a last batch smaller than ``batch_size``.
        order: an explicit order of the rows (a permutation of ``range(n)``), instead of ``key``.
        start: skip the first ``start`` batches.

    Raises:
        ArgumentError: for arrays of different lengths, a bad ``batch_size`` or ``start``, or
            both ``key`` and ``order``.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> x, y = np.arange(10.0), np.arange(10)
        >>> [b[0].shape for b in hg.train.batches(x, y, batch_size=4, key=jax.random.key(0))]
        [(4,), (4,)]
        >>> [b[1].tolist() for b in hg.train.batches(x, y, batch_size=4, start=1)]
        [[4, 5, 6, 7]]
    """
    if not arrays:
        raise ArgumentError("batches needs at least one array.")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ArgumentError(f"batches: arrays have different lengths {[len(a) for a in arrays]}.")
    batch_size = parse_int(batch_size, "batches: batch_size", minimum=1, error=ArgumentError)
    start = parse_int(start, "batches: start", minimum=0, error=ArgumentError)
    if key is not None and order is not None:
        raise ArgumentError("batches: pass key (to shuffle) or order (an explicit permutation), not both.")
    if order is not None:
        order = np.asarray(order)
        if order.shape != (n,):
            raise ArgumentError(f"batches: order must have shape ({n},) (one index per row), got {order.shape}.")
    else:
        order = np.arange(n) if key is None else np.asarray(jax.random.permutation(parse_key(key, "batches: key"), n))
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(start * batch_size, stop, batch_size):
        idx = order[i : i + batch_size]
        yield tuple(jnp.asarray(np.asarray(a)[idx]) for a in arrays)


def epoch_order(key: PRNGKeyArray, epoch: int, n: int) -> np.ndarray:
    """The shuffled order of ``n`` rows in epoch ``epoch``: a pure function of ``(key, epoch)``.

    ``jax.random.permutation(jax.random.fold_in(key, epoch), n)`` as numpy, so a resumed run
    (see ``Checkpointer``) sees exactly the order an uninterrupted one would.

    Example:
        >>> import jax, hamux_graph as hg
        >>> a = hg.train.epoch_order(jax.random.key(0), 3, 5)
        >>> sorted(a.tolist()), bool((a == hg.train.epoch_order(jax.random.key(0), 3, 5)).all())
        ([0, 1, 2, 3, 4], True)
    """
    key = parse_key(key, "epoch_order: key")
    epoch = parse_int(epoch, "epoch_order: epoch", minimum=0, error=ArgumentError)
    n = parse_int(n, "epoch_order: n", minimum=0, error=ArgumentError)
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
