"""The paper's training settings, and how far a trained network is from them.

:data:`PAPER_SETTINGS` (Dumoulin et al. 2017 with magenta's defaults);
:func:`differences_from_paper` (one row per aspect, read from a checkpoint's metadata, so the
tables in notebooks 4-6 stay true when the networks are retrained), :func:`training_scale`,
:func:`seconds_per_step`, :func:`training_step_flops` and :func:`markdown_table` to show rows.
"""

from __future__ import annotations

from typing import Any, Sequence

#: The paper's (magenta's) loss layers: content relu3_3; style relu1_2, relu2_2, relu3_3, relu4_3.
PAPER_CONTENT_LAYERS = ("relu3_3",)
PAPER_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

#: The paper's training settings (Dumoulin et al. 2017 with magenta's defaults), the one place cinlab
#: writes them down: :class:`cinlab.train.TrainConfig` takes its defaults from here, and
#: :func:`differences_from_paper` states them next to a network's own.
PAPER_SETTINGS = {
    "steps": 40_000,
    "finetune_steps": 5_000,
    "batch_size": 16,
    "crop_size": 256,
    "lr": 1e-3,
    "content_layers": PAPER_CONTENT_LAYERS,
    "style_layers": PAPER_STYLE_LAYERS,
    "content_weight": 1.0,
    # magenta's style weight, for Caffe-scale VGG activations (inputs 0-255); other loss networks
    # need it rescaled (cinlab.loss_network.equivalent_style_weight)
    "style_weight": 1e-4,
    "eval_batches": 32,
    "content": "ImageNet photos",
    "loss_network": "VGG-16, average pooling",
    "styles": "Fig 4-5: 10 Monet paintings; Fig 6-7: 32 varied paintings",
    "style_size": "not stated (magenta: each file at its own resolution)",
    "precision": "float32 (magenta, TensorFlow 1)",
    "new_rows": "a new table starting at gamma = 1, beta = 0 (magenta; the old rows are dropped)",
}


def _metadata(model_or_metadata) -> dict[str, Any]:
    meta = model_or_metadata if isinstance(model_or_metadata, dict) else getattr(model_or_metadata, "metadata", None)
    if not meta:
        raise ValueError("No training metadata: pass a network cinlab trained (load_model) or its .metadata.")
    return meta


def _run_config(meta: dict[str, Any]):
    """The TrainConfig a network was trained with, read back from its metadata."""
    from .train import TrainConfig  # train takes its defaults from this module: imported here, not at the top

    return TrainConfig.from_metadata(meta)


def training_scale(model_or_metadata) -> dict[str, float]:
    """How much training a network got, against the paper.

    ``images``: training crops seen, ``steps x batch``, as a fraction of the paper's
    40,000 x 16 (5,000 x 16 for a network fine-tuned on new styles: the paper's Fig 6);
    ``pixels``: the same in pixels, which also scale with ``(crop size / 256)^2``;
    ``images_per_style``: crops each style was drawn for on average (``steps x batch / N``).
    """
    meta = _metadata(model_or_metadata)
    config = _run_config(meta)
    steps, batch, crop = int(meta["step"]), config.batch_size, config.crop_size
    paper_steps = PAPER_SETTINGS["finetune_steps"] if meta.get("trainable") == "styles" else PAPER_SETTINGS["steps"]
    images = steps * batch / (paper_steps * PAPER_SETTINGS["batch_size"])
    return {
        "steps": steps,
        "images_seen": steps * batch,
        "images": images,
        "pixels": images * (crop / PAPER_SETTINGS["crop_size"]) ** 2,
        "images_per_style": steps * batch / max(1, len(meta.get("styles") or config.styles or [None])),
    }


def seconds_per_step(model_or_metadata) -> float:
    """Training seconds per step recorded in a network's metadata (``seconds / step``).

    ``seconds`` counts the whole training loop (evaluations included) and is brought up to date
    at every checkpoint, so use a run's final network: a snapshot taken between checkpoints
    (``model_step<N>.pt``) records the time of the checkpoint before it.
    """
    meta = _metadata(model_or_metadata)
    return float(meta["seconds"]) / int(meta["step"])


def _describe_styles(names: Sequence[str]) -> str:
    from .registry import image_info

    artists = []
    for name in names:
        try:
            artist = image_info(name).artist
        except KeyError:
            continue
        if artist not in artists:
            artists.append(artist)
    count = f"{len(names)} painting{'s' if len(names) != 1 else ''}"
    if not artists:
        return count
    shown = ", ".join(artists[:4]) + (f" and {len(artists) - 4} more" if len(artists) > 4 else "")
    return f"{count} by {shown}" + (f" ({names[0]})" if len(names) == 1 else "")


