"""Lagrangians: convex scalar functions whose gradients are the neuron activations."""

from .elementwise import (
    AbstractBetaLagrangian as AbstractBetaLagrangian,
    check_axis as check_axis,
    check_scalar_field as check_scalar_field,
    concrete_value as concrete_value,
    Lagrangian as Lagrangian,
    learnable as learnable,
    LExp as LExp,
    LIdentity as LIdentity,
    LLayerNorm as LLayerNorm,
    LRelu as LRelu,
    LRepu as LRepu,
    LRexp as LRexp,
    LSigmoid as LSigmoid,
    LSoftmax as LSoftmax,
    LSphericalNorm as LSphericalNorm,
    LTanh as LTanh,
    positive_float as positive_float,
    POSITIVE_FLOOR as POSITIVE_FLOOR,
    scalar_param as scalar_param,
)
from .simplex import (
    LEntmax as LEntmax,
    LGhostmax as LGhostmax,
    LSparsemax as LSparsemax,
)


__all__ = [
    "Lagrangian",
    "AbstractBetaLagrangian",
    "check_axis",
    "scalar_param",
    "learnable",
    "positive_float",
    "concrete_value",
    "check_scalar_field",
    "POSITIVE_FLOOR",
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
]
