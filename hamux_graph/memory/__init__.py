"""Binary (±1) associative memories: storage rules, sign-update recall, dense and simplicial memories."""

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
from .simplicial import (
    random_simplices as random_simplices,
    recall_binary_simplicial as recall_binary_simplicial,
    simplices_to_hif as simplices_to_hif,
    simplicial as simplicial,
    simplicial_energy as simplicial_energy,
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
    "simplicial",
    "simplicial_energy",
    "recall_binary_simplicial",
    "random_simplices",
    "simplices_to_hif",
]
