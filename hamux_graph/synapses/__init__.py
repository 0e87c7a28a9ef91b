"""Hypersynapses: the abstract ``Synapse`` and its concrete families."""

from ._base import Synapse as Synapse

# --- attention (issue 3) ---
from .attention import (
    AttentionSynapse as AttentionSynapse,
    BinaryMixerSynapse as BinaryMixerSynapse,
    SelfAttentionSynapse as SelfAttentionSynapse,
)

# --- conv / pooling (issue 3) ---
from .conv import ConvSynapse as ConvSynapse, ConvSynapseWithPool as ConvSynapseWithPool
from .dense import (
    DenseMatrixSynapseWithHiddenLayer as DenseMatrixSynapseWithHiddenLayer,
    DenseSynapse as DenseSynapse,
    DenseTensorSynapseWithHiddenLayer as DenseTensorSynapseWithHiddenLayer,
    SimpleDenseSynapse as SimpleDenseSynapse,
)

# --- structure inside synapses: attention masks, simplicial memories (issue 28) ---
from .masks import attention_mask as attention_mask

# --- distance-kernel memories (issue 13) ---
from .memory import (
    EpanechnikovMemorySynapse as EpanechnikovMemorySynapse,
    GaussianMemorySynapse as GaussianMemorySynapse,
    RandomFeatureMemorySynapse as RandomFeatureMemorySynapse,
)
from .simplicial import SimplicialMemorySynapse as SimplicialMemorySynapse
