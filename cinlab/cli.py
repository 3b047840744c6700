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

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cinlab`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"cinlab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
