"""Binary (±1) associative memories: storage rules, sign-update recall, dense binary memories."""

from .binary import (
    BinaryRecall as BinaryRecall,
    hebbian as hebbian,
    pseudo_inverse as pseudo_inverse,
    recall_binary as recall_binary,
    recall_binary_dense as recall_binary_dense,
    rule as rule,
    RULES as RULES,
    storkey as storkey,
)
from .recall import (
    DenseEnergy as DenseEnergy,
    LogSumExp as LogSumExp,
    Polynomial as Polynomial,
    RectifiedPolynomial as RectifiedPolynomial,
)
from .spins import (
    corrupt as corrupt,
    dense_energy as dense_energy,
    energy as energy,
    overlaps as overlaps,
    random_patterns as random_patterns,
)


__all__ = [
    "hebbian",
    "storkey",
    "pseudo_inverse",
    "RULES",
    "rule",
    "BinaryRecall",
    "recall_binary",
    "recall_binary_dense",
    "DenseEnergy",
    "Polynomial",
    "RectifiedPolynomial",
    "LogSumExp",
    "energy",
    "dense_energy",
    "overlaps",
    "corrupt",
    "random_patterns",
]
