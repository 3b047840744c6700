"""cinlab.exercises: every check passes correct solutions and names each typical mistake in words."""

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_cells import EXERCISES

import cinlab
from cinlab import exercises
from cinlab.exercises import ExerciseFailed, ExerciseNotWritten

ROOT = Path(__file__).resolve().parent.parent


def fails_with(check, solution, *words, **kwargs):
    """Run ``check(solution)``; it must fail with ExerciseFailed whose message holds every word."""
    with pytest.raises(ExerciseFailed) as info:
        check(solution, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, f"expected {word!r} in the message:\n{message}"
    return message


def passes(check, solution, capsys, **kwargs):
    check(solution, **kwargs)
    out = capsys.readouterr().out
    assert out.startswith(exercises.TICK) and "is right" in out, out


def stub(*args):
    raise NotImplementedError()


# ----------------------------------------------------------------------------- the planned notebook solutions


def solution_namespace(key):
    namespace = {"torch": torch}
    exec(EXERCISES[key]["solution"], namespace)
    return namespace


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_each_planned_solution_passes_its_check(key, capsys):
    namespace = solution_namespace(key)
    exec(EXERCISES[key]["check"], namespace)
    out = capsys.readouterr().out
    assert out.count(exercises.TICK) == EXERCISES[key]["check"].count("exercises.check_"), out


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_each_check_says_not_written_yet_for_the_stub(key):
    """The student version's stub (what nbgrader's ClearSolutions leaves) fails as 'not written yet'."""
    source = EXERCISES[key]["solution"]
    lines, stubbed, inside = source.split("\n"), [], False
    for line in lines:  # the same replacement as ClearSolutions (tests/test_student_notebooks.py uses nbgrader itself)
        if "### BEGIN SOLUTION" in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            stubbed += [indent + "# YOUR CODE HERE", indent + "raise NotImplementedError()"]
        elif "### END SOLUTION" in line:
            inside = False
        elif not inside:
            stubbed.append(line)
    namespace = {"torch": torch}
    exec("\n".join(stubbed), namespace)
    with pytest.raises(ExerciseNotWritten, match="not written yet"):
        exec(EXERCISES[key]["check"], namespace)


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_checks_leave_the_global_random_state_alone(key):
    namespace = solution_namespace(key)
    state = torch.random.get_rng_state()
    exec(EXERCISES[key]["check"], namespace)
    assert torch.equal(torch.random.get_rng_state(), state)


# ----------------------------------------------------------------------------- notebook 1


def gram_in_place(x):
    x.data.add_(1.0)  # .data: autograd forbids in-place changes of a leaf that needs a gradient
    return gram_bmm(x)


def gram_bmm(x):
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def gram_einsum(x):
    return torch.einsum("bchw,bdhw->bcd", x, x) / (x.shape[-2] * x.shape[-1])


@pytest.mark.parametrize("solution", [gram_bmm, gram_einsum], ids=["bmm", "einsum"])
def test_gram_matrix_correct(solution, capsys):
    passes(exercises.check_gram_matrix, solution, capsys)


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda x: gram_bmm(x) * x.shape[-2] * x.shape[-1], ["factor of H*W", "number of positions"]),
        (lambda x: gram_bmm(x) / x.shape[1], ["C*H*W", "Johnson"]),
        (
            lambda x: (lambda f: f.transpose(1, 2) @ f / f.shape[1])(x.reshape(x.shape[0], -1, x.shape[1])),
            ["[B, C, H*W]"],
        ),
        (lambda x: (lambda f: f.transpose(1, 2) @ f)(x.flatten(2)), ["F^T F"]),
        (lambda x: gram_bmm(x).sum(0), ["keep the batch dimension"]),
        (lambda x: gram_bmm(x).double(), ["torch.float64", "float32"]),
        (lambda x: gram_bmm(x).detach(), ["not differentiable"]),
        (lambda x: gram_bmm(x).detach().numpy(), ["NumPy"]),
        (gram_in_place, ["changed its input `features`"]),
        (lambda x: None, ["forget `return`"]),
        (lambda x: gram_bmm(x) + 1e-2, ["differs from cinlab.gram_matrix by up to"]),
        (lambda x: gram_bmm(x) * 3.0, ["constant factor of 3"]),
    ],
    ids=[
        "no 1/HW",
        "CHW",
        "scrambled reshape",
        "FtF",
        "batch summed",
        "float64",
        "detached",
        "numpy",
        "in place",
        "None",
        "offset",
        "factor 3",
    ],
)
def test_gram_matrix_mistakes(mistake, words):
    fails_with(exercises.check_gram_matrix, mistake, *words)


