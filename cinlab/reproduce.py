"""Train every shipped network, log the Fig 5 / Fig 6 runs, evaluate, and pack the results: one command::

    python -m cinlab.reproduce --profile gpu --pack OUT   # one H100/H200, about 9 minutes in all
    python -m cinlab.reproduce --profile cpu              # a 2-core CPU: hours
    python -m cinlab.reproduce --profile fast             # seconds: checks the pipeline (CI)
    python -m cinlab.reproduce --install OUT              # on any machine: verify a pack, put it
                                                          # into data/, re-render the figures

The runs (each in ``runs/<profile>/<name>/``; resumable: a finished run is skipped, an
interrupted one continues from its checkpoint), in units of ``u`` steps:

1. ``impressionist10`` (10u steps): one N-style network on 10 paintings (Fig 4, Fig 5);
2. ``single_<style>`` (u steps each): single-style networks for 4 of them, identical settings;
   Fig 5 compares them with the 10-style network at equal steps (step u) and at equal images
   per style (step 10u: each of its ten styles has then been drawn for about u batches);
3. ``varied32`` (10u steps): one network on 32 varied paintings (Fig 6 base, Fig 7);
4. ``finetune`` (u steps): ``varied32`` + the held-out ``van_gogh_cottages``, only its (gamma, beta);
5. ``scratch`` (3u steps): a new single-style network on ``van_gogh_cottages`` (Fig 6 baseline).

That is 28u steps. The ``gpu`` profile measures the training speed first (a compiled
``impressionist10`` step) and picks u so that everything, compilation, evaluation and packing
included, fits ``--budget`` seconds (default 540). The networks go to ``data/models/`` (float16),
logs, summary and figures to ``data/results/``, and with ``--pack`` into at most 8 files of at
most 16 MiB each, to carry off a rented GPU machine.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

import torch

from .artefacts import blob_fraction
from .checkpoint import load_model, save_checkpoint
from .config import assets_dir
from .evaluation import interpolation_style_losses, is_monotonic, loss_differences, read_log, value_at
from .files import write_bytes
from .images import load_image, square
from .packs import install, pack
from .registry import image_names
from .train import TrainConfig, Trainer, add_styles

FIG5_STYLES = ("olive_trees", "water_lilies", "te_fare", "dance_foyer")
FINETUNE_STYLE = "van_gogh_cottages"
FIGURE_PHOTOS = ("tubingen", "chelsea", "boston")  # held out of every training pool
#: Steps of each run in units of u (see the module docstring): 28u in all.
UNITS = {"impressionist10": 10, "single": 1, "varied32": 10, "finetune": 1, "scratch": 3}
UNITS_IN_ALL = sum(UNITS.values()) + (len(FIG5_STYLES) - 1) * UNITS["single"]  # 28

#: ``evals``: evaluations of the N-style networks per u steps; ``photo_size``: the blob measure's photos.
PROFILES = {
    # One H100/H200: the vgg19 preset (256 px crops, batch 16), bf16, compiled; u from the budget.
    "gpu": dict(preset="vgg19", compile=True, unit=None, budget=540.0, evals=2, photo_size=512),
    "cpu": dict(preset="cpu", compile=False, unit=250, budget=None, evals=2, photo_size=256),  # 2 CPU cores
    # CI: the whole pipeline in seconds (a quarter-width network).
    "fast": dict(preset="fast", compile=False, unit=2, budget=None, evals=1, photo_size=48),
}


def run_config(profile: dict, styles, steps: int, eval_every: int, **overrides) -> TrainConfig:
    """A run's config: the profile's preset, these styles and steps, checkpoints at evaluations."""
    return TrainConfig.preset(
        profile["preset"],
        styles=list(styles),
        steps=steps,
        compile=profile["compile"],
        eval_every=eval_every,
        checkpoint_every=max(eval_every, 250),
        **overrides,
    )


def _finished(run: Path, steps: int) -> bool:
    model = run / "model.pt"
    return model.exists() and load_model(model, "cpu").metadata.get("step") == steps


def _train(run: Path, config: TrainConfig, progress: bool, snapshots=()) -> Trainer | None:
    if _finished(run, config.steps):
        print(f"  {run.name}: already trained, skipped")
        return None
    if (run / "checkpoint.pt").exists():
        trainer = Trainer.resume(run / "checkpoint.pt", steps=config.steps)
    else:
        trainer = Trainer(config, out_dir=run, overwrite=True)
    return trainer.fit(progress=progress, snapshots=snapshots)


#: Wall seconds set aside besides the training steps: per run (building it, its Gram targets,
#: compiling from the warm cache, evaluating) and once at the end (summary, figures, pack).
SECONDS_PER_RUN, SECONDS_AT_THE_END = 15.0, 60.0


def choose_unit(budget_seconds: float, steps_per_second: float) -> int:
    """The largest u, a multiple of 20 (at least 20), whose 28u steps fit the budget at this speed."""
    return max(20, int(steps_per_second * budget_seconds / UNITS_IN_ALL) // 20 * 20)


def training_seconds(budget: float, elapsed: float, runs: int = 8) -> float:
    """What is left of the wall-time budget for training steps once the fixed costs are set aside."""
    return max(0.0, budget - elapsed - runs * SECONDS_PER_RUN - SECONDS_AT_THE_END)


def measure_speed(trainer: Trainer, warmup: int = 10, steps: int = 40) -> float:
    """Training steps per second of a trainer (after ``warmup`` steps, which include compilation)."""
    for _ in range(warmup):
        trainer.train_step()
    _synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    _synchronize(trainer.device)
    return steps / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_all(profile: dict, runs: Path, progress: bool = True, log=print, started: float | None = None) -> int:
    """Train every run of the module docstring; returns u. ``started``: when the command began."""
    started = time.perf_counter() if started is None else started
    unit = profile["unit"]
    chosen = runs / "unit.json"  # a resumed gpu run keeps the u it measured
    if unit is None and chosen.exists():
        unit = json.loads(chosen.read_text())["unit"]
    if unit is None:  # measure the speed of the biggest run's step (compiled), then choose u
        speed = measure_speed(Trainer(run_config(profile, image_names("impressionist10"), steps=1, eval_every=0)))
        seconds = training_seconds(profile["budget"], time.perf_counter() - started)
        unit = choose_unit(seconds, speed)
        log(
            f"  measured {speed:.1f} steps/s; {seconds:.0f} s left for training -> u = {unit} ({UNITS_IN_ALL * unit:,} steps in all)"
        )
        write_bytes(chosen, json.dumps({"unit": unit, "steps_per_second": speed}).encode(), overwrite=True)
    single_eval = max(1, unit // 20)
    n_style_eval = max(1, unit // profile["evals"])
    plan = [
        ("impressionist10", run_config(profile, image_names("impressionist10"), 10 * unit, n_style_eval), (unit,)),
        *[(f"single_{s}", run_config(profile, [s], unit, single_eval), ()) for s in FIG5_STYLES],
        ("varied32", run_config(profile, image_names("varied32"), 10 * unit, 2 * n_style_eval, eval_styles=4), ()),
    ]
    for name, config, snapshots in plan:
        log(f"  {name}: {config.steps} steps")
        _train(runs / name, config, progress, snapshots)
    finetune = runs / "finetune"
    if not _finished(finetune, unit):
        log(f"  finetune: {unit} steps")
        config = run_config(profile, [FINETUNE_STYLE], unit, single_eval)
        add_styles(runs / "varied32" / "model.pt", [FINETUNE_STYLE], config, out_dir=finetune, progress=progress)
    log(f"  scratch: {3 * unit} steps")
    _train(runs / "scratch", run_config(profile, [FINETUNE_STYLE], 3 * unit, single_eval), progress, snapshots=(unit,))
    return unit


# ----------------------------------------------------------------------------- results


def summarize(runs: Path, unit: int, profile_name: str, photo_size: int = 512) -> dict:
    """The Fig 5 / 6 / 7 numbers and the blob measure from the runs' logs and networks."""
    n10 = read_log(runs / "impressionist10" / "eval_log.csv")
    singles = {s: read_log(runs / f"single_{s}" / "eval_log.csv") for s in FIG5_STYLES}
    fig5 = loss_differences(n10, singles, unit)
    fig5_images = loss_differences(n10, singles, 10 * unit, single_step=unit)
    finetune, scratch = read_log(runs / "finetune" / "eval_log.csv"), read_log(runs / "scratch" / "eval_log.csv")
    fig6 = {
        "finetune_steps": unit,
        "scratch_steps": 3 * unit,
        "finetune_style_loss": value_at(finetune, FINETUNE_STYLE, "style", unit),
        "scratch_style_loss_at_finetune_steps": value_at(scratch, FINETUNE_STYLE, "style", unit),
        "scratch_style_loss_at_end": value_at(scratch, FINETUNE_STYLE, "style", 3 * unit),
        "finetune_content_loss": value_at(finetune, FINETUNE_STYLE, "content", unit),
        "scratch_content_loss_at_end": value_at(scratch, FINETUNE_STYLE, "content", 3 * unit),
    }
    varied = load_model(runs / "varied32" / "model.pt")
    crop = varied.metadata["crop_size"]
    content = torch.cat([square(load_image(n), crop) for n in ("tubingen", "chelsea", "coffee", "rocket")])
    alphas = [i / 10 for i in range(11)]
    fig7 = interpolation_style_losses(
        varied, "starry_night", "the_scream", alphas, content, "starry_night", "the_scream"
    )
    fig7["monotonic_a"] = is_monotonic(fig7["loss_a"], increasing=True)
    fig7["monotonic_b"] = is_monotonic(fig7["loss_b"], increasing=False)
    timings = {
        run.name: load_model(run / "model.pt", "cpu").metadata.get("seconds")
        for run in sorted(runs.iterdir())
        if (run / "model.pt").exists()
    }
    return {
        "profile": profile_name,
        "unit": unit,
        "fig5": fig5,
        "fig5_equal_images_per_style": fig5_images,
        "fig6": fig6,
        "fig7": fig7,
        "blobs": measure_blobs(runs, photo_size),
        "timings_s": timings,
    }


