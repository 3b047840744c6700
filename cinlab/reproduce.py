"""Train the shipped networks and log the Fig 5 / Fig 6 runs, in one go.

    python -m cinlab.reproduce --profile gpu     # ~10 minutes on one H100/H200
    python -m cinlab.reproduce --profile cpu     # reduced: smaller crops, fewer steps (hours)
    python -m cinlab.reproduce --profile fast    # seconds: checks the pipeline (CI)

Runs, each in ``runs/<profile>/<name>/`` (resumable: a finished run is skipped, an interrupted
one continues from its checkpoint):

1. ``impressionist10``: one N-style network on the 10 impressionist paintings (Fig 4, Fig 5).
2. ``single_<style>``: single-style networks for 4 of them, identical settings (Fig 5).
3. ``varied32``: one network on 32 varied paintings (Fig 6 base, Fig 7).
4. ``finetune``: ``varied32`` + the held-out ``van_gogh_cottages``, only its (gamma, beta) trained.
5. ``scratch``: a new single-style network on ``van_gogh_cottages`` (Fig 6 baseline).

Then it copies the networks (float16) into ``data/models/`` and the evaluation logs into
``data/results/``, and prints a summary table with the Fig 5 / 6 / 7 numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from .checkpoint import load_model, save_checkpoint
from .config import assets_dir
from .data import image_names, load_image
from .figures import interpolation_style_losses, is_monotonic, loss_differences, value_at
from .train import TrainConfig, Trainer, add_styles, read_log

FIG5_STYLES = ("olive_trees", "water_lilies", "te_fare", "dance_foyer")
FINETUNE_STYLE = "van_gogh_cottages"

PROFILES = {
    # One H100/H200, bf16 + torch.compile: about 10 minutes in all.
    "gpu": dict(
        preset="vgg19", image_size=256, batch_size=16, style_size=384, amp="bf16", compile=True,
        n10_steps=3000, fig5_steps=1500, varied_steps=3000, finetune_steps=500, scratch_steps=1500,
        eval_every=250, finetune_eval_every=50, eval_batches=8,
    ),
    # Two CPU cores (bf16 autocast uses AMX where the CPU has it): 96 px crops, batch 8.
    "cpu": dict(
        preset="cpu", image_size=96, batch_size=8, style_size=144, amp="bf16", compile=False,
        n10_steps=2500, fig5_steps=1000, varied_steps=2500, finetune_steps=500, scratch_steps=1000,
        eval_every=250, finetune_eval_every=50, eval_batches=4,
    ),
    # CI smoke test of the whole pipeline.
    "fast": dict(
        preset="fast", image_size=32, batch_size=2, style_size=48, amp="none", compile=False,
        n10_steps=4, fig5_steps=2, varied_steps=2, finetune_steps=2, scratch_steps=2,
        eval_every=2, finetune_eval_every=1, eval_batches=1,
    ),
}


def _config(profile: dict, styles, steps: int, eval_every: int) -> TrainConfig:
    return TrainConfig.preset(
        profile["preset"], styles=list(styles), steps=steps, image_size=profile["image_size"],
        batch_size=profile["batch_size"], style_size=profile["style_size"], amp=profile["amp"],
        compile=profile["compile"], eval_every=eval_every, eval_batches=profile["eval_batches"],
        checkpoint_every=max(eval_every, 250), log_every=10,
    )


def _finished(run: Path, steps: int) -> bool:
    model = run / "model.pt"
    return model.exists() and load_model(model).metadata.get("step") == steps


def _train(run: Path, config: TrainConfig, snapshots=(), progress=True) -> None:
    if _finished(run, config.steps):
        print(f"  {run.name}: already trained, skipped")
        return
    if (run / "checkpoint.pt").exists():
        trainer = Trainer.resume(run / "checkpoint.pt", steps=config.steps)
    else:
        trainer = Trainer(config, out_dir=run)
    trainer.fit(progress=progress, snapshots=snapshots)


def _copy_log(src: Path, dst: Path, every: int = 1) -> None:
    """Copy a log, keeping only the batch rows ("all") every ``every`` steps for training logs."""
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    if every > 1:
        last = max(int(r["step"]) for r in rows)
        rows = [r for r in rows if r["name"] == "all" and (int(r["step"]) % every == 0 or int(r["step"]) == last)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", default="runs", help="folder for the training runs")
    parser.add_argument("--data", default=None, help="where to publish models and logs (default: the project's data/)")
    parser.add_argument("--no-publish", action="store_true", help="train only; do not copy into data/")
    parser.add_argument("--only", nargs="+", default=None, metavar="RUN",
                        help="train only these runs (impressionist10, single, varied32, finetune, scratch), "
                             "e.g. to split the work over processes; no summary")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    wanted = set(args.only) if args.only else {"impressionist10", "single", "varied32", "finetune", "scratch"}
    profile = PROFILES[args.profile]
    runs = Path(args.runs) / args.profile
    progress = not args.quiet
    start = time.perf_counter()

    def timed(name, fn):
        if name.split("_")[0] not in wanted:
            return
        print(f"[{time.perf_counter() - start:7.0f} s] {name}")
        fn()

    impressionists = image_names("impressionist10")
    timed("impressionist10", lambda: _train(
        runs / "impressionist10", _config(profile, impressionists, profile["n10_steps"], profile["eval_every"]),
        snapshots=(profile["fig5_steps"],), progress=progress))
    for style in FIG5_STYLES:
        timed(f"single_{style}", lambda style=style: _train(
            runs / f"single_{style}", _config(profile, [style], profile["fig5_steps"], profile["eval_every"]), progress=progress))
    timed("varied32", lambda: _train(
        runs / "varied32", _config(profile, image_names("varied32"), profile["varied_steps"], profile["eval_every"]), progress=progress))

    def finetune():
        run = runs / "finetune"
        steps = profile["finetune_steps"]
        if _finished(run, steps):
            print("  finetune: already trained, skipped")
            return
        config = _config(profile, [FINETUNE_STYLE], steps, profile["finetune_eval_every"])
        add_styles(runs / "varied32" / "model.pt", [FINETUNE_STYLE], config, out_dir=run, progress=progress)

    timed("finetune", finetune)
    timed("scratch", lambda: _train(
        runs / "scratch", _config(profile, [FINETUNE_STYLE], profile["scratch_steps"], profile["finetune_eval_every"]),
        snapshots=(profile["finetune_steps"],), progress=progress))

    if args.only:
        return {}
    summary = summarize(runs, profile, args.profile)
    summary["device"] = _hardware()
    if not args.no_publish:
        publish(runs, Path(args.data) if args.data else assets_dir(), profile, summary)
    print_summary(summary)
    return summary


def summarize(runs: Path, profile: dict, name: str) -> dict:
    """The Fig 5 / 6 / 7 numbers from the runs' evaluation logs and the trained networks."""
    n10 = read_log(runs / "impressionist10" / "eval_log.csv")
    singles = {s: read_log(runs / f"single_{s}" / "eval_log.csv") for s in FIG5_STYLES}
    fig5 = loss_differences(n10, singles, profile["fig5_steps"])
    finetune = read_log(runs / "finetune" / "eval_log.csv")
    scratch = read_log(runs / "scratch" / "eval_log.csv")
    f, s = profile["finetune_steps"], profile["scratch_steps"]
    fig6 = {
        "finetune_steps": f,
        "scratch_steps": s,
        "finetune_style_loss": value_at(finetune, FINETUNE_STYLE, "style", f),
        "scratch_style_loss_at_finetune_steps": value_at(scratch, FINETUNE_STYLE, "style", f),
        "scratch_style_loss_at_end": value_at(scratch, FINETUNE_STYLE, "style", s),
        "finetune_content_loss": value_at(finetune, FINETUNE_STYLE, "content", f),
        "scratch_content_loss_at_end": value_at(scratch, FINETUNE_STYLE, "content", s),
    }
    model = load_model(runs / "varied32" / "model.pt")
    a, b = model.style_names.index("starry_night"), model.style_names.index("the_scream")
    content = torch.cat([load_image(n, (profile["image_size"],) * 2) for n in ("tubingen", "chelsea")])
    alphas = [i / 10 for i in range(11)]
    fig7 = interpolation_style_losses(model, a, b, alphas, content, "starry_night", "the_scream")
    fig7["monotonic_a"] = is_monotonic(fig7["loss_a"], increasing=True)
    fig7["monotonic_b"] = is_monotonic(fig7["loss_b"], increasing=False)
    # Training time of each run, as its trainer recorded it (also across resumes).
    timings = {run.name: load_model(run / "model.pt").metadata.get("seconds") for run in sorted(runs.iterdir()) if (run / "model.pt").exists()}
    return {"profile": name, "settings": profile, "fig5": fig5, "fig6": fig6, "fig7": fig7, "timings_s": timings}


