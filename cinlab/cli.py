"""The ``cinlab`` command line (also ``python -m cinlab``).

    cinlab gatys     --content PHOTO --style PAINTING --out OUT.png [--size 512 --steps 300 ...]
    cinlab train     --styles impressionist10 --out RUN_FOLDER [--preset vgg19 --steps ... --crop-size ...]
    cinlab add-style --model model.pt --styles van_gogh_cottages --out RUN_FOLDER
    cinlab stylize   --model model.pt --content PHOTO --style 3 --out OUT.png
    cinlab stylize   --model model.pt --content PHOTO --mix water_lilies=0.5 in_bed=0.5 --out OUT.png
    cinlab info      --model model.pt
    cinlab export    --model model.pt --format onnx --out model.onnx
    cinlab download-images --out FOLDER [--set varied32]   # images, networks, VGG-19 weights
    cinlab --version

Images are registry names (``cinlab.image_names()``) or file paths. ``--size`` is always the
shorter side of an output image; training crops are ``--crop-size``. Output files are never
overwritten without ``--overwrite``, and outputs are checked before any work starts. Every
problem a user can fix is one line on stderr naming the problem and the fix, exit status 2
(running out of memory included); anything else is a bug and keeps its traceback. The options of
``train`` and ``add-style`` are derived from :class:`cinlab.train.TrainConfig`'s fields and the
help written next to them: a new setting needs no edit here.

(Longer than the other modules, on purpose: one parser and its commands, each a few lines that
call the library, read best together.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ._version import __version__
from .files import RunLockedError
from .loss_network import LossNetworkWeightsError

#: Errors that mean "fix the input (or the disk, or wait)": one line, exit status 2.
USER_ERRORS = (OSError, ValueError, KeyError, FloatingPointError, RunLockedError, LossNetworkWeightsError)

#: What to do when a command runs out of memory.
OUT_OF_MEMORY_FIX = {
    "gatys": "use a smaller --size (or fewer/smaller --scales)",
    "stylize": "use a smaller --size, or fewer --style values at once",
    "train": "use a smaller --batch, --crop-size or --width",
    "add-style": "use a smaller --batch or --crop-size",
    "export": "close other programs or export on a machine with more memory",
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _device(args):
    from .hardware import resolve_device

    return resolve_device(args.device)


def _cmd_gatys(args: argparse.Namespace) -> int:
    from .images import save_image
    from .optimization import gatys, gatys_loss

    out = _image_output(args.out, args.overwrite)  # before minutes of optimisation, not after
    result = gatys(
        args.content,
        args.style,
        steps=args.steps,
        optimizer=args.optimizer,
        size=args.size,
        style_scale=args.style_scale,
        style_blend=args.style_blend,
        loss=gatys_loss(style_weight=args.style_weight, content_weight=args.content_weight),
        init=args.init,
        seed=args.seed,
        preserve_color=args.preserve_color,
        scales=args.scales,
        device=_device(args),
        progress=not args.quiet,
    )
    save_image(result.image, out, overwrite=args.overwrite)
    print(
        f"saved {out} ({result.image.shape[-1]}x{result.image.shape[-2]}) after {result.steps} steps in "
        f"{result.seconds:.1f} s; loss {result.history['total'][0]:.4g} -> {result.final_losses['total']:.4g}"
    )
    return 0


def expand_styles(items: Sequence[str]) -> list[str]:
    """Style arguments to image names/paths: a set name (``impressionist10``) expands to its members."""
    from .registry import image_names, image_sets, registry

    sets = set(image_sets())
    out: list[str] = []
    for item in items:
        out.extend(image_names(item) if item in sets and item not in registry() else [item])
    return out


def _run_folder(path: str) -> Path:
    """``--out`` of train / add-style: a run folder (the trainer refuses to start over an old run)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file; --out names a run folder.")
    return path


