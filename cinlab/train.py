"""Training feed-forward style networks: single-style, N-style, and new styles by fine-tuning.

One :class:`Trainer` covers the paper's three training regimes:

- **single style** (Johnson et al. / Ulyanov et al.): a :class:`TransformerNet` with N = 1;
- **N styles** (Dumoulin et al.): each example of a batch draws its own style, and its output
  is scored against that style's Gram matrices;
- **new styles** (:func:`add_styles`): a trained network grows its (gamma, beta) tables from N to
  N + M rows and only the new rows train; every other number stays bit-identical.

A training step is: a batch of content crops (:mod:`cinlab.content`), one random style per
example, the network's output under those styles, :class:`cinlab.losses.StyleTransferLoss`
against each example's Gram targets (computed once per style image at ``style_size``), one Adam
step. Precision follows the hardware (:func:`cinlab.hardware.choose_precision`).

:data:`PRESETS` is the one table of run sizes. Files written into ``out_dir``:
``checkpoint.pt`` (everything needed to resume exactly), ``model.pt`` (weights and metadata),
``train_log.csv`` and ``eval_log.csv`` (see :mod:`cinlab.evaluation`).

(Longer than the other modules, on purpose: the run settings and the trainer that reads them
are one chapter, and every setting is read where it is used.)
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence, get_type_hints

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from . import config as settings
from ._version import __version__
from .checkpoint import CheckpointError, load_checkpoint, load_model, model_from_checkpoint, save_checkpoint
from .content import HELD_OUT_PHOTOS, evaluation_batches, make_sampler
from .evaluation import append_rows, evaluate_styles, log_rows, truncate_log
from .files import RunLock, remove_stale_temp_files
from .hardware import PRECISION_MODES, choose_precision, resolve_device
from .images import ImageSource, image_name, image_sha256, load_image
from .loss_network import LossNetwork, equivalent_style_weight
from .losses import StyleTransferLoss
from .model import ModelConfig, TransformerNet
from .paper import PAPER_SETTINGS as PAPER

# ----------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Settings of a training run, each with its default once, here (the ``vgg19`` preset).

    The defaults are the paper's settings (:data:`cinlab.paper.PAPER_SETTINGS`) with the
    embedded VGG-19 as loss network; :data:`PRESETS` changes a few of them for other machines.
    Every field is also a ``cinlab train`` option (``--crop-size`` for ``crop_size``), with the
    help text written next to it. Recorded in every checkpoint (``metadata["config"]``) and read
    back with :meth:`from_metadata`.
    """

    styles: Annotated[list, "style images: registry names, image files, or a set (impressionist10, varied32)"] = field(
        default_factory=list
    )
    steps: Annotated[int, "total training steps"] = PAPER["steps"]
    batch_size: Annotated[int, "content crops per step (split across torchrun processes)"] = PAPER["batch_size"]
    crop_size: Annotated[int, "side of the square content crops in px"] = PAPER["crop_size"]
    # The paper does not say; magenta used each painting's own resolution, which silently sets the
    # brush-stroke scale. cinlab makes it explicit.
    style_size: Annotated[int, "shorter side in px of each style image when its Gram targets are computed"] = 384
    lr: Annotated[float, "Adam learning rate"] = PAPER["lr"]
    content: Annotated[Any, "'photos' (cinlab's pool), a folder of images (COCO / ImageNet), or image files"] = "photos"
    held_out: Annotated[tuple, "photos kept out of the default pool (the figures use them)"] = HELD_OUT_PHOTOS
    backend: Annotated[Literal["vgg19", "vgg16", "random"], "loss network ('random': tests only)"] = "vgg19"
    pooling: Annotated[Literal["max", "avg"], "the loss network's pooling"] = "max"
    content_layers: Annotated[tuple, "the loss network's content layers"] = PAPER["content_layers"]
    style_layers: Annotated[tuple, "the loss network's style layers"] = PAPER["style_layers"]
    content_weight: Annotated[float, "weight of the content loss"] = PAPER["content_weight"]
    style_weight: Annotated[float, "weight of the style loss (1e-4: the paper's, for Caffe-scale VGG)"] = PAPER[
        "style_weight"
    ]
    style_layer_weights: Annotated[dict | None, "per style layer, a multiplier (default 1 each), e.g. relu1_2=0.5"] = (
        None
    )
    style_multipliers: Annotated[list | None, "per style, a multiplier of its style loss (default 1 each)"] = None
    tv_weight: Annotated[float, "weight of a total-variation loss (the paper: none)"] = 0.0
    width: Annotated[float, "channel multiplier of the network (1.0 = the paper's)"] = 1.0
    norm: Annotated[str, "the normaliser (a name in cinlab.norms.NORMS; 'cin' is the paper's)"] = "cin"
    seed: Annotated[int, "random seed (initial weights, crops, style labels)"] = 0
    precision: Annotated[Literal["auto", "bf16", "fp16", "float32"], "autocast dtype ('auto': by hardware)"] = "auto"
    compile: Annotated[bool, "torch.compile the network and the loss together (CUDA)"] = False
    log_every: Annotated[int, "write a training-log row every N steps"] = 10
    eval_every: Annotated[int, "run the evaluation protocol every N steps (0: only at the end)"] = 0
    # The paper averaged over 32 batches; 8 keeps an evaluation to seconds on a GPU.
    eval_batches: Annotated[int, "fixed content batches per evaluation (the paper: 32)"] = 8
    eval_batch_size: Annotated[int | None, "crops per evaluation batch (default: batch_size)"] = None
    eval_styles: Annotated[int, "styles scored by intermediate evaluations (0: all; the last scores all)"] = 0
    checkpoint_every: Annotated[int, "save checkpoint.pt every N steps (0: only at the end)"] = 1000
    num_workers: Annotated[int, "DataLoader workers reading a content folder"] = 2

    @classmethod
    def preset(cls, name: str, **overrides) -> "TrainConfig":
        """A config from :data:`PRESETS` with ``overrides`` applied."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose from {', '.join(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the first setting that cannot train."""
        if not self.styles:
            raise ValueError("No styles to train: give at least one style image.")
        names = [str(s) for s in self.styles if isinstance(s, (str, os.PathLike))]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"Style(s) {repeated} are given more than once: each style is trained once.")
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "crop_size": self.crop_size,
            "style_size": self.style_size,
            "eval_batches": self.eval_batches,
            "log_every": self.log_every,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("crop_size", "style_size"):
            if getattr(self, name) < 16:
                raise ValueError(f"{name} must be at least 16 px; got {getattr(self, name)}.")
        for name in ("lr", "content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite non-negative number; got {value!r}.")
        if self.lr == 0:
            raise ValueError("lr must be positive; got 0.")
        for name in ("eval_every", "checkpoint_every", "eval_styles", "num_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be 0 (off) or a positive integer; got {value!r}.")
        if self.style_multipliers is not None:
            if len(self.style_multipliers) != len(self.styles):
                raise ValueError(f"Got {len(self.style_multipliers)} style_multipliers for {len(self.styles)} styles.")
            _check_weights("style_multipliers", self.style_multipliers)
        if self.style_layer_weights is not None:
            unknown = sorted(set(self.style_layer_weights) - set(self.style_layers))
            if unknown:
                raise ValueError(
                    f"style_layer_weights names {unknown}, which are not style layers {list(self.style_layers)}."
                )
            _check_weights("style_layer_weights", list(self.style_layer_weights.values()))
        if self.precision not in PRECISION_MODES:
            raise ValueError(f"precision must be one of {', '.join(PRECISION_MODES)}; got {self.precision!r}.")
        for name, allowed in (("backend", ("vgg19", "vgg16", "random")), ("pooling", ("max", "avg"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {getattr(self, name)!r}.")
        self.model_config()  # the network's settings (width, norm) are checked where the network defines them
        return self

    def model_config(self, num_styles: int | None = None) -> ModelConfig:
        """The network this config trains: one style per ``styles`` entry (or ``num_styles``)."""
        return ModelConfig(num_styles=num_styles or max(1, len(self.styles)), width=self.width, norm=self.norm)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint; style images given as arrays/tensors are recorded as ``"<in memory>"``."""
        d = asdict(self)
        for key in ("content_layers", "style_layers", "held_out"):
            d[key] = list(d[key])
        d["styles"] = [str(s) if isinstance(s, (str, os.PathLike)) else "<in memory>" for s in self.styles]
        if not isinstance(self.content, str):
            d["content"] = [str(s) if isinstance(s, (str, os.PathLike)) else "<in memory>" for s in self.content]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """The config a checkpoint recorded (also from older cinlab versions' keys)."""
        d = dict(d)
        if "image_size" in d:  # cinlab 0.1 called the crop size image_size
            d.setdefault("crop_size", d.pop("image_size"))
        if "amp" in d:  # and the precision amp: "auto" / "bf16" / "none"
            d.setdefault("precision", {"none": "float32"}.get(d["amp"], d["amp"]))
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        for key in ("content_layers", "style_layers", "held_out"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> "TrainConfig":
        """The config a trained network's metadata records (``model.metadata``; older files kept its
        fields at the top level)."""
        return cls.from_dict(metadata["config"] if metadata.get("config") else metadata)


def _check_weights(name: str, values) -> None:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"{name} must be finite non-negative numbers; got {values!r}.")


def option_help(name: str) -> str:
    """The help text written next to a :class:`TrainConfig` field (the command line shows it)."""
    return get_type_hints(TrainConfig, include_extras=True)[name].__metadata__[0]


#: Run sizes: each preset changes a few :class:`TrainConfig` defaults (``vgg19`` is the defaults).
#: ``paper``: the paper's loss network (torchvision VGG-16, average pooling), with the style weight
#: rescaled for its activations. ``cpu``: what a 2-core machine trains in an hour. ``fast``: CI,
#: seconds (a quarter-width network).
PRESETS: dict[str, dict[str, Any]] = {
    "vgg19": {},
    "paper": {
        "backend": "vgg16",
        "pooling": "avg",
        "style_weight": equivalent_style_weight(PAPER["style_weight"], "vgg16"),
    },
    "cpu": {"crop_size": 96, "batch_size": 8, "style_size": 144, "steps": 2_500, "eval_batches": 4},
    "fast": {
        "crop_size": 32,
        "batch_size": 2,
        "style_size": 48,
        "steps": 4,
        "eval_batches": 1,
        "log_every": 1,
        "width": 0.25,
    },
}


def config_loss(config: TrainConfig, loss_network: LossNetwork | None = None) -> StyleTransferLoss:
    """The loss a config describes: its layers and weights on ``loss_network`` (default: its backend)."""
    if loss_network is None:
        layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
        loss_network = LossNetwork(config.backend, layers=layers, pooling=config.pooling)
    layer_weights = {layer: float((config.style_layer_weights or {}).get(layer, 1.0)) for layer in config.style_layers}
    return StyleTransferLoss(
        loss_network,
        config.content_layers,
        layer_weights,
        content_weight=config.content_weight,
        style_weight=config.style_weight,
        tv_weight=config.tv_weight,
    )


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group under torchrun if needed."""
    world = settings.torchrun_world_size()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shutdown_distributed() -> None:
    """End a torchrun job cleanly: wait for every rank, then destroy the process group.

    Call it after the last collective operation, once the trainer is no longer used. Exiting
    without it leaves gloo's worker threads holding tensors while Python shuts down, which can
    abort a rank with "terminate called without an active exception" (SIGABRT).
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- trainer


class Trainer:
    """Train a :class:`TransformerNet` on one or more styles.

    Args:
        config: a :class:`TrainConfig` (e.g. ``TrainConfig.preset("vgg19", styles=[...])``).
        model: an existing network to continue from (default: a fresh one with one style per
            ``config.styles`` entry).
        out_dir: where checkpoints and logs go (``None``: nothing is written). A folder that
            already holds a run is refused unless ``overwrite=True`` (resume it with :meth:`resume`).
        train_labels: the model's labels of ``config.styles``, in order (default 0..N-1;
            :func:`add_styles` trains only new ones).
        trainable: ``"all"`` or ``"styles"`` (only the gamma/beta rows of ``train_labels``;
            every other parameter is frozen and stays bit-identical).
        device: any spelling (:func:`cinlab.hardware.resolve_device`); default: the GPU if present.
        loss: the loss to train with, a :class:`~cinlab.losses.StyleTransferLoss` (or anything that
            computes its terms the same way); default: the one ``config`` describes, on
            ``loss_network`` (default: the config's backend).
    """

    def __init__(
        self,
        config: TrainConfig,
        model: TransformerNet | None = None,
        *,
        loss: StyleTransferLoss | None = None,
        out_dir=None,
        train_labels=None,
        trainable: str = "all",
        device=None,
        loss_network: LossNetwork | None = None,
        overwrite: bool = False,
    ):
        self.config = config.validate()
        if trainable not in ("all", "styles"):
            raise ValueError(f"trainable must be 'all' or 'styles'; got {trainable!r}.")
        self.rank, self.world = _distributed()
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if model is None:
            torch.manual_seed(config.seed)  # the same initial weights on every rank
            model = TransformerNet(config.model_config(), style_names=[image_name(s) for s in config.styles])
        self.model = model.to(self.device)
        self.train_labels = list(train_labels) if train_labels is not None else list(range(len(config.styles)))
        if len(self.train_labels) != len(config.styles) or not all(
            0 <= l < self.model.num_styles for l in self.train_labels
        ):
            raise ValueError(
                f"train_labels {self.train_labels} do not fit {len(config.styles)} styles of a {self.model.num_styles}-style network."
            )
        self.trainable = trainable
        self.step, self.seconds = 0, 0.0
        self.history: list[dict[str, Any]] = []
        self.eval_history: list[dict[str, Any]] = []
        self._overwrite, self._prepared = overwrite, False
        self.new_rows_init: str | None = None  # how new style rows started (add_styles), for the metadata
        self._setup_loss(loss, loss_network)
        self._setup_data()
        self._setup_optimisation()

    def _setup_loss(self, loss: StyleTransferLoss | None, loss_network: LossNetwork | None) -> None:
        cfg = self.config
        if loss is None:
            loss = config_loss(cfg, loss_network)
        loss.loss_network.to(self.device)
        self.loss = loss
        # Gram targets of each style image, once, at a declared size (the brush-stroke scale).
        self.style_grams = self.loss.gram_targets(
            [load_image(s, cfg.style_size, device=self.device) for s in cfg.styles]
        )
        self.style_hashes = [image_sha256(s) for s in cfg.styles]
        self.multipliers = None
        if cfg.style_multipliers is not None:
            self.multipliers = torch.tensor(cfg.style_multipliers, dtype=torch.float32, device=self.device)

    def _setup_data(self) -> None:
        cfg = self.config
        # Separate generators for styles and crops, seeded per rank and saved in checkpoints:
        # a resumed run continues exactly where it stopped.
        self.label_generator = torch.Generator().manual_seed(cfg.seed * 1000 + 2 * self.rank + 1)
        self.crop_generator = torch.Generator().manual_seed(cfg.seed * 1000 + 2 * self.rank + 2)
        self.per_rank_batch = max(1, cfg.batch_size // self.world)
        pool = cfg.content
        self.sampler = make_sampler(
            pool,
            cfg.held_out,
            cfg.crop_size,
            self.per_rank_batch,
            self.device,
            self.crop_generator,
            workers=cfg.num_workers,
            seed=cfg.seed + self.rank,
        )
        self.eval_batches = evaluation_batches(
            self.sampler, cfg.eval_batches, cfg.eval_batch_size or cfg.batch_size, cfg.crop_size
        )
        self._labels = torch.tensor(self.train_labels, device=self.device)

    def _setup_optimisation(self) -> None:
        if self.trainable == "all":
            self.model.requires_grad_(True)
        else:
            self.model.requires_grad_(False)
            mask = torch.zeros(self.model.num_styles, 1, device=self.device)
            mask[self.train_labels] = 1.0
            for p in self.model.style_parameters():
                p.requires_grad_(True)
                # Rows of other styles get exactly zero gradient, so Adam leaves them bit-identical.
                p.register_hook(lambda grad, m=mask: grad * m)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=self.config.lr)
        self.precision = choose_precision(self.device, self.config.precision)
        self.scaler = self.precision.grad_scaler()
        self.loss_unit: torch.Tensor | None = None  # float16 only: see train_step
        if self.device.type == "cuda":
            # Tensor cores want NHWC: keep the network, VGG and the crops channels-last end to end,
            # and let cuDNN pick its fastest kernels for these fixed shapes (unless asked to be
            # deterministic, when its choice could differ between runs).
            self.model.to(memory_format=torch.channels_last)
            self.loss.loss_network.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
        self.forward_model = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        # With compile, the network *and* the loss (VGG, Gram matrices, losses) become one graph:
        # the elementwise work around normalisation, padding and ReLUs fuses into few kernels.
        self._batch_losses = torch.compile(self._losses) if self.config.compile else self._losses

    def _prepare_out_dir(self) -> None:
        """Before the first write (holding the run lock): refuse to start over an existing run
        unless asked, drop temp files of interrupted writes, and drop log rows after the current
        step (a fresh start clears logs an interrupted run left before its first checkpoint)."""
        if self._prepared or self.out_dir is None or self.rank != 0:
            return
        if self.step == 0 and (self.out_dir / "checkpoint.pt").exists():
            if not self._overwrite:
                raise FileExistsError(
                    f"{self.out_dir} already holds a training run; resume it (Trainer.resume, or --resume) "
                    "or pass overwrite=True (--overwrite) to start over."
                )
            for name in ("checkpoint.pt", "model.pt"):  # starting over: no old network beside the new logs
                (self.out_dir / name).unlink(missing_ok=True)
        remove_stale_temp_files(self.out_dir)
        for name in ("train_log.csv", "eval_log.csv"):
            truncate_log(self.out_dir / name, self.step)
        self._prepared = True

    def _run_lock(self):
        """The run folder's lock (re-entrant in this process; nothing to lock without a folder)."""
        return RunLock(self.out_dir) if self.out_dir is not None and self.rank == 0 else contextlib.nullcontext()

    # ------------------------------------------------------------------ training

    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step on a fresh batch; returns per-example loss terms (on the device)."""
        content = self.sampler.sample(self.per_rank_batch)
        if self.device.type == "cuda":
            content = content.contiguous(memory_format=torch.channels_last)
        # k: which of this run's styles each example takes (row k of style_grams); label: the network's label for it.
        k = torch.randint(len(self.train_labels), (content.shape[0],), generator=self.label_generator).to(self.device)
        terms = self._batch_losses(content, k)
        loss = terms["total"].mean()
        if self.precision.needs_grad_scaler:
            # float16: the paper's losses (~1e8 at the start) would overflow float16 gradients at any
            # usable scale. Dividing by the first batch's loss (a constant, kept in checkpoints)
            # gives gradients near 1; Adam's update does not depend on that constant.
            if self.loss_unit is None:
                self.loss_unit = loss.detach().clamp_min(1e-12)
            loss = loss / self.loss_unit
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        terms = {key: v.detach() for key, v in terms.items()}
        terms["k"] = k
        return terms

    def _losses(self, content: torch.Tensor, k: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network's output for ``content`` in styles ``k`` and its loss terms ([B] each)."""
        with self.precision.autocast():
            out = self.forward_model(content, self._labels[k], check=False)
            return self.loss(
                out,
                content,
                style_grams={l: g[k] for l, g in self.style_grams.items()},
                style_multipliers=self.multipliers[k] if self.multipliers is not None else None,
            )

    def fit(self, steps: int | None = None, *, progress: bool = True, snapshots: Sequence[int] = ()) -> "Trainer":
        """Train until ``steps`` total steps (default ``config.steps``), logging and checkpointing.

        A run that already reached ``steps`` is left as it is. ``snapshots``: steps at which to
        also save ``model_step<N>.pt``, e.g. to compare networks at equal step counts.
        """
        total = steps if steps is not None else self.config.steps
        if self.step >= total:
            return self
        with self._run_lock():
            self._prepare_out_dir()
            self._fit(total, progress, set(snapshots))
        return self

    def _fit(self, total: int, progress: bool, snapshots: set[int]) -> None:
        cfg = self.config
        pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        bar = tqdm(total=total, initial=self.step, desc="train", disable=not progress or self.rank != 0)
        start = time.perf_counter()
        self.model.train()
        while self.step < total:
            pending.append((self.step + 1, self.train_step()))
            self.step += 1
            if self.step % cfg.log_every == 0 or self.step == total:
                self._flush_log(pending)
                pending = []
                bar.set_postfix(loss=f"{self.history[-1]['total']:.4g}", refresh=False)
            bar.update(1)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step != total:
                self.run_eval(subset=cfg.eval_styles or None)
            if self.step in snapshots and self.out_dir is not None:
                self.save_model(self.out_dir / f"model_step{self.step}.pt")
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step != total:
                self.seconds += time.perf_counter() - start
                start = time.perf_counter()
                self.save_checkpoint()
        bar.close()
        self.seconds += time.perf_counter() - start
        self.run_eval()
        self.save_checkpoint()
        self.save_model()

    def _flush_log(self, pending) -> None:
        """Move logged per-example losses to the host in one transfer and write them."""
        keys = [key for key in pending[0][1] if key != "k"]
        values = torch.stack([torch.stack([t[key].float() for key in keys]) for _, t in pending]).cpu()  # [S, K, B]
        if not torch.isfinite(values).all():
            raise FloatingPointError(
                f"The training loss became NaN or infinite near step {pending[-1][0]}: lower the learning rate or the style weight."
            )
        names = [self.model.style_names[label] for label in self.train_labels]
        rows = log_rows(
            [step for step, _ in pending], keys, values, torch.stack([t["k"] for _, t in pending]).cpu(), names
        )
        self.history.extend(r for r in rows if r["name"] == "all")
        if self.out_dir is not None and self.rank == 0:
            append_rows(self.out_dir / "train_log.csv", rows)

    def run_eval(self, subset: int | None = None) -> list[dict[str, Any]]:
        """The evaluation protocol now, on all trained styles (or the first ``subset``); one row each."""
        if self.rank != 0:
            return []
        count = min(subset or len(self.train_labels), len(self.train_labels))
        grams = {layer: g[:count] for layer, g in self.style_grams.items()}
        multipliers = self.config.style_multipliers[:count] if self.config.style_multipliers else None
        results = evaluate_styles(
            self.model, self.loss, grams, self.train_labels[:count], self.eval_batches, style_multipliers=multipliers
        )
        rows = [
            {"step": self.step, "name": self.model.style_names[label], **r}
            for label, r in zip(self.train_labels, results)
        ]
        self.eval_history.extend(rows)
        if self.out_dir is not None:
            append_rows(self.out_dir / "eval_log.csv", rows)
        return rows

    # ------------------------------------------------------------------ files

    def metadata(self) -> dict[str, Any]:
        """How this network was trained (stored in checkpoints): the run's config (``"config"``,
        read back with :meth:`TrainConfig.from_metadata`) and the facts of the run."""
        base = getattr(self.model, "metadata", None)
        return {
            "config": self.config.to_dict(),
            "styles": [self.model.style_names[l] for l in self.train_labels],
            "style_labels": list(self.train_labels),
            "style_sha256": list(self.style_hashes),
            "loss_network": self.loss.loss_network.describe(),
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "world_size": self.world,
            "trainable": self.trainable,
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "precision": self.precision.name,
            "cinlab_version": __version__,
            **({"init": self.new_rows_init} if self.new_rows_init else {}),
            **({"base_metadata": base} if base else {}),
        }

    def save_checkpoint(self, path=None) -> Path | None:
        """Everything needed to resume: weights, optimiser, gradient scaler, generators, step."""
        path = self._path(path, "checkpoint.pt")
        if path is None:
            return None
        training = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "loss_unit": float(self.loss_unit) if self.loss_unit is not None else None,
            "label_generator": self.label_generator.get_state(),
            "crop_generator": self.crop_generator.get_state(),
            "train_labels": list(self.train_labels),
            "trainable": self.trainable,
            "config": self.config.to_dict(),
            "seconds": self.seconds,
            "new_rows_init": self.new_rows_init,
        }
        return save_checkpoint(path, self.model, metadata=self.metadata(), training=training, overwrite=True)

    def save_model(self, path=None, *, half: bool = False) -> Path | None:
        """Weights and metadata only (no optimiser): what ``cinlab stylize`` and notebooks load."""
        path = self._path(path, "model.pt")
        return save_checkpoint(path, self.model, metadata=self.metadata(), half=half, overwrite=True) if path else None

    def _path(self, path, default: str) -> Path | None:
        if self.rank != 0:
            return None
        return Path(path) if path is not None else (self.out_dir / default if self.out_dir is not None else None)

    @classmethod
    def resume(
        cls,
        path,
        *,
        out_dir=None,
        device=None,
        loss: StyleTransferLoss | None = None,
        loss_network: LossNetwork | None = None,
        **config_overrides,
    ) -> "Trainer":
        """Continue a run exactly from a ``checkpoint.pt`` (model, optimiser, generators, step).

        Log rows after the checkpoint's step (written before an interruption) are dropped so the
        CSVs have no duplicates. ``config_overrides`` may change e.g. ``steps`` (to extend a run)
        or give ``styles`` again for a run started from in-memory images.
        """
        path = Path(path)
        payload = load_checkpoint(path)
        training = payload.get("training")
        if not training:
            raise CheckpointError(f"{path} holds no training state (it is a model file); resume from checkpoint.pt.")
        config = replace(TrainConfig.from_dict(training["config"]), **config_overrides)
        if any(s == "<in memory>" for s in config.styles):
            raise ValueError(
                "This run was started from in-memory style images, which checkpoints cannot hold: pass styles=[...] to resume it."
            )
        model = model_from_checkpoint(payload, str(path))
        out_dir = Path(out_dir) if out_dir is not None else path.parent
        trainer = cls(
            config,
            model,
            out_dir=out_dir,
            train_labels=training["train_labels"],
            trainable=training["trainable"],
            device=device,
            loss=loss,
            loss_network=loss_network,
        )
        trainer.new_rows_init = training.get("new_rows_init")
        trainer.optimizer.load_state_dict(training["optimizer"])
        if training.get("scaler"):
            trainer.scaler.load_state_dict(training["scaler"])
        if training.get("loss_unit") is not None:
            trainer.loss_unit = torch.tensor(training["loss_unit"], device=trainer.device)
        trainer.label_generator.set_state(training["label_generator"])
        trainer.crop_generator.set_state(training["crop_generator"])
        trainer.step = int(training["step"])
        trainer.seconds = float(training.get("seconds", 0.0))
        with trainer._run_lock():
            trainer._prepare_out_dir()
        return trainer


# ----------------------------------------------------------------------------- entry points


def train(config: TrainConfig, *, out_dir=None, device=None, progress: bool = True) -> Trainer:
    """Train a new network on ``config.styles`` (one style: a single-style network)."""
    return Trainer(config, out_dir=out_dir, device=device).fit(progress=progress)


def finetune_config(model: TransformerNet, styles: Sequence[ImageSource], **overrides) -> TrainConfig:
    """The config for teaching ``model`` new styles: its recorded training settings, ``styles``
    instead of its own, and ``overrides`` (e.g. ``steps``). A clear error if none are recorded."""
    metadata = getattr(model, "metadata", None) or {}
    if not metadata.get("config"):
        raise ValueError(
            "The network has no recorded training config (it was not trained by cinlab): pass config=TrainConfig(...)."
        )
    return replace(TrainConfig.from_metadata(metadata), styles=list(styles), **overrides)


def add_styles(
    model,
    styles: Sequence[ImageSource],
    config: TrainConfig | None = None,
    *,
    out_dir=None,
    device=None,
    init: str = "mean",
    progress: bool = True,
    fit: bool = True,
    loss_network: LossNetwork | None = None,
    overwrite: bool = False,
) -> Trainer:
    """Teach a trained network new styles by training only their (gamma, beta) rows.

    The tables grow from N to N + M; every convolution weight and the old styles' rows are
    frozen, so the old styles' outputs stay bit-identical. ``config`` defaults to
    :func:`finetune_config` (the base network's recorded settings).
    """
    if not isinstance(model, TransformerNet):
        model = load_model(model, device=device)
    config = replace(config, styles=list(styles)) if config is not None else finetune_config(model, styles)
    config.validate()
    labels = model.add_styles(len(styles), names=[image_name(s) for s in styles], init=init)
    trainer = Trainer(
        config,
        model,
        out_dir=out_dir,
        train_labels=labels,
        trainable="styles",
        device=device,
        loss_network=loss_network,
        overwrite=overwrite,
    )
    trainer.new_rows_init = init
    return trainer.fit(progress=progress) if fit else trainer