def test_gram_matrix_stub_and_student_errors():
    fails_with(exercises.check_gram_matrix, stub, "not written yet")

    def broken(x):
        return x.reshape(7, -1)

    message = fails_with(exercises.check_gram_matrix, broken, "raised RuntimeError", "features of shape [2, 3, 4, 5]")
    assert "shape" in message
    fails_with(exercises.check_gram_matrix, 42, "Pass your function")


# ----------------------------------------------------------------------------- notebook 2


def make_cin(forward, gamma_start=1.0, beta_start=0.0, as_parameters=True, shape=None):
    class Candidate(torch.nn.Module):
        def __init__(self, channels, num_styles):
            super().__init__()
            size = shape or (num_styles, channels)
            wrap = torch.nn.Parameter if as_parameters else (lambda t: t)
            self.gamma = wrap(torch.full(size, gamma_start))
            self.beta = wrap(torch.full(size, beta_start))

        def forward(self, x, labels):
            return forward(self, x, labels)

    return Candidate


def cin_in_place(self, x, labels):
    x.data.mul_(2.0)
    return cin_right(self, x, labels)


def cin_right(self, x, labels):
    x = F.instance_norm(x, eps=1e-5)
    return x * self.gamma[labels][:, :, None, None] + self.beta[labels][:, :, None, None]


def cin_by_hand(self, x, labels):
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), keepdim=True, unbiased=False)
    return (
        self.gamma[labels][..., None, None] * (x - mean) / torch.sqrt(var + 1e-5) + self.beta[labels][..., None, None]
    )


def with_stats(mean_dims, correction=0, eps_inside=True, eps=1e-5):
    def forward(self, x, labels):
        mean = x.mean(mean_dims, keepdim=True)
        var = x.var(mean_dims, keepdim=True, correction=correction)
        norm = (x - mean) / (torch.sqrt(var + eps) if eps_inside else var.sqrt() + eps)
        return norm * self.gamma[labels][:, :, None, None] + self.beta[labels][:, :, None, None]

    return forward


@pytest.mark.parametrize("forward", [cin_right, cin_by_hand], ids=["instance_norm", "by hand"])
def test_cin_correct(forward, capsys):
    passes(exercises.check_cin, make_cin(forward), capsys)


def test_cin_planned_solution_name_is_used(capsys):
    exercises.check_cin(solution_namespace("02")["MyCIN"])
    assert "`MyCIN` is right" in capsys.readouterr().out


