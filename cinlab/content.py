"""Content images for training: random square crops of photographs, and fixed evaluation batches.

The paper trained on ImageNet; cinlab's default pool is the registry's 120 ``train_photos``
(CQ100 and Kodak) plus its ``photos``, minus the photos held out for figures (so figures show
photos no network was trained on). A folder of your own (COCO, ImageNet: any layout) works the
same way through :class:`ImageFolderContent`.

Each training example is a random square crop covering 50-100 % of a photo's shorter side,
resized (antialiased) to the crop size and flipped left-right half the time. All randomness
comes from generators that checkpoints save, so a resumed run draws exactly the same crops.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from .images import ImageError, ImageSource, center_crop, load_image, resize
from .registry import image_names, registry

#: Photos kept out of training by default: the figures and notebooks show them.
HELD_OUT_PHOTOS = ("tubingen", "chelsea", "boston")

#: Suffixes read from a content folder.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def training_photos(held_out: Sequence[str] = HELD_OUT_PHOTOS) -> list[str]:
    """Registry names of the default training pool: ``train_photos`` and ``photos``, minus ``held_out``."""
    held = set(held_out)
    names = image_names("train_photos") + image_names("photos")
    return [n for n in dict.fromkeys(names) if n not in held]


def random_crop_boxes(
    count: int, height: int, width: int, generator: torch.Generator
) -> list[tuple[int, int, int, bool]]:
    """``count`` random (top, left, side, flip) squares covering 50-100 % of the shorter side."""
    scales = (0.5 + 0.5 * torch.rand(count, generator=generator)).tolist()
    offsets = torch.rand(count, 2, generator=generator).tolist()
    flips = (torch.rand(count, generator=generator) < 0.5).tolist()
    boxes = []
    for s, (oy, ox), flip in zip(scales, offsets, flips):
        side = max(8, int(min(height, width) * s))
        boxes.append((int(oy * (height - side)), int(ox * (width - side)), side, flip))
    return boxes


def crop_resize(photo: torch.Tensor, box: tuple[int, int, int, bool], size: int) -> torch.Tensor:
    """One training crop [1, 3, size, size] float32 in [0, 1] from ``photo`` [1, 3, H, W] (uint8 or float)."""
    top, left, side, flip = box
    crop = photo[..., top : top + side, left : left + side].float()
    if photo.dtype == torch.uint8:
        crop = crop / 255.0
    crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return crop.flip(-1) if flip else crop


def _load_uint8(source: ImageSource, size: int) -> torch.Tensor:
    return (load_image(source, size) * 255).round().to(torch.uint8)


# Registry photos decode once per process: notebooks and tests build many trainers.
_cached_photo_uint8 = functools.lru_cache(maxsize=512)(_load_uint8)


def _photo_uint8(source: ImageSource, size: int) -> torch.Tensor:
    if isinstance(source, str) and source in registry():
        return _cached_photo_uint8(source, size)
    return _load_uint8(source, size)


class PhotoPool:
    """Random crops and flips from a set of photos kept in memory, on the training device.

    Photos are stored as uint8 at twice the crop size (enough detail, a quarter of float32's
    memory). ``sample(batch)`` returns [B, 3, S, S] float32 in [0, 1].
    """

    def __init__(self, names: Sequence[ImageSource], crop_size: int, device: torch.device, generator: torch.Generator):
        if not names:
            raise ValueError("The photo pool is empty: give at least one photo.")
        self.photos = [_photo_uint8(n, 2 * crop_size).to(device) for n in names]
        self.crop_size = crop_size
        self.generator = generator

    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch [B, 3, S, S] in [0, 1] (randomness from ``generator`` or the pool's own)."""
        g = generator if generator is not None else self.generator
        picks = torch.randint(len(self.photos), (batch,), generator=g).tolist()
        out = []
        for i in picks:
            photo = self.photos[i]
            box = random_crop_boxes(1, photo.shape[-2], photo.shape[-1], g)[0]
            out.append(crop_resize(photo, box, self.crop_size))
        return torch.cat(out).clamp_(0, 1)


