"""Image tensors: loading, saving, resizing and cropping.

Every image in cinlab is a float tensor of shape ``[1, 3, H, W]`` (or ``[B, 3, H, W]``) with RGB
values in ``[0, 1]``. :func:`load_image` is the one door in: it accepts a registry name
(``"starry_night"``, see :mod:`cinlab.registry`), a file path, a PIL image, a NumPy array or a
tensor, and always returns that layout.

Sizes are capped (:data:`DEFAULT_MAX_PIXELS`): a file larger than the cap is refused *before*
it is decoded (a "decompression bomb" cannot exhaust memory), and so is a resize whose result
would be larger. ``max_pixels=...`` raises the cap for files you trust.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import check_output, file_sha256, write_bytes
from .registry import builtin_array, fetch, image_info, registry

#: Largest image (width x height) decoded or produced by a resize: 50 Mpx covers 48-Mpx phone
#: photos and keeps one float32 copy under 600 MB.
DEFAULT_MAX_PIXELS = 50_000_000

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]
Size = Union[int, Sequence[int], None]


class ImageError(ValueError):
    """An image could not be used: unreadable, corrupt, too large, or of the wrong shape."""


# ----------------------------------------------------------------------------- decoding


def _too_large(what: str, width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
        "(a guard against images that would exhaust memory). If you trust it, pass max_pixels=... "
        "with a larger value (or ask for a smaller size)."
    )


def _open_file(path: Path, max_pixels: int, draft_size: tuple[int, int] | None) -> Image.Image:
    """Open and fully decode an image file, with size and integrity checks."""
    if not path.exists():
        raise FileNotFoundError(f"No such image file: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    try:
        with warnings.catch_warnings():
            # cinlab enforces its own pixel limit below; PIL's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.width == 0 or img.height == 0:
                raise ImageError(f"{path} is a zero-sized image ({img.width}x{img.height}).")
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", draft_size)  # decode big JPEGs at a reduced scale: faster, less memory
            if img.width * img.height > max_pixels:  # the size that would be decoded (after draft)
                raise _too_large(str(path), img.width, img.height, max_pixels)
            img.load()
            return img
    except Image.DecompressionBombError as err:
        raise ImageError(
            f"{path} is too large to decode safely ({err}). If you trust the file, pass max_pixels=..."
        ) from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{path} is not an image file PIL can read (or it is empty).") from err
    except OSError as err:  # truncated or corrupt data inside a recognised format
        raise ImageError(f"{path} is corrupt or truncated and cannot be decoded: {err}") from err


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Convert a PIL image of any common mode to an RGB float32 array [H, W, 3] in [0, 1].

    Handles greyscale (``1``, ``L``, 16-bit ``I;16``, 32-bit ``I``, float ``F``), transparency
    (``LA``, ``RGBA``, ``PA`` and palettes with a transparent colour: composited on white),
    palettes (``P``), ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV``.
    """
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        grey = np.asarray(img, dtype=np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "I":
        grey = np.asarray(img, dtype=np.float64)
        # 32-bit integer images are almost always 16-bit data widened by the decoder.
        peak = 65535.0 if grey.max(initial=0) > 255 else 255.0
        return np.repeat((grey / peak).astype(np.float32)[..., None], 3, axis=2).clip(0, 1)
    if mode == "F":
        grey = np.asarray(img, dtype=np.float32)
        if grey.size and (grey.min() < 0 or grey.max() > 1):
            raise ImageError("A float ('F' mode) image must hold values in [0, 1].")
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def _array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """[H, W], [H, W, C] (C in 1, 3, 4) or [C, H, W] array to [1, 3, H, W] float32 in [0, 1]."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] > 4:
        a = np.moveaxis(a, 0, -1)  # channels-first input
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"An image array must be [H, W], [H, W, C] or [C, H, W] with C in (1, 3, 4); got shape {a.shape}."
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"Zero-sized image array of shape {a.shape}.")
    if a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageError("The image array contains NaN or infinite values.")
        if a.min() < 0 or a.max() > 1:
            raise ImageError(
                f"A float image must hold values in [0, 1]; got [{a.min():.3g}, {a.max():.3g}]. "
                "For 0-255 data pass a uint8 array or divide by 255."
            )
    else:
        raise ImageError(f"Unsupported image array dtype {a.dtype}; use uint8, uint16, bool or float in [0, 1].")
    if a.shape[2] == 4:  # composite RGBA on white, as for files
        alpha = a[..., 3:4]
        a = a[..., :3] * alpha + (1.0 - alpha)
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0).contiguous()


def check_image_tensor(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Validate an image batch: [B, 3, H, W] floating point, finite, values in [0, 1].

    Returns the tensor unchanged; raises :class:`ImageError` naming the problem and the fix.
    """
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [B, 3, H, W]; got {type(image).__name__}. Use cinlab.load_image()."
        )
    if image.dim() != 4 or image.shape[1] != 3:
        raise ImageError(
            f"{name} must have shape [B, 3, H, W] (RGB); got {tuple(image.shape)}. cinlab.load_image() converts any image to that layout."
        )
    if image.shape[2] == 0 or image.shape[3] == 0 or image.shape[0] == 0:
        raise ImageError(f"{name} is empty: shape {tuple(image.shape)}.")
    if not image.is_floating_point():
        raise ImageError(f"{name} must be a floating-point tensor in [0, 1]; got dtype {image.dtype} (divide by 255).")
    lo, hi = image.detach().aminmax()
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError(f"{name} contains NaN or infinite values.")
    if lo < -1e-3 or hi > 1 + 1e-3:
        hint = " It looks like 0-255 data: divide by 255." if hi > 2 else ""
        raise ImageError(f"{name} must hold values in [0, 1]; got [{lo:.4g}, {hi:.4g}].{hint}")
    return image