@pytest.mark.parametrize(
    "forward, words",
    [
        (with_stats((0, 2, 3)), ["over the batch", "batch norm"]),
        (with_stats((1, 2, 3)), ["layer norm"]),
        (with_stats((2, 3), correction=1), ["unbiased variance"]),
        (with_stats((2, 3), eps_inside=False), ["inside the square root"]),
        (with_stats((2, 3), eps=0.0), ["left out epsilon"]),
        (with_stats((2, 3), eps=1e-3), ["different epsilon"]),
        (
            lambda self, x, labels: (
                F.instance_norm(x, eps=1e-5) * self.gamma[0][:, None, None] + self.beta[0][:, None, None]
            ),
            ["same style's row", "gamma[labels]"],
        ),
        (
            lambda self, x, labels: (
                F.instance_norm(x, eps=1e-5) * self.beta[labels][..., None, None] + self.gamma[labels][..., None, None]
            ),
            ["swapped"],
        ),
        (
            lambda self, x, labels: F.instance_norm(x, eps=1e-5) * self.gamma[labels][..., None, None],
            ["beta is missing"],
        ),
        (
            lambda self, x, labels: F.instance_norm(x, eps=1e-5) + self.beta[labels][..., None, None],
            ["gamma is missing"],
        ),
        (lambda self, x, labels: cin_right(self, x, labels).detach(), ["not differentiable"]),
        (
            lambda self, x, labels: (
                F.instance_norm(x, eps=1e-5) * self.gamma.detach()[labels][..., None, None]
                + self.beta[labels][..., None, None]
            ),
            ["gradient that reaches `gamma`"],
        ),
        (cin_in_place, ["changed its input `x`"]),
        (lambda self, x, labels: cin_right(self, x, labels).double(), ["torch.float64"]),
        (lambda self, x, labels: cin_right(self, x, labels).mean((2, 3)), ["[4, 5]", "[:, :, None, None]"]),
    ],
    ids=[
        "batch",
        "layer",
        "unbiased",
        "eps outside",
        "no eps",
        "eps 1e-3",
        "one row",
        "swapped",
        "no beta",
        "no gamma",
        "detached",
        "gamma cut",
        "in place",
        "float64",
        "no broadcast",
    ],
)
def test_cin_mistakes(forward, words):
    fails_with(exercises.check_cin, make_cin(forward), *words)


def test_cin_table_mistakes():
    fails_with(exercises.check_cin, make_cin(cin_right, gamma_start=0.0), "should start at 1")
    fails_with(exercises.check_cin, make_cin(cin_right, beta_start=0.5), "should start at 0")
    fails_with(exercises.check_cin, make_cin(cin_right, as_parameters=False), "nn.Parameter")
    fails_with(exercises.check_cin, make_cin(cin_right, shape=(5, 3)), "[num_styles, channels]", "one row per style")

    class NoTables(torch.nn.Module):
        def __init__(self, channels, num_styles):
            super().__init__()

    fails_with(exercises.check_cin, NoTables, "has no `gamma`")
    fails_with(exercises.check_cin, make_cin(lambda self, x, labels: stub()), "not written yet")

    class StubInit(torch.nn.Module):
        def __init__(self, channels, num_styles):
            raise NotImplementedError()

    fails_with(exercises.check_cin, StubInit, "not written yet")


# ----------------------------------------------------------------------------- notebook 3


def gram(x):
    return gram_bmm(x)


def magenta(features, style_features):
    return (gram(features) - gram(style_features)).pow(2).mean((1, 2))


def paper(features, style_features):
    _, c, h, w = features.shape
    return (gram(features) - gram(style_features)).pow(2).sum((1, 2)) / (c * h * w)


def test_style_loss_correct(capsys):
    passes(exercises.check_style_loss, magenta, capsys, convention="magenta")
    passes(exercises.check_style_loss, paper, capsys, convention="paper")
    passes(exercises.check_style_loss, exercises.paper_style_loss, capsys, convention="paper")
    library = lambda f, s: cinlab.style_loss(cinlab.gram_matrix(f), cinlab.gram_matrix(s), reduction="none")  # noqa: E731
    passes(exercises.check_style_loss, library, capsys, convention="magenta")


def test_paper_style_loss_is_eq2_with_the_course_gram():
    g = torch.Generator().manual_seed(0)
    features, style = torch.rand(2, 4, 3, 5, generator=g), torch.rand(1, 4, 6, 2, generator=g)
    diff = gram(features) - gram(style)
    units = 4 * 3 * 5
    expected = torch.stack([torch.linalg.matrix_norm(d, "fro") ** 2 / units for d in diff])
    assert torch.allclose(exercises.paper_style_loss(features, style), expected, rtol=1e-5)
    # and the conversion factor the notebook teaches: paper = magenta * C / (H W)
    assert torch.allclose(exercises.paper_style_loss(features, style), magenta(features, style) * 4 / 15, rtol=1e-5)


def unnormalised(x):
    f = x.flatten(2)
    return f @ f.transpose(1, 2)


