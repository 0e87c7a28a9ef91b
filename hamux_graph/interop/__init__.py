"""Interoperability with the field's models: published checkpoints and other libraries.

- ``load_energy_transformer(path)``: a published Energy Transformer checkpoint (``.npz``) as
  ``(ham, model)``; ``load_energy_transformer_pipeline(path)`` its image pipeline
  (``hg.vision.PatchPipeline``, HWC images).
"""

from .energy_transformer import (
    load_energy_transformer as load_energy_transformer,
    load_energy_transformer_pipeline as load_energy_transformer_pipeline,
)

__all__ = ["load_energy_transformer", "load_energy_transformer_pipeline"]
