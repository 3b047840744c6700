"""Exercises where students write code, checked at once, and the student versions of the notebooks.

Each notebook has one exercise in which students write the piece of code it teaches. A check runs
the student's function on random inputs (its own seeded generator: the notebook's random state is
left as it was) against cinlab's own implementation, and when they disagree it says what is wrong
in words: the wrong shape, dtype or factor and the usual reason for it, a changed input, a missing
gradient. A function that still raises ``NotImplementedError`` (the stub of the student version)
fails with :class:`ExerciseNotWritten`. A check that passes prints one line starting with a tick.

=======  ==============================================  ===================================================
nb       check                                            the student writes
=======  ==============================================  ===================================================
1        :func:`check_gram_matrix`                        ``fn(features [B, C, H, W]) -> [B, C, C]``,
                                                          ``G = F F^T / (H W)`` per example
2        :func:`check_cin`                                a module ``cls(channels, num_styles)`` with tables
                                                          ``gamma``, ``beta`` [N, C] and ``forward(x, labels)``
3        :func:`check_style_loss` (``"magenta"``,         ``fn(features [B, C, H, W], style_features
         ``"paper"``)                                     [1, C, H', W']) -> [B]``, one layer's style term
4        :func:`check_total_variation`                    ``fn(images [B, C, H, W]) -> [B]``
5        :func:`check_gram_targets`                       ``fn(style_grams {layer: [N, C, C]}, labels [B])
                                                          -> {layer: [B, C, C]}``
6        :func:`check_new_row_training`                   ``fn(model, new_label)`` -> the parameters to give
                                                          the optimiser, so that only the new row trains
7        :func:`check_mixing`                             ``fn(gamma [N, C], beta [N, C], weights [N])
                                                          -> (gamma [C], beta [C])``
=======  ==============================================  ===================================================

How an exercise sits in a notebook (nbgrader's conventions, so a teacher who uses nbgrader releases
and autogrades the course as it is): a markdown cell states the exercise; a code cell with nbgrader's
solution metadata defines the function, its body between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; a code cell with nbgrader's test-cell metadata (``grade: true``, locked, with
points) calls the check. Cells after it use cinlab's functions, never the student's, so the student
version runs to the end whatever the student wrote.

The student versions, without nbgrader's course folders and database (nbgrader is in the ``teach``
extra: ``pip install "cinlab[teach]"``)::

    python -m cinlab.exercises student-notebooks OUT_DIR [NOTEBOOK ...] [--overwrite]

writes every notebook (default: all of ``notebooks/``) with its solutions replaced by nbgrader's stub
(``raise NotImplementedError()``) and its outputs cleared, using nbgrader's own preprocessors.

(Longer than the other modules, on purpose: each check is mostly its list of the mistakes students
make, each with the words that explain it; the seven share one set of helpers, and a teacher reads
them side by side with the notebooks.)
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import losses
from .model import TransformerNet
from .norms import ConditionalInstanceNorm2d
from .style import resolve_style

__all__ = [
    "ExerciseFailed",
    "ExerciseNotWritten",
    "check_cin",
    "check_gram_matrix",
    "check_gram_targets",
    "check_mixing",
    "check_new_row_training",
    "check_style_loss",
    "check_total_variation",
    "exercise_cells",
    "paper_style_loss",
    "write_student_notebooks",
]

TICK = "\u2713"


class ExerciseFailed(AssertionError):
    """The student's code gives a wrong result; the message says what is wrong and what to try."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the verdict alone, after the traceback of the
        student's own error when there is one (the check's frames say nothing to a student)."""
        verdict = [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]
        cause = self.__cause__
        if cause is None:
            return verdict
        try:
            from IPython import get_ipython

            shell = get_ipython()
            shown = shell.InteractiveTB.structured_traceback(type(cause), cause, cause.__traceback__)
        except (ImportError, AttributeError, TypeError):  # outside IPython (get_ipython() is None): plain formatting
            shown = traceback.format_exception(type(cause), cause, cause.__traceback__)
        return [*shown, "", *verdict]


class ExerciseNotWritten(ExerciseFailed):
    """The student's function still raises ``NotImplementedError`` (the stub of the student version)."""


# ----------------------------------------------------------------------------- plumbing


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def _call(fn: Callable, name: str, what: str, *args: Any) -> Any:
    """``fn(*args)``; a stub or an error in the student's code becomes one sentence."""
    __tracebackhide__ = True  # IPython and pytest show the check cell, not this frame
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseNotWritten(
            f"`{name}` is not written yet: replace `raise NotImplementedError()` in its cell with your code, "
            "run that cell, then run this check again."
        ) from None
    except Exception as err:  # the student's bug, reported with its own traceback chained below
        raise ExerciseFailed(f"`{name}` raised {type(err).__name__} on {what}: {err}") from err


def _callable(fn: Any, name: str) -> None:
    __tracebackhide__ = True
    if not callable(fn):
        raise ExerciseFailed(f"Pass your function `{name}` itself to the check, not {type(fn).__name__}.")


def _tensor(out: Any, name: str, what: str) -> torch.Tensor:
    __tracebackhide__ = True
    if isinstance(out, torch.Tensor):
        return out
    if type(out).__module__.startswith("numpy"):
        raise ExerciseFailed(
            f"`{name}` returned a NumPy array for {what}; keep it a torch tensor (NumPy cuts the gradient)."
        )
    if out is None:
        raise ExerciseFailed(f"`{name}` returned None for {what}: did you forget `return`?")
    raise ExerciseFailed(f"`{name}` returned {type(out).__name__} for {what}; it should return a torch tensor.")


def _expect_shape(out: torch.Tensor, expected: Sequence[int], name: str, what: str, hints: dict) -> None:
    """Compare shapes; ``hints`` maps a wrong shape (tuple) to the likely mistake."""
    __tracebackhide__ = True
    if tuple(out.shape) != tuple(expected):
        hint = hints.get(tuple(out.shape), "")
        raise ExerciseFailed(
            f"`{name}` returned shape {_shape(out.shape)} for {what}; expected {_shape(expected)}."
            + (f" {hint}" if hint else "")
        )