@pytest.mark.parametrize(
    "convention, mistake, words",
    [
        ("magenta", lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)), ["factor of C^2", "averages"]),
        ("magenta", paper, ["paper's Eq. 2", "mean over the C x C entries"]),
        ("magenta", lambda f, s: (unnormalised(f) - unnormalised(s)).pow(2).mean((1, 2)), ["not normalised"]),
        (
            "magenta",
            lambda f, s: (gram(f) / f.shape[1] - gram(s) / s.shape[1]).pow(2).mean((1, 2)),
            ["C*H*W", "Johnson"],
        ),
        (
            "magenta",
            lambda f, s: (gram(f) - unnormalised(s) / (f.shape[-2] * f.shape[-1])).pow(2).mean((1, 2)),
            ["painting's Gram matrix is divided by its"],
        ),
        ("magenta", lambda f, s: magenta(f, s) / 4, ["1/4", "Gatys"]),
        ("magenta", lambda f, s: magenta(f, s).mean(), ["One value per example"]),
        ("magenta", lambda f, s: (gram(f) - gram(s)).pow(2).mean(2), ["Reduce over both dimensions"]),
        ("magenta", lambda f, s: magenta(f.detach(), s), ["not differentiable"]),
        ("paper", magenta, ["magenta's convention", "U = C*H*W", "C/(H*W)"]),
        ("paper", lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)), ["forgot 1/U"]),
        (
            "paper",
            lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)) / (f.shape[-2] * f.shape[-1]),
            ["H*W only", "channels too"],
        ),
        ("paper", lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)) / f.shape[1], ["divided by C only"]),
        (
            "paper",
            lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)) / (s.shape[1] * s.shape[2] * s.shape[3]),
            ["pastiche's layer"],
        ),
        (
            "paper",
            lambda f, s: (gram(f) - gram(s)).pow(2).sum((1, 2)).sqrt() / (f.shape[1] * f.shape[2] * f.shape[3]),
            ["without squaring"],
        ),
    ],
    ids=[
        "sum",
        "paper as magenta",
        "raw gram",
        "CHW gram",
        "painting by pastiche HW",
        "quarter",
        "batch mean",
        "half reduced",
        "detached",
        "magenta as paper",
        "no 1/U",
        "HW only",
        "C only",
        "painting U",
        "not squared",
    ],
)
def test_style_loss_mistakes(convention, mistake, words):
    fails_with(exercises.check_style_loss, mistake, *words, convention=convention)


def test_style_loss_stub_and_bad_convention():
    fails_with(exercises.check_style_loss, stub, "not written yet", convention="paper")
    with pytest.raises(ValueError, match="convention"):
        exercises.check_style_loss(magenta, convention="gatys")


# ----------------------------------------------------------------------------- notebook 4


def tv_right(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3)) + (x[..., :, 1:] - x[..., :, :-1]).abs().mean(
        (1, 2, 3)
    )


def test_total_variation_correct(capsys):
    passes(exercises.check_total_variation, tv_right, capsys)
    passes(exercises.check_total_variation, lambda x: exercises.losses.total_variation(x, reduction="none"), capsys)


def dh(x):
    return x[..., 1:, :] - x[..., :-1, :]


def dw(x):
    return x[..., :, 1:] - x[..., :, :-1]


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda x: dh(x).abs().sum((1, 2, 3)) + dw(x).abs().sum((1, 2, 3)), ["summed", "does not grow"]),
        (lambda x: torch.cat([dh(x).abs().flatten(1), dw(x).abs().flatten(1)], 1).mean(1), ["mean of each direction"]),
        (lambda x: tv_right(x) / 2, ["factor 1/2"]),
        (lambda x: dh(x).pow(2).mean((1, 2, 3)) + dw(x).pow(2).mean((1, 2, 3)), ["squared"]),
        (lambda x: dh(x).abs().mean((1, 2, 3)), ["only the vertical"]),
        (lambda x: dw(x).abs().mean((1, 2, 3)), ["only the horizontal"]),
        (
            lambda x: (x.roll(1, 2) - x).abs().mean((1, 2, 3)) + (x.roll(1, 3) - x).abs().mean((1, 2, 3)),
            ["torch.roll wraps around"],
        ),
        (lambda x: tv_right(x).mean(), ["One value per image"]),
        (lambda x: dh(x).abs().mean((2, 3)) + dw(x).abs().mean((2, 3)), ["colour channels"]),
        (lambda x: tv_right(x.detach()), ["not differentiable"]),
    ],
    ids=["sum", "pooled", "half", "squared", "vertical", "horizontal", "roll", "batch", "channels", "detached"],
)
def test_total_variation_mistakes(mistake, words):
    fails_with(exercises.check_total_variation, mistake, *words)


