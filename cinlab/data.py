"""Images by name: the registry of paintings and photos, loading, saving and resizing.

Every image in cinlab is a float tensor of shape ``[1, 3, H, W]`` (or ``[B, 3, H, W]``) with
RGB values in ``[0, 1]``. :func:`load_image` is the one door in: it accepts a registry name
(``"starry_night"``), a file path, a PIL image, a NumPy array or a tensor, and always returns
that layout.

The registry (``data/images.csv``) lists public-domain paintings and permissively licensed
photos with their pinned URL and sha256, plus sample photos that ship inside scikit-image and
matplotlib (no download). Files are downloaded with pooch on first use, verified by sha256 and
cached; ``CINLAB_DATA_DIR`` points the cache at an existing folder instead (CI uses
``../shared/data``).
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageOps, UnidentifiedImageError

from . import config

#: Largest image :func:`load_image` decodes by default (width x height). Larger files are
#: refused before decoding, so a "decompression bomb" cannot exhaust memory.
DEFAULT_MAX_PIXELS = 100_000_000

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]
Size = Union[int, Sequence[int], None]


class ImageError(ValueError):
    """An image could not be used: unreadable, corrupt, too large, or of the wrong shape."""


class ImageNotAvailableError(FileNotFoundError):
    """A registry image is neither in the data folder nor downloadable right now."""


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ImageInfo:
    """One row of the image registry (``data/images.csv``)."""

    name: str
    file: str  # path inside the data folder ("styles/x.jpg"); empty for built-in images
    kind: str  # "painting", "photo" or "texture"
    sets: tuple[str, ...]
    title: str
    artist: str
    year: str
    credit: str
    source: str  # where the file was taken from, or "skimage:NAME" / "matplotlib:FILE"
    url: str
    sha256: str
    width: int | None
    height: int | None

    @property
    def builtin(self) -> bool:
        """True for images that ship inside a dependency (scikit-image, matplotlib)."""
        return not self.file

    def caption(self) -> str:
        """A short human-readable credit line, e.g. ``"The Starry Night, Vincent van Gogh (1889)"``."""
        year = f" ({self.year})" if self.year else ""
        return f"{self.title}, {self.artist}{year}"


@functools.lru_cache(maxsize=None)
def registry() -> dict[str, ImageInfo]:
    """All registered images by name, read once from ``data/images.csv``."""
    path = config.assets_dir() / "images.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"cinlab's image registry {path} is missing. Install cinlab from its source checkout "
            f"(pip install -e .) or set {config.ASSETS_ENV} to the project's data/ folder."
        )
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out[row["name"]] = ImageInfo(
                name=row["name"],
                file=row["file"],
                kind=row["kind"],
                sets=tuple(s for s in row["sets"].split(";") if s),
                title=row["title"],
                artist=row["artist"],
                year=row["year"],
                credit=row["credit"],
                source=row["source"],
                url=row["url"],
                sha256=row["sha256"],
                width=int(row["width"]) if row["width"] else None,
                height=int(row["height"]) if row["height"] else None,
            )
    return out


def image_names(set_name: str | None = None) -> list[str]:
    """Names of registered images, optionally only those of one set.

    Sets: ``"varied32"`` (32 paintings), ``"impressionist10"`` (10 impressionist paintings, the
    stand-in for the paper's 10 Monets), ``"finetune"`` (2 paintings held out of varied32),
    ``"photos"`` (all photos), ``"content"`` (downloadable photos), ``"builtin"`` (images inside
    scikit-image / matplotlib) and ``"textures"``.
    """
    reg = registry()
    if set_name is None:
        return list(reg)
    names = [n for n, info in reg.items() if set_name in info.sets]
    if not names:
        known = sorted({s for info in reg.values() for s in info.sets})
        raise KeyError(f"No image set named {set_name!r}. Known sets: {', '.join(known)}.")
    return names


def image_info(name: str) -> ImageInfo:
    """The registry entry of ``name``; a clear error with close matches when it is unknown."""
    reg = registry()
    if name in reg:
        return reg[name]
    close = difflib.get_close_matches(name, list(reg), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(
        f"{name!r} is not a registered image name.{hint} "
        "See cinlab.data.image_names() for the list, or pass a file path."
    )


def data_dir() -> Path:
    """The folder where registry images are looked up and downloaded to."""
    import pooch

    env = os.environ.get(config.DATA_DIR_ENV)
    return Path(env) if env else Path(pooch.os_cache("cinlab"))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (weight files can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str) -> Path:
    """Local path of a registry image, downloading and verifying it (sha256) if needed.

    Raises :class:`ImageNotAvailableError` naming the file, its URL and how to supply it when
    the file is missing (or corrupt) and cannot be downloaded.
    """
    import pooch

    info = image_info(name)
    if info.builtin:
        raise ValueError(f"{name!r} ships inside {info.source.split(':')[0]}; load it with load_image({name!r}).")
    folder = data_dir()
    target = folder / info.file
    if target.exists() and file_sha256(target) == info.sha256:
        return target  # the common case: no pooch, no writes (the folder may be read-only)
    problem = (
        "is corrupt or a different file (its sha256 does not match the registry)"
        if target.exists()
        else "is not there"
    )
    store = pooch.create(
        path=folder,
        base_url="",
        registry={info.file: f"sha256:{info.sha256}"},
        urls={info.file: info.url},
        retry_if_failed=1,
    )
    try:
        return Path(store.fetch(info.file, progressbar=False))
    except Exception as err:  # network errors, permission errors, hash mismatch after download
        raise ImageNotAvailableError(
            f"Image {name!r}: {target} {problem}, and downloading it from {info.url} failed "
            f"({type(err).__name__}: {_short(err)}). To use it offline, fetch that URL on a machine with "
            f"network and save it as {target} (sha256 {info.sha256}), or set "
            f"{config.DATA_DIR_ENV} to a folder that already holds styles/ and content/ "
            "(for example ../shared/data in the cinlab repository)."
        ) from None  # the message carries the cause; pooch's long network traceback would bury it


def _short(err: BaseException, limit: int = 160) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=16)
def _builtin_array(source: str) -> np.ndarray:
    library, _, item = source.partition(":")
    if library == "skimage":
        import skimage.data

        array = getattr(skimage.data, item)()
        if isinstance(array, tuple):  # stereo_motorcycle returns (left, right, disparity)
            array = array[0]
        return np.ascontiguousarray(array)
    if library == "matplotlib":
        import matplotlib.cbook

        with Image.open(matplotlib.cbook.get_sample_data(item, asfileobj=False)) as img:
            return np.asarray(img.convert("RGB"))
    raise ValueError(f"Unknown built-in image source {source!r}.")


# ----------------------------------------------------------------------------- decoding


def _open_file(path: Path, max_pixels: int, draft_size: tuple[int, int] | None) -> Image.Image:
    """Open and fully decode an image file, with size and integrity checks."""
    if not path.exists():
        raise FileNotFoundError(f"No such image file: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below; PIL's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{path} is {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,} (a guard against decompression bombs). If you trust the "
                    "file, pass max_pixels=... to load_image."
                )
            if width == 0 or height == 0:
                raise ImageError(f"{path} is a zero-sized image ({width}x{height}).")
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", draft_size)  # decode big JPEGs at a reduced scale: much faster
            img.load()
            return img
    except Image.DecompressionBombError as err:
        raise ImageError(
            f"{path} is too large to decode safely ({err}). If you trust the file, pass "
            "max_pixels=... to load_image."
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
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info
    )
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
        raise TypeError(f"{name} must be a torch.Tensor [B, 3, H, W]; got {type(image).__name__}. Use cinlab.load_image().")
    if image.dim() != 4 or image.shape[1] != 3:
        raise ImageError(
            f"{name} must have shape [B, 3, H, W] (RGB); got {tuple(image.shape)}. "
            "cinlab.load_image() converts any image to that layout."
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
    if isinstance(size, (int, np.integer)):
        if size <= 0:
            raise ValueError(f"size must be positive; got {size}.")
        if height <= width:
            return int(size), max(1, round(width * size / height))
        return max(1, round(height * size / width)), int(size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be an int (shorter side) or a positive (H, W) pair; got {size!r}.")
    return int(size[0]), int(size[1])


def resize(image: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize [B, 3, H, W] so the shorter side is ``size`` (int) or to exactly ``(H, W)``.

    Antialiased (bilinear with an antialiasing filter when shrinking), values stay in [0, 1].
    """
    h, w = image.shape[-2:]
    th, tw = _target_size(h, w, size)
    if (th, tw) == (h, w):
        return image
    return TF.resize(image, [th, tw], antialias=True).clamp_(0.0, 1.0)


def center_crop(image: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The central ``size`` x ``size`` (or ``(H, W)``) region of an image batch [B, 3, H, W]."""
    th, tw = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    h, w = image.shape[-2:]
    if th > h or tw > w:
        raise ValueError(f"Cannot crop {th}x{tw} from a {h}x{w} image; resize it first.")
    top, left = (h - th) // 2, (w - tw) // 2
    return image[..., top : top + th, left : left + tw]


def shuffle_tiles(image: torch.Tensor, tiles: int = 4, seed: int = 0) -> torch.Tensor:
    """Cut [B, 3, H, W] into ``tiles`` x ``tiles`` blocks and put them back in a seeded random order.

    The layout is destroyed, the local texture is kept: a Gram matrix barely changes, content
    features change a lot. H and W are first cropped to multiples of ``tiles``.
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


def square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` and centre-crop to ``size`` x ``size``."""
    return center_crop(resize(image, size), size)


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
        source: a registry name (``"starry_night"``, see :func:`image_names`), a file path, a
            PIL image, a NumPy array (uint8, uint16, bool, or float in [0, 1]; [H, W], [H, W, C]
            or [C, H, W]) or a tensor ([H, W], [3, H, W] or [1, 3, H, W]).
        size: ``None`` keeps the size; an int resizes the shorter side to it; ``(H, W)``
            resizes exactly. Resizing is antialiased.
        max_pixels: files larger than this (width x height) are refused before decoding.
        device: where to put the result.

    Greyscale, 16-bit, palette, CMYK and transparent images (composited on white) all become
    RGB; EXIF orientation is applied.
    """
    draft = None
    if isinstance(source, torch.Tensor):
        image = _tensor_to_batch(source.detach())
    elif isinstance(source, np.ndarray):
        image = _array_to_tensor(source)
    elif isinstance(source, Image.Image):
        image = _pil_to_tensor(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(source)
        if name in registry():
            info = registry()[name]
            if info.builtin:
                image = _array_to_tensor(_builtin_array(info.source))
                return _finish(image, size, device)
            path = fetch(name)
        elif not path.exists():
            close = difflib.get_close_matches(name, list(registry()), n=3)
            hint = f" Close registry names: {', '.join(map(repr, close))}." if close else ""
            raise FileNotFoundError(
                f"{name!r} is neither a file nor a registered image name.{hint} "
                "See cinlab.data.image_names() for registered names."
            )
        if isinstance(size, (int, np.integer)) and size > 0:
            draft = (2 * int(size), 2 * int(size))  # JPEG draft keeps at least 2x the target
        image = _pil_to_tensor(_open_file(path, max_pixels, draft))
    else:
        raise TypeError(
            f"load_image takes a registry name, a path, a PIL image, an array or a tensor; got {type(source).__name__}."
        )
    return _finish(image, size, device)


def _pil_to_tensor(img: Image.Image) -> torch.Tensor:
    img = ImageOps.exif_transpose(img)
    if img.width == 0 or img.height == 0:
        raise ImageError(f"Zero-sized image ({img.width}x{img.height}).")
    return torch.from_numpy(pil_to_array(img)).permute(2, 0, 1).unsqueeze(0).contiguous()


def _finish(image: torch.Tensor, size: Size, device) -> torch.Tensor:
    image = resize(image, size)
    return image.to(device) if device is not None else image


def to_pil(image: torch.Tensor) -> Image.Image:
    """A [1, 3, H, W] or [3, H, W] tensor in [0, 1] as an 8-bit RGB PIL image."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ImageError(f"to_pil takes one image; got a batch of {image.shape[0]}. Index it first.")
        image = image[0]
    check_image_tensor(image.unsqueeze(0))
    array = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def save_image(image: torch.Tensor, path: str | os.PathLike, *, overwrite: bool = False, **save_kwargs) -> Path:
    """Save a [1, 3, H, W] (or [3, H, W]) image in [0, 1] to ``path`` (format from the suffix).

    Refuses to replace an existing file unless ``overwrite=True``; the write is atomic (a
    temporary file renamed into place), so an interrupted save never leaves half a file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it.")
    pil = to_pil(image)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Unknown image format for {path.name!r}; use a suffix such as .png or .jpg.")
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **save_kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_images(names: Sequence[ImageSource], size: Size = None, **kwargs) -> list[torch.Tensor]:
    """:func:`load_image` for each of ``names``."""
    return [load_image(n, size, **kwargs) for n in names]