#: Older spellings of derived options, still accepted.
_OPTION_ALIASES = {"batch_size": ("--batch",)}
#: TrainConfig fields that are not options of their own: the styles are ``--styles`` (sets
#: expanded); the network size of a new style is the base network's.
_NOT_OPTIONS = {"train": {"styles"}, "add-style": {"styles", "width", "norm"}}


def _training_fields():
    """(field name, its type without None, its help, its default) of every TrainConfig field."""
    import dataclasses
    import types
    import typing

    from .train import TrainConfig

    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    for f in dataclasses.fields(TrainConfig):
        hint = hints[f.name]
        kind = typing.get_args(hint)[0]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        yield f.name, kind, hint.__metadata__[0], default


def _key_value(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=NUMBER (e.g. relu1_2=0.5)")
    return key, _finite_float(value)


def _add_training_options(p: argparse.ArgumentParser, command: str) -> None:
    """One option per :class:`~cinlab.train.TrainConfig` field (``crop_size`` -> ``--crop-size``), with the
    help text written beside the field: a new field is an option with no edit here."""
    import typing

    for name, kind, help_text, default in _training_fields():
        if name in _NOT_OPTIONS[command]:
            continue
        flag = "--" + name.replace("_", "-")
        shown = default if not isinstance(default, tuple) else " ".join(default) or "none"
        options: dict = {"dest": name, "default": None, "help": f"{help_text} (default: {shown})"}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is typing.Literal:
            options["choices"] = typing.get_args(kind)
        elif kind is int:
            options["type"] = int
        elif kind is float:
            options["type"] = _finite_float
        elif kind is dict:
            options.update(nargs="+", type=_key_value, metavar="NAME=W")
        elif kind is list:
            options.update(nargs="+", type=_finite_float)
        elif kind is tuple or kind is typing.Any:
            options["nargs"] = "*" if name == "held_out" else "+"
        p.add_argument(flag, *_OPTION_ALIASES.get(name, ()), **options)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the GPU if present)")
    p.add_argument("--overwrite", action="store_true", help="start over in an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_overrides(args: argparse.Namespace) -> dict:
    """The TrainConfig fields given on the command line, as TrainConfig values."""
    import typing

    out = {}
    for name, kind, _, _ in _training_fields():
        value = getattr(args, name, None)
        if value is None or name == "styles":
            continue
        if kind is dict:
            value = dict(value)
        elif kind is tuple:
            value = tuple(value)
        elif kind is typing.Any:  # content: "photos" or a folder; otherwise a list of images
            value = value[0] if len(value) == 1 and (value[0] == "photos" or Path(value[0]).is_dir()) else list(value)
        out[name] = value
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError, load_checkpoint
    from .config import torchrun_rank
    from .files import RunLock
    from .train import TrainConfig, Trainer, shutdown_distributed

    out = _run_folder(args.out)
    device = _device(args)
    with RunLock(out) if torchrun_rank() == 0 else contextlib.nullcontext():  # rank 0 writes
        if args.resume:
            checkpoint = out / "checkpoint.pt"
            if not checkpoint.exists():
                raise FileNotFoundError(f"{out} holds no checkpoint.pt to resume; start the run without --resume.")
            done = load_checkpoint(checkpoint).get("training")
            if not done:
                raise CheckpointError(
                    f"{checkpoint} holds a trained network but no training state, so the run cannot resume from it: "
                    "start a new run (without --resume), or add styles to it with add-style."
                )
            target = args.steps or done["config"]["steps"]
            if done["step"] >= target:
                print(
                    f"{out}: the run is complete ({done['step']} steps); nothing to do. Pass --steps N (more than "
                    f"{done['step']}) with --resume to extend it."
                )
                return 0
            trainer = Trainer.resume(checkpoint, device=device, **_train_overrides(args))
        else:
            config = TrainConfig.preset(args.preset, styles=expand_styles(args.styles), **_train_overrides(args))
            trainer = Trainer(config, out_dir=out, device=device, overwrite=args.overwrite)
        trainer.fit(progress=not args.quiet)
    rank, styles, step, seconds = trainer.rank, trainer.model.num_styles, trainer.step, trainer.seconds
    del trainer  # its DistributedDataParallel wrapper goes before the process group does
    shutdown_distributed()
    if rank == 0:
        print(f"trained {styles} style(s) for {step} steps in {seconds:.0f} s; model: {out / 'model.pt'}")
    return 0


def _cmd_add_style(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .files import RunLock
    from .train import add_styles, finetune_config

    out = _run_folder(args.out)
    device = _device(args)
    model = load_model(args.model, device)
    styles = expand_styles(args.styles)
    config = finetune_config(model, styles, **_train_overrides(args))
    with RunLock(out):
        trainer = add_styles(
            model, styles, config, out_dir=out, device=device, progress=not args.quiet, overwrite=args.overwrite
        )
    print(f"network now has {trainer.model.num_styles} styles; model: {out / 'model.pt'}")
    return 0


def _style_arg(text: str):
    return int(text) if text.lstrip("-").isdigit() else text


def _mix_arg(text: str) -> tuple[str, float]:
    """``STYLE=WEIGHT`` (a name or a label, then a finite number) for ``--mix``."""
    name, sep, weight = text.rpartition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not STYLE=WEIGHT (e.g. water_lilies=0.5 or 3=0.5)")
    return name, _finite_float(weight)


def _image_output(path: str | os.PathLike, overwrite: bool) -> Path:
    """An output image path checked before any work: a format PIL writes, and a place it can go."""
    from PIL import Image

    from .files import check_output
    from .images import image_format

    path = check_output(path, overwrite)
    fmt = image_format(path)
    Image.init()
    if fmt not in Image.SAVE:
        raise ValueError(f"Cannot write {fmt} images ({path.name!r}); use a suffix such as .png or .jpg.")
    return path


def _stylize_request(args: argparse.Namespace, model) -> tuple[list, list[str]]:
    """The styles to render (one entry per output image) and their names, validated before any work."""
    import torch

    from .style import normalize, resolve_style

    if args.mix:
        mixture: dict = {}
        for name, weight in args.mix:
            label = model.style_index(_style_arg(name))  # a wrong name: "did you mean ...?"
            mixture[label] = mixture.get(label, 0.0) + weight
        mixture = normalize(mixture) if args.normalize else mixture
        resolve_style(mixture, model.num_styles, model.style_names)  # weights: finite, >= 0, not all 0
        return [mixture], ["mix"]
    if args.weights:
        weights = torch.tensor(args.weights)
        weights = normalize(weights) if args.normalize else weights
        resolve_style(weights, model.num_styles, model.style_names)
        return [weights], ["mix"]
    if args.normalize:
        raise ValueError("--normalize scales mixing weights: use it with --weights or --mix.")
    labels = list(dict.fromkeys(model.style_index(_style_arg(s)) for s in (args.style or ["0"])))  # once each
    return labels, [model.style_names[label] for label in labels]


def _cmd_stylize(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .files import name_max, safe_file_name, safe_file_names
    from .images import image_name, load_image, save_image
    from .memory import images_per_pass

    device = _device(args)
    model = load_model(args.model, device)
    styles, names = _stylize_request(args, model)
    if len(styles) == 1:
        targets = [_image_output(args.out, args.overwrite)]
    else:
        folder = Path(args.out)
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(f"{folder} is a file; with several --style values --out names a folder.")
        # Style names come from the checkpoint: data, never paths (no "../", no "/", distinct names).
        stem = safe_file_name(image_name(args.content), max_bytes=100, fallback="image")
        room = min(name_max(folder if folder.is_dir() else folder.parent) - len(".png"), 255) - len(stem) - 1
        parts = safe_file_names(names, max_bytes=max(16, min(100, room - 8)))
        targets = [_image_output(folder / f"{stem}_{part}.png", args.overwrite) for part in parts]
    image = load_image(args.content, args.size)
    height, width = image.shape[-2:]
    per_pass = images_per_pass(model, height, width, len(styles), device)  # too large: refused, naming a size
    for start in range(0, len(styles), per_pass):
        chunk = styles[start : start + per_pass]
        outputs = model.stylize(image, chunk)  # a list: one output per entry
        for output, target in zip(outputs, targets[start : start + per_pass]):
            save_image(output[None], target, overwrite=args.overwrite)
            print(f"saved {target}")
    return 0


def _printable(text: str) -> str:
    """A name from a file, shown on a terminal: control characters (escape sequences) escaped."""
    return text if text.isprintable() else ascii(text)[1:-1]


def model_summary(model, path: str | os.PathLike) -> list[str]:
    """Lines describing a loaded network: architecture, how it was trained (``model.metadata``: the run's
    config and its facts), styles."""
    from .train import TrainConfig

    meta = getattr(model, "metadata", {}) or {}
    cfg = model.config
    lines = [
        f"{path}: {model.num_styles} style(s); width {cfg.width:g} ({model.num_shared_parameters():,} shared "
        f"parameters, {model.num_parameters_per_style():,} per style); norm {cfg.norm}, upsample {cfg.upsample}, "
        f"padding {cfg.padding}"
    ]
    if not meta:
        lines.append("trained: no training metadata in this file")
    else:
        run = TrainConfig.from_metadata(meta)
        seconds = meta.get("seconds")
        took = f", {float(seconds) / 60:.0f} min" if isinstance(seconds, (int, float)) else ""
        world = meta.get("world_size", 1)
        lines.append(
            f"trained: {meta.get('step', '?')} steps, batch {run.batch_size}, {run.crop_size} px crops, "
            f"style images {run.style_size} px, lr {run.lr}, precision {meta.get('precision', run.precision)}, "
            f"on {meta.get('device', '?')}"
            + (f" x {world} processes" if world not in (1, "1") else "")
            + took
            + f" (cinlab {meta.get('cinlab_version', '?')})"
        )
        lines.append(
            f"loss network: {meta.get('loss_network', run.backend)}; content {', '.join(run.content_layers)} "
            f"(weight {run.content_weight}); style {', '.join(run.style_layers)} (weight {run.style_weight})"
        )
        photos = run.content
        if isinstance(photos, (list, tuple)):
            shown = ", ".join(_printable(str(p)) for p in photos[:16]) + (", ..." if len(photos) > 16 else "")
            lines.append(
                f"content photos: {len(photos)} ({shown})"
                + (f"; held out: {', '.join(_printable(str(h)) for h in run.held_out)}" if run.held_out else "")
            )
        elif photos:
            lines.append(f"content photos: {_printable(str(photos))}")
    lines.append("styles (label: name):")
    lines += [
        f"  {label:>{len(str(model.num_styles - 1))}}: {_printable(name)}"
        for label, name in enumerate(model.style_names)
    ]
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    from .checkpoint import load_model

    model = load_model(args.model, "cpu")
    if args.json:
        cfg = model.config
        print(
            json.dumps(
                {
                    "model": {
                        "num_styles": cfg.num_styles,
                        "width": cfg.width,
                        "norm": cfg.norm,
                        "upsample": cfg.upsample,
                        "padding": cfg.padding,
                    },
                    "style_names": model.style_names,
                    "metadata": model.metadata,
                },
                indent=1,
                default=str,
            )
        )
        return 0
    print("\n".join(model_summary(model, args.model)))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .export import to_onnx, to_torchscript
    from .files import check_output

    check_output(args.out, args.overwrite)
    model = load_model(args.model, "cpu")
    export = to_onnx if args.format == "onnx" else to_torchscript
    path = export(model, args.out, overwrite=args.overwrite)
    print(f"saved {path} ({args.format}; inputs image [B,3,H,W], style_weights [B,{model.num_styles}])")
    return 0


def _cmd_download_images(args: argparse.Namespace) -> int:
    from .shipped import fill_class_folder

    filled = fill_class_folder(args.out, args.set, progress=not args.quiet)
    for stream, line in filled.report():
        print(line, file=sys.stdout if stream == "out" else sys.stderr, flush=True)
    return 0 if filled.complete else 2


def build_parser() -> argparse.ArgumentParser:
    from .optimization import GATYS_CONTENT_WEIGHT, GATYS_STYLE_WEIGHT
    from .train import PRESETS, option_help

    parser = argparse.ArgumentParser(
        prog="cinlab", description="Neural style transfer for teaching (Dumoulin et al. 2017)."
    )
    parser.add_argument("--version", action="version", version=f"cinlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gatys", help="stylise one image by optimising its pixels (Gatys et al.)")
    g.add_argument("--content", required=True, help="photo: registry name or file")
    g.add_argument("--style", required=True, nargs="+", help="painting(s): registry names or files")
    g.add_argument(
        "--style-blend", type=_finite_float, nargs="+", default=None, help="weights of several styles, one per --style"
    )
    g.add_argument("--out", required=True, help="output image file (.png, .jpg); its format is checked first")
    g.add_argument("--size", type=_positive_int, default=512, help="shorter side of the output (default 512)")
    g.add_argument("--scales", type=_positive_int, nargs="+", default=None, help="coarse-to-fine sizes, e.g. 256 512")
    g.add_argument("--steps", type=_positive_int, default=300, help="optimiser iterations (default 300)")
    g.add_argument(
        "--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="L-BFGS (default; Gatys et al.) or Adam"
    )
    g.add_argument(
        "--style-weight",
        type=_finite_float,
        default=GATYS_STYLE_WEIGHT,
        help=f"weight of the style loss (default {GATYS_STYLE_WEIGHT:g}); larger: more paint, less photo",
    )
    g.add_argument(
        "--content-weight",
        type=_finite_float,
        default=GATYS_CONTENT_WEIGHT,
        help=f"weight of the content loss (default {GATYS_CONTENT_WEIGHT:g})",
    )
    g.add_argument("--style-scale", type=_finite_float, default=1.0, help="style image size relative to the content")
    g.add_argument(
        "--init", choices=("content", "noise"), default="content", help="start from the photo (default) or from noise"
    )
    g.add_argument(
        "--preserve-color",
        choices=("luminance", "histogram"),
        default=None,
        help="keep the photo's colours: stylise luminance only, or recolour the painting to the photo's colours first",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (noise start; default 0)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the GPU if present)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_gatys)

    t = sub.add_parser("train", help="train a feed-forward network on one or more styles (works under torchrun)")
    t.add_argument("--styles", nargs="+", default=[], help=option_help("styles"))
    t.add_argument("--out", required=True, help="run folder: checkpoint.pt, model.pt, train_log.csv, eval_log.csv")
    t.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="vgg19",
        help="run sizes to start from (vgg19: the defaults below; paper: VGG-16; cpu: 2 cores; fast: seconds)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    _add_training_options(t, "train")
    t.set_defaults(func=_cmd_train)

    a = sub.add_parser("add-style", help="teach a trained network new styles (only their gamma/beta train)")
    a.add_argument("--model", required=True, help="the trained network (model.pt)")
    a.add_argument("--styles", nargs="+", required=True, help="the new styles: " + option_help("styles"))
    a.add_argument("--out", required=True, help="run folder for the grown network")
    _add_training_options(a, "add-style")
    a.set_defaults(func=_cmd_add_style)

    s = sub.add_parser("stylize", help="stylise a photo with a trained network")
    s.add_argument("--model", required=True, help="the trained network (model.pt; see 'cinlab info')")
    s.add_argument("--content", required=True, help="photo: registry name or file")
    which = s.add_mutually_exclusive_group()
    which.add_argument(
        "--style",
        nargs="+",
        default=None,
        help="style label(s) or name(s) (default 0); several: one image each, and --out names a folder",
    )
    which.add_argument(
        "--mix",
        type=_mix_arg,
        nargs="+",
        metavar="STYLE=WEIGHT",
        help="one image in a mixture of named styles, e.g. --mix water_lilies=0.5 in_bed=0.5",
    )
    which.add_argument(
        "--weights", type=_finite_float, nargs="+", help="one image in a mixture: one weight per style, all N of them"
    )
    s.add_argument("--normalize", action="store_true", help="scale the --mix or --weights weights to sum to 1")
    s.add_argument("--out", required=True, help="output image file (.png, .jpg), or a folder for several --style")
    s.add_argument("--size", type=_positive_int, default=None, help="shorter side of the output (default: the photo's)")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the GPU if present)")
    s.add_argument("--overwrite", action="store_true", help="replace existing output files")
    s.set_defaults(func=_cmd_stylize)

    i = sub.add_parser("info", help="a trained network's styles (labels and names) and how it was trained")
    i.add_argument("--model", required=True, help="the network file (model.pt or checkpoint.pt)")
    i.add_argument("--json", action="store_true", help="everything as JSON (architecture, style names, metadata)")
    i.set_defaults(func=_cmd_info)

    e = sub.add_parser("export", help="export a trained network to ONNX or TorchScript")
    e.add_argument("--model", required=True, help="the trained network (model.pt)")
    e.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="file format (default onnx)")
    e.add_argument("--out", required=True, help="output file (e.g. model.onnx, model.ts)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    e.set_defaults(func=_cmd_export)

    d = sub.add_parser(
        "download-images",
        help="fill a class folder for offline use: the registry's images, the networks, the VGG-19 weights",
        description="Fill FOLDER with everything the course needs offline, each file verified by its sha256: the "
        "registry's images (copied from CINLAB_IMAGE_DIR when it has them, else downloaded), the shipped networks "
        "(models/) and the VGG-19 weights (weights/). Then point every machine at it: export CINLAB_IMAGE_DIR=FOLDER.",
    )
    d.add_argument("--out", required=True, help="the class folder (then export CINLAB_IMAGE_DIR=FOLDER)")
    d.add_argument(
        "--set", default=None, help="only one set (varied32, impressionist10, finetune, photos, train_photos)"
    )
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_download_images)
    return parser


