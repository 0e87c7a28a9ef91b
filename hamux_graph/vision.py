"""Images as tokens: patches, the patch encoder and decoder, CLS/MASK tokens and positions.

The Energy Transformer's energy acts on one token layer; everything that turns an image into
the initial token states (and the final token activations back into an image) happens
outside the energy, as in the published code. This module holds those pieces:

- ``patchify`` / ``unpatchify``: images ``(..., H, W, C)`` (the library's HWC convention)
  to patches ``(..., NP, p·q·C)`` and back. Patches run row-major over the patch grid; each
  patch is flattened in (row, column, channel) order.
- ``PatchPipeline``: the linear patch encoder ``(P, D)`` and decoder ``(D, P)`` with biases,
  the CLS and MASK tokens and the positional embeddings ``(1 + NP, D)``. ``encode`` builds the
  token states (CLS first, then one token per patch; masked patches get the MASK token),
  ``decode`` maps token activations back to an image, and ``clamp`` is the clamp pattern of
  masked-patch completion (visible patch tokens held, masked ones and CLS free).

Example:
    >>> import jax, jax.numpy as jnp, hamux_graph as hg
    >>> pipe = hg.vision.patch_pipeline((8, 8, 1), (4, 4), dim=16, key=jax.random.key(0))
    >>> images = jnp.ones((2, 8, 8, 1))
    >>> mask = jnp.array([[True, False, False, False], [False, False, False, True]])
    >>> pipe.encode(images, mask).shape, pipe.clamp(mask)["tokens"].shape
    ((2, 5, 16), (2, 5, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._errors import ArgumentError, ValidationError
from ._internal.limits import check_state_memory
from ._internal.parse import parse_float, parse_int, parse_key, parse_shape


__all__ = ["num_patches", "patchify", "unpatchify", "PatchPipeline", "patch_pipeline", "random_mask"]


def _geometry(
    image_shape: Any, patch_size: Any, error: type[Exception]
) -> tuple[tuple[int, int, int], tuple[int, int]]:
    shape = parse_shape(image_shape, "image_shape", error=error, allow_int=False)
    patch = parse_shape(patch_size, "patch_size", error=error)
    if len(shape) != 3:
        raise error(
            f"image_shape must be (height, width, channels), got {shape}. Add the channel axis, e.g. (28, 28, 1)."
        )
    if len(patch) == 1:
        patch = (patch[0], patch[0])
    if len(patch) != 2:
        raise error(f"patch_size must be (p, q) (or one int for square patches), got {patch}.")
    (h, w, _), (p, q) = shape, patch
    if h % p or w % q:
        raise error(
            f"patch_size {patch} does not tile image_shape {shape}: height {h} and width {w} must be "
            f"multiples of {p} and {q}. Pick a patch size that divides the image."
        )
    return (h, w, shape[2]), (p, q)


def num_patches(image_shape: Sequence[int], patch_size: Sequence[int] | int) -> int:
    """The number of patches ``(H/p)·(W/q)`` of an ``(H, W, C)`` image.

    Raises:
        ArgumentError: if the patches do not tile the image.

    Example:
        >>> import hamux_graph as hg
        >>> hg.vision.num_patches((28, 28, 1), (4, 4))
        49
    """
    (h, w, _), (p, q) = _geometry(image_shape, patch_size, ArgumentError)
    return (h // p) * (w // q)


def _check_trailing(x: Array, want: tuple[int, ...], what: str, fix: str) -> None:
    if tuple(x.shape[-len(want) :]) != want or x.ndim < len(want):
        raise ArgumentError(f"{what} must end in shape {want}, got {tuple(x.shape)}. {fix}")


def patchify(images: Float[ArrayLike, "*batch H W C"], patch_size: Sequence[int] | int) -> Float[Array, "*batch NP P"]:
    """Cut images ``(..., H, W, C)`` into patches ``(..., NP, p·q·C)``.

    Patches run row-major over the ``(H/p, W/q)`` grid; each is flattened in (row, column,
    channel) order.

    Raises:
        ArgumentError: for images of rank < 3 or patches that do not tile them.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> x = jnp.arange(16.0).reshape(4, 4, 1)
        >>> hg.vision.patchify(x, (2, 2))[1].tolist()
        [2.0, 3.0, 6.0, 7.0]
    """
    images = jnp.asarray(images)
    if images.ndim < 3:
        raise ArgumentError(f"patchify: images must be (..., height, width, channels), got shape {images.shape}.")
    (h, w, c), (p, q) = _geometry(images.shape[-3:], patch_size, ArgumentError)
    lead = images.shape[:-3]
    x = images.reshape(lead + (h // p, p, w // q, q, c))
    n = len(lead)
    x = jnp.transpose(x, tuple(range(n)) + (n, n + 2, n + 1, n + 3, n + 4))
    return x.reshape(lead + ((h // p) * (w // q), p * q * c))


def unpatchify(
    patches: Float[Array, "*batch NP P"], image_shape: Sequence[int], patch_size: Sequence[int] | int
) -> Float[Array, "*batch H W C"]:
    """The inverse of ``patchify``: patches ``(..., NP, p·q·C)`` back to images ``(..., H, W, C)``.

    Raises:
        ArgumentError: if the patches do not have the shape ``patchify`` gives for
            ``image_shape`` and ``patch_size``.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> x = jnp.arange(48.0).reshape(4, 4, 3)
        >>> bool((hg.vision.unpatchify(hg.vision.patchify(x, 2), (4, 4, 3), 2) == x).all())
        True
    """
    (h, w, c), (p, q) = _geometry(image_shape, patch_size, ArgumentError)
    patches = jnp.asarray(patches)
    gh, gw = h // p, w // q
    _check_trailing(patches, (gh * gw, p * q * c), "unpatchify: patches", f"(image {(h, w, c)}, patches {(p, q)})")
    lead = patches.shape[:-2]
    x = patches.reshape(lead + (gh, gw, p, q, c))
    n = len(lead)
    x = jnp.transpose(x, tuple(range(n)) + (n, n + 2, n + 1, n + 3, n + 4))
    return x.reshape(lead + (h, w, c))


def random_mask(
    num_patches: int, num_masked: int, *, key: Array, batch_size: int | None = None
) -> Bool[Array, "*batch NP"]:
    """A boolean patch mask with exactly ``num_masked`` True (masked) patches per image.

    Raises:
        ArgumentError: for counts outside ``0 ≤ num_masked ≤ num_patches``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> m = hg.vision.random_mask(16, 4, key=jax.random.key(0), batch_size=3)
        >>> m.shape, m.sum(-1).tolist()
        ((3, 16), [4, 4, 4])
    """
    n = parse_int(num_patches, "num_patches", minimum=1, error=ArgumentError)
    k = parse_int(num_masked, "num_masked", minimum=0, error=ArgumentError)
    if k > n:
        raise ArgumentError(f"random_mask: num_masked ({k}) must be at most num_patches ({n}).")
    b = None if batch_size is None else parse_int(batch_size, "batch_size", minimum=1, error=ArgumentError)
    check_state_memory(
        [(1 if b is None else b, n)], 12, f"random_mask(num_patches={n}, batch_size={b})", fix="Ask for fewer patches."
    )
    keys = jax.random.split(parse_key(key, "random_mask: key"), 1 if b is None else b)
    ranks = jax.vmap(lambda kk: jnp.argsort(jax.random.uniform(kk, (n,))))(keys)
    mask = jnp.argsort(ranks, axis=-1) < k
    return mask[0] if b is None else mask


def _array(name: str) -> Any:
    def convert(value: Any) -> Array:
        if isinstance(value, jax.Array):
            return value
        try:
            return jnp.asarray(value, dtype=jnp.result_type(float))
        except (TypeError, ValueError):
            raise ValidationError(
                f"PatchPipeline: {name} must be an array of numbers, got {type(value).__name__}."
            ) from None

    return convert


class PatchPipeline(eqx.Module):
    """The image ↔ token maps around an Energy Transformer (outside its energy).

    For patches ``X (NP, P)`` of one image and a patch mask ``m (NP,)`` (True = masked), the
    token states are

        x_0 = CLS + pos[0],   x_i = (m_i ? MASK : X_i Wenc + Benc) + pos[i]   (i = 1 … NP),

    and an image is decoded from token activations ``g`` as ``unpatchify(g[1:] Wdec + Bdec)``.

    Args:
        image_shape: ``(H, W, C)``.
        patch_size: ``(p, q)``.
        Wenc: encoder ``(P, D)`` with ``P = p·q·C``; ``Benc`` ``(D,)``.
        Wdec: decoder ``(D, P)``; ``Bdec`` ``(P,)``.
        pos_embed: positional embeddings ``(1 + NP, D)``, CLS first.
        cls_token: ``(D,)``.
        mask_token: ``(D,)``.

    Raises:
        ValidationError: for arrays whose shapes do not fit the geometry and each other.

    Example:
        >>> import jax, hamux_graph as hg
        >>> pipe = hg.vision.patch_pipeline((28, 28, 1), (7, 7), dim=32, key=jax.random.key(0))
        >>> pipe.num_tokens, pipe.patch_dim, pipe.dim
        (17, 49, 32)
    """

    image_shape: tuple[int, int, int] = eqx.field(static=True)
    patch_size: tuple[int, int] = eqx.field(static=True)
    Wenc: Array = eqx.field(converter=_array("Wenc"))
    Benc: Array = eqx.field(converter=_array("Benc"))
    Wdec: Array = eqx.field(converter=_array("Wdec"))
    Bdec: Array = eqx.field(converter=_array("Bdec"))
    pos_embed: Array = eqx.field(converter=_array("pos_embed"))
    cls_token: Array = eqx.field(converter=_array("cls_token"))
    mask_token: Array = eqx.field(converter=_array("mask_token"))

    def __init__(self, image_shape, patch_size, Wenc, Benc, Wdec, Bdec, pos_embed, cls_token, mask_token):
        self.image_shape, self.patch_size = _geometry(image_shape, patch_size, ValidationError)
        self.Wenc, self.Benc, self.Wdec, self.Bdec = Wenc, Benc, Wdec, Bdec
        self.pos_embed, self.cls_token, self.mask_token = pos_embed, cls_token, mask_token

    def __check_init__(self):
        (h, w, c), (p, q) = self.image_shape, self.patch_size
        P, n = p * q * c, (h // p) * (w // q)
        D = self.Wenc.shape[-1]
        want = {
            "Wenc": (P, D),
            "Benc": (D,),
            "Wdec": (D, P),
            "Bdec": (P,),
            "pos_embed": (1 + n, D),
            "cls_token": (D,),
            "mask_token": (D,),
        }
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValidationError(
                    f"PatchPipeline: {name} has shape {got}, expected {shape} for images {self.image_shape} in "
                    f"{self.patch_size} patches ({n} patches of {P} values) and token dimension D = {D} "
                    "(taken from Wenc)."
                )

    @property
    def dim(self) -> int:
        """The token dimension ``D``."""
        return int(self.Wenc.shape[-1])

    @property
    def patch_dim(self) -> int:
        """Values per patch, ``P = p·q·C``."""
        return int(self.Wenc.shape[0])

    @property
    def num_patches(self) -> int:
        """Patches per image, ``NP``."""
        return int(self.pos_embed.shape[0]) - 1

    @property
    def num_tokens(self) -> int:
        """Tokens per image, ``1 + NP`` (CLS first)."""
        return int(self.pos_embed.shape[0])

    def _mask(self, mask: Any, lead: tuple[int, ...]) -> Array:
        if mask is None:
            return jnp.zeros(lead + (self.num_patches,), bool)
        m = jnp.asarray(mask)
        if m.dtype != jnp.bool_:
            raise ArgumentError(f"PatchPipeline: mask must be boolean (True = masked patch), got dtype {m.dtype}.")
        if m.shape[-1:] != (self.num_patches,):
            raise ArgumentError(
                f"PatchPipeline: mask must end in ({self.num_patches},) (one entry per patch), got shape {m.shape}."
            )
        return m

    def encode(
        self, images: Float[ArrayLike, "*batch H W C"], mask: Bool[ArrayLike, "*batch NP"] | None = None
    ) -> Float[Array, "*batch T D"]:
        """The initial token states of ``images`` (masked patches replaced by the MASK token).

        Raises:
            ArgumentError: for images of another shape or a mask that is not one boolean per patch.
        """
        images = jnp.asarray(images)
        _check_trailing(images, self.image_shape, "PatchPipeline.encode: images", "Images are (..., H, W, C).")
        lead = images.shape[:-3]
        m = self._mask(mask, lead)
        x = patchify(images, self.patch_size) @ self.Wenc
        x = x + jnp.broadcast_to(self.Benc, x.shape)
        x = jnp.where(m[..., None], self.mask_token, x)
        lead = jnp.broadcast_shapes(lead, m.shape[:-1])
        x = jnp.broadcast_to(x, lead + x.shape[-2:])
        cls = jnp.broadcast_to(self.cls_token, lead + (1, self.dim))
        tokens = jnp.concatenate([cls, x], axis=-2)
        return tokens + jnp.broadcast_to(self.pos_embed, tokens.shape)

    def decode_patches(self, g: Float[ArrayLike, "*batch T D"]) -> Float[Array, "*batch NP P"]:
        """Patches decoded from token activations (the CLS token is dropped)."""
        g = jnp.asarray(g)
        _check_trailing(g, (self.num_tokens, self.dim), "PatchPipeline.decode: token activations", "")
        patches = g[..., 1:, :] @ self.Wdec
        return patches + jnp.broadcast_to(self.Bdec, patches.shape)

    def decode(self, g: Float[ArrayLike, "*batch T D"]) -> Float[Array, "*batch H W C"]:
        """Images decoded from token activations ``g`` (``model.activations(xs)["tokens"]``)."""
        return unpatchify(self.decode_patches(g), self.image_shape, self.patch_size)

    def clamp(self, mask: Bool[ArrayLike, "*batch NP"], layer: str = "tokens") -> dict[str, Array]:
        """The clamp of masked-patch completion: visible patch tokens held, masked ones and CLS free.

        Returns ``{layer: held}`` with ``held`` of shape ``(..., 1 + NP, 1)`` (it broadcasts over
        the token features), ready for ``model.run(xs, clamp=...)``.
        """
        m = self._mask(mask, ())
        free_cls = jnp.zeros(m.shape[:-1] + (1,), bool)
        return {layer: jnp.concatenate([free_cls, ~m], axis=-1)[..., None]}


def patch_pipeline(
    image_shape: Sequence[int], patch_size: Sequence[int] | int, dim: int, *, key: Array, stdinit: float = 0.02
) -> PatchPipeline:
    """A ``PatchPipeline`` with Gaussian weights and embeddings (std ``stdinit``), zero biases.

    Raises:
        ValidationError: for a geometry that does not tile or a non-positive ``dim``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> hg.vision.patch_pipeline((8, 8, 3), 4, dim=8, key=jax.random.key(0)).Wenc.shape
        (48, 8)
    """
    (h, w, c), (p, q) = _geometry(image_shape, patch_size, ValidationError)
    D = parse_int(dim, "dim", minimum=1, error=ValidationError)
    stdinit = parse_float(stdinit, "patch_pipeline: stdinit", minimum=0, error=ValidationError)
    P, n = p * q * c, (h // p) * (w // q)
    k = jax.random.split(parse_key(key, "patch_pipeline: key", error=ValidationError), 5)
    normal = lambda kk, shape: stdinit * jax.random.normal(kk, shape)  # noqa: E731
    return PatchPipeline(
        (h, w, c),
        (p, q),
        Wenc=normal(k[0], (P, D)),
        Benc=jnp.zeros(D),
        Wdec=normal(k[1], (D, P)),
        Bdec=jnp.zeros(P),
        pos_embed=normal(k[2], (1 + n, D)),
        cls_token=normal(k[3], (D,)),
        mask_token=normal(k[4], (D,)),
    )
