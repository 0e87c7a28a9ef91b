"""Training helpers: small pieces to compose into your own optax loop (the equinox way)."""

from .._internal.progress import (
    progress as progress,
)
from .checkpoint import (
    Checkpointer as Checkpointer,
    TrainState as TrainState,
)
from .history import (
    plot_history as plot_history,
)
from .step import (
    accuracy as accuracy,
    batches as batches,
    cross_entropy as cross_entropy,
    epoch_order as epoch_order,
    forward as forward,
    init_opt_state as init_opt_state,
    make_train_step as make_train_step,
    mse as mse,
    predict as predict,
    trainable as trainable,
)


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
    "progress",
    "plot_history",
    "TrainState",
    "Checkpointer",
]