@torch.no_grad()
def measure_blobs(runs: Path, size: int = 512) -> dict:
    """Per network and style, the mean :func:`cinlab.artefacts.blob_fraction` on the figure photos."""
    photos = [load_image(n, size) for n in FIGURE_PHOTOS]
    out = {}
    for name in ("impressionist10", "varied32"):
        model = load_model(runs / name / "model.pt")
        out[name] = {
            model.style_names[s]: sum(blob_fraction(model.stylize(p, s), p).item() for p in photos) / len(photos)
            for s in range(model.num_styles)
        }
    return out


def _hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}, {torch.get_num_threads()} threads"


#: data/models/<name>.pt <- runs/<profile>/<source>
SHIPPED = {
    "impressionist10": "impressionist10/model.pt",
    "varied32": "varied32/model.pt",
    f"varied32_plus_{FINETUNE_STYLE}": "finetune/model.pt",
    f"scratch_{FINETUNE_STYLE}": "scratch/model.pt",
    **{f"single_{s}": f"single_{s}/model.pt" for s in FIG5_STYLES},
}
LOGS = ("impressionist10", "varied32", "finetune", "scratch", *(f"single_{s}" for s in FIG5_STYLES))


def publish(runs: Path, data: Path, unit: int, summary: dict) -> None:
    """Networks (float16) to ``data/models/``; logs, the summary and figures to ``data/results/``."""
    models, results = data / "models", data / "results"
    sources = {**SHIPPED, f"scratch_{FINETUNE_STYLE}_step{unit}": f"scratch/model_step{unit}.pt"}
    for name, src in sources.items():
        net = load_model(runs / src, "cpu")
        save_checkpoint(models / f"{name}.pt", net, metadata=net.metadata, half=True, overwrite=True)
    for old in models.glob(f"scratch_{FINETUNE_STYLE}_step*.pt"):
        if old.name != f"scratch_{FINETUNE_STYLE}_step{unit}.pt":
            old.unlink()
    for run in LOGS:
        _copy_log(runs / run / "eval_log.csv", results / f"{run}_eval.csv")
        _copy_log(runs / run / "train_log.csv", results / f"{run}_train.csv", every=10)
    write_bytes(results / "summary.json", json.dumps(summary, indent=1).encode(), overwrite=True)
    render_figures(models, results)


