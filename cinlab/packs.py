"""Packs: a campaign's results in at most 8 files of at most 16 MiB, to carry them off a GPU machine.

:func:`pack` zips a results folder's ``models/`` and ``results/`` into parts plus a manifest with
the sha256 and size of each part, of the whole, and of every file inside. :func:`install` treats a
pack as untrusted input: it verifies everything (the manifest, every part, every entry's name,
size and hash, with reads bounded so that a zip bomb cannot fill the disk, and that every network
in it loads as a sound checkpoint), unpacks it into a temporary folder next to the target, lets a
``check`` (the figures are re-rendered from it) run there, and only then moves the files into
place. A refused pack leaves the target untouched; the refusal is a :class:`PackError` that says
why in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .checkpoint import CheckpointError, load_checkpoint
from .files import OVERWRITE_HINT, write_bytes

MAX_PACK_FILES, MAX_PACK_BYTES = 8, 16 * 2**20
#: What a pack may unpack to: one file, all files (the shipped results are ~35 MB), and the most a
#: file may shrink by in the zip (checkpoints and JPEGs are stored, logs deflate ~5x).
MAX_ENTRY_BYTES, MAX_UNPACKED_BYTES, MAX_RATIO = 64 * 2**20, 256 * 2**20, 50
MANIFEST = "cinlab-pack.json"
_PART = re.compile(r"cinlab-pack\.part[1-9][0-9]?")
_ENTRY = re.compile(r"(models|results)/[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")


class PackError(ValueError):
    """A pack cannot be installed: damaged, incomplete, too large, or holding something it should not."""


def pack(folder: Path, out: Path) -> list[Path]:
    """Zip ``folder/models`` and ``folder/results`` into parts of at most 16 MiB plus a manifest (<= 8 files)."""
    buffer = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for sub in ("models", "results"):
            for path in sorted((folder / sub).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    content = path.read_bytes()
                    method = zipfile.ZIP_STORED if path.suffix in (".pt", ".jpg") else zipfile.ZIP_DEFLATED
                    archive.writestr(f"{sub}/{path.name}", content, compress_type=method)
                    entries.append({"name": f"{sub}/{path.name}", "bytes": len(content), "sha256": _sha256(content)})
    blob = buffer.getvalue()
    part = MAX_PACK_BYTES - 4096
    chunks = [blob[i : i + part] for i in range(0, len(blob), part)]
    if len(chunks) + 1 > MAX_PACK_FILES:
        raise ValueError(
            f"The results are {len(blob) / 2**20:.1f} MiB: more than {MAX_PACK_FILES - 1} parts of 16 MiB."
        )
    out.mkdir(parents=True, exist_ok=True)
    written = [write_bytes(out / f"cinlab-pack.part{i + 1}", chunk, overwrite=True) for i, chunk in enumerate(chunks)]
    manifest = {
        "format": "cinlab-pack",
        "version": 2,
        "sha256": _sha256(blob),
        "parts": [{"file": p.name, "bytes": len(c), "sha256": _sha256(c)} for p, c in zip(written, chunks)],
        "entries": entries,
    }
    written.append(write_bytes(out / MANIFEST, json.dumps(manifest, indent=1).encode(), overwrite=True))
    return written


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_pack(pack_dir: Path) -> dict[str, bytes]:
    """Every file of a verified pack, ``{"models/x.pt": bytes, ...}``; :class:`PackError` otherwise."""
    pack_dir = Path(pack_dir)
    manifest_path = pack_dir / MANIFEST
    if not manifest_path.is_file() or manifest_path.stat().st_size > 2**20:
        raise PackError(f"{pack_dir} holds no {MANIFEST} (or an implausibly large one): it is not a cinlab pack.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        raise PackError(f"{manifest_path} is not valid JSON: copy the pack again.") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != "cinlab-pack"
        or manifest.get("version") not in (1, 2)
    ):
        raise PackError(f"{manifest_path} is not a cinlab pack manifest this cinlab understands.")
    parts = manifest.get("parts")
    if not isinstance(parts, list) or not 1 <= len(parts) < MAX_PACK_FILES:
        raise PackError(f"{manifest_path} lists {len(parts) if isinstance(parts, list) else 'no'} parts: not a pack.")
    blob = bytearray()
    for part in parts:
        name = part.get("file") if isinstance(part, dict) else None
        if not isinstance(name, str) or not _PART.fullmatch(name):
            raise PackError(f"{manifest_path} names a part {name!r}, which a pack never has.")
        path = pack_dir / name
        if not path.is_file() or path.stat().st_size != part.get("bytes") or path.stat().st_size > MAX_PACK_BYTES:
            raise PackError(f"{name} is missing, or not the size the manifest says: copy it again.")
        data = path.read_bytes()
        if _sha256(data) != part.get("sha256"):
            raise PackError(f"{name} is corrupt or incomplete (sha256 mismatch): copy it again.")
        blob += data
    if _sha256(bytes(blob)) != manifest.get("sha256"):
        raise PackError("The pack's parts do not add up to the packed archive: copy all parts again.")
    expected = {e["name"]: e for e in manifest.get("entries", []) if isinstance(e, dict) and "name" in e}
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(blob)))
    except zipfile.BadZipFile:
        raise PackError("The pack's archive is not a readable zip file: copy it again.") from None
    files: dict[str, bytes] = {}
    total = 0
    with archive:
        for info in archive.infolist():
            if not _ENTRY.fullmatch(info.filename) or info.filename in files:
                raise PackError(f"Unexpected entry {info.filename!r} in the pack: refusing to install it.")
            too_big = info.file_size > MAX_ENTRY_BYTES or total + info.file_size > MAX_UNPACKED_BYTES
            if too_big or info.file_size > MAX_RATIO * max(info.compress_size, 2**16):
                raise PackError(
                    f"{info.filename} would unpack to {info.file_size:,} bytes, more than a pack ever holds: "
                    "refusing it (a damaged or crafted pack)."
                )
            with archive.open(info) as f:
                content = f.read(info.file_size + 1)  # never more than declared, whatever the stream says
            if len(content) != info.file_size:
                raise PackError(f"{info.filename} is not the size its zip header says: refusing the pack.")
            entry = expected.get(info.filename)
            if manifest["version"] >= 2 and (entry is None or entry.get("sha256") != _sha256(content)):
                raise PackError(f"{info.filename} does not match the manifest: refusing the pack.")
            files[info.filename] = content
            total += len(content)
    if manifest["version"] >= 2 and set(expected) != set(files):
        raise PackError(f"The pack lacks {sorted(set(expected) - set(files))[:3]}: copy it again.")
    return files


def install(
    pack_dir: Path,
    data: Path,
    *,
    check: Callable[[Path, Path], None] | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Verify a pack and install its files into ``data/models`` and ``data/results``.

    Everything is checked before anything in ``data`` changes: the pack (:func:`read_pack`), that
    every ``.pt`` file is a sound checkpoint, and ``check(models, results)`` run on the unpacked
    copy (:func:`cinlab.reproduce.check_results`: each network is the one its name says, and the
    figures are re-rendered there).
    Files that would replace different ones need ``overwrite``. Returns the installed names.
    """
    files = read_pack(pack_dir)
    data = Path(data)
    replaced = [n for n, c in files.items() if (data / n).exists() and (data / n).read_bytes() != c]
    if replaced and not overwrite:
        raise FileExistsError(
            f"Installing would replace {len(replaced)} file(s) in {data} ({', '.join(replaced[:3])}"
            f"{', ...' if len(replaced) > 3 else ''}); {OVERWRITE_HINT}."
        )
    data.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=data))  # same file system: moves are renames
    try:
        for name, content in files.items():
            (staging / name).parent.mkdir(exist_ok=True)
            (staging / name).write_bytes(content)
            if name.endswith(".pt"):
                try:
                    load_checkpoint(staging / name)
                except (CheckpointError, OSError) as err:
                    raise PackError(f"{name} in the pack is not a sound checkpoint ({err}).") from None
        for sub in ("models", "results"):
            (staging / sub).mkdir(exist_ok=True)
        if check is not None:
            try:
                check(staging / "models", staging / "results")
            except Exception as err:  # whatever a crafted network makes the check do
                raise PackError(f"The pack's contents fail the check ({type(err).__name__}: {err}).") from None
        for sub in ("models", "results"):
            (data / sub).mkdir(exist_ok=True)
            for path in (staging / sub).iterdir():
                os.replace(path, data / sub / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(files)
