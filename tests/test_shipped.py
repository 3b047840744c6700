"""The networks and logs that ship in data/ (made by `python -m cinlab.reproduce`)."""

import json

import pytest
import torch

import cinlab
from cinlab import style
from cinlab.checkpoint import load_model
from cinlab.config import models_dir, results_dir
from cinlab.evaluation import interpolation_style_losses, is_monotonic
from cinlab.reproduce import FIG5_STYLES, FINETUNE_STYLE

MODELS = models_dir()
RESULTS = results_dir()


@pytest.mark.parametrize(
    "name,styles",
    [("impressionist10", "impressionist10"), ("varied32", "varied32")],
)
def test_shipped_networks_load_with_their_recorded_styles_and_stylise(name, styles):
    model = load_model(MODELS / f"{name}.pt")
    expected = cinlab.image_names(styles)
    assert model.num_styles == len(expected) == len(model.metadata["styles"])
    assert model.style_names == expected
    meta = model.metadata
    for key in (
        "style_sha256",
        "style_size",
        "loss_network",
        "style_layers",
        "style_weight",
        "step",
        "crop_size",
        "device",
    ):
        assert key in meta, key
    assert meta["style_sha256"] == [cinlab.image_info(s).sha256 for s in expected]
    photo = cinlab.load_image("chelsea", size=48)
    out = model.stylize(photo, [0, model.num_styles - 1])
    assert out.shape == (2, 3, *photo.shape[-2:]) and 0 <= out.min() and out.max() <= 1
    assert (out[0] - out[1]).abs().mean() > 0.02, "two different styles should look different"


def test_shipped_fig5_and_fig6_networks():
    for name in FIG5_STYLES:
        assert load_model(MODELS / f"single_{name}.pt").style_names == [name]
    grown = load_model(MODELS / f"varied32_plus_{FINETUNE_STYLE}.pt")
    base = load_model(MODELS / "varied32.pt")
    assert grown.num_styles == 33 and grown.style_names[:32] == base.style_names
    # Fine-tuning trained only the new rows: every shared weight and old row is unchanged.
    for (name, p), (_, q) in zip(grown.named_parameters(), base.named_parameters()):
        assert torch.equal(p[:32] if name.endswith(("gamma", "beta")) else p, q), name


def test_summary_and_logs_are_consistent():
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert set(summary["fig5"]["per_style"]) == set(FIG5_STYLES)
    for name in ("impressionist10", "varied32", "finetune", "scratch", *(f"single_{s}" for s in FIG5_STYLES)):
        assert (RESULTS / f"{name}_eval.csv").exists(), name


def test_interpolation_endpoints_equal_the_pure_styles():
    model = load_model(MODELS / "varied32.pt")
    photo = cinlab.load_image("tubingen", size=48)
    ends = model.stylize(photo, style.interpolate("starry_night", "the_scream", [0.0, 1.0]))
    torch.testing.assert_close(ends, model.stylize(photo, ["starry_night", "the_scream"]))


def test_style_loss_is_monotonic_along_an_interpolation_on_the_shipped_model():
    """The paper's Fig 7 claim, on the shipped varied32 network (not loosened if it fails)."""
    model = load_model(MODELS / "varied32.pt")
    crop = model.metadata["crop_size"]
    content = torch.cat(
        [cinlab.square(cinlab.load_image(n), crop) for n in ("tubingen", "chelsea", "coffee", "rocket")]
    )
    names = ("starry_night", "the_scream")
    curve = interpolation_style_losses(model, *names, [i / 10 for i in range(11)], content, *names)
    assert is_monotonic(curve["loss_a"], increasing=True), curve["loss_a"]
    assert is_monotonic(curve["loss_b"], increasing=False), curve["loss_b"]