def _hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    import platform

    name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}, {torch.get_num_threads()} threads available"


def publish(runs: Path, data: Path, profile: dict, summary: dict) -> None:
    """Networks (float16) to data/models/, evaluation logs and the summary to data/results/."""
    models, results = data / "models", data / "results"
    models.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    copies = {
        "impressionist10": runs / "impressionist10" / "model.pt",
        "varied32": runs / "varied32" / "model.pt",
        f"varied32_plus_{FINETUNE_STYLE}": runs / "finetune" / "model.pt",
        f"scratch_{FINETUNE_STYLE}": runs / "scratch" / "model.pt",
        f"scratch_{FINETUNE_STYLE}_step{profile['finetune_steps']}": runs / "scratch" / f"model_step{profile['finetune_steps']}.pt",
        **{f"single_{s}": runs / f"single_{s}" / "model.pt" for s in FIG5_STYLES},
    }
    for name, src in copies.items():
        net = load_model(src)
        save_checkpoint(models / f"{name}.pt", net, metadata=net.metadata, half=True)
    logs = {"impressionist10": "impressionist10", "varied32": "varied32", "finetune": "finetune", "scratch": "scratch",
            **{f"single_{s}": f"single_{s}" for s in FIG5_STYLES}}
    for run, name in logs.items():
        _copy_log(runs / run / "eval_log.csv", results / f"{name}_eval.csv")
        _copy_log(runs / run / "train_log.csv", results / f"{name}_train.csv", every=10)
    with open(results / "summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    render_figures(models, results)


def render_figures(models: Path, results: Path, size: int = 256) -> None:
    """Fig 4 (one photo, ten styles), Fig 1b (an interpolation strip) and Fig 7 left (a 4-style
    grid) as JPEG files for the README."""
    import matplotlib

    matplotlib.use("Agg")
    from .mixing import grid_weights, interpolate
    from .plots import show_images

    photo = load_image("chelsea", size)  # held out of training
    imp = load_model(models / "impressionist10.pt")
    fig = show_images([photo] + list(imp.stylize(photo, list(range(imp.num_styles)))), ["photo"] + imp.style_names, ncols=6, size=2.2)
    fig.savefig(results / "fig4.jpg", dpi=90, pil_kwargs={"quality": 88})
    varied = load_model(models / "varied32.pt")
    a, b = varied.style_index("starry_night"), varied.style_index("the_scream")
    alphas = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    strip = [varied.stylize(photo, w) for w in interpolate(a, b, alphas, varied.num_styles)]
    fig = show_images(strip, [f"alpha = {x:.1f}" for x in alphas], ncols=6, size=2.2)
    fig.savefig(results / "fig1b.jpg", dpi=90, pil_kwargs={"quality": 88})
    corners = [varied.style_index(n) for n in ("starry_night", "the_scream", "great_wave", "composition_vii")]
    small = load_image("chelsea", 160)
    tiles = [varied.stylize(small, w) for w in grid_weights(corners, 5, 5, varied.num_styles)]
    fig = show_images(tiles, ncols=5, size=1.6)
    fig.savefig(results / "fig7.jpg", dpi=90, pil_kwargs={"quality": 88})
    import matplotlib.pyplot as plt

    plt.close("all")


def print_summary(summary: dict) -> None:
    fig5, fig6, fig7 = summary["fig5"], summary["fig6"], summary["fig7"]
    print(f"\nprofile {summary['profile']} on {summary.get('device', '?')}")
    print(f"Fig 5 (at step {fig5['step']}): N-style vs single-style, relative difference of the final loss")
    print(f"  {'style':<22} {'content':>9} {'style':>9}")
    for name, d in fig5["per_style"].items():
        print(f"  {name:<22} {d['content']:+9.1%} {d['style']:+9.1%}")
    print(f"  {'mean +- std':<22} {fig5['mean']['content']:+.1%} +- {fig5['std']['content']:.1%}   "
          f"{fig5['mean']['style']:+.1%} +- {fig5['std']['style']:.1%}   (paper: +8.7 +- 3.9 %, -8.9 +- 16.5 %)")
    print(f"Fig 6: style loss of {FINETUNE_STYLE}: fine-tuned {fig6['finetune_steps']} steps {fig6['finetune_style_loss']:.4g}, "
          f"from scratch {fig6['finetune_steps']} steps {fig6['scratch_style_loss_at_finetune_steps']:.4g}, "
          f"{fig6['scratch_steps']} steps {fig6['scratch_style_loss_at_end']:.4g}")
    print(f"Fig 7: style loss along starry_night -> the_scream: w.r.t. starry_night monotonic {fig7['monotonic_a']}, "
          f"w.r.t. the_scream monotonic {fig7['monotonic_b']}")
    print("training time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["timings_s"].items() if v is not None))


if __name__ == "__main__":
    main()
