"""Train every shipped network, log the Fig 5 / Fig 6 runs, evaluate and summarise: one command::

    python -m cinlab.reproduce --profile gpu --pack OUT   # one H100/H200, about 9 minutes in all
    python -m cinlab.reproduce --profile cpu              # a 2-core CPU: hours
    python -m cinlab.reproduce --profile fast             # seconds: checks the pipeline (CI)
    python -m cinlab.reproduce --install OUT --overwrite  # on any machine: verify a pack, put it
                                                          # into data/, re-render the figures

:data:`RUNS` is the one table of the campaign: each :class:`Run` says what a run trains, for how
many steps (in units of ``u``), from which base, which snapshots it keeps, under which name it
is shipped, and whether its logs and its bright blobs are kept. Training, the summary, shipping
and the blob measure all read it; a new shipped network is one more record.

Each run trains in ``runs/<profile>/<name>/`` (resumable: a finished run is skipped, an
interrupted one continues from its checkpoint); its results are staged in
``runs/<profile>/results/`` (networks in float16, logs, summary, figures). Nothing goes into the
project's ``data/`` unless asked: ``--publish`` copies the staged results there, and replacing
the shipped files needs ``--overwrite`` too. ``--pack DIR`` packs the staged results into at most
8 files of at most 16 MiB (:mod:`cinlab.packs`), to carry them off a rented GPU machine.

The ``gpu`` profile measures the training speed first (a compiled step of the first run) and
picks u so that everything, compilation, evaluation and packing included, fits ``--budget``
seconds (default 540).

(Longer than the other modules, on purpose: the run table and everything it drives, training,
the summary and shipping, are one campaign; in one file a new record shows every place it reaches.)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .artefacts import blob_fraction
from .checkpoint import load_model, save_checkpoint
from .config import assets_dir
from .evaluation import interpolation_style_losses, is_monotonic, loss_differences, read_log, value_at
from .files import OVERWRITE_HINT, write_bytes
from .hardware import describe_hardware
from .images import load_image, square
from .packs import PackError, install, pack
from .registry import image_names
from .train import TrainConfig, Trainer, add_styles

FIG5_STYLES = ("olive_trees", "water_lilies", "te_fare", "dance_foyer")
FINETUNE_STYLE = "van_gogh_cottages"
FIGURE_PHOTOS = ("tubingen", "chelsea", "boston")  # held out of every training pool


@dataclass(frozen=True)
class Run:
    """One training run of the campaign (a row of :data:`RUNS`)."""

    name: str  # its folder, runs/<profile>/<name>/, and its logs' names in results/
    styles: str | tuple[str, ...]  # a registry set (e.g. "varied32") or style names
    units: int  # training steps, in units of u
    eval_every: float  # run the evaluation protocol every this many u (x the profile's eval_scale)
    base: str | None = None  # fine-tune this earlier run's network: only the new styles' rows train
    snapshots: tuple[int, ...] = ()  # also keep the network after this many u (shipped as <shipped>_step<N>)
    shipped: str | None = None  # published as models/<shipped>.pt
    logs: bool = True  # its evaluation and training logs go to results/
    blobs: bool = False  # measured by the bright-blob measure in the summary
    eval_styles: int = 0  # intermediate evaluations score only this many styles (0: all)

    def style_list(self) -> list[str]:
        return image_names(self.styles) if isinstance(self.styles, str) else list(self.styles)


#: The campaign (28u steps in all). Fig 5 compares impressionist10 with the single-style runs at
#: equal steps (u) and at equal images per style (10u: each of its ten styles has then been drawn
#: for about u batches); Fig 6 compares finetune (varied32 + a held-out painting, only its new
#: row) with scratch (a new network on that painting); Fig 7 and notebook 7 use varied32.
RUNS: tuple[Run, ...] = (
    Run("impressionist10", "impressionist10", 10, 0.5, snapshots=(1,), shipped="impressionist10", blobs=True),
    *(Run(f"single_{s}", (s,), 1, 0.05, shipped=f"single_{s}") for s in FIG5_STYLES),
    Run("varied32", "varied32", 10, 1.0, shipped="varied32", blobs=True, eval_styles=4),
    Run("finetune", (FINETUNE_STYLE,), 1, 0.05, base="varied32", shipped=f"varied32_plus_{FINETUNE_STYLE}"),
    Run("scratch", (FINETUNE_STYLE,), 3, 0.05, snapshots=(1,), shipped=f"scratch_{FINETUNE_STYLE}"),
)


def units_in_all(runs: tuple[Run, ...] = RUNS) -> int:
    """Training steps of the whole campaign, in units of u (28)."""
    return sum(run.units for run in runs)


#: ``eval_scale``: evaluation intervals are this many times the table's; ``photo_size``: the blob
#: measure's photos.
PROFILES = {
    # One H100/H200: the vgg19 preset (256 px crops, batch 16), bf16, compiled; u from the budget.
    "gpu": dict(preset="vgg19", compile=True, unit=None, budget=540.0, eval_scale=1.0, photo_size=512),
    "cpu": dict(preset="cpu", compile=False, unit=250, budget=None, eval_scale=1.0, photo_size=256),  # 2 CPU cores
    # CI: the whole pipeline in seconds (a quarter-width network).
    "fast": dict(preset="fast", compile=False, unit=2, budget=None, eval_scale=2.0, photo_size=48),
}


def run_config(profile: dict, run: Run, unit: int) -> TrainConfig:
    """A run's config: the profile's preset, the run's styles and steps, checkpoints at evaluations."""
    eval_every = max(1, round(run.eval_every * profile["eval_scale"] * unit))
    return TrainConfig.preset(
        profile["preset"],
        styles=run.style_list(),
        steps=run.units * unit,
        compile=profile["compile"],
        eval_every=eval_every,
        eval_styles=run.eval_styles,
        checkpoint_every=max(eval_every, 250),
    )


