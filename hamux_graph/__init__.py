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

# The re-exports, in pipeline order (see docs/architecture.md); isort is off for this file.
# leaves: the errors
from ._errors import (
    HamuxGraphError as HamuxGraphError,
    ValidationError as ValidationError,
    StateError as StateError,
    ArgumentError as ArgumentError,
    FormatError as FormatError,
    ConvergenceError as ConvergenceError,
)

# 1 spec: Lagrangians, layers, synapses, the type registry
from .lagrangians import (
    Lagrangian as Lagrangian,
    LIdentity as LIdentity,
    LRepu as LRepu,
    LRelu as LRelu,
    LExp as LExp,
    LRexp as LRexp,
    LTanh as LTanh,
    LSigmoid as LSigmoid,
    LSoftmax as LSoftmax,
    LLayerNorm as LLayerNorm,
    LSphericalNorm as LSphericalNorm,
    LSparsemax as LSparsemax,
    LEntmax as LEntmax,
    LGhostmax as LGhostmax,
)
from .layers import (
    Layer as Layer,
    IdentityLayer as IdentityLayer,
    RepuLayer as RepuLayer,
    ReluLayer as ReluLayer,
    ExpLayer as ExpLayer,
    RexpLayer as RexpLayer,
    TanhLayer as TanhLayer,
    SigmoidLayer as SigmoidLayer,
    SoftmaxLayer as SoftmaxLayer,
    LayerNormLayer as LayerNormLayer,
    SphericalNormLayer as SphericalNormLayer,
    SparsemaxLayer as SparsemaxLayer,
    EntmaxLayer as EntmaxLayer,
    GhostmaxLayer as GhostmaxLayer,
)
from .synapses import (
    Synapse as Synapse,
    SimpleDenseSynapse as SimpleDenseSynapse,
    DenseSynapse as DenseSynapse,
    DenseTensorSynapseWithHiddenLayer as DenseTensorSynapseWithHiddenLayer,
    DenseMatrixSynapseWithHiddenLayer as DenseMatrixSynapseWithHiddenLayer,
    ConvSynapse as ConvSynapse,
    ConvSynapseWithPool as ConvSynapseWithPool,
    AttentionSynapse as AttentionSynapse,
    SelfAttentionSynapse as SelfAttentionSynapse,
    BinaryMixerSynapse as BinaryMixerSynapse,
    GaussianMemorySynapse as GaussianMemorySynapse,
    EpanechnikovMemorySynapse as EpanechnikovMemorySynapse,
    RandomFeatureMemorySynapse as RandomFeatureMemorySynapse,
    SimplicialMemorySynapse as SimplicialMemorySynapse,
    attention_mask as attention_mask,
)
from .registry import (
    register_synapse as register_synapse,
    register_lagrangian as register_lagrangian,
    registered_types as registered_types,
)

# 3 energy: states in grouped form
from ._energy.packed import PackedStates as PackedStates

# 4 dynamics: relaxation with implicit gradients, ODE solves, equilibrium propagation
from ._dynamics.adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    FixedPointAdjoint as FixedPointAdjoint,
    GMRESAdjoint as GMRESAdjoint,
    ImplicitAdjoint as ImplicitAdjoint,
)
from ._dynamics.relax import RelaxResult as RelaxResult, relax as relax
from ._dynamics.ode import ODEResult as ODEResult, solve as solve
from ._dynamics.eqprop import eqprop_grad as eqprop_grad
from ._dynamics.langevin import langevin as langevin

# 4' present: pictures of a plan
from .draw import plot_energy as plot_energy
from .animation import animate_retrieval as animate_retrieval

# 5 api: the user-facing classes
from ._api import CompiledHAM as CompiledHAM, HAM as HAM

# 6 use: training, devices, memory science, the model zoo, images, data
from . import (
    train as train,
    parallel as parallel,
    memory as memory,
    analysis as analysis,
    zoo as zoo,
    vision as vision,
    datasets as datasets,
    learning as learning,
)

# 7 io: files, and other libraries' models and files
from . import formats as formats, interop as interop
from .formats import (
    write_graphml as write_graphml,
    read_graphml as read_graphml,
    save as save,
    load as load,
    parameter_names as parameter_names,
    write_hif as write_hif,
    read_hif as read_hif,
    save_pretrained as save_pretrained,
    load_pretrained as load_pretrained,
)

# one-release alias (CHANGELOG.md): docs named hamux_graph.saving, now hamux_graph.formats.saving
from .formats import saving as saving

from ._internal.version import package_version as _package_version

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
    "SimplicialMemorySynapse",
    "attention_mask",
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
    "langevin",
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
    "write_hif",
    "read_hif",
    "save_pretrained",
    "load_pretrained",
    "formats",
    "learning",
]
