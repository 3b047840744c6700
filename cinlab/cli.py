"""The ``cinlab`` command line (also ``python -m cinlab``).

    cinlab gatys    --content PHOTO --style PAINTING --out OUT.png [--size 512 --steps 300 ...]
    cinlab train    --styles impressionist10 --out model.pt [--steps ... --size ... --batch ...]
    cinlab add-style --model model.pt --styles van_gogh_cottages --out model+1.pt
    cinlab stylize  --model model.pt --content PHOTO --style 3 --out OUT.png

Images are registry names (``cinlab.data.image_names()``) or file paths. Output files are never
overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _refuse_overwrite(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise SystemExit(f"cinlab: {path} already exists; pass --overwrite to replace it.")
    return path


def _cmd_gatys(args: argparse.Namespace) -> int:
    from .data import save_image
    from .gatys import gatys

    out = _refuse_overwrite(args.out, args.overwrite)
    result = gatys(
        args.content,
        args.style,
        steps=args.steps,
        optimizer=args.optimizer,
        size=args.size,
        style_scale=args.style_scale,
        style_blend=args.style_blend,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        init=args.init,
        seed=args.seed,
        preserve_color=args.preserve_color,
        scales=args.scales,
        device=args.device,
        progress=not args.quiet,
    )
    save_image(result.image, out, overwrite=args.overwrite)
    print(
        f"saved {out} ({result.image.shape[-1]}x{result.image.shape[-2]}) after {result.steps} steps in "
        f"{result.seconds:.1f} s; loss {result.history['total'][0]:.4g} -> {result.history['total'][-1]:.4g}"
    )
    return 0


def expand_styles(items: Sequence[str]) -> list[str]:
    """Style arguments to image names/paths: a set name (``impressionist10``) expands to its members."""
    from .data import image_names, registry

    sets = {s for info in registry().values() for s in info.sets}
    out: list[str] = []
    for item in items:
        out.extend(image_names(item) if item in sets and item not in registry() else [item])
    return out


def _prepare_run_dir(out: str, overwrite: bool) -> Path:
    path = Path(out)
    if (path / "checkpoint.pt").exists() and not overwrite:
        raise SystemExit(
            f"cinlab: {path} already holds a training run; pass --resume to continue it or --overwrite to start over."
        )
    if overwrite:
        for name in ("checkpoint.pt", "model.pt", "train_log.csv", "eval_log.csv"):
            (path / name).unlink(missing_ok=True)
    return path


def _train_overrides(args: argparse.Namespace) -> dict:
    keys = {
        "steps": "steps", "size": "image_size", "batch": "batch_size", "style_size": "style_size",
        "style_weight": "style_weight", "content_weight": "content_weight", "lr": "lr", "content": "content",
        "width": "width", "seed": "seed", "eval_every": "eval_every", "eval_batches": "eval_batches",
        "checkpoint_every": "checkpoint_every", "log_every": "log_every", "amp": "amp",
    }
    out = {field: getattr(args, arg) for arg, field in keys.items() if getattr(args, arg, None) is not None}
    if getattr(args, "compile", False):
        out["compile"] = True
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, Trainer

    if args.resume:
        trainer = Trainer.resume(Path(args.out) / "checkpoint.pt", device=args.device, **_train_overrides(args))
    else:
        out = _prepare_run_dir(args.out, args.overwrite)
        config = TrainConfig.preset(args.preset, styles=expand_styles(args.styles), **_train_overrides(args))
        trainer = Trainer(config, out_dir=out, device=args.device)
    trainer.fit(progress=not args.quiet)
    if trainer.rank == 0:
        print(f"trained {trainer.model.num_styles} style(s) for {trainer.step} steps in {trainer.seconds:.0f} s; "
              f"model: {Path(args.out) / 'model.pt'}")
    return 0


def _cmd_add_style(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .checkpoint import load_model
    from .train import TrainConfig, add_styles

    out = _prepare_run_dir(args.out, args.overwrite)
    model = load_model(args.model)
    recorded = model.metadata.get("config")
    config = TrainConfig.from_dict(recorded) if recorded else TrainConfig.preset("vgg19")
    config = replace(config, **_train_overrides(args))
    trainer = add_styles(model, expand_styles(args.styles), config, out_dir=out, device=args.device, progress=not args.quiet)
    print(f"network now has {trainer.model.num_styles} styles; model: {out / 'model.pt'}")
    return 0


def _cmd_stylize(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .data import save_image

    model = load_model(args.model, device=args.device or None)
    if args.weights:
        import torch

        from .mixing import normalize_weights

        weights = normalize_weights(args.weights) if args.normalize else torch.tensor(args.weights)
        styles = [weights]
        names = ["mix"]
    else:
        styles = [model.style_index(int(s) if s.isdigit() else s) for s in args.style]
        names = [model.style_names[i] for i in styles]
    if len(styles) == 1:
        targets = [_refuse_overwrite(args.out, args.overwrite)]
    else:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        stem = Path(args.content).stem
        targets = [_refuse_overwrite(folder / f"{stem}_{name}.png", args.overwrite) for name in names]
    images = model.stylize(args.content, styles[0] if len(styles) == 1 else styles, size=args.size)
    for image, target in zip(images, targets):
        save_image(image[None], target, overwrite=args.overwrite)
        print(f"saved {target}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .export import to_onnx, to_torchscript

    model = load_model(args.model)
    export = to_onnx if args.format == "onnx" else to_torchscript
    path = export(model, args.out, overwrite=args.overwrite)
    print(f"saved {path} ({args.format}; inputs image [B,3,H,W], style_weights [B,{model.num_styles}])")
    return 0


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, help="total training steps")
    p.add_argument("--size", type=int, help="content crop size in px")
    p.add_argument("--batch", type=int, help="batch size (split across torchrun processes)")
    p.add_argument("--style-size", type=int, help="shorter side of the style images for their Gram targets")
    p.add_argument("--style-weight", type=float)
    p.add_argument("--content-weight", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--content", help="'photos' (built-in) or a folder of images (COCO / ImageNet layout)")
    p.add_argument("--seed", type=int)
    p.add_argument("--eval-every", type=int, help="run the evaluation protocol every N steps")
    p.add_argument("--eval-batches", type=int, help="fixed content batches per evaluation (paper: 32)")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--log-every", type=int)
    p.add_argument("--amp", choices=("auto", "bf16", "none"))
    p.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA)")
    p.add_argument("--device", default=None)
    p.add_argument("--overwrite", action="store_true", help="start over in an existing run folder")
    p.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from .gatys import GATYS_CONTENT_WEIGHT, GATYS_STYLE_WEIGHT

    parser = argparse.ArgumentParser(prog="cinlab", description="Neural style transfer for teaching (Dumoulin et al. 2017).")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gatys", help="stylise one image by optimising its pixels (Gatys et al.)")
    g.add_argument("--content", required=True, help="photo: registry name or file")
    g.add_argument("--style", required=True, nargs="+", help="painting(s): registry names or files")
    g.add_argument("--style-blend", type=float, nargs="+", default=None, help="weights of several styles")
    g.add_argument("--out", required=True, help="output image file (.png, .jpg)")
    g.add_argument("--size", type=int, default=512, help="shorter side of the output (default 512)")
    g.add_argument("--scales", type=int, nargs="+", default=None, help="coarse-to-fine sizes, e.g. 256 512")
    g.add_argument("--steps", type=int, default=300, help="optimiser iterations (default 300)")
    g.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    g.add_argument("--style-weight", type=float, default=GATYS_STYLE_WEIGHT)
    g.add_argument("--content-weight", type=float, default=GATYS_CONTENT_WEIGHT)
    g.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the content")
    g.add_argument("--init", choices=("content", "noise"), default="content")
    g.add_argument("--preserve-color", choices=("luminance", "histogram"), default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default=None, help="cpu, cuda, ... (default: GPU if present)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_gatys)

    from .train import PRESETS

    t = sub.add_parser("train", help="train a feed-forward network on one or more styles (works under torchrun)")
    t.add_argument("--styles", nargs="+", required=False, default=[], help="style images or a set (impressionist10, varied32)")
    t.add_argument("--out", required=True, help="run folder: checkpoint.pt, model.pt, train_log.csv, eval_log.csv")
    t.add_argument("--preset", choices=sorted(PRESETS), default="vgg19")
    t.add_argument("--width", type=float, help="channel multiplier (1.0 = the paper's network)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    _add_training_options(t)
    t.set_defaults(func=_cmd_train)

    a = sub.add_parser("add-style", help="teach a trained network new styles (only their gamma/beta train)")
    a.add_argument("--model", required=True, help="the trained network (model.pt)")
    a.add_argument("--styles", nargs="+", required=True)
    a.add_argument("--out", required=True, help="run folder for the grown network")
    _add_training_options(a)
    a.set_defaults(func=_cmd_add_style)

    s = sub.add_parser("stylize", help="stylise a photo with a trained network")
    s.add_argument("--model", required=True)
    s.add_argument("--content", required=True)
    s.add_argument("--style", nargs="+", default=["0"], help="style label(s) or name(s); several -> --out is a folder")
    s.add_argument("--weights", type=float, nargs="+", help="mixing weights, one per style (instead of --style)")
    s.add_argument("--normalize", action="store_true", help="scale --weights to sum to 1")
    s.add_argument("--out", required=True)
    s.add_argument("--size", type=int, default=None, help="shorter side of the output (default: the photo's)")
    s.add_argument("--device", default=None)
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_stylize)

    e = sub.add_parser("export", help="export a trained network to ONNX or TorchScript")
    e.add_argument("--model", required=True)
    e.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    e.add_argument("--out", required=True)
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=_cmd_export)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cinlab`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and not args.resume and not args.styles:
        parser.error("train needs --styles (or --resume)")
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"cinlab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
