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

# The re-exports, in pipeline order (see docs/architecture.md).
# errors
# 6 use: training, devices, the model zoo, memory science
from . import (
    analysis as analysis,
    datasets as datasets,
    interop as interop,  # other libraries' models and files
    memory as memory,
    parallel as parallel,
    train as train,
    vision as vision,
    zoo as zoo,
)

# 5 api: the user-facing classes
from ._api import CompiledHAM as CompiledHAM, HAM as HAM

# 4 dynamics: relaxation with implicit gradients, ODE solves, equilibrium propagation
from ._dynamics.adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    FixedPointAdjoint as FixedPointAdjoint,
    GMRESAdjoint as GMRESAdjoint,
    ImplicitAdjoint as ImplicitAdjoint,
)
from ._dynamics.eqprop import eqprop_grad as eqprop_grad
from ._dynamics.ode import ODEResult as ODEResult, solve as solve
from ._dynamics.relax import relax as relax, RelaxResult as RelaxResult

# 3 energy: states in grouped form
from ._energy.packed import PackedStates as PackedStates
from ._errors import (
    ArgumentError as ArgumentError,
    ConvergenceError as ConvergenceError,
    FormatError as FormatError,
    HamuxGraphError as HamuxGraphError,
    StateError as StateError,
    ValidationError as ValidationError,
)
from ._internal.version import package_version as _package_version
from .animation import animate_retrieval as animate_retrieval

# 4b present (needs only the plan)
from .draw import plot_energy as plot_energy

# 7 io: files
from .formats import (
    load as load,
    parameter_names as parameter_names,
    read_graphml as read_graphml,
    save as save,
    saving as saving,
    write_graphml as write_graphml,
)  # one-release alias: docs named hamux_graph.saving (now hamux_graph.formats.saving)

# 1 spec: Lagrangians, layers, synapses, the type registry
from .lagrangians import (
    Lagrangian as Lagrangian,
    LEntmax as LEntmax,
    LExp as LExp,
    LGhostmax as LGhostmax,
    LIdentity as LIdentity,
    LLayerNorm as LLayerNorm,
    LRelu as LRelu,
    LRepu as LRepu,
    LRexp as LRexp,
    LSigmoid as LSigmoid,
    LSoftmax as LSoftmax,
    LSparsemax as LSparsemax,
    LSphericalNorm as LSphericalNorm,
    LTanh as LTanh,
)
from .layers import (
    EntmaxLayer as EntmaxLayer,
    ExpLayer as ExpLayer,
    GhostmaxLayer as GhostmaxLayer,
    IdentityLayer as IdentityLayer,
    Layer as Layer,
    LayerNormLayer as LayerNormLayer,
    ReluLayer as ReluLayer,
    RepuLayer as RepuLayer,
    RexpLayer as RexpLayer,
    SigmoidLayer as SigmoidLayer,
    SoftmaxLayer as SoftmaxLayer,
    SparsemaxLayer as SparsemaxLayer,
    SphericalNormLayer as SphericalNormLayer,
    TanhLayer as TanhLayer,
)
from .registry import (
    register_lagrangian as register_lagrangian,
    register_synapse as register_synapse,
    registered_types as registered_types,
)
from .synapses import (
    AttentionSynapse as AttentionSynapse,
    BinaryMixerSynapse as BinaryMixerSynapse,
    ConvSynapse as ConvSynapse,
    ConvSynapseWithPool as ConvSynapseWithPool,
    DenseMatrixSynapseWithHiddenLayer as DenseMatrixSynapseWithHiddenLayer,
    DenseSynapse as DenseSynapse,
    DenseTensorSynapseWithHiddenLayer as DenseTensorSynapseWithHiddenLayer,
    EpanechnikovMemorySynapse as EpanechnikovMemorySynapse,
    GaussianMemorySynapse as GaussianMemorySynapse,
    RandomFeatureMemorySynapse as RandomFeatureMemorySynapse,
    SelfAttentionSynapse as SelfAttentionSynapse,
    SimpleDenseSynapse as SimpleDenseSynapse,
    Synapse as Synapse,
)


__version__ = _package_version()

__all__ = [
    "HamuxGraphError",
    "ValidationError",
    "StateError",
    "ArgumentError",
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
    "LSparsemax",
    "LEntmax",
    "LGhostmax",
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
    "SparsemaxLayer",
    "EntmaxLayer",
    "GhostmaxLayer",
    "Synapse",
    "SimpleDenseSynapse",
    "DenseSynapse",
    "DenseTensorSynapseWithHiddenLayer",
    "DenseMatrixSynapseWithHiddenLayer",
    "ConvSynapse",
    "ConvSynapseWithPool",
    "AttentionSynapse",
    "SelfAttentionSynapse",
    "BinaryMixerSynapse",
    "GaussianMemorySynapse",
    "EpanechnikovMemorySynapse",
    "RandomFeatureMemorySynapse",
    "register_synapse",
    "register_lagrangian",
    "registered_types",
    "PackedStates",
    "AbstractAdjoint",
    "FixedPointAdjoint",
    "GMRESAdjoint",
    "ImplicitAdjoint",
    "RelaxResult",
    "relax",
    "ODEResult",
    "solve",
    "eqprop_grad",
    "plot_energy",
    "animate_retrieval",
    "HAM",
    "CompiledHAM",
    "parallel",
    "train",
    "vision",
    "zoo",
    "memory",
    "analysis",
    "datasets",
    "write_graphml",
    "read_graphml",
    "save",
    "load",
    "interop",
    "parameter_names",
]