def _tensor_to_batch(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 2:
        t = t[None, None].expand(1, 3, *t.shape)
    elif t.dim() == 3:
        if t.shape[0] == 1:
            t = t.expand(3, *t.shape[1:])
        t = t.unsqueeze(0)
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    t = t.float()
    check_image_tensor(t)
    return t.contiguous()


# ----------------------------------------------------------------------------- resizing


def _target_size(height: int, width: int, size: Size) -> tuple[int, int]:
    if size is None:
        return height, width
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size <= 0:
            raise ValueError(f"size must be positive; got {size}.")
        if height <= width:
            return int(size), max(1, round(width * size / height))
        return max(1, round(height * size / width)), int(size)
    if isinstance(size, (str, bool)) or len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be an int (shorter side) or a positive (H, W) pair; got {size!r}.")
    return int(size[0]), int(size[1])


def resize(image: torch.Tensor, size: Size, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Resize [B, 3, H, W] so the shorter side is ``size`` (int) or to exactly ``(H, W)``.

    Antialiased (bilinear with an antialiasing filter when shrinking); values stay in [0, 1].
    A result larger than ``max_pixels`` is refused before it is computed.
    """
    h, w = image.shape[-2:]
    th, tw = _target_size(h, w, size)
    if (th, tw) == (h, w):
        return image
    if th * tw > max_pixels:
        raise _too_large(f"Resizing a {w}x{h} image to size {size!r}", tw, th, max_pixels)
    return TF.resize(image, [th, tw], antialias=True).clamp_(0.0, 1.0)


def center_crop(image: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The central ``size`` x ``size`` (or ``(H, W)``) region of an image batch [B, 3, H, W]."""
    th, tw = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    h, w = image.shape[-2:]
    if th > h or tw > w:
        raise ValueError(f"Cannot crop {th}x{tw} from a {h}x{w} image; resize it first.")
    top, left = (h - th) // 2, (w - tw) // 2
    return image[..., top : top + th, left : left + tw]


def square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` and centre-crop to ``size`` x ``size``."""
    return center_crop(resize(image, size), size)


def shuffle_tiles(image: torch.Tensor, tiles: int = 4, seed: int = 0) -> torch.Tensor:
    """Cut [B, 3, H, W] into ``tiles`` x ``tiles`` blocks and put them back in a seeded random order.

    The layout is destroyed, the local texture is kept. H and W are first cropped to multiples
    of ``tiles``.
    """
    b, c, h, w = image.shape
    th, tw = h // tiles, w // tiles
    if th == 0 or tw == 0:
        raise ValueError(f"A {h}x{w} image is too small for {tiles}x{tiles} tiles.")
    x = image[..., : th * tiles, : tw * tiles]
    blocks = x.reshape(b, c, tiles, th, tiles, tw).permute(0, 2, 4, 1, 3, 5).reshape(b, tiles * tiles, c, th, tw)
    order = torch.randperm(tiles * tiles, generator=torch.Generator().manual_seed(seed))
    blocks = blocks[:, order].reshape(b, tiles, tiles, c, th, tw).permute(0, 3, 1, 4, 2, 5)
    return blocks.reshape(b, c, th * tiles, tw * tiles).contiguous()


# ----------------------------------------------------------------------------- load / save


def load_image(
    source: ImageSource,
    size: Size = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Load any image as a float tensor ``[1, 3, H, W]`` with RGB values in ``[0, 1]``.

    Args:
        source: a registry name (``"starry_night"``, see :func:`cinlab.image_names`), a file
            path, a PIL image, a NumPy array (uint8, uint16, bool, or float in [0, 1]; [H, W],
            [H, W, C] or [C, H, W]) or a tensor ([H, W], [3, H, W] or [1, 3, H, W]).
        size: ``None`` keeps the size; an int resizes the shorter side to it; ``(H, W)``
            resizes exactly. Resizing is antialiased.
        max_pixels: files larger than this (width x height) are refused before decoding, and
            resizes to more than this are refused before computing.
        device: where to put the result (default: the CPU).

    Greyscale, 16-bit, palette, CMYK and transparent images (composited on white) all become
    RGB; EXIF orientation is applied.
    """
    if isinstance(source, torch.Tensor):
        image = _tensor_to_batch(source.detach())
    elif isinstance(source, np.ndarray):
        image = _array_to_tensor(source)
    elif isinstance(source, Image.Image):
        image = _pil_to_tensor(source, size)
    elif isinstance(source, (str, os.PathLike)):
        image = _load_named_or_file(source, size, max_pixels)
    else:
        raise TypeError(
            f"load_image takes a registry name, a path, a PIL image, an array or a tensor; got {type(source).__name__}."
        )
    image = resize(image, size, max_pixels=max_pixels)
    return image.to(device) if device is not None else image


def _load_named_or_file(source: str | os.PathLike, size: Size, max_pixels: int) -> torch.Tensor:
    name = str(source)
    if name in registry():
        if image_info(name).builtin:
            return _array_to_tensor(builtin_array(name))
        path = fetch(name)
    else:
        path = Path(source)
        if not path.exists():
            close = difflib.get_close_matches(name, list(registry()), n=3)
            hint = f" Close registry names: {', '.join(map(repr, close))}." if close else ""
            raise FileNotFoundError(
                f"{name!r} is neither a file nor a registered image name.{hint} See cinlab.image_names() for registered names."
            )
    draft = (2 * int(size), 2 * int(size)) if isinstance(size, (int, np.integer)) and size > 0 else None
    return _pil_to_tensor(_open_file(path, max_pixels, draft), size)


def _pil_to_tensor(img: Image.Image, size: Size = None) -> torch.Tensor:
    img = ImageOps.exif_transpose(img)
    if img.width == 0 or img.height == 0:
        raise ImageError(f"Zero-sized image ({img.width}x{img.height}).")
    if isinstance(size, (int, np.integer)) and size > 0:
        # Shrink large images by an integer factor in 8 bits before converting to float: a
        # quarter of the memory of a float32 copy; the antialiased resize after it stays exact
        # enough (at least 2x the target is kept).
        factor = min(img.width, img.height) // (2 * int(size))
        if factor >= 2 and img.mode in ("RGB", "L", "RGBA", "LA"):
            img = img.reduce(factor)
    return torch.from_numpy(pil_to_array(img)).permute(2, 0, 1).unsqueeze(0).contiguous()


def painting_thumbnail(name: str, size: int) -> torch.Tensor | None:
    """A registry painting as a centre-cropped square [1, 3, size, size] in [0, 1], or None where
    ``name`` is not a registry image or cannot be loaded (offline): figures and widgets then
    show the style's name alone."""
    if not isinstance(name, str) or name not in registry():
        return None
    try:
        return square(load_image(name, size), size)
    except (OSError, ValueError):
        return None


def image_name(source: ImageSource) -> str:
    """A short name for an image: its registry name, a file's stem, or "custom" for pixels in memory."""
    if isinstance(source, str):
        return source if source in registry() else Path(source).stem
    if isinstance(source, os.PathLike):
        return Path(source).stem
    return "custom"


def image_sha256(source: ImageSource) -> str:
    """sha256 identifying an image: the registry's file hash, a file's bytes, or the decoded pixels."""
    if isinstance(source, str) and source in registry() and image_info(source).sha256:
        return image_info(source).sha256
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        return file_sha256(source)
    return hashlib.sha256(load_image(source).numpy().tobytes()).hexdigest()


def to_pil(image: torch.Tensor) -> Image.Image:
    """A [1, 3, H, W] or [3, H, W] tensor in [0, 1] as an 8-bit RGB PIL image."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ImageError(f"to_pil takes one image; got a batch of {image.shape[0]}. Index it first.")
        image = image[0]
    check_image_tensor(image.unsqueeze(0))
    array = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def image_format(path: str | os.PathLike) -> str:
    """PIL's format name for a file name's suffix, or a clear error."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"Unknown image format for {Path(path).name!r}; use a suffix such as .png or .jpg.")
    return fmt


def encode_image(image: torch.Tensor, fmt: str = "PNG", **save_kwargs) -> bytes:
    """An image [1, 3, H, W] in [0, 1] as encoded bytes (PNG, JPEG, ...)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def save_image(image: torch.Tensor, path: str | os.PathLike, *, overwrite: bool = False, **save_kwargs) -> Path:
    """Save a [1, 3, H, W] (or [3, H, W]) image in [0, 1] to ``path`` (format from the suffix).

    Refuses to replace an existing file unless ``overwrite=True`` (also when another process
    creates it at the same moment: exactly one of two writers wins); the write is atomic, so an
    interrupted save never leaves half a file.
    """
    path = check_output(path, overwrite)
    return write_bytes(path, encode_image(image, image_format(path), **save_kwargs), overwrite=overwrite)
