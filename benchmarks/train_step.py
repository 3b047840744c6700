"""Training-step throughput and stylising latency: cinlab against a plain eager float32 reference.

    python benchmarks/train_step.py                        # CPU defaults: 128 px, batch 4
    python benchmarks/train_step.py --size 256 --batch 16  # the paper's setting (GPU)

Both sides use the same network weights, style targets, content batches and labels
(``cinlab/reference.py`` is the plain implementation). Prints images per second for a
training step (N = 10 styles), milliseconds per stylised image at 256 / 512 / 1024 px, the
ratios cinlab / reference, and the loss difference of cinlab's mixed-precision step against
the float32 reference on identical inputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from cinlab import image_names
from cinlab.hardware import choose_precision
from cinlab.reference import PlainNet, PlainVGG, plain_losses
from cinlab.train import TrainConfig, Trainer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, device, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_name(device):
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=None, help="training crop size (CPU 128, GPU 256)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (CPU 4, GPU 16)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--stylize-sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the reference at its best setting (bf16 autocast + torch.compile) and compile cinlab",
    )
    parser.add_argument(
        "--flops", action="store_true", help="count FLOPs of one training step (torch.utils.flop_counter)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="device peak for the TFLOP/s ratio (H100/H200 bf16 dense: ~990)"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    size = args.size or (256 if gpu else 128)
    batch = args.batch or (16 if gpu else 4)

    config = TrainConfig.preset(
        "vgg19",
        styles=image_names("impressionist10"),
        crop_size=size,
        batch_size=batch,
        eval_batches=1,
        compile=args.compile,
    )
    trainer = Trainer(config, device=device)
    reference = PlainNet(10).to(device).copy_from(trainer.model)
    vgg = PlainVGG().to(device)
    ref_opt = torch.optim.Adam(reference.parameters(), lr=config.lr)

    # --- numerics: the same batch, labels and weights through both losses
    content = trainer.sampler.sample(batch)
    rows = torch.arange(batch, device=device) % 10
    grams = {layer: g[rows] for layer, g in trainer.style_grams.items()}
    with torch.no_grad():
        ref_total, _, _ = plain_losses(
            reference, vgg, trainer.style_grams, content, rows, config.content_weight, config.style_weight
        )
        with trainer.precision.autocast():
            out = trainer.model(content, rows, check=False)
            ours = trainer.loss(out, content, style_grams=grams)["total"].mean()
        out32 = trainer.model(content, rows, check=False)
        ours32 = trainer.loss(out32, content, style_grams=grams)["total"].mean()
    rel_amp = abs(ours.item() / ref_total.item() - 1)
    rel_32 = abs(ours32.item() / ref_total.item() - 1)

    # --- training step throughput
    def ours_step():
        trainer.train_step()

    def reference_step():
        c = trainer.sampler.sample(batch)
        labels = torch.randint(10, (batch,), device=device)
        total, _, _ = plain_losses(
            reference, vgg, trainer.style_grams, c, labels, config.content_weight, config.style_weight
        )
        total.backward()
        ref_opt.step()
        ref_opt.zero_grad()

    best_ref = None
    if args.compile:
        compiled_ref = torch.compile(reference)

        def reference_best_step():
            c = trainer.sampler.sample(batch)
            labels = torch.randint(10, (batch,), device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                total, _, _ = plain_losses(
                    compiled_ref, vgg, trainer.style_grams, c, labels, config.content_weight, config.style_weight
                )
            total.backward()
            ref_opt.step()
            ref_opt.zero_grad()

        best_ref = timeit(reference_best_step, device, args.steps, warmup=3)
    flops = None
    if args.flops:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            reference_step()
        flops = counter.get_total_flops()
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
    t_ref = timeit(reference_step, device, args.steps)
    mem_ref = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else float("nan")
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
    t_ours = timeit(ours_step, device, args.steps, warmup=3 if args.compile else 2)
    mem_ours = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else float("nan")

    # --- stylising latency (one image, no gradients)
    model = trainer.model.eval()
    precision = choose_precision(device)
    model_cl = model.to(memory_format=torch.channels_last) if not gpu else model
    rows_out = []
    for px in args.stylize_sizes:
        x = torch.rand(1, 3, px, px, device=device)
        label = torch.zeros(1, dtype=torch.long, device=device)

        @torch.no_grad()
        def ref_fwd():
            reference(x, label)

        x_cl = x.contiguous(memory_format=torch.channels_last) if not gpu else x

        @torch.inference_mode()
        def ours_fwd():
            with precision.autocast():
                model_cl(x_cl, label, check=False)

        repeats = max(2, args.repeats if px <= 512 or gpu else 2)
        rows_out.append(
            (px, timeit(ref_fwd, device, repeats, warmup=1) * 1000, timeit(ours_fwd, device, repeats, warmup=1) * 1000)
        )

    print(f"cinlab benchmark: training step and stylising on {device_name(device)} ({time.strftime('%Y-%m-%d')})")
    print(f"cinlab: {trainer.precision.name}; reference: plain eager float32")
    print(f"{'measure':<40} {'reference':>11} {'cinlab':>11} {'ratio':>7}")
    ips_ref, ips_ours = batch / t_ref, batch / t_ours
    print(
        f"{f'train step, {size} px, batch {batch}, N=10 (img/s)':<40} {ips_ref:>11.1f} {ips_ours:>11.1f} {ips_ours / ips_ref:>6.2f}x"
    )
    if best_ref is not None:
        ips_best = batch / best_ref
        print(
            f"{'  reference bf16 + torch.compile (img/s)':<40} {ips_best:>11.1f} {ips_ours:>11.1f} {ips_ours / ips_best:>6.2f}x"
        )
    if flops is not None:
        tflops = flops / t_ours / 1e12
        peak = f" = {tflops / args.peak_tflops:.1%} of {args.peak_tflops:.0f} peak" if args.peak_tflops else ""
        print(f"{'  FLOPs per step / achieved':<40} {flops / 1e12:>10.3f}T {tflops:>10.2f}T/s{peak}")
    if gpu:
        print(
            f"{'peak memory of a training step (MiB)':<40} {mem_ref:>11.0f} {mem_ours:>11.0f} {mem_ours / mem_ref:>6.2f}x"
        )
    for px, r, o in rows_out:
        print(f"{f'stylise {px}x{px} (ms per image)':<40} {r:>11.1f} {o:>11.1f} {r / o:>6.2f}x")
    print(
        f"loss vs float32 reference on identical inputs: cinlab float32 {rel_32:.2e}, cinlab as trained {rel_amp:.2e} (relative)"
    )


if __name__ == "__main__":
    main()