def _copy_log(src: Path, dst: Path, every: int = 1) -> None:
    """Copy a log; for training logs keep only the batch rows ("all") every ``every`` steps."""
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    if every > 1:
        last = max(int(r["step"]) for r in rows)
        rows = [r for r in rows if r["name"] == "all" and (int(r["step"]) % every == 0 or int(r["step"]) == last)]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(dst, buffer.getvalue().encode(), overwrite=True)


def render_figures(models: Path, results: Path, size: int = 256) -> None:
    """The README's Fig 4, Fig 1b and Fig 7 as JPEG files, drawn by :mod:`cinlab.plots`' recipes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import fig1b_strip, fig4_styles, fig7_grid

    photo = load_image("chelsea", size)  # held out of training
    imp, varied = load_model(models / "impressionist10.pt", "cpu"), load_model(models / "varied32.pt", "cpu")
    figures = {
        "fig4": fig4_styles(imp, photo),
        "fig1b": fig1b_strip(varied, photo, "starry_night", "the_scream"),
        "fig7": fig7_grid(
            varied, load_image("chelsea", 160), ("starry_night", "the_scream", "great_wave", "composition_vii")
        ),
    }
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="jpeg", dpi=90, pil_kwargs={"quality": 88})
        write_bytes(results / f"{name}.jpg", buffer.getvalue(), overwrite=True)
    plt.close("all")


def print_summary(summary: dict) -> None:
    fig5, images, fig6, fig7 = summary["fig5"], summary["fig5_equal_images_per_style"], summary["fig6"], summary["fig7"]
    print(f"\nprofile {summary['profile']} on {summary.get('device', '?')}, u = {summary['unit']} steps")
    for title, d in (
        (f"equal steps ({fig5['step']})", fig5),
        (f"equal images per style (N-style step {images['step']}, single {images['single_step']})", images),
    ):
        print(f"Fig 5, {title}: N-style vs single-style, relative difference of the final loss")
        for name, v in d["per_style"].items():
            print(f"  {name:<22} content {v['content']:+7.1%}   style {v['style']:+7.1%}")
        print(
            f"  {'mean +- std':<22} content {d['mean']['content']:+.1%} +- {d['std']['content']:.1%}   "
            f"style {d['mean']['style']:+.1%} +- {d['std']['style']:.1%}   (paper: +8.7 +- 3.9 %, -8.9 +- 16.5 %)"
        )
    print(
        f"Fig 6: style loss of {FINETUNE_STYLE}: fine-tuned {fig6['finetune_steps']} steps {fig6['finetune_style_loss']:.4g}, "
        f"from scratch {fig6['finetune_steps']} steps {fig6['scratch_style_loss_at_finetune_steps']:.4g}, "
        f"{fig6['scratch_steps']} steps {fig6['scratch_style_loss_at_end']:.4g}"
    )
    print(f"Fig 7: monotonic w.r.t. starry_night {fig7['monotonic_a']}, w.r.t. the_scream {fig7['monotonic_b']}")
    for name, per_style in summary["blobs"].items():
        print(
            f"blob fraction {name}: mean {sum(per_style.values()) / len(per_style):.2e}, worst {max(per_style.values()):.2e}"
        )
    print("training time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["timings_s"].items() if v is not None))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--budget", type=float, default=None, help="wall seconds for everything (gpu profile default: 540)"
    )
    parser.add_argument("--runs", default="runs", help="folder for the training runs")
    parser.add_argument("--data", default=None, help="where to publish models and logs (default: the project's data/)")
    parser.add_argument("--no-publish", action="store_true", help="train and summarise only; do not write into data/")
    parser.add_argument(
        "--pack", default=None, metavar="DIR", help="also pack the published results into DIR (<= 8 files of <= 16 MiB)"
    )
    parser.add_argument(
        "--install", default=None, metavar="DIR", help="install a pack from DIR into data/ and re-render the figures"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else assets_dir()
    if args.install:
        installed = install(Path(args.install), data, render=render_figures)
        print(f"installed {len(installed)} files into {data} and re-rendered the figures")
        return {"installed": installed}
    profile = dict(PROFILES[args.profile])
    if args.budget is not None:
        profile.update(budget=args.budget, unit=None)
    runs = Path(args.runs) / args.profile
    start = time.perf_counter()
    unit = train_all(
        profile,
        runs,
        progress=not args.quiet,
        log=lambda m: print(f"[{time.perf_counter() - start:6.0f} s]{m}"),
        started=start,
    )
    summary = summarize(runs, unit, args.profile, profile["photo_size"])
    summary["device"] = _hardware()
    summary["settings"] = {
        **profile,
        **{
            k: v
            for k, v in TrainConfig.preset(profile["preset"]).to_dict().items()
            if k in ("crop_size", "batch_size", "style_size", "backend", "style_weight")
        },
    }
    if not args.no_publish:
        publish(runs, data, unit, summary)
        if args.pack:
            files = pack(data, Path(args.pack))
            print(f"packed into {len(files)} files in {args.pack}")
    print_summary(summary)
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return summary


if __name__ == "__main__":
    main()
