"""The image catalogue: paintings and photos by name, with credits, pinned URLs and checksums.

``data/images.csv`` lists every image cinlab knows by name: public-domain paintings, permissively
licensed photos, 120 training photographs (CQ100 and Kodak), and sample images that ship inside
scikit-image and matplotlib (no download). Files are downloaded with pooch on first use, checked
against their sha256, and kept in the image folder (:func:`image_dir`: ``CINLAB_IMAGE_DIR`` or
the user cache). :func:`download_images` fills a folder for a class without network (from the
network, or copied from another image folder).

Sets: ``varied32`` (32 paintings), ``impressionist10`` (cinlab's stand-in for the paper's 10
Monets), ``finetune`` (2 paintings held out of varied32), ``photos`` (photos for figures),
``content`` (downloadable photos), ``train_photos`` (120 photos for training crops),
``builtin`` and ``textures``.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .files import atomic_output, file_sha256


class ImageNotAvailableError(FileNotFoundError):
    """A registry image is neither in the image folder nor downloadable right now.

    ``image`` is its name and ``reason`` the cause in a few words (the message says what to do).
    """

    def __init__(self, message: str, *, image: str = "", reason: str = ""):
        super().__init__(message)
        self.image = image
        self.reason = reason or message


@dataclass(frozen=True)
class ImageInfo:
    """One row of the image registry (``data/images.csv``)."""

    name: str
    file: str  # the downloaded file's path inside the image folder ("styles/x.jpg"); empty for built-ins
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
    local_file: str = ""  # an accepted local copy in another format (training photos: JPEG of the PNG)
    local_sha256: str = ""
    note: str = ""

    @property
    def builtin(self) -> bool:
        """True for images that ship inside a dependency (scikit-image, matplotlib)."""
        return not self.file

    def caption(self) -> str:
        """A short credit line, e.g. ``"The Starry Night, Vincent van Gogh (1889)"``."""
        year = f" ({self.year})" if self.year else ""
        return f"{self.title}, {self.artist}{year}"


class RegistryError(ValueError):
    """The image registry (``images.csv``) is malformed; the message names the file, line and column."""


#: Columns every row of ``images.csv`` must have (the others may be left out).
REQUIRED_COLUMNS = ("name", "file", "kind", "sets", "title", "artist", "year", "credit", "source", "url", "sha256")
OPTIONAL_COLUMNS = ("width", "height", "local_file", "local_sha256", "note")


@functools.lru_cache(maxsize=None)
def registry() -> dict[str, ImageInfo]:
    """All registered images by name, read once from cinlab's ``images.csv`` (:func:`cinlab.config.assets_dir`)."""
    path = config.assets_dir() / "images.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"cinlab's image registry {path} is missing. Reinstall cinlab (pip install cinlab, or pip install -e . "
            f"in its checkout), or set {config.ASSETS_ENV} to a folder holding images.csv, models/ and results/."
        )
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = [c for c in REQUIRED_COLUMNS if c not in header]
        if absent:
            raise RegistryError(
                f"{path}, line 1 (the header): no {', '.join(map(repr, absent))} column; "
                f"expected the columns {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}."
            )
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            missing = [c for c in REQUIRED_COLUMNS if row.get(c) is None]  # a short row leaves them None
            if missing:
                raise RegistryError(f"{where}: the row ends before the {missing[0]!r} column.")
            if not row["name"]:
                raise RegistryError(f"{where}: the 'name' column is empty.")
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
                width=_optional_int(row, "width", where),
                height=_optional_int(row, "height", where),
                local_file=row.get("local_file") or "",
                local_sha256=row.get("local_sha256") or "",
                note=row.get("note") or "",
            )
    return out


def _optional_int(row: dict, column: str, where: str) -> int | None:
    text = row.get(column) or ""
    try:
        return int(text) if text else None
    except ValueError:
        raise RegistryError(
            f"{where}: the {column!r} column should be a whole number of pixels, not {text!r}."
        ) from None


def image_sets() -> list[str]:
    """The names of all image sets."""
    return sorted({s for info in registry().values() for s in info.sets})


def image_names(set_name: str | None = None) -> list[str]:
    """Names of registered images, all or those of one set (see the module docstring)."""
    reg = registry()
    if set_name is None:
        return list(reg)
    names = [n for n, info in reg.items() if set_name in info.sets]
    if not names:
        raise KeyError(f"No image set named {set_name!r}. Known sets: {', '.join(image_sets())}.")
    return names