def _finished(folder: Path, steps: int) -> bool:
    model = folder / "model.pt"
    return model.exists() and load_model(model, "cpu").metadata.get("step") == steps


def train_run(profile: dict, run: Run, runs: Path, unit: int, progress: bool = True) -> None:
    """Train one run in ``runs/<name>/`` (skipped when finished; resumed when interrupted)."""
    folder, config = runs / run.name, run_config(profile, run, unit)
    snapshots = [n * unit for n in run.snapshots]
    if _finished(folder, config.steps):
        print(f"  {run.name}: already trained, skipped")
    elif (folder / "checkpoint.pt").exists():
        Trainer.resume(folder / "checkpoint.pt", steps=config.steps).fit(progress=progress, snapshots=snapshots)
    elif run.base is not None:
        trainer = add_styles(runs / run.base / "model.pt", config.styles, config, out_dir=folder, fit=False)
        trainer.fit(progress=progress, snapshots=snapshots)
    else:
        Trainer(config, out_dir=folder, overwrite=True).fit(progress=progress, snapshots=snapshots)


#: Wall seconds set aside besides the training steps: per run (building it, its Gram targets,
#: compiling from the warm cache, evaluating) and once at the end (summary, figures, pack).
SECONDS_PER_RUN, SECONDS_AT_THE_END = 15.0, 60.0


