"""hamux_graph: Hierarchical Associative Memories as networkx hypergraphs, compiled to JAX.

Example:
    >>> import jax, hamux_graph as hg
    >>> ham = hg.HAM()
    >>> ham.add_layer("v", hg.TanhLayer((16,)))
    >>> ham.add_layer("h", hg.SoftmaxLayer((32,), beta=2.0))
    >>> ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    >>> model = ham.compile(key=jax.random.key(0))
    >>> xs, energies = model.run(model.init_states(), steps=20, dt=0.1)
"""

from ._errors import (
    ConvergenceError as ConvergenceError,
    FormatError as FormatError,
    HamuxGraphError as HamuxGraphError,
    StateError as StateError,
    ValidationError as ValidationError,
)
from .lagrangians import (
    LExp as LExp,
    LIdentity as LIdentity,
    Lagrangian as Lagrangian,
    LLayerNorm as LLayerNorm,
    LRelu as LRelu,
    LRepu as LRepu,
    LRexp as LRexp,
    LSigmoid as LSigmoid,
    LSoftmax as LSoftmax,
    LSphericalNorm as LSphericalNorm,
    LTanh as LTanh,
)
from .layers import (
    ExpLayer as ExpLayer,
    IdentityLayer as IdentityLayer,
    Layer as Layer,
    LayerNormLayer as LayerNormLayer,
    ReluLayer as ReluLayer,
    RepuLayer as RepuLayer,
    RexpLayer as RexpLayer,
    SigmoidLayer as SigmoidLayer,
    SoftmaxLayer as SoftmaxLayer,
    SphericalNormLayer as SphericalNormLayer,
    TanhLayer as TanhLayer,
)
from .synapses import (
    AttentionSynapse as AttentionSynapse,
    BinaryMixerSynapse as BinaryMixerSynapse,
    ConvSynapse as ConvSynapse,
    ConvSynapseWithPool as ConvSynapseWithPool,
    SelfAttentionSynapse as SelfAttentionSynapse,
    DenseMatrixSynapseWithHiddenLayer as DenseMatrixSynapseWithHiddenLayer,
    DenseSynapse as DenseSynapse,
    DenseTensorSynapseWithHiddenLayer as DenseTensorSynapseWithHiddenLayer,
    SimpleDenseSynapse as SimpleDenseSynapse,
    Synapse as Synapse,
)
from .graph import HAM as HAM
from .model import CompiledHAM as CompiledHAM
from .packed import PackedStates as PackedStates

__version__ = "0.1.0"

__all__ = [
    "HamuxGraphError",
    "ValidationError",
    "StateError",
    "FormatError",
    "ConvergenceError",
    "Lagrangian",
    "LIdentity",
    "LRepu",
    "LRelu",
    "LExp",
    "LRexp",
    "LTanh",
    "LSigmoid",
    "LSoftmax",
    "LLayerNorm",
    "LSphericalNorm",
    "Layer",
    "IdentityLayer",
    "RepuLayer",
    "ReluLayer",
    "ExpLayer",
    "RexpLayer",
    "TanhLayer",
    "SigmoidLayer",
    "SoftmaxLayer",
    "LayerNormLayer",
    "SphericalNormLayer",
    "Synapse",
    "SimpleDenseSynapse",
    "DenseSynapse",
    "DenseTensorSynapseWithHiddenLayer",
    "DenseMatrixSynapseWithHiddenLayer",
    "HAM",
    "CompiledHAM",
    "PackedStates",
]

# --- conv / pooling / attention synapses (issue 3): import above, names here ---
__all__ += ["ConvSynapse", "ConvSynapseWithPool", "AttentionSynapse", "SelfAttentionSynapse", "BinaryMixerSynapse"]
# --- io, drawing, cli (issue 4) ---
from .draw import plot_energy as plot_energy  # noqa: E402
from .graphml import read_graphml as read_graphml, write_graphml as write_graphml  # noqa: E402
from .registry import (  # noqa: E402
    register_lagrangian as register_lagrangian,
    register_synapse as register_synapse,
    registered_types as registered_types,
)
from .saving import load as load, parameter_names as parameter_names, save as save  # noqa: E402

__all__ += [
    "write_graphml",
    "read_graphml",
    "save",
    "load",
    "parameter_names",
    "register_synapse",
    "register_lagrangian",
    "registered_types",
    "plot_energy",
]
# --- training, zoo (issue 5) ---
from . import parallel as parallel, train as train, zoo as zoo  # noqa: E402

__all__ += ["parallel", "train", "zoo"]
# --- equilibrium / ODE dynamics (issue 7) ---
from .equilibrium import ImplicitAdjoint as ImplicitAdjoint, RelaxResult as RelaxResult, relax as relax  # noqa: E402
from .ode import ODEResult as ODEResult, solve as solve  # noqa: E402
from .eqprop import eqprop_grad as eqprop_grad  # noqa: E402

__all__ += ["ImplicitAdjoint", "RelaxResult", "relax", "ODEResult", "solve", "eqprop_grad"]

# --- simplex Lagrangians, distance-kernel memories (issue 13) ---
from .layers import (  # noqa: E402
    EntmaxLayer as EntmaxLayer,
    GhostmaxLayer as GhostmaxLayer,
    SparsemaxLayer as SparsemaxLayer,
)
from .simplex_lagrangians import LEntmax as LEntmax, LGhostmax as LGhostmax, LSparsemax as LSparsemax  # noqa: E402
from .synapses import (  # noqa: E402
    EpanechnikovMemorySynapse as EpanechnikovMemorySynapse,
    GaussianMemorySynapse as GaussianMemorySynapse,
    RandomFeatureMemorySynapse as RandomFeatureMemorySynapse,
)

__all__ += [
    "LSparsemax",
    "LEntmax",
    "LGhostmax",
    "SparsemaxLayer",
    "EntmaxLayer",
    "GhostmaxLayer",
    "GaussianMemorySynapse",
    "EpanechnikovMemorySynapse",
    "RandomFeatureMemorySynapse",
]
