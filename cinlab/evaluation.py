"""Measuring networks: the evaluation protocol, training logs, and the numbers behind Figs 5-7.

- :func:`evaluate_styles`: the paper's protocol for Fig 5: each style's content and style loss
  averaged over fixed content batches (the paper used 32 batches).
- Logs: ``train_log.csv`` / ``eval_log.csv`` rows (:func:`append_rows`, :func:`read_log`,
  :func:`truncate_log`).
- Fig 5: :func:`loss_differences` (N-style against single-style networks, at equal steps or at
  equal images per style); Fig 6: :func:`eval_curve`; Fig 7: :func:`interpolation_style_losses`
  and :func:`is_monotonic`.

Artefacts (checkerboards, borders, the bright blob) are measured in :mod:`cinlab.artefacts`; how a
network's training differs from the paper's, in :mod:`cinlab.paper`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from .files import open_no_follow, write_bytes
from .images import load_image
from .loss_network import LossNetwork
from .losses import StyleTransferLoss
from .style import interpolate

# ----------------------------------------------------------------------------- the protocol


@torch.no_grad()
def evaluate_styles(
    model,
    loss: StyleTransferLoss,
    style_grams: dict[str, torch.Tensor],
    labels: Sequence[int],
    batches: Sequence[torch.Tensor],
    *,
    style_multipliers: Sequence[float] | None = None,
) -> list[dict[str, float]]:
    """Per-style losses averaged over fixed content batches.

    For each ``labels[k]`` (whose Gram targets are row k of ``style_grams``), every batch is
    stylised in that style and scored with ``loss``; ``style_multipliers[k]`` (if given) scales
    that style's style loss, as in training. Returns one dict per style: ``content``, ``style``
    (weighted), ``style/<layer>`` (unweighted), ``total``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    for k, label in enumerate(labels):
        sums: dict[str, float] = {}
        count = 0
        grams = {layer: g[k : k + 1] for layer, g in style_grams.items()}
        multiplier = None
        if style_multipliers is not None:
            multiplier = torch.tensor([float(style_multipliers[k])], device=device)
        for batch in batches:
            batch = batch.to(device)
            out = model(batch, torch.full((batch.shape[0],), label, device=device), check=False)
            terms = loss(out, batch, style_grams=grams, style_multipliers=multiplier)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value.sum().item()
            count += batch.shape[0]
        results.append({key: value / count for key, value in sums.items()})
    model.train(was_training)
    return results


# ----------------------------------------------------------------------------- logs


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows to a CSV log (writing the header for a new file; keeping an old file's columns)."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    fieldnames = list(rows[0].keys())
    if not new:
        with open(path, newline="") as f:
            fieldnames = next(csv.reader(f), fieldnames)
    # A log in a shared run folder may have been replaced by a link: append to cinlab's own file only.
    with os.fdopen(
        open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, what="training log"), "a", newline=""
    ) as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def log_rows(
    steps: Sequence[int], keys: Sequence[str], values: torch.Tensor, styles: torch.Tensor, names: Sequence[str]
) -> list[dict]:
    """Training-log rows: per step one row for the batch (``name`` "all") and one per style in it.

    ``values`` [S, K, B]: loss term k of example b at each of S steps; ``styles`` [S, B]: which
    of ``names`` each example trained; ``n`` counts the examples a row averages.
    """
    rows = []
    for i, step in enumerate(steps):
        per_example = values[i]  # [K, B]
        rows.append(
            {"step": step, "name": "all", "n": per_example.shape[1], **dict(zip(keys, per_example.mean(1).tolist()))}
        )
        for k in styles[i].unique().tolist():
            chosen = styles[i] == k
            rows.append(
                {
                    "step": step,
                    "name": names[k],
                    "n": int(chosen.sum()),
                    **dict(zip(keys, per_example[:, chosen].mean(1).tolist())),
                }
            )
    return rows


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of a log after ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = reader.fieldnames
        rows = list(reader)
    kept = [r for r in rows if _is_number(r.get("step")) and int(float(r["step"])) <= step]
    if fieldnames is None or len(kept) == len(rows):
        return
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(kept)
    write_bytes(path, buffer.getvalue().encode(), overwrite=True)


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``train_log.csv`` / ``eval_log.csv`` with numbers parsed."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.append({k: (v if k == "name" else float(v)) for k, v in row.items()})
    return out


# ----------------------------------------------------------------------------- Figs 5 and 6


