"""Packs: the results of a training campaign in at most 8 files of at most 16 MiB, to carry them off a GPU machine.

:func:`pack` zips ``data/models`` and ``data/results`` into parts plus a manifest with the sha256 of
each part and of the whole; :func:`install` verifies a pack and writes its files into a data folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .checkpoint import load_checkpoint
from .files import write_bytes

MAX_PACK_FILES, MAX_PACK_BYTES = 8, 16 * 2**20


def pack(data: Path, out: Path) -> list[Path]:
    """Zip ``data/models`` and ``data/results`` into parts of at most 16 MiB plus a manifest (<= 8 files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for folder in ("models", "results"):
            for path in sorted((data / folder).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    method = zipfile.ZIP_STORED if path.suffix in (".pt", ".jpg") else zipfile.ZIP_DEFLATED
                    archive.write(path, f"{folder}/{path.name}", compress_type=method)
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
        "version": 1,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "parts": [
            {"file": p.name, "bytes": len(c), "sha256": hashlib.sha256(c).hexdigest()} for p, c in zip(written, chunks)
        ],
    }
    written.append(write_bytes(out / "cinlab-pack.json", json.dumps(manifest, indent=1).encode(), overwrite=True))
    return written


def install(pack_dir: Path, data: Path, *, render: Callable[[Path, Path], None] | None = None) -> list[str]:
    """Verify a pack (sha256 of each part and of the whole), check every network in it, and write
    its files into ``data/models`` and ``data/results``; then ``render(models, results)`` (the figures)."""
    manifest = json.loads((pack_dir / "cinlab-pack.json").read_text())
    if manifest.get("format") != "cinlab-pack":
        raise ValueError(f"{pack_dir / 'cinlab-pack.json'} is not a cinlab pack manifest.")
    parts = []
    for part in manifest["parts"]:
        parts.append((pack_dir / part["file"]).read_bytes())
        if hashlib.sha256(parts[-1]).hexdigest() != part["sha256"]:
            raise ValueError(f"{part['file']} is corrupt or incomplete (sha256 mismatch): copy it again.")
    blob = b"".join(parts)
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise ValueError("The pack's parts do not add up to the packed archive: copy all parts again.")
    installed = []
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for name in archive.namelist():
            folder, _, file = name.partition("/")
            if folder not in ("models", "results") or not file or "/" in file or file.startswith("."):
                raise ValueError(f"Unexpected entry {name!r} in the pack: refusing to install it.")
            content = archive.read(name)
            if file.endswith(".pt"):
                _check_checkpoint_bytes(content)
            write_bytes(data / folder / file, content, overwrite=True)
            installed.append(name)
    if render is not None:
        render(data / "models", data / "results")
    return installed


def _check_checkpoint_bytes(content: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".pt") as f:
        f.write(content)
        f.flush()
        load_checkpoint(f.name)  # raises CheckpointError for anything that is not a sound checkpoint