# ----------------------------------------------------------------------------- notebook 5


def test_gram_targets_correct(capsys):
    passes(exercises.check_gram_targets, lambda grams, labels: {k: g[labels] for k, g in grams.items()}, capsys)
    passes(
        exercises.check_gram_targets,
        lambda grams, labels: {k: g.index_select(0, labels) for k, g in grams.items()},
        capsys,
    )


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda grams, labels: {k: g[: len(labels)] for k, g in grams.items()}, ["first B styles"]),
        (
            lambda grams, labels: {k: g[labels[0]].expand(len(labels), *g.shape[1:]) for k, g in grams.items()},
            ["first example's style"],
        ),
        (lambda grams, labels: {k: g for k, g in grams.items()}, ["every style's Gram matrix"]),
        (lambda grams, labels: {k: g[labels[0]] for k, g in grams.items()}, ["one per example"]),
        (
            lambda grams, labels: {k: g.mean(0).expand(len(labels), *g.shape[1:]) for k, g in grams.items()},
            ["averaged"],
        ),
        (lambda grams, labels: [g[labels] for g in grams.values()], ["return a dict"]),
        (lambda grams, labels: {"relu1_2": grams["relu1_2"][labels]}, ["one entry per layer"]),
        (
            lambda grams, labels: grams.update(extra=1) or {k: g[labels] for k, g in grams.items() if k != "extra"},
            ["changed its input `style_grams`"],
        ),
    ],
    ids=["first B", "first label", "not indexed", "one matrix", "mean", "list", "one layer", "mutated"],
)
def test_gram_targets_mistakes(mistake, words):
    fails_with(exercises.check_gram_targets, mistake, *words)


# ----------------------------------------------------------------------------- notebook 6


def masked_rows(model, new_label):
    model.requires_grad_(False)
    mask = torch.zeros(model.num_styles, 1)
    mask[new_label] = 1.0
    for table in model.style_parameters():
        table.requires_grad_(True)
        table.register_hook(lambda grad: grad * mask)
    return model.parameters()  # frozen parameters in the list are harmless: they get no gradient


def test_new_row_training_correct(capsys):
    passes(exercises.check_new_row_training, masked_rows, capsys)


def unmasked_rows(model, new_label):
    model.requires_grad_(False)
    for table in model.style_parameters():
        table.requires_grad_(True)
    return model.style_parameters()


def only_gamma(model, new_label):
    masked_rows(model, new_label)
    return [layer.gamma for layer in model.norm_layers()]


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda model, label: model.parameters(), ["convolution", "shared convolutions trained too"]),
        (unmasked_rows, ["old styles' rows changed", "register_hook", "renders an old style"]),
        (only_gamma, ["beta rows did not move"]),
        (lambda model, label: model.requires_grad_(False) and [], ["returned no parameters"]),
        (lambda model, label: None, ["returned None"]),
        (lambda model, label: 3, ["return a list"]),
    ],
    ids=["everything", "no mask", "gamma only", "empty", "None", "not iterable"],
)
def test_new_row_training_mistakes(mistake, words):
    fails_with(exercises.check_new_row_training, mistake, *words)


def test_new_row_training_stub():
    fails_with(exercises.check_new_row_training, stub, "not written yet")


# ----------------------------------------------------------------------------- notebook 7


def mix_in_place(gamma, beta, w):
    w.data.mul_(0.5)
    return w @ gamma, w @ beta


def test_mixing_correct(capsys):
    passes(exercises.check_mixing, lambda gamma, beta, w: (w @ gamma, w @ beta), capsys)
    passes(
        exercises.check_mixing, lambda gamma, beta, w: ((w[:, None] * gamma).sum(0), (w[:, None] * beta).sum(0)), capsys
    )


