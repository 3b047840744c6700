"""The style mixer's assets, written by ``docs/build.py`` into the site's ``mixer/`` folder.

- ``networks/<name>.onnx``: each network of :data:`MIXER_NETWORKS` exported by
  :func:`cinlab.export.to_onnx` with float16 weights (float32 arithmetic), with its parity against
  PyTorch measured here (onnxruntime on the CPU, the first sample photo at the picture's size);
- ``mixer.json``: the networks (file, size, style names and paintings, the checkpoint's training
  metadata, parity), the sample photos and the upload limits, which the page reads;
- ``photos/<name>.png``: the sample photos at exactly the picture's size (lossless, so the page and
  PyTorch see the same pixels): the ones that ship inside scikit-image / matplotlib, and the
  registry's photos found in the image folder (``CINLAB_IMAGE_DIR``); nothing is downloaded;
- ``paintings/<name>.jpg``: square thumbnails of the paintings found in the image folder;
- ``ort/``: onnxruntime-web from ``web/node_modules``; the page's own files from ``web/mixer/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

import cinlab
from cinlab import export, registry
from cinlab.images import encode_image, painting_thumbnail, resize

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
NODE_MODULES = WEB / "node_modules"

#: The networks the mixer offers (checkpoints in data/models/), the first one shown first.
MIXER_NETWORKS = ("impressionist10", "varied32")
#: The mixer's picture: the photos' shorter side in px (the size its parity test compares at).
PHOTO_SIDE = 256
#: Painting thumbnails (square, px).
THUMB_SIDE = 96
#: Photos that ship inside scikit-image / matplotlib (no download), in the chooser's order.
BUILTIN_PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "motorcycle", "grace_hopper")
#: Longest side / shortest side of a sample photo: wider photos are centre-cropped to this.
MAX_ASPECT = 1.5
#: onnxruntime-web files the mixer loads: the WebAssembly build, and the WebGPU build (used only
#: where the browser has WebGPU).
ORT_FILES = (
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)


class BuildError(RuntimeError):
    """The mixer's assets could not be built; the message says why."""


def log(message: str) -> None:
    print(f"[site] {message}", flush=True)


#: What the page accepts from a reader: file size and decoded pixels (cinlab's own default cap).
UPLOAD_LIMITS = {"max_bytes": 20_000_000, "max_pixels": 50_000_000}
#: The checkpoint's metadata the page shows ("how it was trained").
TRAINING_FIELDS = (
    "step",
    "batch_size",
    "crop_size",
    "style_size",
    "device",
    "precision",
    "seconds",
    "cinlab_version",
    "loss_network",
    "content_layers",
    "style_layers",
    "content_weight",
    "style_weight",
    "provenance",
)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fit_photo(image: torch.Tensor, side: int = PHOTO_SIDE, max_aspect: float = MAX_ASPECT) -> torch.Tensor:
    """Centre-crop [1, 3, H, W] to an aspect of at most ``max_aspect`` and resize the shorter side to ``side``
    (the rule the page applies to an uploaded photo)."""
    h, w = image.shape[-2:]
    crop_w = min(w, round(h * max_aspect))
    crop_h = min(h, round(crop_w * max_aspect))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return resize(image[..., top : top + crop_h, left : left + crop_w], side)


def present(name: str) -> bool:
    """A registry image whose file is in the image folder (built-ins always are): no download needed."""
    info = registry.image_info(name)
    return info.builtin or (registry.image_dir() / info.file).is_file()


def sample_photos() -> list[str]:
    """The built-in photos, then the registry's photos (set ``photos``) present in the image folder."""
    names = [n for n in BUILTIN_PHOTOS if n in registry.registry()]
    names += [
        n
        for n, info in registry.registry().items()
        if info.kind == "photo" and "photos" in info.sets and n not in names and present(n)
    ]
    return names


def write_photos(target: Path) -> list[dict]:
    folder = target / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in sample_photos():
        image = fit_photo(cinlab.load_image(name))
        file = folder / f"{name}.png"
        file.write_bytes(encode_image(image, "PNG"))
        info = registry.image_info(name)
        entries.append(
            {
                "name": name,
                "file": f"photos/{name}.png",
                "width": int(image.shape[-1]),
                "height": int(image.shape[-2]),
                "caption": info.caption() if info.title else name,
                "credit": info.credit,
            }
        )
    if not entries:
        raise BuildError("No sample photo could be loaded (scikit-image's built-in photos are missing?).")
    return entries


def write_thumbnails(target: Path, names: set[str]) -> dict[str, str]:
    folder = target / "paintings"
    folder.mkdir(parents=True, exist_ok=True)
    thumbs = {}
    for name in sorted(names):
        if name not in registry.registry() or not present(name):
            continue
        image = painting_thumbnail(name, THUMB_SIDE)
        if image is None:
            continue
        (folder / f"{name}.jpg").write_bytes(encode_image(image, "JPEG", quality=85))
        thumbs[name] = f"paintings/{name}.jpg"
    return thumbs


