"""Shipped networks and logs by name (cinlab.shipped), from any folder; where cinlab's assets come from."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import cinlab
from cinlab import config, shipped
from cinlab.cli import main
from cinlab.model import TransformerNet

#: What the notebooks and the README load by name.
EXPECTED = {"impressionist10", "varied32", "varied32_plus_van_gogh_cottages", "single_water_lilies"}


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    """An empty current folder (nothing may depend on it) and an empty class folder."""
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CINLAB_IMAGE_DIR", str(tmp_path / "class"))
    monkeypatch.delenv("CINLAB_DATA_DIR", raising=False)
    return folder


def test_load_model_by_name_from_an_empty_folder(elsewhere):
    model = cinlab.load_model("impressionist10", "cpu")
    assert model.num_styles == 10 and model.style_names == cinlab.image_names("impressionist10")
    assert shipped.model_path("impressionist10") == config.models_dir() / "impressionist10.pt"
    # A path still means that file, as before.
    assert cinlab.load_model(config.models_dir() / "varied32.pt", "cpu").num_styles == 32


def test_shipped_models_lists_every_network_with_what_trained_it():
    models = cinlab.shipped_models()
    assert EXPECTED <= set(models) and set(models) == set(shipped.names())
    imp = models["impressionist10"]
    assert imp.styles == tuple(cinlab.image_names("impressionist10")) and imp.num_styles == 10
    assert (imp.steps, imp.crop_size, imp.batch_size, imp.device, imp.precision) == (
        3000,
        256,
        16,
        "NVIDIA H200",
        "bf16",
    )
    assert imp.seconds == pytest.approx(155.4) and imp.trained == "all"
    grown = models["varied32_plus_van_gogh_cottages"]
    assert grown.num_styles == 33 and grown.trained == "styles" and grown.precision == "bf16"
    assert "33 styles" in grown.summary() and "only its new styles" in grown.summary()
    for model in models.values():  # every field a teacher reads is there
        assert model.path.is_file() and model.steps and model.crop_size and model.device and model.seconds


def test_a_wrong_name_says_did_you_mean_and_lists_the_networks(elsewhere):
    with pytest.raises(FileNotFoundError) as info:
        cinlab.load_model("impresionist10")
    message = str(info.value)
    assert "Did you mean 'impressionist10'" in message and "varied32" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match=r"No checkpoint at runs/x/model.pt\. Networks by name: imp"):
        cinlab.load_model("runs/x/model.pt")


def test_the_command_line_takes_network_names(elsewhere, capsys):
    out = elsewhere / "cat.png"
    args = ["stylize", "--model", "impressionist10", "--content", "chelsea", "--style", "water_lilies"]
    assert main(args + ["--size", "32", "--out", str(out), "--device", "cpu"]) == 0
    assert min(cinlab.load_image(out).shape[-2:]) == 32
    assert main(["stylize", "--model", "varied", "--content", "chelsea", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Did you mean 'varied32'" in err


def test_a_network_in_the_class_folder_loads_by_name(elsewhere, tmp_path):
    torch.manual_seed(0)
    ours = tmp_path / "class" / "models" / "our_class_network.pt"
    ours.parent.mkdir(parents=True)
    cinlab.save_checkpoint(ours, TransformerNet(num_styles=2, width=0.25, style_names=["a", "b"]))
    assert cinlab.load_model("our_class_network", "cpu").style_names == ["a", "b"]
    # A shipped name means cinlab's own network, whatever a class folder holds under that name.
    shutil.copy(ours, ours.with_name("impressionist10.pt"))
    assert cinlab.load_model("impressionist10", "cpu").num_styles == 10
    with pytest.raises(FileNotFoundError, match="our_class_network"):  # listed among the names
        cinlab.load_model("no_such_network")


def test_results_by_name():
    summary = json.loads(shipped.results_path("summary.json").read_text())
    assert "fig5" in summary
    assert shipped.results_path("impressionist10_eval.csv").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="Did you mean 'summary.json'"):
        shipped.results_path("sumary.json")
    with pytest.raises(FileNotFoundError):
        shipped.results_path("../models/impressionist10.pt")  # names, not paths


def test_assets_come_from_the_package_not_the_current_folder(elsewhere):
    assets = config.assets_dir()
    assert (assets / "images.csv").is_file() and (assets / "models" / "impressionist10.pt").is_file()
    package = Path(cinlab.__file__).resolve().parent
    assert assets.parent in (package, package.parent)  # inside the package (wheel) or beside it (checkout)
    assert not str(assets).startswith(str(elsewhere))


def test_cinlab_assets_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("CINLAB_ASSETS", str(tmp_path))
    assert config.assets_dir() == tmp_path and config.models_dir() == tmp_path / "models"


def test_assets_of_another_checkout_are_not_used(monkeypatch, tmp_path):
    """A checkout on PYTHONPATH beside another editable install reads its own data/, not the other's."""
    import importlib.resources

    other = tmp_path / "other_checkout" / "data"
    other.mkdir(parents=True)
    monkeypatch.delenv("CINLAB_ASSETS", raising=False)
    monkeypatch.setattr(importlib.resources, "files", lambda package: other)
    assets = config.assets_dir()
    assert assets != other and (assets / "images.csv").is_file()
