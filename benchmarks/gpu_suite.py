"""All GPU benchmarks in one run (about 3 minutes on an H100/H200); the table goes to stdout and
to ``benchmarks/results/<gpu>_<date>.txt``.

    python benchmarks/gpu_suite.py

1. Where a training step's time goes: a kernel table by category, eager and compiled
   (``profile_step.py``).
2. Training step, batch 16, 256 px, N = 10 with the VGG loss: cinlab (bf16, compiled) against the
   plain float32 reference and the reference at its best (bf16 + torch.compile); FLOPs and
   TFLOP/s against peak; peak memory. Stylising at 256 / 512 / 1024 px. Targets: >= 2x the
   compiled reference, >= 25 % of bf16 peak, < 8 ms at 1024 px.
3. Gatys at 512 px, 300 L-BFGS iterations (target: under 3 s, same loss +-1 %), against the
   tutorial-style reference.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import torch

import gatys as gatys_bench  # the scripts beside this one (their folder is on sys.path when run)
import profile_step
import train_step


def main():
    if not torch.cuda.is_available():
        raise SystemExit(
            "gpu_suite.py needs a CUDA device; the CPU benchmarks are train_step.py, gatys.py and widget.py."
        )
    name = torch.cuda.get_device_name()
    peak = 990.0 if ("H100" in name or "H200" in name) else None  # dense bf16 TFLOP/s
    buffer = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        profile_step.main(["--steps", "5"])
        print()
        profile_step.main(["--steps", "5", "--compile"])
        print()
        train_step.main(["--compile", "--flops", "--steps", "20", *(["--peak-tflops", str(peak)] if peak else [])])
        print()
        gatys_bench.main(["--size", "512", "--steps", "300", "--repeats", "1"])
        print(f"\nsuite wall time: {time.perf_counter() - start:.0f} s")
    text = buffer.getvalue()
    print(text)
    out = Path(__file__).resolve().parent / "results" / f"{name.replace(' ', '_')}_{time.strftime('%Y-%m-%d')}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