def parity(net, onnx_path: Path, photo: torch.Tensor) -> dict:
    """Grey levels (0-255, both rounded to 8 bits) between onnxruntime (CPU) and PyTorch float32, for the
    first style, the last style and an equal mixture of the first two."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    n = net.num_styles
    mixtures = [torch.eye(n)[0], torch.eye(n)[n - 1], (torch.eye(n)[0] + torch.eye(n)[min(1, n - 1)]) / 2]
    diffs = []
    for weights in mixtures:
        reference = net.stylize(photo, weights, precision="float32")
        (out,) = session.run(None, {"image": photo.numpy(), "style_weights": weights[None].numpy()})
        a = np.round(np.clip(out, 0, 1) * 255)
        b = np.round(reference.numpy() * 255)
        diffs.append(np.abs(a - b))
    d = np.stack(diffs)
    return {"size": int(min(photo.shape[-2:])), "mean_abs": float(d.mean()), "max_abs": int(d.max())}


def export_network(name: str, folder: Path, cache: Path | None, photo: torch.Tensor) -> tuple[dict, object]:
    """Export ``data/models/<name>.pt`` to ``folder/<name>.onnx`` (from the cache when the checkpoint,
    the exporter and the versions are unchanged); returns its manifest entry and the network."""
    checkpoint = ROOT / "data" / "models" / f"{name}.pt"
    if not checkpoint.is_file():
        raise BuildError(f"The mixer's network {checkpoint.relative_to(ROOT)} is missing.")
    net = cinlab.load_model(checkpoint, device="cpu")
    import onnx
    import onnxruntime

    key = hashlib.sha256(
        "|".join(
            [
                sha256_file(checkpoint),
                sha256_file(Path(export.__file__)),
                torch.__version__,
                onnx.__version__,
                onnxruntime.__version__,
                hashlib.sha256(photo.numpy().tobytes()).hexdigest(),
            ]
        ).encode()
    ).hexdigest()[:16]
    out = folder / f"{name}.onnx"
    cached = cache / f"{name}-{key}.onnx" if cache else None
    if cached is not None and cached.is_file() and cached.with_suffix(".json").is_file():
        log(f"  {name}: exported network from the cache ({cached.name})")
        shutil.copy2(cached, out)
        measured = json.loads(cached.with_suffix(".json").read_text())
    else:
        log(f"  {name}: exporting to ONNX (float16 weights) and measuring its parity with PyTorch")
        with tempfile.TemporaryDirectory() as tmp:
            path = export.to_onnx(net, Path(tmp) / f"{name}.onnx", weights="float16")
            shutil.copy2(path, out)
        measured = parity(net, out, photo)
        if cached is not None:
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out, cached)
            cached.with_suffix(".json").write_text(json.dumps(measured))
    meta = net.metadata or {}
    trained = {k: meta.get(k) for k in TRAINING_FIELDS if k in meta}
    config = meta.get("config") or {}
    trained["content"] = config.get("content") or meta.get("content")
    trained["held_out"] = config.get("held_out")
    entry = {
        "name": name,
        "file": f"networks/{name}.onnx",
        "bytes": out.stat().st_size,
        "sha256": sha256_file(out),
        "checkpoint_sha256": sha256_file(checkpoint),
        "parameters": sum(p.numel() for p in net.parameters()),
        "per_style": net.num_parameters_per_style(),
        "summary": f"{meta.get('device', '?')}, {meta.get('step', 0):,} steps at {meta.get('crop_size', '?')} px",
        "trained": trained,
        "parity": measured,
        "metadata_file": f"networks/{name}.json",
        "styles": [{"name": s} for s in net.style_names],
    }
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=1, default=str))
    return entry, net


def build_mixer_assets(target: Path, *, cache: Path | None, node_modules: Path = NODE_MODULES) -> dict:
    """Write everything the mixer page loads into ``target`` (the site's ``mixer/``); returns the manifest."""
    target.mkdir(parents=True, exist_ok=True)
    ort_dir = node_modules / "onnxruntime-web" / "dist"
    if not ort_dir.is_dir():
        raise BuildError("web/node_modules/onnxruntime-web is missing: run `npm ci --prefix web` first.")
    (target / "ort").mkdir(exist_ok=True)
    for file in ORT_FILES:
        shutil.copy2(ort_dir / file, target / "ort" / file)
    for file in ("engine.js", "mixer.js", "mixer.css"):
        shutil.copy2(WEB / "mixer" / file, target / file)

    photos = write_photos(target)
    first = cinlab.load_image(target / photos[0]["file"])
    (target / "networks").mkdir(exist_ok=True)
    networks = [export_network(name, target / "networks", cache, first) for name in MIXER_NETWORKS]
    names = {s["name"] for entry, _ in networks for s in entry["styles"]}
    thumbs = write_thumbnails(target, names)
    for entry, _ in networks:
        for style in entry["styles"]:
            style["thumb"] = thumbs.get(style["name"])
            if style["name"] in registry.registry():
                info = registry.image_info(style["name"])
                style.update(title=info.title, artist=info.artist, year=info.year)
    manifest = {
        "photo_side": PHOTO_SIDE,
        "max_aspect": MAX_ASPECT,
        "upload": UPLOAD_LIMITS,
        "cinlab_version": cinlab.__version__,
        "networks": [entry for entry, _ in networks],
        "photos": photos,
    }
    (target / "mixer.json").write_text(json.dumps(manifest, indent=1))
    for entry, _ in networks:
        p = entry["parity"]
        log(
            f"  {entry['name']}: {entry['bytes'] / 1e6:.2f} MB, parity with PyTorch at {p['size']} px: "
            f"mean {p['mean_abs']:.3f}, max {p['max_abs']} grey levels"
        )
    return manifest