def _expect_dtype(out: torch.Tensor, dtype: torch.dtype, name: str, what: str) -> None:
    __tracebackhide__ = True
    if out.dtype != dtype:
        why = " (torch.tensor of Python floats, or NumPy, makes float64)" if out.dtype == torch.float64 else ""
        raise ExerciseFailed(
            f"`{name}` returned {out.dtype} for {what}; expected {dtype}, the dtype of its input{why}."
        )


def _expect_finite(out: torch.Tensor, name: str, what: str) -> None:
    __tracebackhide__ = True
    if not torch.isfinite(out).all():
        raise ExerciseFailed(
            f"`{name}` returned NaN or infinite values for {what}: a division by zero, or a sqrt of a negative number?"
        )


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Equal up to float32 rounding, relative to the size of ``b``."""
    if a.shape != b.shape:
        return False
    a, b = a.detach().double(), b.detach().double()
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol * scale + 1e-12))


def _unchanged(before: Any, after: Any) -> bool:
    if isinstance(before, torch.Tensor):
        return isinstance(after, torch.Tensor) and before.shape == after.shape and torch.equal(before, after.detach())
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and before.keys() == after.keys()
            and all(_unchanged(before[k], after[k]) for k in before)
        )
    return True


def _snapshot(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def _expect_inputs_unchanged(before: Sequence, after: Sequence, names: Sequence[str], fn_name: str) -> None:
    __tracebackhide__ = True
    for b, a, arg in zip(before, after, names):
        if not _unchanged(b, a):
            raise ExerciseFailed(
                f"`{fn_name}` changed its input `{arg}` in place (an in-place operation such as `+=`, `.div_()` or "
                "an assignment into it); work on new tensors and leave the caller's data as it was."
            )


def _mismatch(name: str, what: str, out: torch.Tensor, expected: torch.Tensor, reference: str) -> ExerciseFailed:
    """The fallback message: a constant factor if there is one, else the size of the difference."""
    o, e = out.detach().double().flatten(), expected.detach().double().flatten()
    denominator = float(e @ e)
    if denominator > 0:
        factor = float(o @ e) / denominator
        if factor != 0 and _close(out, expected * factor, rtol=1e-3):
            return ExerciseFailed(
                f"`{name}` is off by a constant factor of {factor:.4g} on {what} (yours = {factor:.4g} x {reference}): "
                "look for a missing or extra normalisation."
            )
    worst = float((o - e).abs().max())
    return ExerciseFailed(
        f"`{name}` differs from {reference} by up to {worst:.3g} on {what} (the right values are up to "
        f"{float(e.abs().max()):.3g} in size)."
    )


def _diagnose(name: str, what: str, out: torch.Tensor, expected: torch.Tensor, variants: Iterable, reference: str):
    """Raise the message of the first mistaken variant (message, what that mistake returns) that
    reproduces ``out``, or the fallback."""
    __tracebackhide__ = True
    if _close(out, expected):
        return
    for message, value in variants:
        if _close(out, value, rtol=1e-4):
            raise ExerciseFailed(f"`{name}` is not right on {what}: {message}")
    raise _mismatch(name, what, out, expected, reference)


def _expect_gradient(
    name: str,
    what: str,
    out: torch.Tensor,
    expected: torch.Tensor,
    inputs: Sequence,
    input_names: Sequence[str],
    seed: int,
) -> None:
    """Gradients of a random projection of ``out`` w.r.t. ``inputs`` must equal those through ``expected``."""
    __tracebackhide__ = True
    if not out.requires_grad:
        raise ExerciseFailed(
            f"`{name}`'s result is right but not differentiable on {what}: no gradient flows back to "
            f"`{input_names[0]}`. Did you use .detach(), .data, .item(), NumPy or torch.no_grad()?"
        )
    probe = torch.randn(expected.shape, generator=_generator(seed))
    # retain_graph: a student's two results may share part of their graph (notebook 7 returns gamma and beta)
    mine = torch.autograd.grad((out * probe).sum(), inputs, allow_unused=True, retain_graph=True)
    right = torch.autograd.grad((expected * probe).sum(), inputs, allow_unused=True, retain_graph=True)
    for grad, want, arg in zip(mine, right, input_names):
        if want is None:
            continue
        if grad is None or not _close(grad, want, rtol=1e-3):
            raise ExerciseFailed(
                f"`{name}`'s values are right on {what} but its gradient with respect to `{arg}` is not: part of "
                "the computation is cut from the graph (.detach(), .data, or a value rebuilt from numbers)."
            )


def _passed(message: str) -> None:
    print(f"{TICK} {message}")


# ----------------------------------------------------------------------------- notebook 1: Gram matrices


def check_gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor], name: str = "gram_matrix") -> None:
    """Notebook 1: ``fn(features)`` with features [B, C, H, W] returns [B, C, C], ``G = F F^T / (H W)``.

    Compared with :func:`cinlab.gram_matrix` on three random batches of different shapes, with
    its gradient; the input must stay unchanged.
    """
    __tracebackhide__ = True
    _callable(fn, name)
    shapes = [(2, 3, 4, 5), (1, 6, 3, 3), (3, 4, 2, 7)]
    for i, shape in enumerate(shapes):
        b, c, h, w = shape
        features = torch.randn(shape, generator=_generator(100 + i)).requires_grad_(True)
        what = f"features of shape {_shape(shape)}"
        before = _snapshot(features)
        out = _tensor(_call(fn, name, what, features), name, what)
        _expect_inputs_unchanged([before], [features], ["features"], name)
        _expect_shape(
            out,
            (b, c, c),
            name,
            what,
            {
                (
                    b,
                    h * w,
                    h * w,
                ): "That is F^T F, positions x positions; the Gram matrix is F F^T, channels x channels.",
                (c, c): "One Gram matrix per example is [B, C, C]: keep the batch dimension (torch.bmm, or "
                "F @ F.transpose(1, 2) on F of shape [B, C, H*W]).",
                (b, c, h * w): "That is F itself, reshaped; multiply it by its transpose.",
            },
        )
        _expect_dtype(out, torch.float32, name, what)
        _expect_finite(out, name, what)
        expected = losses.gram_matrix(features)
        flat = features.detach().reshape(b, c, h * w)
        plain = flat @ flat.transpose(1, 2)
        scrambled = features.detach().reshape(b, h * w, c)
        _diagnose(
            name,
            what,
            out,
            expected,
            [
                ("off by a factor of H*W: did you normalise by the number of positions, H*W?", plain),
                (
                    (
                        "you divided by C*H*W (Johnson et al.'s convention); this course, like the paper's code, divides "
                        "by H*W only."
                    ),
                    plain / (c * h * w),
                ),
                ("you divided by C; divide by H*W, the number of positions.", plain / c),
                (
                    (
                        "you reshaped [B, C, H, W] to [B, H*W, C], which mixes channels and positions; reshape to "
                        "[B, C, H*W] (channels first, as the tensor is stored), then take F F^T."
                    ),
                    scrambled.transpose(1, 2) @ scrambled / (h * w),
                ),
                (
                    "you summed over the batch (one Gram matrix for all examples); keep one per example.",
                    (plain.sum(0, keepdim=True) / (h * w)).expand(b, c, c),
                ),
                ("you divided by H*W - 1; divide by H*W.", plain / (h * w - 1)),
            ],
            "cinlab.gram_matrix",
        )
        _expect_gradient(name, what, out, expected, [features], ["features"], seed=200 + i)
    _passed(
        f"`{name}` is right: it matches cinlab.gram_matrix on {len(shapes)} random batches of features, keeps "
        "float32, leaves its input alone, and gradients flow through it."
    )


# ----------------------------------------------------------------------------- notebook 2: CIN


def check_cin(cls: Callable[[int, int], nn.Module], name: str | None = None) -> None:
    """Notebook 2: ``cls(channels, num_styles)`` is conditional instance normalisation.

    The module must hold ``gamma`` and ``beta`` as parameters of shape [N, C], starting at 1 and 0;
    ``module(x, labels)`` with x [B, C, H, W] and labels [B] (long) returns
    ``gamma[labels] * (x - mean) / sqrt(var + 1e-5) + beta[labels]`` with statistics per example and
    channel over H, W (biased variance). Compared with :class:`cinlab.ConditionalInstanceNorm2d`
    holding the same tables, on ordinary and on nearly constant inputs (where epsilon matters).
    """
    __tracebackhide__ = True
    name = name or getattr(cls, "__name__", "your module")
    _callable(cls, name)
    channels, num_styles = 5, 3
    made = f"{name}({channels}, {num_styles})"
    with torch.random.fork_rng(devices=[]):
        layer = _call(cls, name, f"construction as {made}", channels, num_styles)
    if not isinstance(layer, nn.Module):
        raise ExerciseFailed(f"{made} should make an nn.Module; got {type(layer).__name__}.")
    for table, start in (("gamma", 1.0), ("beta", 0.0)):
        value = getattr(layer, table, None)
        if value is None:
            raise ExerciseFailed(
                f"{made} has no `{table}`: give it a table `self.{table}` of shape [num_styles, channels]."
            )
        if not isinstance(value, nn.Parameter):
            raise ExerciseFailed(f"`{table}` of {made} must be an nn.Parameter, or it will never train.")
        if tuple(value.shape) != (num_styles, channels):
            raise ExerciseFailed(
                f"`{table}` of {made} has shape {_shape(value.shape)}; expected [num_styles, channels] = "
                f"{_shape((num_styles, channels))}: one row per style."
            )
        if not torch.all(value.detach() == start):
            raise ExerciseFailed(
                f"`{table}` of {made} should start at {start:g} everywhere (then CIN is plain instance norm, as the "
                "paper initialises it)."
            )
    reference = ConditionalInstanceNorm2d(channels, num_styles)
    g = _generator(300)
    with torch.no_grad():
        gamma = torch.randn(num_styles, channels, generator=g) + 1.0
        beta = torch.randn(num_styles, channels, generator=g)
        for module in (layer, reference):
            module.gamma.copy_(gamma)
            module.beta.copy_(beta)
    labels = torch.tensor([0, 2, 1, 2])
    cases = [
        ("random input of shape [4, 5, 6, 7]", torch.randn(4, channels, 6, 7, generator=g) * 3 + 1),
        (
            "a nearly constant input of shape [4, 5, 6, 7] (variance about 1e-6)",
            torch.randn(4, channels, 6, 7, generator=g) * 1e-3 + 2,
        ),
    ]
    for i, (what, data) in enumerate(cases):
        x = data.clone().requires_grad_(True)
        what = f"{what} with labels {labels.tolist()}"
        before = _snapshot(x), _snapshot(labels)
        for table in (layer.gamma, layer.beta):
            table.grad = None
        out = _tensor(_call(layer, name, what, x, labels), name, what)
        _expect_inputs_unchanged(before, [x, labels], ["x", "labels"], name)
        _expect_shape(
            out,
            x.shape,
            name,
            what,
            {(4, channels): "Broadcast gamma[labels] over H and W: gamma[labels][:, :, None, None]."},
        )
        _expect_dtype(out, torch.float32, name, what)
        _expect_finite(out, name, what)
        expected = reference(x, labels)
        xd = x.detach()
        mean = xd.mean((2, 3), keepdim=True)
        var = xd.var((2, 3), keepdim=True, correction=0)
        rows = gamma[labels][:, :, None, None], beta[labels][:, :, None, None]

        def scaled(normalised, rows=rows):
            return normalised * rows[0] + rows[1]

        batch_mean, batch_var = xd.mean((0, 2, 3), keepdim=True), xd.var((0, 2, 3), keepdim=True, correction=0)
        layer_mean, layer_var = xd.mean((1, 2, 3), keepdim=True), xd.var((1, 2, 3), keepdim=True, correction=0)
        normalised = (xd - mean) / torch.sqrt(var + 1e-5)
        _diagnose(
            name,
            what,
            out,
            expected,
            [
                (
                    (
                        "your statistics are taken over the batch too (that is batch norm); take them per example and "
                        "channel, over H and W only."
                    ),
                    scaled((xd - batch_mean) / torch.sqrt(batch_var + 1e-5)),
                ),
                (
                    (
                        "your statistics are taken over the channels too (that is layer norm); take them per channel, "
                        "over H and W only."
                    ),
                    scaled((xd - layer_mean) / torch.sqrt(layer_var + 1e-5)),
                ),
                (
                    (
                        "you used the unbiased variance (dividing by H*W - 1); instance norm divides by H*W "
                        "(correction=0, or unbiased=False)."
                    ),
                    scaled((xd - mean) / torch.sqrt(xd.var((2, 3), keepdim=True, correction=1) + 1e-5)),
                ),
                (
                    "epsilon belongs inside the square root: (x - mean) / sqrt(var + eps), with eps = 1e-5.",
                    scaled((xd - mean) / (var.sqrt() + 1e-5)),
                ),
                ("you left out epsilon: divide by sqrt(var + 1e-5).", scaled((xd - mean) / var.sqrt())),
                (
                    "you used a different epsilon: the paper's is 1e-5.",
                    scaled((xd - mean) / torch.sqrt(var + 1e-3)),
                ),
                (
                    (
                        "every example got the same style's row; each example b takes the row of its own style, "
                        "gamma[labels[b]] (gamma[labels] for the whole batch)."
                    ),
                    normalised * gamma[labels[0]][None, :, None, None] + beta[labels[0]][None, :, None, None],
                ),
                ("gamma and beta are swapped: gamma scales, beta shifts.", normalised * rows[1] + rows[0]),
                ("beta is missing: add beta[labels] after scaling.", normalised * rows[0]),
                ("gamma is missing: multiply by gamma[labels] before adding beta.", normalised + rows[1]),
                ("you did not subtract the mean before dividing.", scaled(xd / torch.sqrt(var + 1e-5))),
            ],
            "cinlab's ConditionalInstanceNorm2d with the same tables",
        )
        if not out.requires_grad:
            raise ExerciseFailed(
                f"`{name}`'s output is right on {what} but not differentiable: did you use .detach(), .data or "
                "torch.no_grad()? gamma and beta must receive gradients to train."
            )
        probe = torch.randn(out.shape, generator=_generator(310 + i))
        (out * probe).sum().backward()
        want = torch.autograd.grad((expected * probe).sum(), [reference.gamma, reference.beta])
        for table, grad in zip(("gamma", "beta"), want):
            mine = getattr(layer, table).grad
            if mine is None or not _close(mine, grad, rtol=1e-3):
                raise ExerciseFailed(
                    f"`{name}`'s output is right on {what}, but the gradient that reaches `{table}` is not: use the "
                    f"rows self.{table}[labels] directly (not a copy, .data or a detached tensor)."
                )
    _passed(
        f"`{name}` is right: it starts as plain instance norm, matches cinlab's ConditionalInstanceNorm2d (epsilon "
        "included) with one style per example, and gamma and beta receive the right gradients."
    )


# ----------------------------------------------------------------------------- notebook 3: style loss


def paper_style_loss(features: torch.Tensor, style_features: torch.Tensor) -> torch.Tensor:
    """One layer's term of Dumoulin et al.'s Eq. 2, per example ([B], float32).

    Eq. 2: ``L_s(p) = sum_i 1/U_i ||G(phi_i(p)) - G(phi_i(s))||_F^2`` with ``U_i`` "the total number
    of units at layer i". The paper leaves the Gram matrix's normalisation unsaid; its code (magenta)
    divides by H*W, so ``G = F F^T / (H W)`` here as everywhere in cinlab, and ``U = C H W`` of the
    pastiche's layer. The sum over the C^2 entries divided by C*H*W is magenta's mean over the C^2
    entries times ``C / (H W)``: the factor that converts one convention into the other.

    ``features`` [B, C, H, W] (the pastiche's), ``style_features`` [1 or B, C, H', W'] (the painting's).
    """
    _, c, h, w = features.shape
    magenta = losses.style_loss(losses.gram_matrix(features), losses.gram_matrix(style_features), reduction="none")
    return magenta * (c / (h * w))


def check_style_loss(fn: Callable, convention: str = "magenta", name: str | None = None) -> None:
    """Notebook 3: ``fn(features, style_features)`` is one layer's style term, per example ([B]).

    ``features`` [B, C, H, W] are the pastiche's feature maps, ``style_features`` [1, C, H', W'] the
    painting's (another size). ``convention="magenta"``: the mean over the C x C entries of
    ``(G(F) - G(S))^2`` (magenta's code and cinlab's :func:`cinlab.style_loss`); ``"paper"``: Eq. 2
    of Dumoulin et al., the sum over the entries divided by U = C H W (:func:`paper_style_loss`).
    Both with ``G = F F^T / (H W)``.
    """
    __tracebackhide__ = True
    if convention not in ("magenta", "paper"):
        raise ValueError(f"convention must be 'magenta' or 'paper'; got {convention!r}.")
    name = name or getattr(fn, "__name__", "style_loss")
    _callable(fn, name)
    reference_fn = paper_style_loss if convention == "paper" else _magenta_style_loss
    reference = (
        "Eq. 2 of the paper (cinlab.exercises.paper_style_loss)" if convention == "paper" else "cinlab.style_loss"
    )
    cases = [((2, 4, 5, 6), (1, 4, 7, 3)), ((3, 8, 4, 4), (1, 8, 6, 5)), ((1, 3, 2, 9), (1, 3, 5, 5))]
    for i, (shape, style_shape) in enumerate(cases):
        g = _generator(400 + i)
        features = torch.randn(shape, generator=g).relu().requires_grad_(True)
        style_features = torch.randn(style_shape, generator=g).relu() * 1.5
        b, c, h, w = shape
        what = f"features {_shape(shape)} and style_features {_shape(style_shape)}"
        before = _snapshot(features), _snapshot(style_features)
        out = _tensor(_call(fn, name, what, features, style_features), name, what)
        _expect_inputs_unchanged(before, [features, style_features], ["features", "style_features"], name)
        _expect_shape(
            out,
            (b,),
            name,
            what,
            {
                (): "One value per example: average (or sum) over the C x C entries only, not over the batch.",
                (b, c): "Reduce over both dimensions of the C x C Gram difference.",
                (b, c, c): "That is the squared difference itself; reduce it over the C x C entries.",
            },
        )
        _expect_dtype(out, torch.float32, name, what)
        _expect_finite(out, name, what)
        expected = reference_fn(features, style_features)
        fd, sd = features.detach(), style_features.detach()
        gram_p, gram_s = losses.gram_matrix(fd), losses.gram_matrix(sd)
        diff2 = (gram_p - gram_s).pow(2)
        hs, ws = style_shape[-2:]
        raw_p = gram_p * (h * w)
        raw_s = gram_s * (hs * ws)
        magenta = diff2.mean((1, 2))
        summed = diff2.sum((1, 2))
        variants = [
            (
                (
                    "your Gram matrices are not normalised: divide F F^T by H*W (each by its own H*W: the painting's "
                    "feature maps are another size)."
                ),
                _style_term_from_grams(raw_p, raw_s, convention, c, h, w),
            ),
            (
                "your Gram matrices are divided by C*H*W (Johnson et al.'s); this course divides by H*W only.",
                _style_term_from_grams(gram_p / c, gram_s / c, convention, c, h, w),
            ),
            (
                (
                    "you normalised both Gram matrices by the pastiche's H*W; the painting's Gram matrix is divided by its "
                    "own H'*W'."
                ),
                _style_term_from_grams(gram_p, raw_s / (h * w), convention, c, h, w),
            ),
            (
                "you took the Frobenius norm without squaring it: Eq. 2 uses ||G(F) - G(S)||_F squared.",
                diff2.sum((1, 2)).sqrt() * ((1 / (c * h * w)) if convention == "paper" else (1 / (c * c))),
            ),
            (
                "there is an extra factor 1/4 (Gatys et al.'s convention); this one has none.",
                expected.detach() / 4,
            ),
        ]
        if convention == "magenta":
            variants[:0] = [
                (
                    (
                        "off by a factor of C^2: you summed the squared differences over the C x C entries; magenta "
                        "averages them (.mean() over the last two dimensions)."
                    ),
                    summed,
                ),
                (
                    (
                        "this is the paper's Eq. 2 (the sum divided by U = C*H*W); magenta's convention is the mean over the "
                        "C x C entries."
                    ),
                    summed / (c * h * w),
                ),
            ]
        else:
            variants[:0] = [
                (
                    (
                        "this is magenta's convention, the mean over the C x C entries (the sum divided by C^2); Eq. 2 divides "
                        "the sum by U = C*H*W, the number of units (activations) of the layer: a factor C/(H*W) apart."
                    ),
                    magenta,
                ),
                ("you forgot 1/U: divide the sum over the C x C entries by U = C*H*W.", summed),
                (
                    "you divided by H*W only; U = C*H*W counts every unit of the layer, channels too.",
                    summed / (h * w),
                ),
                ("you divided by C only; U = C*H*W counts every unit of the layer.", summed / c),
                (
                    "U is the number of units of the pastiche's layer, C*H*W of `features`, not of the painting's.",
                    summed / (c * hs * ws),
                ),
            ]
        _diagnose(name, what, out, expected, variants, reference)
        _expect_gradient(name, what, out, expected, [features], ["features"], seed=410 + i)
    label = (
        "Eq. 2 of the paper (sum over the C x C entries / U, U = C*H*W)"
        if convention == "paper"
        else "magenta's convention (mean over the C x C entries)"
    )
    _passed(
        f"`{name}` is right: {label}, one value per example, on {len(cases)} pairs of random feature maps of different sizes."
    )


def _magenta_style_loss(features: torch.Tensor, style_features: torch.Tensor) -> torch.Tensor:
    return losses.style_loss(losses.gram_matrix(features), losses.gram_matrix(style_features), reduction="none")


def _style_term_from_grams(gram_p, gram_s, convention, c, h, w):
    """A style term from given Gram matrices, in either convention (for the mistaken variants)."""
    squared = (gram_p - gram_s).pow(2)
    return squared.sum((1, 2)) / (c * h * w) if convention == "paper" else squared.mean((1, 2))


# ----------------------------------------------------------------------------- notebook 4: total variation


def check_total_variation(fn: Callable[[torch.Tensor], torch.Tensor], name: str | None = None) -> None:
    """Notebook 4: ``fn(images)`` with images [B, C, H, W] returns [B], cinlab's total variation.

    For each image: the mean absolute difference of vertically neighbouring pixels plus the mean
    absolute difference of horizontally neighbouring pixels (:func:`cinlab.total_variation` with
    ``reduction="none"``; means, so the value does not grow with the image's size).
    """
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "tv_loss")
    _callable(fn, name)
    shapes = [(2, 3, 3, 9), (3, 3, 8, 4), (1, 1, 6, 6)]
    for i, shape in enumerate(shapes):
        images = torch.rand(shape, generator=_generator(500 + i)).requires_grad_(True)
        b, c = shape[:2]
        what = f"images of shape {_shape(shape)}"
        before = _snapshot(images)
        out = _tensor(_call(fn, name, what, images), name, what)
        _expect_inputs_unchanged([before], [images], ["images"], name)
        _expect_shape(
            out,
            (b,),
            name,
            what,
            {
                (): "One value per image: average over the channels and positions of each image, not over the batch.",
                (b, c): "Average over the colour channels too: one value per image.",
            },
        )
        _expect_dtype(out, torch.float32, name, what)
        _expect_finite(out, name, what)
        expected = losses.total_variation(images, reduction="none")
        x = images.detach()
        dh, dw = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
        mean_h, mean_w = dh.abs().flatten(1).mean(1), dw.abs().flatten(1).mean(1)
        rolled_h = (torch.roll(x, 1, dims=2) - x).abs().flatten(1).mean(1)
        rolled_w = (torch.roll(x, 1, dims=3) - x).abs().flatten(1).mean(1)
        _diagnose(
            name,
            what,
            out,
            expected,
            [
                (
                    (
                        "you summed the absolute differences; cinlab averages each direction's differences (the mean over "
                        "the C*(H-1)*W vertical and the C*H*(W-1) horizontal pairs), so the value does not grow with the "
                        "image."
                    ),
                    dh.abs().flatten(1).sum(1) + dw.abs().flatten(1).sum(1),
                ),
                (
                    (
                        "you averaged all differences of both directions together; take the mean of each direction, then "
                        "add the two."
                    ),
                    torch.cat([dh.abs().flatten(1), dw.abs().flatten(1)], 1).mean(1),
                ),
                ("you averaged the two directions (a factor 1/2): add them.", (mean_h + mean_w) / 2),
                (
                    "you squared the differences; this total variation uses their absolute values.",
                    dh.pow(2).flatten(1).mean(1) + dw.pow(2).flatten(1).mean(1),
                ),
                (
                    "only the vertical differences (along H) are there; add the horizontal ones (along W).",
                    mean_h,
                ),
                (
                    "only the horizontal differences (along W) are there; add the vertical ones (along H).",
                    mean_w,
                ),
                (
                    (
                        "torch.roll wraps around: it also compares the last row with the first. Use slices, "
                        "x[..., 1:, :] - x[..., :-1, :]."
                    ),
                    rolled_h + rolled_w,
                ),
                (
                    "you took the isotropic form sqrt(dh^2 + dw^2); this one adds |dh| and |dw| (anisotropic).",
                    (dh[..., :, :-1].pow(2) + dw[..., :-1, :].pow(2) + 1e-12).sqrt().flatten(1).mean(1),
                ),
            ],
            "cinlab.total_variation(images, reduction='none')",
        )
        _expect_gradient(name, what, out, expected, [images], ["images"], seed=510 + i)
    _passed(
        f"`{name}` is right: it matches cinlab.total_variation per image on {len(shapes)} random batches, with its gradient."
    )


# ----------------------------------------------------------------------------- notebook 5: per-example targets


def check_gram_targets(fn: Callable, name: str | None = None) -> None:
    """Notebook 5: ``fn(style_grams, labels)`` gives each example its own style's Gram targets.

    ``style_grams`` is ``{layer: [N, C, C]}`` (one Gram matrix per style), ``labels`` [B] long;
    the result is ``{layer: [B, C, C]}`` with entry b the Gram matrix of style ``labels[b]``, as
    cinlab's trainer computes it (``Trainer._losses``: ``{l: g[k] for l, g in style_grams.items()}``).
    """
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "gram_targets")
    _callable(fn, name)
    g = _generator(600)
    style_grams = {"relu1_2": torch.randn(4, 3, 3, generator=g), "relu2_2": torch.randn(4, 5, 5, generator=g)}
    for labels in (torch.tensor([2, 0, 3]), torch.tensor([1, 1, 0, 3, 2]), torch.tensor([3])):
        what = f"4 styles' Gram matrices at two layers and labels {labels.tolist()}"
        before = _snapshot(style_grams), _snapshot(labels)
        out = _call(fn, name, what, style_grams, labels)
        _expect_inputs_unchanged(before, [style_grams, labels], ["style_grams", "labels"], name)
        if not isinstance(out, dict):
            raise ExerciseFailed(
                f"`{name}` returned {type(out).__name__} for {what}; return a dict {{layer: targets}} with the same "
                "layers as style_grams."
            )
        if set(out) != set(style_grams):
            raise ExerciseFailed(
                f"`{name}` returned the layers {sorted(out)} for {what}; expected one entry per layer of style_grams, "
                f"{sorted(style_grams)}."
            )
        b = len(labels)
        for layer, grams in style_grams.items():
            where = f"{what} (layer {layer})"
            targets = _tensor(out[layer], name, where)
            c = grams.shape[-1]
            _expect_shape(
                targets,
                (b, c, c),
                name,
                where,
                {
                    tuple(
                        grams.shape
                    ): "That is every style's Gram matrix; pick each example's own: style_grams[layer][labels].",
                    (c, c): "That is one Gram matrix; the batch needs one per example, [B, C, C].",
                },
            )
            _diagnose(
                name,
                where,
                targets,
                grams[labels],
                [
                    (
                        (
                            "you took the first B styles; example b needs the Gram matrix of its own style, labels[b]: "
                            "style_grams[layer][labels]."
                        ),
                        grams[:b],
                    ),
                    (
                        (
                            "every example got the first example's style; index with the whole label tensor, "
                            "style_grams[layer][labels]."
                        ),
                        grams[labels[0]].expand(b, c, c),
                    ),
                    (
                        "these are all styles averaged; each example takes its own style's Gram matrix.",
                        grams.mean(0).expand(b, c, c),
                    ),
                ],
                "style_grams[layer][labels]",
            )
    _passed(f"`{name}` is right: each example gets the Gram targets of its own style, at every layer.")


# ----------------------------------------------------------------------------- notebook 6: the new row


def check_new_row_training(fn: Callable, name: str | None = None) -> None:
    """Notebook 6: ``fn(model, new_label)`` sets up training of style ``new_label``'s rows only.

    It returns the parameters to give the optimiser. The check makes a small 3-style network, appends
    a style, calls ``fn``, and runs Adam on what it returned: first on batches rendered in the new style
    alone (as :func:`cinlab.train.add_styles` trains), then on a batch that also renders old styles.
    Afterwards every convolution and the old styles' rows must be bit-identical and the new style's
    gamma and beta rows must have moved (cinlab freezes the convolutions and multiplies the old rows'
    gradient by zero).
    """
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "parameters_to_train")
    _callable(fn, name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(700)
        model = TransformerNet(num_styles=3, width=0.125)
        with torch.no_grad():
            for table in model.style_parameters():
                table.normal_(1.0, 0.3)
        new_label = model.add_styles(1, names=["new"])[0]
    shared_before = [p.detach().clone() for p in model.shared_parameters()]
    rows_before = [p.detach().clone() for p in model.style_parameters()]
    what = f"a 4-style TransformerNet (width 0.125) and new_label={new_label}"
    returned = _call(fn, name, what, model, new_label)
    if returned is None:
        raise ExerciseFailed(f"`{name}` returned None; return the parameters the optimiser should train.")
    try:
        params = list(returned)
    except TypeError:
        raise ExerciseFailed(
            f"`{name}` returned {type(returned).__name__}; return a list (or another iterable) of the parameters to train."
        ) from None
    if not params:
        raise ExerciseFailed(f"`{name}` returned no parameters: the new style's rows must be among them.")
    if not all(isinstance(p, torch.Tensor) for p in params):
        raise ExerciseFailed(
            f"`{name}` returned something that is not a tensor; return parameters (e.g. model.style_parameters())."
        )
    g = _generator(710)
    images = torch.rand(2, 3, 16, 16, generator=g)
    target = torch.rand(2, 3, 16, 16, generator=g)
    optimizer = torch.optim.Adam(params, lr=1e-2)

    def step(batch, labels):
        __tracebackhide__ = True
        try:
            loss = (model(batch, labels) - target[: len(batch)]).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        except Exception as err:
            raise ExerciseFailed(
                f"Training with the parameters `{name}` returned failed ({type(err).__name__}: {err}). Did a hook "
                "return a wrong shape, or did you replace the model's tables?"
            ) from err

    with torch.random.fork_rng(devices=[]):
        for _ in range(2):
            step(images, torch.tensor([new_label, new_label]))
        check_rows_after = "the batches rendered in the new style only"
        _new_row_verdict(model, shared_before, rows_before, new_label, name, check_rows_after)
        step(images, torch.tensor([new_label, 0]))
        _new_row_verdict(
            model, shared_before, rows_before, new_label, name, "a batch that also renders an old style (label 0)"
        )
    _passed(
        f"`{name}` is right: only the new style's gamma and beta rows trained; every convolution and every old "
        "row stayed bit-identical, even when a batch rendered an old style."
    )


def _new_row_verdict(model, shared_before, rows_before, new_label, name, after):
    __tracebackhide__ = True
    moved_shared = sum(not torch.equal(a, b) for a, b in zip(shared_before, model.shared_parameters()))
    if moved_shared:
        raise ExerciseFailed(
            f"After {after}, {moved_shared} convolution weight tensor(s) changed: the shared convolutions trained too. "
            "Freeze them (requires_grad_(False) on model.shared_parameters(), or on the whole model first) and leave "
            "them out of what you return."
        )
    tables = model.style_parameters()
    if len(tables) != len(rows_before) or any(t.shape != r.shape for t, r in zip(tables, rows_before)):
        raise ExerciseFailed(f"`{name}` replaced or reshaped the model's gamma/beta tables; train them in place.")
    old_moved = sum(not torch.equal(t.detach()[:new_label], r[:new_label]) for t, r in zip(tables, rows_before))
    if old_moved:
        raise ExerciseFailed(
            f"After {after}, the old styles' rows changed in {old_moved} table(s): gamma and beta are whole tables, so "
            "training them trains every row that a batch uses. Zero the other rows' gradient with a hook, "
            "table.register_hook(lambda grad: grad * mask), with mask [num_styles, 1] equal to 1 on the new row and "
            "0 elsewhere (as cinlab.train.add_styles does); Adam leaves a number with an exactly zero gradient as it is."
        )
    gammas, betas = tables[0::2], tables[1::2]
    for kind, group, before in (("gamma", gammas, rows_before[0::2]), ("beta", betas, rows_before[1::2])):
        if all(torch.equal(t.detach()[new_label], r[new_label]) for t, r in zip(group, before)):
            raise ExerciseFailed(
                f"After {after}, the new style's {kind} rows did not move: return the {kind} tables too "
                "(model.style_parameters() holds gamma and beta of every layer) and keep their gradient on the new row."
            )


# ----------------------------------------------------------------------------- notebook 7: mixing rows


def check_mixing(fn: Callable, name: str | None = None) -> None:
    """Notebook 7: ``fn(gamma, beta, weights)`` mixes styles' rows: ``(weights @ gamma, weights @ beta)``.

    ``gamma`` and ``beta`` are one layer's tables [N, C], ``weights`` [N] (non-negative, summing to 1);
    the result is the mixture's two rows, [C] each, as :class:`cinlab.ConditionalInstanceNorm2d`
    computes them for a mixture. One-hot weights must give back a style's own rows exactly.
    """
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "mix_rows")
    _callable(fn, name)
    g = _generator(800)
    num_styles, channels = 4, 6
    gamma = (torch.randn(num_styles, channels, generator=g) + 1.0).requires_grad_(True)
    beta = torch.randn(num_styles, channels, generator=g).requires_grad_(True)
    layer = ConditionalInstanceNorm2d(channels, num_styles)
    dirichlet = -torch.rand(num_styles, generator=g).log()
    cases = [
        ("weights 0.3 / 0.7 on styles 0 and 2", torch.tensor([0.3, 0.0, 0.7, 0.0])),
        ("random weights over all 4 styles", dirichlet / dirichlet.sum()),
        ("one-hot weights on style 1", torch.tensor([0.0, 1.0, 0.0, 0.0])),
    ]
    for i, (description, weights) in enumerate(cases):
        weights = weights.clone().requires_grad_(True)
        what = f"tables [4, 6] and {description}"
        before = _snapshot(gamma), _snapshot(beta), _snapshot(weights)
        out = _call(fn, name, what, gamma, beta, weights)
        _expect_inputs_unchanged(before, [gamma, beta, weights], ["gamma", "beta", "weights"], name)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseFailed(
                f"`{name}` should return two tensors, (gamma, beta) of the mixture; got {type(out).__name__}."
            )
        with torch.no_grad():
            layer.gamma.copy_(gamma)
            layer.beta.copy_(beta)
        mixed = layer.affine(resolve_style(weights.detach(), num_styles), 1, 1)
        for which, (mine, reference_rows) in enumerate(zip(out, mixed)):
            part = ("gamma", "beta")[which]
            where = f"{what} ({part})"
            mine = _tensor(mine, name, where)
            _expect_shape(
                mine,
                (channels,),
                name,
                where,
                {
                    (
                        num_styles,
                        channels,
                    ): "That is each row times its weight; add them up over the styles (sum over dim 0), or weights @ table.",
                    (1, channels): "Return one row of [C], not [1, C] (squeeze the first dimension).",
                },
            )
            _expect_dtype(mine, torch.float32, name, where)
            expected = (weights @ (gamma, beta)[which]).reshape(channels)
            if not _close(expected, reference_rows.reshape(channels)):  # cinlab's layer mixes the same way
                raise RuntimeError("cinlab's mixing no longer equals weights @ table: the check needs updating.")
            table, other = (gamma, beta)[which].detach(), (beta, gamma)[which].detach()
            w = weights.detach()
            _diagnose(
                name,
                where,
                mine,
                expected,
                [
                    (
                        f"this is the mixture of {('beta', 'gamma')[which]}: the two results are swapped; return (gamma, beta).",
                        w @ other,
                    ),
                    (
                        "you averaged the rows and ignored the weights; weight each style's row: weights @ table.",
                        table.mean(0),
                    ),
                    (
                        "you passed the weights through a softmax; the paper mixes with the weights as given.",
                        torch.softmax(w, 0) @ table,
                    ),
                ],
                f"cinlab's mixture of the {part} rows",
            )
            _expect_gradient(
                name, where, mine, expected, [weights, gamma, beta], ["weights", "gamma", "beta"], seed=810 + i
            )
    _passed(
        f"`{name}` is right: the mixture's gamma and beta are the weighted sums of the styles' rows, as cinlab's layer mixes them."
    )


# ----------------------------------------------------------------------------- student versions


def exercise_cells(nb) -> dict[str, list[int]]:
    """Indices of a notebook's nbgrader cells: ``{"solution": [...], "check": [...]}``."""
    found: dict[str, list[int]] = {"solution": [], "check": []}
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            found["solution"].append(i)
        elif cell.cell_type == "code" and meta.get("grade"):
            found["check"].append(i)
    return found


def _student_preprocessors() -> list:
    """nbgrader's own preprocessors of ``nbgrader generate_assignment``, less those that need its course
    folder and database (IncludeHeaderFooter, InstantiateTests, SaveCells)."""
    try:
        from nbgrader.preprocessors import (
            CheckCellMetadata,
            ClearHiddenTests,
            ClearMarkScheme,
            ClearOutput,
            ClearSolutions,
            ComputeChecksums,
            LockCells,
        )
    except ImportError:
        raise SystemExit('nbgrader is not installed: pip install "cinlab[teach]" (or pip install nbgrader).') from None
    return [
        LockCells(),
        ClearSolutions(),
        ClearOutput(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]


def student_version(path: str | Path, preprocessors: Sequence | None = None) -> str:
    """The student version of one notebook as JSON text (solutions replaced by nbgrader's stub, outputs cleared)."""
    import nbformat
    from nbconvert.exporters import NotebookExporter

    exporter = NotebookExporter()
    for preprocessor in preprocessors if preprocessors is not None else _student_preprocessors():
        exporter.register_preprocessor(preprocessor, enabled=True)
    nb = nbformat.read(str(path), as_version=4)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(Path(path).parent)}})
    return body