@pytest.mark.parametrize(
    "mistake, words",
    [
        (lambda gamma, beta, w: (w @ beta, w @ gamma), ["swapped"]),
        (lambda gamma, beta, w: (gamma.mean(0), beta.mean(0)), ["ignored the weights"]),
        (lambda gamma, beta, w: (torch.softmax(w, 0) @ gamma, torch.softmax(w, 0) @ beta), ["softmax"]),
        (lambda gamma, beta, w: (w[:, None] * gamma, w[:, None] * beta), ["add them up over the styles"]),
        (lambda gamma, beta, w: ((w @ gamma)[None], (w @ beta)[None]), ["[1, C]"]),
        (lambda gamma, beta, w: w @ gamma, ["two tensors"]),
        (lambda gamma, beta, w: ((w @ gamma).detach(), (w @ beta).detach()), ["not differentiable"]),
        (lambda gamma, beta, w: (w.detach() @ gamma, w.detach() @ beta), ["gradient with respect to `weights`"]),
        (lambda gamma, beta, w: (w @ gamma.double().float(), w.double() @ beta.double()), ["torch.float64"]),
        (mix_in_place, ["changed its input `weights`"]),
    ],
    ids=[
        "swapped",
        "mean",
        "softmax",
        "no sum",
        "[1, C]",
        "one output",
        "detached",
        "weights cut",
        "float64",
        "in place",
    ],
)
def test_mixing_mistakes(mistake, words):
    fails_with(exercises.check_mixing, mistake, *words)


def test_mixing_stub():
    fails_with(exercises.check_mixing, stub, "not written yet")


def test_numpy_result_is_named():
    fails_with(exercises.check_total_variation, lambda x: np.zeros(x.shape[0], dtype=np.float32), "NumPy")


# ----------------------------------------------------------------------------- the planned cells in their notebooks


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_planned_exercise_fits_its_notebook(key):
    """Inserted at its anchor (or already there), the exercise keeps the notebook's text rules, and no other
    cell uses the student's function (so the student version runs the same after it)."""
    from exercise_cells import check_metadata, insert_exercise, solution_metadata
    from test_notebook_text import RULES

    path = ROOT / "notebooks" / EXERCISES[key]["notebook"]
    nb = nbformat.read(path, 4)
    grade_id = solution_metadata(key)["nbgrader"]["grade_id"]
    if not any(cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id for cell in nb.cells):
        insert_exercise(nb, key)
    for rule, find in RULES.items():
        assert not find(nb), f"{rule}: {find(nb)}"
    ours = {grade_id, check_metadata(key)["nbgrader"]["grade_id"]}
    name = re.compile(rf"(?<![\w.]){EXERCISES[key]['function']}\b")  # a bare name; cinlab.gram_matrix is fine
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") not in ours:
            assert not name.search(cell.source), f"cell {i} uses the student's `{EXERCISES[key]['function']}`"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_each_notebook_holds_its_exercise_as_planned(key):
    """The notebook's exercise cells are the tested ones (tests/exercise_cells.py): statement, solution, check, in a row,
    with nbgrader's metadata, so the checks tested here are the ones students run."""
    from exercise_cells import check_metadata, solution_metadata

    nb = nbformat.read(ROOT / "notebooks" / EXERCISES[key]["notebook"], 4)
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
    grade_id = solution_metadata(key)["nbgrader"]["grade_id"]
    assert ids.count(grade_id) == 1, f"notebook {key} should hold its exercise once"
    i = ids.index(grade_id)
    statement, solution, check = nb.cells[i - 1 : i + 2]
    assert statement.cell_type == "markdown" and statement.source == EXERCISES[key]["statement"]
    assert solution.source == EXERCISES[key]["solution"]
    assert solution.metadata["nbgrader"] == solution_metadata(key)["nbgrader"]
    assert check.source == EXERCISES[key]["check"]
    assert check.metadata["nbgrader"] == check_metadata(key)["nbgrader"]