def differences_from_paper(model_or_metadata) -> list[dict[str, str]]:
    """What differs between a network's training and the paper's, read from its metadata.

    One row per aspect (``aspect``, ``paper``, ``here``): content images, loss network and
    layers, crops and batch, steps (with the fraction of the paper's training images and
    pixels), evaluation batches, the style set, style image size, precision and hardware, and
    how new style rows were initialised. The rows come from the checkpoint, so they stay true
    when the networks are retrained. :func:`markdown_table` renders them.
    """
    meta = _metadata(model_or_metadata)
    config = _run_config(meta)
    scale = training_scale(meta)
    paper = PAPER_SETTINGS
    content = config.content
    if isinstance(content, str):
        content_here = (
            f"the photos in {content}" if content != "photos" else "cinlab's default pool (train_photos + photos)"
        )
    else:
        content_here = f"{len(content)} photos ({', '.join(content[:3])}, ...)"
    if config.held_out:
        content_here += f"; held out: {', '.join(config.held_out)}"
    style_layers = list(config.style_layers)
    layers_here = f"content {', '.join(config.content_layers)}; style {', '.join(style_layers)}"
    if config.backend == "vgg19" and {"relu3_3", "relu4_3"} & set(style_layers):
        layers_here += " (VGG-16's names: in VGG-19 relu3_3 and relu4_3 are the 3rd of 4 ReLUs of their block)"
    finetuned = meta.get("trainable") == "styles"
    paper_steps = paper["finetune_steps"] if finetuned else paper["steps"]
    eval_batch = config.eval_batch_size or config.batch_size
    if finetuned:
        base = meta.get("base_metadata") or {}
        init = meta.get("init") or "the mean of the old rows (cinlab's default; not recorded in this file)"
        new_rows = f"appended after the {len(base.get('styles', [])) or 'old'} old rows, which stay bit-identical; start: {init}"
    else:
        new_rows = "none: every weight trained from the start"
    rows = [
        ("content images", paper["content"], content_here),
        ("loss network", paper["loss_network"], str(meta.get("loss_network", config.backend))),
        (
            "loss layers",
            f"content {', '.join(paper['content_layers'])}; style {', '.join(paper['style_layers'])}",
            layers_here,
        ),
        (
            "crops and batch",
            f"{paper['crop_size']} px crops, batch {paper['batch_size']}",
            f"{config.crop_size} px crops, batch {config.batch_size}",
        ),
        (
            "training steps" + (" (fine-tuning)" if finetuned else ""),
            f"{paper_steps:,} ({paper_steps * paper['batch_size']:,} crops)",
            f"{scale['steps']:,} ({scale['images_seen']:,} crops = {scale['images']:.2%} of the paper's; "
            f"{scale['pixels']:.2%} of its pixels)",
        ),
        (
            "evaluation",
            f"{paper['eval_batches']} fixed batches",
            f"{config.eval_batches} fixed batches of {eval_batch}",
        ),
        ("style set", paper["styles"], _describe_styles(meta.get("styles", []))),
        ("style image size", paper["style_size"], f"shorter side {config.style_size} px"),
        (
            "precision, hardware",
            paper["precision"],
            f"{meta.get('precision', '?')} on {meta.get('device', '?')}, {float(meta.get('seconds', 0)):,.0f} s",
        ),
        ("new style rows", paper["new_rows"], new_rows),
    ]
    return [{"aspect": a, "paper": p, "here": h} for a, p, h in rows]


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a Markdown table (columns: ``columns`` or the first row's keys)."""
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def training_step_flops(trainer) -> dict[str, float]:
    """Floating-point operations of one training step, counted by ``torch.utils.flop_counter``.

    Takes one real step of ``trainer`` (its model and optimiser move on). Returns ``total``;
    ``network``: the transformer network's share, forward and backward; ``loss``: the rest (the
    loss network forward and backward, Gram matrices, the loss). Fine-tuning only (gamma, beta)
    skips the network's weight gradients but still back-propagates through every layer, which
    this makes visible.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.train_step()
    counts = counter.get_flop_counts()
    total = float(sum(counts.get("Global", {}).values()))
    network = float(sum(counts.get(type(trainer.model).__name__, {}).values()))
    return {"total": total, "network": network, "loss": total - network}
