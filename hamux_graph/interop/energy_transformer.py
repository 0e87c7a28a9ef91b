"""Published Energy Transformer checkpoints (Hoover et al. 2023) as hamux_graph models.

The published checkpoint is an ``.npz`` with these keys (``heads`` attention heads of ``Y``
dimensions, token dimension ``D``, ``M`` memories, ``NP`` patches of ``P = 3·p²`` values):

=============  ===================  ===============================================
key            shape                meaning
=============  ===================  ===============================================
``Wq``, ``Wk``  ``(heads, Y, D)``    queries/keys ``Q[q,h,z] = Σ_d g[q,d] Wq[h,z,d]``
``Xi``         ``(D, M)``           Hopfield memories: ``−½ Σ relu(g @ Xi)²``
``Wenc``       ``(P, D)``           patch encoder; ``Benc`` ``(D,)``
``Wdec``       ``(D, P)``           patch decoder; ``Bdec`` ``(P,)``
``POS_embed``  ``(1 + NP, D)``      positional embeddings (CLS first)
``CLS_token``  ``(D,)``             also ``MASK_token``
``LNORM_gamma`` ``()``              the energy layer norm's scalar gain
``LNORM_bias`` ``(D,)``             its bias ``δ``
=============  ===================  ===============================================

Images are ``(3, H, H)`` (CHW) cut into square ``p × p`` patches, row-major over the patch
grid, each flattened in (channel, row, column) order; ``p`` and ``H = p·√NP`` are inferred
from the shapes. The loaded model uses layer-norm ``eps = 1e-5``, ``β = 1/√Y`` and keeps the
self-token term (``exclude_self=False``), as the published code does. The pipeline returned
by ``load_energy_transformer_pipeline`` works on HWC images (the library's convention): the
encoder's rows and the decoder's columns are permuted to (row, column, channel) order, so
``pipeline.encode(images_hwc)`` is the published encoder applied to the CHW images.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._api import CompiledHAM, HAM
from .._errors import ArgumentError, FormatError
from .._internal.parse import parse_bool, parse_int, parse_path
from .._internal.untrusted import read_limited, read_npz
from ..lagrangians.elementwise import LLayerNorm, LRelu, LSoftmax, POSITIVE_FLOOR
from ..layers import Layer
from ..synapses import DenseMatrixSynapseWithHiddenLayer, SelfAttentionSynapse
from ..vision import PatchPipeline


__all__ = ["load_energy_transformer", "load_energy_transformer_pipeline"]

DEFAULT_MAX_BYTES = 2**30
ET_EPS = 1e-5
CHANNELS = 3
# key -> its shape in symbols (the sizes are inferred from Wq, Xi, Wenc and POS_embed)
ET_KEYS = {
    "Wq": ("heads", "Y", "D"),
    "Wk": ("heads", "Y", "D"),
    "Xi": ("D", "M"),
    "Wenc": ("P", "D"),
    "Benc": ("D",),
    "Wdec": ("D", "P"),
    "Bdec": ("P",),
    "POS_embed": ("T", "D"),
    "CLS_token": ("D",),
    "MASK_token": ("D",),
    "LNORM_gamma": (),
    "LNORM_bias": ("D",),
}


def _read_checkpoint(path: Any, max_bytes: int) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The checked arrays of an ET checkpoint and its sizes (``D``, ``heads``, ``Y``, ``M``, ``p``, ``NP``, ``H``)."""
    source = parse_path(path, "path")
    max_bytes = parse_int(max_bytes, "max_bytes", minimum=1, error=ArgumentError)
    arrays = read_npz(read_limited(path, max_bytes), source, max_bytes)
    missing, extra = sorted(set(ET_KEYS) - set(arrays)), sorted(set(arrays) - set(ET_KEYS))
    if missing or extra:
        raise FormatError(
            f"{source}: not an Energy Transformer checkpoint: missing keys {missing}, unexpected keys {extra}. "
            f"The published format has exactly {sorted(ET_KEYS)}."
        )
    sizes: dict[str, int] = {}
    for key, symbols in ET_KEYS.items():
        a = arrays[key]
        if a.dtype.kind != "f":
            raise FormatError(f"{source}: key {key!r} has dtype {a.dtype}; the checkpoint's arrays are floating point.")
        if a.ndim != len(symbols):
            raise FormatError(f"{source}: key {key!r} has shape {a.shape}, expected rank {len(symbols)} {symbols}.")
        for axis, (symbol, n) in enumerate(zip(symbols, a.shape)):
            if sizes.setdefault(symbol, n) != n:
                raise FormatError(
                    f"{source}: key {key!r} has shape {a.shape}: axis {axis} ({symbol}) is {n}, but {symbol} = "
                    f"{sizes[symbol]} from the keys before it (expected shape "
                    f"{tuple(sizes.get(s, '?') for s in symbols)})."
                )
            if n < 1:
                raise FormatError(f"{source}: key {key!r} has shape {a.shape}; every axis needs at least one entry.")
        if not np.all(np.isfinite(a)):
            raise FormatError(f"{source}: key {key!r} holds non-finite values (NaN or inf).")
        dtype = np.dtype(jnp.result_type(float))
        with np.errstate(over="ignore"):
            cast = a.astype(dtype)
        if not np.all(np.isfinite(cast)):  # checked in the dtype the model computes in (1e300 is inf in float32)
            raise FormatError(
                f"{source}: key {key!r} holds values beyond the range of {dtype} (largest magnitude "
                f"{float(np.max(np.abs(a))):.3g}); they would become inf in the model."
            )
    gamma = float(arrays["LNORM_gamma"])
    if gamma < POSITIVE_FLOOR:
        raise FormatError(
            f"{source}: key 'LNORM_gamma' is {gamma}; the layer norm's gain must be >= {POSITIVE_FLOOR} (a positive "
            "gain keeps its Lagrangian convex)."
        )
    P, NP = sizes["P"], sizes["T"] - 1
    p = math.isqrt(P // CHANNELS)
    if P != CHANNELS * p * p:
        raise FormatError(
            f"{source}: key 'Wenc' has {P} rows, expected P = 3·p² values per patch (3 channels, square p × p "
            "patches) for an integer p."
        )
    side = math.isqrt(NP)
    if NP < 1 or side * side != NP:
        raise FormatError(
            f"{source}: key 'POS_embed' has {sizes['T']} rows, expected 1 + NP with NP a perfect square (square "
            f"images in square patches; 197 = 1 + 14² for 224 × 224 images in 16 × 16 patches), got NP = {NP}."
        )
    sizes.update(p=p, NP=NP, H=p * side)
    return arrays, sizes


def _float(a: np.ndarray) -> jax.Array:
    return jnp.asarray(a, dtype=jnp.result_type(float))


def load_energy_transformer(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, published_update: bool = False
) -> tuple[HAM, CompiledHAM]:
    """Load a published Energy Transformer checkpoint (``.npz``) as a HAM and its compiled model.

    The HAM has the shape of ``hg.zoo.energy_transformer``: one layer ``"tokens"``
    (``(1 + NP, D)``, ``LayerNormLayer`` with the file's ``γ`` and ``δ``, eps ``1e-5``) and the
    synapses ``"attention"`` (``SelfAttentionSynapse``, ``β = 1/√Y``, the self-token term kept;
    ``Wq``/``Wk`` transposed to the library's ``(D, heads, Y)``) and ``"memory"`` (the ReLU²
    memory, ``Ws = (Xi,)``). Its weights are explicit, so ``ham.compile(key=...)`` gives the
    same model for any key. Without a clamp every token evolves, as in the published code.

    The published update is ``x ← x − α ∂(E_attn + E_memory)/∂g``. By default the library
    descends the full HAM energy, whose ``∂E/∂g`` adds the layer's ``x`` (the Legendre term):
    ``model.step(xs, dt=α)`` is ``x ← x − α (x + ∂(E_attn + E_memory)/∂g)``. With
    ``published_update=True`` the token layer is built with ``layer_energy=False``: its own
    energy term (and the leak) is left out, ``model.energy`` is ``E_attn + E_memory`` and
    ``model.step(xs, dt=α)`` is exactly the published update.

    The file is untrusted: no pickle, at most ``max_bytes`` read (and decompressed), and it
    must hold exactly the published keys with consistent float shapes and finite values.

    Args:
        path: the ``.npz`` checkpoint.
        max_bytes: refuse files (or archive contents) larger than this.
        published_update: leave the layer's own energy out (``layer_energy=False``), so that
            the dynamics are the published ones.

    Returns:
        ``(ham, model)``.

    Raises:
        FormatError: naming the file and the key, for anything that is not the published format.
        ArgumentError: if ``max_bytes`` is not an int >= 1.
        OSError: if the file cannot be opened.

    Example:
        >>> import os, tempfile, numpy as np, hamux_graph as hg
        >>> rng, D, P = np.random.default_rng(0), 8, 3 * 2 * 2
        >>> w = {"Wq": rng.normal(size=(2, 4, D)), "Wk": rng.normal(size=(2, 4, D)), "Xi": rng.normal(size=(D, 16)),
        ...      "Wenc": rng.normal(size=(P, D)), "Benc": np.zeros(D), "Wdec": rng.normal(size=(D, P)),
        ...      "Bdec": np.zeros(P), "POS_embed": rng.normal(size=(1 + 4, D)), "CLS_token": np.zeros(D),
        ...      "MASK_token": np.zeros(D), "LNORM_gamma": np.array(1.0), "LNORM_bias": np.zeros(D)}
        >>> path = os.path.join(tempfile.mkdtemp(), "et.npz"); np.savez(path, **w)
        >>> ham, model = hg.interop.load_energy_transformer(path)
        >>> ham.layers["tokens"].shape, model.synapse("attention").Wq.shape
        ((5, 8), (8, 2, 4))
    """
    published_update = parse_bool(published_update, "load_energy_transformer: published_update", error=ArgumentError)
    arrays, n = _read_checkpoint(path, max_bytes)
    ham = HAM()
    norm = LLayerNorm(gamma=_float(arrays["LNORM_gamma"]), delta=_float(arrays["LNORM_bias"]), eps=ET_EPS)
    tokens = Layer(norm, shape=(1 + n["NP"], n["D"]), layer_energy=not published_update)
    ham.add_layer("tokens", tokens)
    attention = SelfAttentionSynapse(
        num_heads=n["heads"],
        zspace_dim=n["Y"],
        hidden_lagrangian=LSoftmax(beta=1.0 / math.sqrt(n["Y"])),
        exclude_self=False,
        Wq=_float(arrays["Wq"].transpose(2, 0, 1)),
        Wk=_float(arrays["Wk"].transpose(2, 0, 1)),
    )
    ham.add_synapse("attention", attention, layers=("tokens",))
    memory = DenseMatrixSynapseWithHiddenLayer(
        nhid=n["M"], hidden_lagrangian=LRelu(), do_ravel=False, Ws=[_float(arrays["Xi"])]
    )
    ham.add_synapse("memory", memory, layers=("tokens",))
    return ham, ham.compile(key=jax.random.key(0))


def load_energy_transformer_pipeline(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PatchPipeline:
    """The image pipeline of a published Energy Transformer checkpoint, for HWC images.

    ``image_shape`` ``(H, H, 3)`` and ``patch_size`` ``(p, p)`` are inferred from the shapes.
    The file's encoder rows (and decoder columns, decoder bias) run over CHW patches in
    (channel, row, column) order; they are permuted to the (row, column, channel) order of
    ``hg.vision.patchify``, so ``encode(images_hwc)`` equals the published encoder on
    ``images_hwc.transpose(0, 3, 1, 2)`` and ``decode`` returns HWC images.

    Args:
        path: the ``.npz`` checkpoint.
        max_bytes: refuse files (or archive contents) larger than this.

    Returns:
        A ``hg.vision.PatchPipeline``.

    Raises:
        FormatError: as ``load_energy_transformer``.
        ArgumentError: if ``max_bytes`` is not an int >= 1.
        OSError: if the file cannot be opened.
    """
    arrays, n = _read_checkpoint(path, max_bytes)
    p = n["p"]
    # our flat index (r, s, c) -> the file's flat index (c, r, s)
    perm = np.arange(CHANNELS * p * p).reshape(CHANNELS, p, p).transpose(1, 2, 0).reshape(-1)
    return PatchPipeline(
        (n["H"], n["H"], CHANNELS),
        (p, p),
        Wenc=_float(arrays["Wenc"][perm]),
        Benc=_float(arrays["Benc"]),
        Wdec=_float(arrays["Wdec"][:, perm]),
        Bdec=_float(arrays["Bdec"][perm]),
        pos_embed=_float(arrays["POS_embed"]),
        cls_token=_float(arrays["CLS_token"]),
        mask_token=_float(arrays["MASK_token"]),
    )