def _is_out_of_memory(err: BaseException) -> bool:
    """torch's and Python's out-of-memory errors (CPU allocator, CUDA), not other RuntimeErrors."""
    import torch

    if isinstance(err, MemoryError):
        return True
    if isinstance(err, getattr(torch, "OutOfMemoryError", ())) or isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        marker in text for marker in ("can't allocate memory", "out of memory", "cannot allocate memory")
    )


def _one_line(message) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cinlab`` console script; returns the exit status.

    Errors a user can fix (bad input, files, devices, a busy run folder, loss-network weights that
    cannot be had, running out of memory, a missing optional package) are one line on stderr and
    exit status 2; anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and not args.resume and not args.styles:
        parser.error("train needs --styles (or --resume)")
    prefix = f"cinlab {args.command}: error:"
    try:
        return args.func(args)
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        if isinstance(err, OSError) and not str(message).strip():
            message = f"{err.strerror or type(err).__name__}: {err.filename or ''}"
        print(f"{prefix} {_one_line(message)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:
        if not _is_out_of_memory(err):
            raise  # a bug: keep the traceback
        detail = _one_line(str(err).splitlines()[0] if str(err) else type(err).__name__)[:200]
        fix = OUT_OF_MEMORY_FIX.get(args.command, "free memory or use a machine with more")
        print(f"{prefix} out of memory ({detail}): {fix}.", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        if not err.name or err.name.split(".")[0] in ("cinlab", "torch", "torchvision"):
            raise
        package = err.name.split(".")[0]
        print(
            f"{prefix} this needs the package {package!r}, which is not installed: pip install {package}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