class ImageFolderContent(torch.utils.data.Dataset):
    """Every image under a folder (COCO: flat; ImageNet: class subfolders), as random crops.

    Shorter side resized to the crop size (antialiased), a random square crop, a random flip.
    Unreadable files are skipped with one warning each rather than stopping a long run.
    """

    def __init__(self, root: str | os.PathLike, crop_size: int):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Content folder {self.root} does not exist.")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {self.root}.")
        self.crop_size = crop_size
        self.unreadable: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> torch.Tensor | None:
        """Image ``i`` with its shorter side at the crop size, or None (and one warning) if unreadable."""
        try:
            return load_image(self.files[i], self.crop_size)
        except (ImageError, OSError) as err:
            if self.files[i] not in self.unreadable:
                self.unreadable.add(self.files[i])
                warnings.warn(f"Skipping unreadable training image {self.files[i]}: {err}", stacklevel=2)
            return None

    def __getitem__(self, i: int) -> torch.Tensor:
        for j in range(len(self)):  # the next readable file
            image = self.load((i + j) % len(self))
            if image is not None:
                break
        else:
            raise ImageError(f"No readable image under {self.root}.")
        s = self.crop_size
        h, w = image.shape[-2:]
        top = int(torch.randint(h - s + 1, ()).item())
        left = int(torch.randint(w - s + 1, ()).item())
        crop = image[0, :, top : top + s, left : left + s]
        return crop.flip(-1) if torch.rand(()) < 0.5 else crop


class FolderSampler:
    """An endless stream of batches from :class:`ImageFolderContent` through a DataLoader."""

    def __init__(self, root, crop_size: int, batch: int, device: torch.device, workers: int, seed: int):
        self.dataset = ImageFolderContent(root, crop_size)
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=batch,
            shuffle=True,
            drop_last=len(self.dataset) >= batch,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=self.generator,
        )
        self._it: Iterator | None = None

    def sample(self, batch: int) -> torch.Tensor:
        while True:
            if self._it is None:
                self._it = iter(self.loader)
            try:
                return next(self._it).to(self.device, non_blocking=True)
            except StopIteration:
                self._it = None


def make_sampler(
    content, held_out: Sequence[str], crop_size: int, batch: int, device, generator, *, workers: int = 2, seed: int = 0
):
    """The content stream a config asks for: ``"photos"`` (the default pool), a list of images
    (a pool of just those), or a folder."""
    if isinstance(content, (list, tuple)):
        return PhotoPool(list(content), crop_size, device, generator)
    if content == "photos":
        return PhotoPool(training_photos(held_out), crop_size, device, generator)
    return FolderSampler(content, crop_size, batch, device, workers, seed)


def evaluation_batches(sampler, count: int, batch: int, crop_size: int, seed: int = 20170424) -> list[torch.Tensor]:
    """Fixed, seeded content batches for the evaluation protocol (the same for every run).

    From a photo pool: seeded random crops. From a folder: seeded picks of readable files,
    centre-cropped; unreadable files are skipped with one warning that lists them.
    """
    generator = torch.Generator().manual_seed(seed)
    if isinstance(sampler, PhotoPool):
        return [sampler.sample(batch, generator).cpu() for _ in range(count)]
    dataset = sampler.dataset
    batches = []
    skipped: list[Path] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reported once below
        for _ in range(count):
            images: list[torch.Tensor] = []
            for _attempt in range(50 * batch):
                if len(images) == batch:
                    break
                i = int(torch.randint(len(dataset), (1,), generator=generator))
                image = dataset.load(i)
                if image is None:
                    skipped.append(dataset.files[i])
                    continue
                images.append(center_crop(resize(image, crop_size), crop_size))
            if len(images) < batch:
                raise ImageError(f"Too few readable images under {dataset.root} for an evaluation batch of {batch}.")
            batches.append(torch.cat(images))
    if skipped:
        names = ", ".join(sorted({str(p) for p in skipped}))
        warnings.warn(f"Skipped unreadable images while making the evaluation batches: {names}", stacklevel=2)
    return batches
