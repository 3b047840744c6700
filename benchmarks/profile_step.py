"""Where a training step's time goes: a kernel table by category (torch.profiler), for the GPU or the CPU.

    python benchmarks/profile_step.py                  # the vgg19 preset on a GPU; the cpu preset on a CPU
    python benchmarks/profile_step.py --compile        # the same step compiled (network and loss as one graph)

Runs a few warm-up steps of cinlab's Trainer (impressionist10, N = 10), profiles the next ones
and prints the self time of every operator grouped into: convolutions, normalisation, Gram
matrices and other matrix products, elementwise (ReLU, padding, casts, arithmetic), layout
copies, the optimiser, and the rest; plus the top operators. Writes the table to
``benchmarks/results/profile_<device>_<date>.txt``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from cinlab import image_names
from cinlab.train import TrainConfig, Trainer

CATEGORIES = [
    ("convolution", ("conv", "cudnn", "winograd", "implicit_gemm", "sm90_xmma", "mkldnn_convolution")),
    ("normalisation", ("group_norm", "native_group_norm", "instance_norm", "batch_norm")),
    ("matmul (Gram, mixing)", ("bmm", "baddbmm", "mm", "matmul", "gemm", "addmm")),
    ("optimiser", ("adam", "foreach", "_fused")),
    (
        "layout / copies",
        ("copy_", "contiguous", "clone", "to_copy", "cat", "pad", "reflection", "permute", "transpose"),
    ),
    (
        "elementwise",
        (
            "relu",
            "threshold",
            "add",
            "mul",
            "sub",
            "div",
            "pow",
            "sigmoid",
            "mean",
            "sum",
            "where",
            "fill",
            "triton",
            "exp",
            "upsample",
        ),
    ),
]


def category(name: str) -> str:
    low = name.lower()
    for label, keys in CATEGORIES:
        if any(k in low for k in keys):
            return label
    return "other"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    preset = "vgg19" if device.type == "cuda" else "cpu"
    config = TrainConfig.preset(preset, styles=image_names("impressionist10"), eval_batches=1, compile=args.compile)
    trainer = Trainer(config, device=device)
    for _ in range(3):
        trainer.train_step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            trainer.train_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    wall = (time.perf_counter() - start) / args.steps
    use_device = device.type == "cuda"
    totals: dict[str, float] = defaultdict(float)
    rows = []
    for event in prof.key_averages():
        t = (
            (event.self_device_time_total if use_device else event.self_cpu_time_total) / 1000 / args.steps
        )  # ms per step
        if t <= 0:
            continue
        totals[category(event.key)] += t
        rows.append((t, event.key))
    name = torch.cuda.get_device_name(device) if use_device else f"CPU, {torch.get_num_threads()} threads"
    lines = [
        f"training step, preset {preset} ({config.crop_size} px, batch {config.batch_size}, N=10), "
        f"{trainer.precision.name}{', compiled' if args.compile else ''}, {name}, {time.strftime('%Y-%m-%d')}",
        f"wall time per step: {wall * 1000:.1f} ms ({config.batch_size / wall:.1f} images/s)",
        f"{'category':<24} {'ms/step':>9} {'share':>7}",
    ]
    total = sum(totals.values())
    for label, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f"{label:<24} {t:>9.2f} {t / total:>6.1%}")
    lines.append("top operators (self time, ms/step):")
    lines += [f"  {t:>8.2f}  {key[:90]}" for t, key in sorted(rows, reverse=True)[:15]]
    text = "\n".join(lines)
    print(text)
    out = (
        Path(__file__).resolve().parent
        / "results"
        / f"profile_{device.type}{'_compiled' if args.compile else ''}_{time.strftime('%Y-%m-%d')}.txt"
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
