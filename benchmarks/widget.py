"""Kernel-side cost of one live-widget picture (notebook 7): forward pass + JPEG encode.

    python benchmarks/widget.py                  # 256 px full, the widget's preview size and thread count
    python benchmarks/widget.py --threads 2 --updates 30

Times, in one run and interleaved (round-robin, so a change in the machine's load hits every row
alike), what a widget does per picture:

- ``reference``: the plain float32 network (:mod:`cinlab.reference`) mixing two styles at full size;
- ``full`` / ``preview``: :class:`cinlab.mixer.StyleMixer` mixing two styles at full size and at
  the preview size, each + JPEG encode (quality 90 / 80) as the widget sends it; the preview size
  is what the widget would choose here (:meth:`cinlab.live.Sizing.preview`: as large as fits the
  preview budget, judged from the full render's time), or ``--preview``;
- ``spatial, 32 styles``: a spatial split through the network with all 32 styles' weight maps
  (what the widget did before it cut the network down to the styles in use);
- ``spatial full`` / ``spatial preview``: the StyleMixer's spatial split (a condition on the 2
  styles it uses) + JPEG.

Threads: by default what the widget's render thread uses (:func:`cinlab.live.render_threads`,
half the cores). Prints median and minimum wall time and median CPU time (process time, all
threads) per row, and the load average before and after: on a shared machine the minimum is
the best guess of the quiet-machine time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from cinlab import style
from cinlab.checkpoint import load_model
from cinlab.config import models_dir
from cinlab.live import Sizing, render_threads
from cinlab.mixer import StyleMixer
from cinlab.reference import PlainCIN, PlainNet
from cinlab.style import StyleCondition


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="full picture's shorter side (default 256)")
    parser.add_argument(
        "--preview", type=int, help="preview's shorter side (default: the widget's choice on this machine)"
    )
    parser.add_argument("--updates", type=int, default=15, help="pictures per row (default 15)")
    parser.add_argument(
        "--threads",
        type=int,
        default=render_threads(),
        help=f"torch threads (default {render_threads()}, as the widget)",
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_model(models_dir() / "varied32.pt", device=device)
    mixer = StyleMixer(model, "chelsea", size=args.size)
    reference = PlainNet(model.num_styles).to(device).copy_from(model).eval()
    content = mixer.content
    load_start = os.getloadavg()
    full_ms = []
    for alpha in (0.2, 0.4, 0.6, 0.8):  # the first is a warm-up
        mixer.set_pair(0, 1, alpha)
        mixer.render()
        full_ms.append(mixer.last_ms)
    sizing = Sizing()
    preview = args.preview or sizing.preview(args.size, min(full_ms[1:])) or args.size

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    @torch.no_grad()
    def plain_mix(alpha):
        # the plain network takes labels; a mixture needs the mixed rows, computed the plain way
        w = style.mixture_weights(style.interpolate(0, 1, alpha), model.num_styles)[None].to(device)
        norms = [m for m in reference.modules() if isinstance(m, PlainCIN)]
        saved = [(n.gamma.data, n.beta.data) for n in norms]
        for n, (g, b) in zip(norms, saved):
            n.gamma.data, n.beta.data = w @ g, w @ b
        out = reference(content, torch.zeros(1, dtype=torch.long, device=device))
        for n, (g, b) in zip(norms, saved):
            n.gamma.data, n.beta.data = g, b
        StyleMixer.encode(out.cpu())

    def mix(size, quality):
        def run(alpha):
            mixer.set_pair(0, 1, alpha)
            StyleMixer.encode(mixer.render(size), quality=quality)

        return run

    @torch.inference_mode()
    def spatial_all_styles(alpha):
        weights = mixer.set_spatial(0, 1, "horizontal", alpha)
        StyleMixer.encode(model(content, StyleCondition("spatial", weights.to(device)), check=False).cpu())

    def spatial(size, quality):
        def run(alpha):
            mixer.set_spatial(0, 1, "horizontal", alpha)
            StyleMixer.encode(mixer.render(size), quality=quality)

        return run

    rows = {
        "reference (plain fp32)": plain_mix,
        "full": mix(None, 90),
        "preview": mix(preview, 80),
        "spatial, 32 styles": spatial_all_styles,
        "spatial full": spatial(None, 90),
        "spatial preview": spatial(preview, 80),
    }
    wall = {name: [] for name in rows}
    cpu = {name: [] for name in rows}
    for run in rows.values():
        run(0.5)  # warm-up
    for i in range(args.updates):
        alpha = 0.05 + 0.9 * i / max(1, args.updates - 1)
        for name, run in rows.items():
            sync()
            t, c = time.perf_counter(), time.process_time()
            run(alpha)
            sync()
            wall[name].append((time.perf_counter() - t) * 1000)
            cpu[name].append((time.process_time() - c) * 1000)

    h, w = content.shape[-2:]
    ph, pw = mixer.content_at(preview).shape[-2:]
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({os.cpu_count()} cores), {args.threads} torch thread(s)"
    )
    print(
        f"one widget picture (forward + JPEG encode): full {w}x{h} px, preview {pw}x{ph} px, varied32 ({model.num_styles} styles), "
        f"{where}, {mixer.precision.name}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    if not args.preview:
        print(
            f"preview size: the widget's choice for a {sizing.preview_budget_ms:.0f} ms budget after full renders of {min(full_ms[1:]):.0f} ms"
        )
    print(f"{'':<24} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}")
    for name in rows:
        print(
            f"{name:<24} {statistics.median(wall[name]):>10.1f} {min(wall[name]):>8.1f} {statistics.median(cpu[name]):>8.1f}"
        )
    speed = statistics.median(wall["reference (plain fp32)"]) / statistics.median(wall["preview"])
    print(
        f"preview vs reference: {speed:.1f}x faster; spatial: 2-style network "
        f"{statistics.median(wall['spatial, 32 styles']) / statistics.median(wall['spatial full']):.2f}x faster than 32 styles"
    )
    print(
        f"load average (1, 5, 15 min): start {tuple(round(x, 2) for x in load_start)}, end {tuple(round(x, 2) for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