def write_student_notebooks(
    out_dir: str | Path, notebooks: Sequence[str | Path] | None = None, *, overwrite: bool = False
) -> list[Path]:
    """Write the student version of each notebook (default: every notebook in the repository's
    ``notebooks/``) into ``out_dir``, atomically; existing files are kept unless ``overwrite``."""
    from .files import check_output, write_bytes

    preprocessors = _student_preprocessors()  # before any work: nbgrader must be there
    if notebooks is None:
        folder = Path(__file__).resolve().parent.parent / "notebooks"
        notebooks = sorted(folder.glob("*.ipynb"))
        if not notebooks:
            raise SystemExit(f"No notebooks found in {folder}: name the notebooks to convert.")
    sources = [Path(p) for p in notebooks]
    for source in sources:
        if not source.is_file():
            raise SystemExit(f"{source} is not a notebook file: give the path of an .ipynb file.")
    out_dir = Path(out_dir)
    targets = [out_dir / source.name for source in sources]
    if any(t.resolve() == s.resolve() for t, s in zip(targets, sources)):
        raise SystemExit(
            "The output folder is the notebooks' own folder: choose another, or the solutions would be lost."
        )
    for target in targets:  # before any work: refuse to overwrite, or a folder we cannot write
        check_output(target, overwrite)
    for source, target in zip(sources, targets):
        write_bytes(target, student_version(source, preprocessors).encode("utf-8"), overwrite=overwrite)
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cinlab.exercises",
        description="Course tools for teachers: write the student versions of the notebooks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser(
        "student-notebooks",
        help="write the notebooks with their solutions replaced by stubs and their outputs cleared (needs nbgrader)",
    )
    student.add_argument("out_dir", help="folder to write the student versions into (created if missing)")
    student.add_argument("notebooks", nargs="*", help="notebooks to convert (default: all of notebooks/)")
    student.add_argument("--overwrite", action="store_true", help="replace existing files in OUT_DIR")
    args = parser.parse_args(argv)
    try:
        written = write_student_notebooks(args.out_dir, args.notebooks or None, overwrite=args.overwrite)
    except (FileExistsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