def image_info(name: str) -> ImageInfo:
    """The registry entry of ``name``; a clear error with close matches when it is unknown."""
    reg = registry()
    if name in reg:
        return reg[name]
    close = difflib.get_close_matches(name, list(reg), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(
        f"{name!r} is not a registered image name.{hint} See cinlab.image_names() for the list, or pass a file path."
    )


def image_dir() -> Path:
    """The folder where registry images are looked up and downloaded to.

    ``CINLAB_IMAGE_DIR`` (or its older name ``CINLAB_DATA_DIR``) when set, else the user cache
    folder (``~/.cache/cinlab`` on Linux).
    """
    env = config.image_dir_from_env()
    if env is not None:
        return env
    import pooch

    return Path(pooch.os_cache("cinlab"))


def _present(folder: Path, info: ImageInfo) -> Path | None:
    """The registry file or its accepted local copy, if one is in ``folder`` with the right hash."""
    for file, digest in ((info.file, info.sha256), (info.local_file, info.local_sha256)):
        if file and (folder / file).exists() and file_sha256(folder / file) == digest:
            return folder / file
    return None


def fetch(name: str, folder: str | os.PathLike | None = None) -> Path:
    """Local path of a registry image, downloading and verifying it (sha256) if needed.

    Raises :class:`ImageNotAvailableError` naming the file, its URL and how to supply it when
    the file is missing (or corrupt) and cannot be downloaded.
    """
    import pooch

    info = image_info(name)
    if info.builtin:
        raise ValueError(f"{name!r} ships inside {info.source.split(':')[0]}; load it with load_image({name!r}).")
    folder = Path(folder) if folder is not None else image_dir()
    found = _present(folder, info)
    if found is not None:
        return found  # the common case: no pooch, no writes (the folder may be read-only)
    target = folder / info.file
    problem = (
        "is corrupt or a different file (its sha256 does not match the registry)" if target.exists() else "is not there"
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
        reason = f"{type(err).__name__}: {_short(err)}"
        raise ImageNotAvailableError(
            f"Image {name!r}: {target} {problem}, and downloading it from {info.url} failed "
            f"({reason}). To work offline, run `cinlab download-images --out FOLDER` "
            f"on a machine with network and set {config.IMAGE_DIR_ENV}=FOLDER here, or save that URL as {target} "
            f"(sha256 {info.sha256}).",
            image=name,
            reason=reason,
        ) from None  # the message carries the cause; pooch's long network traceback would bury it


def download_images(
    folder: str | os.PathLike,
    set_name: str | None = None,
    *,
    progress: bool = True,
    source: str | os.PathLike | None = None,
) -> dict[str, Path | str]:
    """Fill ``folder`` with every registered image (or one set), each verified by its sha256.

    An image already in ``folder`` is kept; one in ``source`` (default: the current image folder,
    :func:`image_dir`, e.g. ``CINLAB_IMAGE_DIR``) is copied from there; the rest are downloaded.
    Returns ``{name: path}`` for the images now present and ``{name: reason}`` (a short string)
    for those that are not, so a teacher can fill a folder for a class without network and point
    ``CINLAB_IMAGE_DIR`` at it (``cinlab download-images`` also adds the networks and VGG weights).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(source) if source is not None else image_dir()
    copy_from = source if source.is_dir() and source.resolve() != folder.resolve() else None
    names = [n for n in image_names(set_name) if not registry()[n].builtin]
    results: dict[str, Path | str] = {}
    downloaded, failures = 0, 0
    with _quiet_pooch():  # the progress bar says it; not a log line per image
        for name in tqdm(names, desc="images", disable=not progress):
            info = registry()[name]
            try:
                found = _present(folder, info) or (copy_from and _copy_verified(info, copy_from, folder))
                if found:
                    results[name] = found
                elif failures >= NETWORK_GIVE_UP and not downloaded:
                    # Offline, each attempt costs a retry and a pause: 161 images took minutes to fail.
                    results[name] = f"not tried: the first {failures} downloads failed; no network, it seems"
                else:
                    results[name] = fetch(name, folder)
                    downloaded += 1
            except ImageNotAvailableError as err:
                results[name] = err.reason
                failures += 1
    return results


#: Downloads that must fail, with none succeeding, before :func:`download_images` stops trying.
NETWORK_GIVE_UP = 3


@contextlib.contextmanager
def _quiet_pooch():
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


def _copy_verified(info: ImageInfo, source: Path, folder: Path) -> Path | None:
    """Copy ``info``'s file from ``source`` into ``folder`` if ``source`` has it with the right hash."""
    found = _present(source, info)
    if found is None:
        return None
    target = folder / found.relative_to(source)
    digest = info.sha256 if found == source / info.file else info.local_sha256
    # A file already at target has the wrong hash (else _present would have found it): replace it,
    # as a download would.
    with atomic_output(target, overwrite=True) as tmp:
        shutil.copyfile(found, tmp)
        if file_sha256(tmp) != digest:
            raise ImageNotAvailableError(f"Copying {found} gave a different file.", image=info.name)
    return target


def _short(err: BaseException, limit: int = 160) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=16)
def builtin_array(name: str) -> np.ndarray:
    """The pixels [H, W, 3] uint8 of an image that ships inside scikit-image or matplotlib."""
    from PIL import Image

    library, _, item = image_info(name).source.partition(":")
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
    raise ValueError(f"Unknown built-in image source {image_info(name).source!r}.")
