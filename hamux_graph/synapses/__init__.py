"""Hypersynapses: the abstract ``Synapse`` and its concrete families."""

from ._base import Synapse as Synapse
from .dense import (
    DenseMatrixSynapseWithHiddenLayer as DenseMatrixSynapseWithHiddenLayer,
    DenseSynapse as DenseSynapse,
    DenseTensorSynapseWithHiddenLayer as DenseTensorSynapseWithHiddenLayer,
    SimpleDenseSynapse as SimpleDenseSynapse,
)

# --- conv / pooling (issue 3) ---
# --- attention (issue 3) ---