def choose_unit(budget_seconds: float, steps_per_second: float) -> int:
    """The largest u, a multiple of 20 (at least 20), whose 28u steps fit the budget at this speed."""
    return max(20, int(steps_per_second * budget_seconds / units_in_all()) // 20 * 20)


def training_seconds(budget: float, elapsed: float, runs: int = len(RUNS)) -> float:
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
    """Train every run of :data:`RUNS`, in order; returns u. ``started``: when the command began."""
    started = time.perf_counter() if started is None else started
    unit = profile["unit"]
    chosen = runs / "unit.json"  # a resumed gpu run keeps the u it measured
    if unit is None and chosen.exists():
        unit = json.loads(chosen.read_text())["unit"]
    if unit is None:  # measure the speed of the first (biggest) run's step, compiled, then choose u
        speed = measure_speed(Trainer(run_config(profile, RUNS[0], 1)))
        seconds = training_seconds(profile["budget"], time.perf_counter() - started)
        unit = choose_unit(seconds, speed)
        log(
            f"  measured {speed:.1f} steps/s; {seconds:.0f} s left for training -> u = {unit} "
            f"({units_in_all() * unit:,} steps in all)"
        )
        write_bytes(chosen, json.dumps({"unit": unit, "steps_per_second": speed}).encode(), overwrite=True)
    for run in RUNS:
        log(f"  {run.name}: {run.units * unit} steps")
        train_run(profile, run, runs, unit, progress)
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
    crop = TrainConfig.from_metadata(varied.metadata).crop_size
    content = torch.cat([square(load_image(n), crop) for n in ("tubingen", "chelsea", "coffee", "rocket")])
    alphas = [i / 10 for i in range(11)]
    fig7 = interpolation_style_losses(
        varied, "starry_night", "the_scream", alphas, content, "starry_night", "the_scream"
    )
    fig7["monotonic_a"] = is_monotonic(fig7["loss_a"], increasing=True)
    fig7["monotonic_b"] = is_monotonic(fig7["loss_b"], increasing=False)
    timings = {run.name: load_model(runs / run.name / "model.pt", "cpu").metadata.get("seconds") for run in RUNS}
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
    """Per network marked ``blobs`` and per style, the mean :func:`cinlab.artefacts.blob_fraction`
    on the figure photos."""
    photos = [load_image(n, size) for n in FIGURE_PHOTOS]
    out = {}
    for run in (r for r in RUNS if r.blobs):
        model = load_model(runs / run.name / "model.pt")
        out[run.name] = {
            model.style_names[s]: sum(blob_fraction(model.stylize(p, s), p).item() for p in photos) / len(photos)
            for s in range(model.num_styles)
        }
    return out


# ----------------------------------------------------------------------------- shipping


def stage(runs: Path, unit: int, summary: dict) -> Path:
    """Write what the campaign ships into ``runs/results/`` (replacing what an earlier call staged):
    each run's network as ``models/<shipped>.pt`` (float16) and its snapshots as
    ``<shipped>_step<N>.pt``; its logs as ``results/<name>_eval.csv`` and ``<name>_train.csv``;
    the summary and the README's figures. Returns the folder."""
    staged = runs / "results"
    shutil.rmtree(staged, ignore_errors=True)
    models, results = staged / "models", staged / "results"
    for run in RUNS:
        if run.shipped is not None:
            sources = {run.shipped: runs / run.name / "model.pt"}
            sources |= {
                f"{run.shipped}_step{n * unit}": runs / run.name / f"model_step{n * unit}.pt" for n in run.snapshots
            }
            for name, source in sources.items():
                net = load_model(source, "cpu")
                save_checkpoint(models / f"{name}.pt", net, metadata=net.metadata, half=True)
        if run.logs:
            _copy_log(runs / run.name / "eval_log.csv", results / f"{run.name}_eval.csv")
            _copy_log(runs / run.name / "train_log.csv", results / f"{run.name}_train.csv", every=10)
    write_bytes(results / "summary.json", json.dumps(summary, indent=1).encode())
    render_figures(models, results)
    return staged


def publish(staged: Path, data: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the staged ``models/`` and ``results/`` into ``data`` (the project's ``data/`` by default).

    The files there are the project's shipped results: if any would be replaced, nothing is
    written unless ``overwrite``. Returns the files written.
    """
    files = sorted(p for folder in ("models", "results") for p in (staged / folder).iterdir() if p.is_file())
    targets = [data / f.parent.name / f.name for f in files]
    replaced = [t for t in targets if t.exists() and t.read_bytes() != (staged / t.parent.name / t.name).read_bytes()]
    if replaced and not overwrite:
        raise FileExistsError(
            f"Publishing would replace {len(replaced)} file(s) in {data} ({', '.join(t.name for t in replaced[:4])}"
            f"{', ...' if len(replaced) > 4 else ''}): the shipped networks and results. {OVERWRITE_HINT}, or "
            "publish into another folder (--publish DIR)."
        )
    for source, target in zip(files, targets):
        write_bytes(target, source.read_bytes(), overwrite=True)
    return targets


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
    """The command line; a refusal (a damaged pack, files that would be replaced) is one line on
    stderr and exit status 2."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="gpu" if torch.cuda.is_available() else "cpu",
        help="gpu: one H100/H200, ~9 minutes; cpu: 2 cores, hours; fast: seconds, checks the pipeline",
    )
    parser.add_argument("--budget", type=float, default=None, help="wall seconds for everything (gpu default: 540)")
    parser.add_argument("--runs", default="runs", help="folder for the training runs and the staged results")
    parser.add_argument(
        "--publish",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="copy the results into DIR (default: the project's data/); replacing files there needs --overwrite",
    )
    parser.add_argument(
        "--pack", default=None, metavar="DIR", help="pack the results into DIR (<= 8 files of <= 16 MiB)"
    )
    parser.add_argument(
        "--install",
        default=None,
        metavar="DIR",
        help="verify the pack in DIR and install it into data/ (or --publish DIR), re-rendering the figures",
    )
    parser.add_argument("--overwrite", action="store_true", help="let --publish / --install replace existing files")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except (PackError, OSError, ValueError) as err:
        print(f"reproduce: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _main(args: argparse.Namespace) -> dict:
    data = Path(args.publish) if args.publish else assets_dir()
    if args.install:
        installed = install(Path(args.install), data, check=render_figures, overwrite=args.overwrite)
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
    summary["device"] = describe_hardware()
    summary["settings"] = {
        **profile,
        **{
            k: v
            for k, v in TrainConfig.preset(profile["preset"]).to_dict().items()
            if k in ("crop_size", "batch_size", "style_size", "backend", "style_weight")
        },
    }
    staged = stage(runs, unit, summary)
    print(f"results staged in {staged}")
    if args.publish is not None:
        written = publish(staged, data, overwrite=args.overwrite)
        print(f"published {len(written)} files into {data}")
    if args.pack:
        files = pack(staged, Path(args.pack))
        print(f"packed into {len(files)} files in {args.pack}")
    print_summary(summary)
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return summary


if __name__ == "__main__":
    main()