def eval_curve(
    rows: Sequence[dict[str, Any]] | str | os.PathLike, name: str, key: str = "style"
) -> tuple[list[int], list[float]]:
    """(steps, values) of one style's ``key`` in an evaluation log (rows or a CSV path)."""
    if isinstance(rows, (str, os.PathLike)):
        rows = read_log(rows)
    picked = [(int(r["step"]), float(r[key])) for r in rows if r["name"] == name]
    if not picked:
        raise KeyError(f"No evaluation rows for style {name!r}.")
    steps, values = zip(*sorted(picked))
    return list(steps), list(values)


def value_at(rows, name: str, key: str, step: int) -> float:
    """The logged ``key`` of style ``name`` at exactly ``step`` (a clear error if absent)."""
    steps, values = eval_curve(rows, name, key)
    if step not in steps:
        raise KeyError(f"Style {name!r} has no evaluation at step {step}; logged steps: {steps}.")
    return values[steps.index(step)]


def loss_differences(
    n_style_rows,
    single_rows: dict[str, Any],
    step: int,
    *,
    single_step: int | None = None,
    keys: Sequence[str] = ("content", "style"),
) -> dict[str, Any]:
    """Fig 5: relative difference (N-style - single-style) / single-style of each loss, per style.

    The N-style network is read at ``step``, each single-style network at ``single_step``
    (default: the same step, the paper's comparison). ``single_step = step / N`` compares at
    equal *images per style*: after ``step`` steps each of N styles has been drawn for about
    ``step * batch / N`` images. ``single_rows`` maps a style name to that single-style
    network's evaluation rows (or CSV). Returns ``{"per_style": {name: {key: diff}}, "mean",
    "std"}`` with differences as fractions (0.087 = +8.7 %); std is the sample std.
    """
    single_step = step if single_step is None else single_step
    per_style = {
        name: {
            key: value_at(n_style_rows, name, key, step) / value_at(rows, name, key, single_step) - 1.0 for key in keys
        }
        for name, rows in single_rows.items()
    }
    mean, std = {}, {}
    for key in keys:
        values = [d[key] for d in per_style.values()]
        mean[key] = sum(values) / len(values)
        std[key] = math.sqrt(sum((v - mean[key]) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"per_style": per_style, "mean": mean, "std": std, "step": step, "single_step": single_step}


# ----------------------------------------------------------------------------- Fig 7


@torch.no_grad()
def interpolation_style_losses(
    model,
    a,
    b,
    alphas: Sequence[float],
    content: torch.Tensor,
    style_a,
    style_b,
    *,
    loss_network=None,
    style_size: int | None = None,
    style_layers: Sequence[str] | None = None,
) -> dict[str, list[float]]:
    """Fig 7 right: style loss w.r.t. style ``a`` and style ``b`` as (gamma, beta) go from a to b.

    ``a``, ``b`` are the styles (labels or names); ``content`` is a batch [B, 3, H, W]. For each
    alpha the network renders it with the mixture ``(1 - alpha) a + alpha b``, and the style
    loss (summed over the style layers, unweighted) is measured against each painting's Gram
    matrices at ``style_size`` (defaults: the network's recorded training settings).
    """
    from .train import TrainConfig  # train imports this module: imported here, not at the top

    meta = getattr(model, "metadata", None) or {}
    trained = TrainConfig.from_metadata(meta) if meta else TrainConfig()  # the network's settings, or the defaults
    layers = tuple(style_layers or trained.style_layers)
    style_size = style_size or trained.style_size
    device = next(model.parameters()).device
    if loss_network is None:
        loss_network = LossNetwork(trained.backend, layers=layers, pooling=trained.pooling)
    loss = StyleTransferLoss(loss_network.to(device), (), layers)
    targets = {
        key: loss.gram_targets([load_image(s, style_size, device=device)])
        for key, s in (("a", style_a), ("b", style_b))
    }
    content = content.to(device)
    out: dict[str, list[float]] = {"alpha": [float(x) for x in alphas], "loss_a": [], "loss_b": []}
    for mixture in interpolate(a, b, list(alphas)):
        image = model(content, mixture)
        for key in ("a", "b"):
            terms = loss(image, style_grams=targets[key])
            out[f"loss_{key}"].append(terms["style"].mean().item())
    return out


def is_monotonic(values: Sequence[float], increasing: bool) -> bool:
    """True if ``values`` never go down (``increasing``) / never go up (not ``increasing``)."""
    pairs = list(zip(values, values[1:]))
    return all(b >= a for a, b in pairs) if increasing else all(b <= a for a, b in pairs)
