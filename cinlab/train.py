"""Training feed-forward style networks: single-style, N-style, and new styles by fine-tuning.

One :class:`Trainer` covers the paper's three training regimes:

- **single style** (Johnson et al. / Ulyanov et al.): a :class:`TransformerNet` with N = 1;
- **N styles** (Dumoulin et al.): each example of a batch draws its own style label, and its
  output is compared with that style's Gram matrices;
- **new styles** (:func:`add_styles`): a trained network grows its (gamma, beta) tables from N to
  N + M rows and only the new rows train; every other number stays bit-identical.

Losses are the paper's (see :mod:`cinlab.losses`): content loss at the content layer(s), style
loss at each style layer against Gram targets computed *once* per style image at a declared
``style_size``. On CUDA the forward runs under bf16 autocast (Gram matrices and losses in
float32), optionally compiled.

Files written into ``out_dir``: ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the
end; everything needed to resume exactly), ``model.pt`` (weights and metadata only),
``train_log.csv`` (per step: one row for the whole batch, ``name`` = "all", and one per style
present in it, ``name`` = the style: content loss, style loss per layer, weighted style, total) and
``eval_log.csv`` (the evaluation protocol: per-style losses on fixed content batches).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import native_bf16
from .data import ImageSource, atomic_write_bytes, file_sha256, image_info, image_names, load_image, registry
from .loss_network import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS, TORCHVISION_STD, LossNetwork
from .losses import content_loss, gram_matrix, style_loss
from .model import TransformerNet

# ----------------------------------------------------------------------------- configuration

#: The paper's settings with torchvision's VGG-16. The paper's style weight (1e-4) was set for
#: Caffe-scale activations (inputs 0-255); torchvision's VGG-16 takes inputs normalised by
#: std ~0.226, so its activations are ~255 * 0.226 = 58x smaller. Content loss scales with
#: the square of that factor, style loss with the fourth power, so the same balance needs a
#: style weight 58^2 ~ 3,300x larger.
_TORCHVISION_SCALE = 255.0 * sum(TORCHVISION_STD) / 3

# The paper's (magenta's) settings: layers, Adam 1e-3, 256 px crops, batch 16, 40,000 steps.
_PAPER = dict(
    content_layers=PAPER_CONTENT_LAYERS,
    style_layers=PAPER_STYLE_LAYERS,
    content_weight=1.0,
    image_size=256,
    batch_size=16,
    steps=40_000,
    lr=1e-3,
    style_size=384,
)

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's loss network: torchvision's VGG-16 with average pooling.
    "paper": dict(_PAPER, backend="vgg16", pooling="avg", style_weight=1e-4 * _TORCHVISION_SCALE**2),
    # The same with the embedded VGG-19 (Caffe weights, works offline). Calibrated on one H200
    # (see ../shared/docs/paper.md): style weight 1e-4 gives clearly painted results in a few
    # thousand steps; 1e-5 gives mostly colour shifts.
    "vgg19": dict(_PAPER, backend="vgg19", pooling="max", style_weight=1e-4),
}
# A laptop-sized run: the vgg19 preset at half resolution and a quarter of the batch.
PRESETS["cpu"] = dict(PRESETS["vgg19"], image_size=128, batch_size=4, steps=2_000, style_size=192)
# CI / nbval fast mode: a few steps on tiny images, only to show the machinery runs.
PRESETS["fast"] = dict(PRESETS["vgg19"], image_size=32, batch_size=2, steps=4, style_size=48, eval_batches=1, log_every=1)


@dataclass
class TrainConfig:
    """Settings of a training run (recorded in checkpoints). See :data:`PRESETS`."""

    styles: list = field(default_factory=list)  # registry names or image files
    steps: int = 40_000
    batch_size: int = 16
    image_size: int = 256
    style_size: int = 384  # shorter side of each style image when its Gram targets are computed
    lr: float = 1e-3
    content: str = "photos"  # "photos" (built-in pool) or a folder of images (COCO/ImageNet layout)
    held_out: tuple = ("tubingen", "chelsea")  # photos kept out of training (figures use them)
    backend: str = "vgg19"
    pooling: str = "max"
    content_layers: tuple = PAPER_CONTENT_LAYERS
    style_layers: tuple = PAPER_STYLE_LAYERS
    content_weight: float = 1.0
    style_weight: float = 1e-4
    style_layer_weights: dict | None = None  # layer -> multiplier (default 1 each)
    style_multipliers: list | None = None  # per-style multiplier of the style loss (default 1 each)
    width: float = 1.0
    norm: str = "cin"
    seed: int = 0
    amp: str = "auto"  # "auto": bf16 where native (CUDA, AMX CPUs), else float32; "bf16"; "none"
    compile: bool = False
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    eval_batches: int = 4  # the paper averaged over 32 batches
    eval_batch_size: int | None = None  # default: batch_size
    checkpoint_every: int = 1000
    num_workers: int = 2  # DataLoader workers for a content folder

    @classmethod
    def preset(cls, name: str, **overrides) -> "TrainConfig":
        """A config from :data:`PRESETS` with ``overrides`` applied."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose from {', '.join(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["content_layers"], d["style_layers"], d["held_out"] = (
            list(self.content_layers),
            list(self.style_layers),
            list(self.held_out),
        )
        d["styles"] = [s if isinstance(s, str) else "<tensor>" for s in self.styles]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        for key in ("content_layers", "style_layers", "held_out"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


# ----------------------------------------------------------------------------- content images


def training_photos(held_out: Sequence[str] = ()) -> list[str]:
    """Registry names of the built-in photo pool (the "photos" set minus ``held_out``)."""
    return [n for n in image_names("photos") if n not in set(held_out)]


class PhotoPool:
    """Random crops and flips from a small set of photos kept in memory (on the device).

    Each example: a random photo, a random square crop whose side is 50-100 % of the photo's
    shorter side, resized (antialiased) to ``image_size``, flipped left-right half the time.
    All randomness comes from ``generator`` (saved in checkpoints: resuming is exact).
    """

    def __init__(self, names: Sequence[ImageSource], image_size: int, device: torch.device, generator: torch.Generator):
        if not names:
            raise ValueError("The photo pool is empty.")
        # Keep each photo at twice the crop size: enough detail, bounded memory.
        self.photos = [load_image(n, 2 * image_size).to(device) for n in names]
        self.image_size = image_size
        self.generator = generator

    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch [B, 3, S, S] in [0, 1] (randomness from ``generator`` or the pool's own)."""
        g = generator if generator is not None else self.generator
        idx = torch.randint(len(self.photos), (batch,), generator=g).tolist()
        scales = (0.5 + 0.5 * torch.rand(batch, generator=g)).tolist()
        offsets = torch.rand(batch, 2, generator=g).tolist()
        flips = (torch.rand(batch, generator=g) < 0.5).tolist()
        out = []
        for i, s, (oy, ox), flip in zip(idx, scales, offsets, flips):
            photo = self.photos[i]
            h, w = photo.shape[-2:]
            side = max(8, int(min(h, w) * s))
            top, left = int(oy * (h - side)), int(ox * (w - side))
            crop = photo[..., top : top + side, left : left + side]
            crop = F.interpolate(crop, size=(self.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
            out.append(crop.flip(-1) if flip else crop)
        return torch.cat(out).clamp_(0, 1)


_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class ImageFolderContent(torch.utils.data.Dataset):
    """Every image under a folder (COCO: flat; ImageNet: class subfolders), as random crops.

    Shorter side resized to ``image_size`` (antialiased), random ``image_size`` square crop,
    random flip. Unreadable files are skipped with a warning rather than stopping a long run.
    """

    def __init__(self, root: str | os.PathLike, image_size: int):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Content folder {self.root} does not exist.")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"No images ({', '.join(sorted(_IMAGE_SUFFIXES))}) under {self.root}.")
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        import warnings

        s = self.image_size
        try:
            image = load_image(self.files[i], s)[0]
        except (ValueError, OSError) as err:
            warnings.warn(f"Skipping unreadable training image {self.files[i]}: {err}", stacklevel=2)
            return self[(i + 1) % len(self)]
        h, w = image.shape[-2:]
        top = int(torch.randint(h - s + 1, ()).item())
        left = int(torch.randint(w - s + 1, ()).item())
        crop = image[:, top : top + s, left : left + s]
        return crop.flip(-1) if torch.rand(()) < 0.5 else crop


class FolderSampler:
    """An endless stream of batches from :class:`ImageFolderContent` through a DataLoader."""

    def __init__(self, root, image_size: int, batch: int, device: torch.device, workers: int, seed: int):
        self.dataset = ImageFolderContent(root, image_size)
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=batch,
            shuffle=True,
            drop_last=len(self.dataset) >= batch,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=self.generator,
        )
        self._it: Iterator | None = None

    def sample(self, batch: int) -> torch.Tensor:
        while True:
            if self._it is None:
                self._it = iter(self.loader)
            try:
                return next(self._it).to(self.device, non_blocking=True)
            except StopIteration:
                self._it = None


# ----------------------------------------------------------------------------- helpers


def style_sha256(source: ImageSource) -> str:
    """sha256 identifying a style image: the registry's file hash, a file's bytes, or pixels."""
    if isinstance(source, str) and source in registry():
        if image_info(source).sha256:
            return image_info(source).sha256
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        return file_sha256(source)
    # built-in sample photos, PIL images, arrays and tensors: hash the decoded pixels
    return hashlib.sha256(load_image(source).numpy().tobytes()).hexdigest()


def style_name(source: ImageSource) -> str:
    if isinstance(source, str):
        return source if source in registry() else Path(source).stem
    if isinstance(source, os.PathLike):
        return Path(source).stem
    return "custom"


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group under torchrun if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def compute_style_grams(
    loss_network: LossNetwork, styles: Sequence[ImageSource], layers: Sequence[str], style_size: int, device
) -> dict[str, torch.Tensor]:
    """Gram targets of each style image at ``style_size``: {layer: [N, C, C]} (float32)."""
    grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    for source in styles:
        image = load_image(source, style_size, device=device)
        feats = loss_network(image, layers)
        for layer in layers:
            grams[layer].append(gram_matrix(feats[layer])[0])
    return {layer: torch.stack(g) for layer, g in grams.items()}


@torch.no_grad()
def evaluate_styles(
    model: TransformerNet,
    loss_network: LossNetwork,
    style_grams: dict[str, torch.Tensor],
    labels: Sequence[int],
    batches: Sequence[torch.Tensor],
    config: TrainConfig,
) -> list[dict[str, float]]:
    """The evaluation protocol: per-style losses averaged over fixed content batches.

    For each ``labels[i]`` (whose Gram targets are row i of ``style_grams``), every batch is
    stylised with that label and scored. Returns one dict per style: ``content``, ``style``
    (weighted sum), ``style/<layer>`` (unweighted), ``total``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    layer_w = config.style_layer_weights or {}
    results = []
    for row, label in enumerate(labels):
        sums: dict[str, float] = {}
        count = 0
        for batch in batches:
            batch = batch.to(device)
            out = model(batch, torch.full((batch.shape[0],), label, device=device), check=False)
            terms = _loss_terms(out, batch, loss_network, style_grams, torch.full((batch.shape[0],), row, device=device), config, layer_w)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.sum().item()
            count += batch.shape[0]
        results.append({k: v / count for k, v in sums.items()})
    model.train(was_training)
    return results


def _loss_terms(out, content, loss_network, style_grams, rows, config, layer_w, multipliers=None):
    """Per-example loss terms ([B] each) of stylised ``out`` against ``content`` and style rows."""
    feats = loss_network(out, (*config.content_layers, *config.style_layers), check_range=False)
    with torch.no_grad():
        target = loss_network(content, config.content_layers, check_range=False)
    c = sum(content_loss(feats[l], target[l], reduction="none") for l in config.content_layers) / len(config.content_layers)
    terms = {"content": c}
    s_total = 0.0
    for layer in config.style_layers:
        s = style_loss(gram_matrix(feats[layer]), style_grams[layer][rows], reduction="none")
        terms[f"style/{layer}"] = s
        s_total = s_total + float(layer_w.get(layer, 1.0)) * s
    if multipliers is not None:
        s_total = s_total * multipliers[rows]
    terms["style"] = s_total
    terms["total"] = config.content_weight * c + config.style_weight * s_total
    return terms


# ----------------------------------------------------------------------------- trainer


class Trainer:
    """Train a :class:`TransformerNet` on one or more styles.

    Args:
        config: a :class:`TrainConfig` (e.g. ``TrainConfig.preset("vgg19", styles=[...])``).
        model: an existing network to continue from (default: a fresh one with one style per
            ``config.styles`` entry).
        out_dir: where checkpoints and logs go (``None``: nothing is written).
        train_labels: which of the model's style labels to train, in the order of
            ``config.styles`` (default: all, 0..N-1). :func:`add_styles` trains only new ones.
        trainable: ``"all"`` or ``"styles"`` (only the gamma/beta rows of ``train_labels``;
            every other parameter is frozen and stays bit-identical).
        device: default GPU if present.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: TransformerNet | None = None,
        *,
        out_dir: str | os.PathLike | None = None,
        train_labels: Sequence[int] | None = None,
        trainable: str = "all",
        device: torch.device | str | None = None,
        loss_network: LossNetwork | None = None,
    ):
        if not config.styles:
            raise ValueError("TrainConfig.styles is empty: give at least one style image.")
        if trainable not in ("all", "styles"):
            raise ValueError(f"trainable must be 'all' or 'styles'; got {trainable!r}.")
        self.rank, self.world = _distributed()
        if device is None:
            device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if torch.cuda.is_available() else torch.device("cpu")
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.config = config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        names = [style_name(s) for s in config.styles]
        if model is None:
            torch.manual_seed(config.seed)  # same initial weights on every rank
            model = TransformerNet(len(config.styles), config.width, norm=config.norm, style_names=names)
        self.model = model.to(self.device)
        self.train_labels = list(train_labels) if train_labels is not None else list(range(len(config.styles)))
        if len(self.train_labels) != len(config.styles):
            raise ValueError(f"{len(self.train_labels)} train_labels for {len(config.styles)} styles.")
        bad = [l for l in self.train_labels if not 0 <= l < self.model.num_styles]
        if bad:
            raise ValueError(f"train_labels {bad} are out of range for a network with {self.model.num_styles} styles.")
        self.trainable = trainable
        self.step = 0

        layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
        if loss_network is None:
            loss_network = LossNetwork(config.backend, layers=layers, pooling=config.pooling)
        self.loss_network = loss_network.to(self.device)
        self.style_grams = compute_style_grams(self.loss_network, config.styles, config.style_layers, config.style_size, self.device)
        self.style_hashes = [style_sha256(s) for s in config.styles]
        if config.style_multipliers is not None and len(config.style_multipliers) != len(config.styles):
            raise ValueError(f"Got {len(config.style_multipliers)} style_multipliers for {len(config.styles)} styles.")
        self.multipliers = (
            torch.tensor(config.style_multipliers, dtype=torch.float32, device=self.device)
            if config.style_multipliers is not None
            else None
        )
        self._labels_tensor = torch.tensor(self.train_labels, device=self.device)

        # Randomness: separate generators for labels and crops, seeded per rank, saved in
        # checkpoints, so a resumed run continues exactly where it stopped.
        self.label_generator = torch.Generator().manual_seed(config.seed * 1000 + 2 * self.rank + 1)
        self.crop_generator = torch.Generator().manual_seed(config.seed * 1000 + 2 * self.rank + 2)
        self.per_rank_batch = max(1, config.batch_size // self.world)
        if config.content == "photos":
            self.sampler = PhotoPool(training_photos(config.held_out), config.image_size, self.device, self.crop_generator)
        else:
            self.sampler = FolderSampler(
                config.content, config.image_size, self.per_rank_batch, self.device, config.num_workers, config.seed + self.rank
            )
        self.eval_batches = self._make_eval_batches()

        self._set_trainable()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.amp_dtype = self._amp_dtype()
        self.forward_model = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if config.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.history: list[dict[str, Any]] = []
        self.eval_history: list[dict[str, Any]] = []
        self.seconds = 0.0

    # ------------------------------------------------------------------ setup helpers

    def _amp_dtype(self):
        amp = self.config.amp
        if amp == "auto":  # bf16 where it is native (CUDA, CPUs with AMX / AVX512-BF16)
            return torch.bfloat16 if native_bf16(self.device) else None
        if amp == "bf16":
            return torch.bfloat16
        if amp == "none":
            return None
        raise ValueError(f"amp must be 'auto', 'bf16' or 'none'; got {amp!r}.")

    def _set_trainable(self):
        if self.trainable == "all":
            self.model.requires_grad_(True)
            return
        self.model.requires_grad_(False)
        mask = torch.zeros(self.model.num_styles, 1, device=self.device)
        mask[self.train_labels] = 1.0
        for p in self.model.style_parameters():
            p.requires_grad_(True)
            # Rows of other styles get exactly zero gradient, so Adam leaves them bit-identical.
            p.register_hook(lambda grad, m=mask: grad * m)

    def _make_eval_batches(self) -> list[torch.Tensor]:
        """Fixed, seeded content batches for the evaluation protocol (same for every run)."""
        size = self.config.eval_batch_size or self.config.batch_size
        generator = torch.Generator().manual_seed(20170424)  # fixed: comparable across runs
        if isinstance(self.sampler, PhotoPool):
            return [self.sampler.sample(size, generator).cpu() for _ in range(self.config.eval_batches)]
        files = self.sampler.dataset.files
        batches = []
        for _b in range(self.config.eval_batches):
            picks = torch.randint(len(files), (size,), generator=generator).tolist()
            s = self.config.image_size
            batches.append(torch.cat([load_image(files[i], s)[..., :s, :s] for i in picks]))
        return batches

    # ------------------------------------------------------------------ training

    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step on a fresh batch; returns per-example loss terms (on device)."""
        cfg = self.config
        content = self.sampler.sample(self.per_rank_batch)
        rows = torch.randint(len(self.train_labels), (content.shape[0],), generator=self.label_generator).to(self.device)
        labels = self._labels_tensor[rows]
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            out = self.forward_model(content, labels, check=False)
            terms = _loss_terms(out, content, self.loss_network, self.style_grams, rows, cfg, cfg.style_layer_weights or {}, self.multipliers)
        terms["total"].mean().backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        terms = {k: v.detach() for k, v in terms.items()}
        terms["row"] = rows
        return terms

    def fit(self, steps: int | None = None, *, progress: bool = True, snapshots: Sequence[int] = ()) -> "Trainer":
        """Train until ``steps`` total steps (default ``config.steps``), logging and checkpointing.

        ``snapshots``: steps at which to also save ``model_step<N>.pt`` (weights + metadata), e.g.
        to compare networks at equal step counts.
        """
        cfg = self.config
        snapshots = set(snapshots)
        total = steps if steps is not None else cfg.steps
        pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        bar = tqdm(total=total, initial=self.step, desc="train", disable=not progress or self.rank != 0)
        start = time.perf_counter()
        self.model.train()
        while self.step < total:
            terms = self.train_step()
            self.step += 1
            pending.append((self.step, terms))
            if self.step % cfg.log_every == 0 or self.step == total:
                self._flush_log(pending)
                pending = []
                bar.set_postfix(loss=f"{self.history[-1]['total']:.4g}")
            bar.update(1)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step != total:
                self.run_eval()
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
        return self

    def _flush_log(self, pending):
        """Move logged per-example losses to the host in one transfer and aggregate them."""
        if not pending:
            return
        keys = [k for k in pending[0][1] if k != "row"]
        stacked = torch.stack([torch.stack([t[k].float() for k in keys]) for _, t in pending])  # [S, K, B]
        rows = torch.stack([t["row"] for _, t in pending]).cpu()
        values = stacked.cpu()
        if not torch.isfinite(values).all():
            raise FloatingPointError(f"The training loss became NaN or infinite near step {pending[-1][0]}: lower lr or the style weight.")
        new_rows = []
        for i, (step, _) in enumerate(pending):
            per_example = values[i]  # [K, B]
            new_rows.append({"step": step, "name": "all", "n": per_example.shape[1], **dict(zip(keys, per_example.mean(1).tolist()))})
            for row in rows[i].unique().tolist():
                sel = rows[i] == row
                new_rows.append(
                    {"step": step, "name": self.model.style_names[self.train_labels[row]], "n": int(sel.sum()),
                     **dict(zip(keys, per_example[:, sel].mean(1).tolist()))}
                )
        self.history.extend(r for r in new_rows if r["name"] == "all")
        if self.out_dir is not None and self.rank == 0:
            _append_csv(self.out_dir / "train_log.csv", new_rows)

    def run_eval(self) -> list[dict[str, Any]]:
        """Run the evaluation protocol now; records and returns one row per trained style."""
        if self.rank != 0:
            return []
        results = evaluate_styles(self.model, self.loss_network, self.style_grams, self.train_labels, self.eval_batches, self.config)
        rows = [
            {"step": self.step, "name": self.model.style_names[label], **r} for label, r in zip(self.train_labels, results)
        ]
        self.eval_history.extend(rows)
        if self.out_dir is not None:
            _append_csv(self.out_dir / "eval_log.csv", rows)
        return rows

    # ------------------------------------------------------------------ files

    def metadata(self) -> dict[str, Any]:
        """How this network was trained (stored in checkpoints)."""
        cfg = self.config
        device_name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return {
            "styles": [self.model.style_names[l] for l in self.train_labels],
            "style_labels": list(self.train_labels),
            "style_sha256": list(self.style_hashes),
            "style_size": cfg.style_size,
            "loss_network": self.loss_network.describe(),
            "backend": cfg.backend,
            "pooling": cfg.pooling,
            "content_layers": list(cfg.content_layers),
            "style_layers": list(cfg.style_layers),
            "content_weight": cfg.content_weight,
            "style_weight": cfg.style_weight,
            "style_layer_weights": dict(cfg.style_layer_weights or {}),
            "width": self.model.config.width,
            "step": self.step,
            "image_size": cfg.image_size,
            "batch_size": cfg.batch_size,
            "world_size": self.world,
            "trainable": self.trainable,
            "seconds": round(self.seconds, 1),
            "device": device_name,
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "float32",
            "cinlab_version": __version__,
            "config": cfg.to_dict(),
            **({"base_metadata": self.model.metadata} if getattr(self.model, "metadata", None) else {}),
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Everything needed to resume: weights, optimiser, generators, step, logs position."""
        if self.rank != 0:
            return None
        path = Path(path) if path is not None else (self.out_dir / "checkpoint.pt" if self.out_dir else None)
        if path is None:
            return None
        training = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "label_generator": self.label_generator.get_state(),
            "crop_generator": self.crop_generator.get_state(),
            "train_labels": list(self.train_labels),
            "trainable": self.trainable,
            "config": self.config.to_dict(),
            "seconds": self.seconds,
        }
        return save_checkpoint(path, self.model, metadata=self.metadata(), training=training)

    def save_model(self, path: str | os.PathLike | None = None, *, half: bool = False) -> Path | None:
        """Weights and metadata only (no optimiser): what `cinlab stylize` and notebooks load."""
        if self.rank != 0:
            return None
        path = Path(path) if path is not None else (self.out_dir / "model.pt" if self.out_dir else None)
        if path is None:
            return None
        return save_checkpoint(path, self.model, metadata=self.metadata(), half=half)

    @classmethod
    def resume(cls, path: str | os.PathLike, *, out_dir: str | os.PathLike | None = None, device=None, **config_overrides) -> "Trainer":
        """Continue a run exactly from a ``checkpoint.pt`` (model, optimiser, generators, step).

        Log rows after the checkpoint's step (written before an interruption) are dropped so
        the CSVs have no duplicates. ``config_overrides`` may change e.g. ``steps``.
        """
        path = Path(path)
        payload = load_checkpoint(path)
        training = payload.get("training")
        if not training:
            raise CheckpointError(f"{path} holds no training state (it is a model file); resume from checkpoint.pt.")
        config = replace(TrainConfig.from_dict(training["config"]), **config_overrides)
        model = model_from_checkpoint(payload, str(path))
        out_dir = Path(out_dir) if out_dir is not None else path.parent
        trainer = cls(config, model, out_dir=out_dir, train_labels=training["train_labels"], trainable=training["trainable"], device=device)
        trainer.optimizer.load_state_dict(training["optimizer"])
        trainer.label_generator.set_state(training["label_generator"])
        trainer.crop_generator.set_state(training["crop_generator"])
        trainer.step = int(training["step"])
        trainer.seconds = float(training.get("seconds", 0.0))
        for name in ("train_log.csv", "eval_log.csv"):
            _truncate_csv(out_dir / name, trainer.step)
        return trainer


def _append_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fieldnames = list(rows[0].keys())
    if not new:
        with open(path, newline="") as f:
            fieldnames = next(csv.reader(f), fieldnames)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _truncate_csv(path: Path, step: int) -> None:
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        fieldnames = rows[0].keys() if rows else None
    kept = [r for r in rows if int(r["step"]) <= step]
    if fieldnames is None or len(kept) == len(rows):
        return
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_bytes(path, buffer.getvalue().encode())


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``train_log.csv`` / ``eval_log.csv`` with numbers parsed."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.append({k: (v if k == "name" else float(v)) for k, v in row.items()})
    return out


# ----------------------------------------------------------------------------- entry points


def train(config: TrainConfig, *, out_dir=None, device=None, progress: bool = True) -> Trainer:
    """Train a new network on ``config.styles`` (one style: a single-style network)."""
    return Trainer(config, out_dir=out_dir, device=device).fit(progress=progress)


def add_styles(
    model: TransformerNet | str | os.PathLike,
    styles: Sequence[ImageSource],
    config: TrainConfig | None = None,
    *,
    out_dir=None,
    device=None,
    init: str = "mean",
    progress: bool = True,
    fit: bool = True,
) -> Trainer:
    """Teach a trained network new styles by training only their (gamma, beta) rows.

    The tables grow from N to N + M; every convolution weight and the old styles' rows are
    frozen, so the old styles' outputs stay bit-identical. ``config`` defaults to the base
    network's recorded training settings with ``styles`` replaced.
    """
    if not isinstance(model, TransformerNet):
        from .checkpoint import load_model

        model = load_model(model)
    if config is None:
        recorded = getattr(model, "metadata", {}).get("config")
        if not recorded:
            raise ValueError("The network has no recorded training config; pass config=TrainConfig(...).")
        config = TrainConfig.from_dict(recorded)
    config = replace(config, styles=list(styles))
    labels = model.add_styles(len(styles), names=[style_name(s) for s in styles], init=init)
    trainer = Trainer(config, model, out_dir=out_dir, train_labels=labels, trainable="styles", device=device)
    return trainer.fit(progress=progress) if fit else trainer
