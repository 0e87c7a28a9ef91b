"""Files: GraphML and HIF (the architecture), saved models, safetensors and model directories (no pickle)."""

from .graphml import (
    FORMAT as FORMAT,
    FORMAT_VERSION as FORMAT_VERSION,
    graphml_bytes as graphml_bytes,
    parse_graphml_bytes as parse_graphml_bytes,
    parse_graphml_plan as parse_graphml_plan,
    plan_of_architecture as plan_of_architecture,
    read_graphml as read_graphml,
    read_graphml_plan as read_graphml_plan,
    write_graphml as write_graphml,
)
from .hif import (
    hif_bytes as hif_bytes,
    hif_document as hif_document,
    parse_hif_plan as parse_hif_plan,
    plan_of_hif_document as plan_of_hif_document,
    read_hif as read_hif,
    read_hif_plan as read_hif_plan,
    write_hif as write_hif,
)
from .pretrained import load_pretrained as load_pretrained, save_pretrained as save_pretrained
from .saving import (
    load as load,
    load_architecture as load_architecture,
    load_architecture_plan as load_architecture_plan,
    MODEL_FORMAT as MODEL_FORMAT,
    MODEL_FORMAT_VERSION as MODEL_FORMAT_VERSION,
    parameter_names as parameter_names,
    save as save,
)


__all__ = [
    "write_graphml",
    "read_graphml",
    "read_graphml_plan",
    "graphml_bytes",
    "parse_graphml_bytes",
    "parse_graphml_plan",
    "plan_of_architecture",
    "FORMAT",
    "FORMAT_VERSION",
    "save",
    "load",
    "load_architecture",
    "load_architecture_plan",
    "parameter_names",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "write_hif",
    "read_hif",
    "read_hif_plan",
    "hif_document",
    "hif_bytes",
    "parse_hif_plan",
    "plan_of_hif_document",
    "save_pretrained",
    "load_pretrained",
]
