"""Latency of one interactive style-mixing update (notebook 7's widgets): forward + JPEG encode.

    python benchmarks/widget.py             # 256 px preview, the shipped varied32 network

Compares cinlab's ``StyleMixer`` (bf16 where native, channels-last on CPU, inference mode) with
a plain eager float32 forward of the same network plus the same encoding, in the same run.
Target (issue 5/6): under 100 ms per update at 256 px on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from cinlab import style
from cinlab.checkpoint import load_model
from cinlab.config import models_dir
from cinlab.images import load_image
from cinlab.reference import PlainCIN, PlainNet
from cinlab.widgets import StyleMixer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    model = load_model(models_dir() / "varied32.pt", device=device)
    reference = PlainNet(model.num_styles).to(device).copy_from(model).eval()
    content = load_image("tubingen", args.size, device=device)
    mixer = StyleMixer(model, content, size=args.size)
    alphas = [i / (args.updates - 1) for i in range(args.updates)]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run(update):
        update(0.0)  # warm-up
        times = []
        for alpha in alphas:
            sync()
            start = time.perf_counter()
            update(alpha)
            sync()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times), max(times)

    def ours(alpha):
        mixer.set_pair(0, 1, alpha)
        StyleMixer.encode(mixer.render())

    weights_of = {a: style.mixture_weights(style.interpolate(0, 1, a), model.num_styles)[None].to(device) for a in [0.0] + alphas}

    @torch.no_grad()
    def plain(alpha):
        w = weights_of[alpha]
        # the plain network takes labels; a mixture needs the mixed rows, computed the plain way
        saved = [(n.gamma.data.clone(), n.beta.data.clone()) for n in _norms(reference)]
        for n, (g, b) in zip(_norms(reference), saved):
            n.gamma.data = w @ g
            n.beta.data = w @ b
        out = reference(content, torch.zeros(1, dtype=torch.long, device=device))
        for n, (g, b) in zip(_norms(reference), saved):
            n.gamma.data, n.beta.data = g, b
        StyleMixer.encode(out.cpu())

    med_ref, max_ref = run(plain)
    med_ours, max_ours = run(ours)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"widget update (mix two styles, forward + JPEG encode), {content.shape[-1]}x{content.shape[-2]} px, {name}, {time.strftime('%Y-%m-%d')}")
    print(f"{'':<24} {'median ms':>10} {'max ms':>8}")
    print(f"{'reference (fp32 eager)':<24} {med_ref:>10.1f} {max_ref:>8.1f}")
    print(f"{'cinlab StyleMixer':<24} {med_ours:>10.1f} {max_ours:>8.1f}   ({mixer.precision.name})")
    print(f"speed-up: {med_ref / med_ours:.2f}x; target < 100 ms: {'met' if med_ours < 100 else 'NOT met'}")


def _norms(net):
    return [m for m in net.modules() if isinstance(m, PlainCIN)]


if __name__ == "__main__":
    main()
