"""The paper's settings and how a trained network differs from them."""

import pytest

from cinlab.model import TransformerNet
from cinlab.train import TrainConfig


def _metadata(**overrides):
    """A network's metadata as the trainer writes it: the run's config, and the run's facts."""
    from cinlab.train import TrainConfig

    config = TrainConfig.preset(
        "cpu", styles=["water_lilies", "olive_trees"], content=["amber", "coffee"], held_out=("tubingen", "chelsea")
    )
    meta = {
        "config": config.to_dict(),
        "step": 2_500,
        "styles": ["water_lilies", "olive_trees"],
        "loss_network": "vgg19 (max pooling, caffe preprocessing)",
        "trainable": "all",
        "precision": "bfloat16",
        "device": "cpu",
        "seconds": 1000.0,
    }
    meta.update(overrides)
    return meta


def test_training_scale_and_seconds_per_step():
    from cinlab.paper import seconds_per_step, training_scale

    scale = training_scale(_metadata())
    assert scale["images_seen"] == 20_000 and scale["images_per_style"] == 10_000
    assert scale["images"] == pytest.approx(20_000 / 640_000)
    assert scale["pixels"] == pytest.approx(20_000 / 640_000 * (96 / 256) ** 2)
    finetuned = training_scale(_metadata(step=500, trainable="styles", styles=["x"]))
    assert finetuned["images"] == pytest.approx(4_000 / 80_000)  # against the paper's 5,000 fine-tuning steps
    assert seconds_per_step(_metadata()) == pytest.approx(0.4)
    net = TransformerNet(num_styles=1, width=0.25)
    net.metadata = _metadata()
    assert training_scale(net) == scale
    with pytest.raises(ValueError, match="metadata"):
        training_scale(TransformerNet(num_styles=1, width=0.25))


def test_differences_from_paper_reads_the_metadata():
    from cinlab.paper import differences_from_paper, markdown_table

    rows = differences_from_paper(_metadata())
    by_aspect = {r["aspect"]: r for r in rows}
    for aspect in (
        "content images",
        "loss network",
        "loss layers",
        "crops and batch",
        "training steps",
        "style set",
        "style image size",
        "new style rows",
    ):
        assert aspect in by_aspect
    assert by_aspect["crops and batch"]["here"] == "96 px crops, batch 8"
    assert by_aspect["crops and batch"]["paper"] == "256 px crops, batch 16"
    assert "2,500 (20,000 crops = 3.12% of the paper's; 0.44% of its pixels)" == by_aspect["training steps"]["here"]
    assert "VGG-16's names" in by_aspect["loss layers"]["here"]
    assert by_aspect["style image size"]["here"] == "shorter side 144 px"
    assert by_aspect["content images"]["here"].startswith("2 photos (amber, coffee")
    assert "held out: tubingen, chelsea" in by_aspect["content images"]["here"]
    assert by_aspect["style set"]["here"].startswith("2 paintings by ")
    assert by_aspect["new style rows"]["here"].startswith("none")
    tuned = {
        r["aspect"]: r
        for r in differences_from_paper(_metadata(trainable="styles", base_metadata={"styles": ["a"] * 32}))
    }
    assert "training steps (fine-tuning)" in tuned and tuned["training steps (fine-tuning)"]["paper"].startswith(
        "5,000"
    )
    assert (
        "32 old rows" in tuned["new style rows"]["here"] and "mean of the old rows" in tuned["new style rows"]["here"]
    )
    recorded = {r["aspect"]: r for r in differences_from_paper(_metadata(trainable="styles", init="identity"))}
    assert recorded["new style rows"]["here"].endswith("start: identity")
    table = markdown_table(rows)
    assert table.splitlines()[0] == "| aspect | paper | here |" and len(table.splitlines()) == len(rows) + 2
    assert markdown_table([{"a": "x|y"}]).splitlines()[2] == "| x\\|y |" and markdown_table([]) == ""


def test_differences_from_paper_of_a_shipped_network():
    from cinlab.config import models_dir
    from cinlab.paper import differences_from_paper, training_scale

    path = models_dir() / "impressionist10.pt"
    if not path.exists():
        pytest.skip("no shipped networks in this checkout")
    net = cinlab_load(path)
    rows = {r["aspect"]: r["here"] for r in differences_from_paper(net)}
    meta = net.metadata
    config = TrainConfig.from_metadata(meta)
    assert rows["crops and batch"] == f"{config.crop_size} px crops, batch {config.batch_size}"
    assert f"{meta['step']:,}" in rows["training steps"]
    assert training_scale(net)["images_seen"] == meta["step"] * config.batch_size


def cinlab_load(path):
    from cinlab.checkpoint import load_model

    return load_model(path, "cpu")


def test_training_step_flops_fine_tuning_skips_only_the_weight_gradients(vgg19):
    from cinlab.paper import training_step_flops
    from cinlab.train import TrainConfig, Trainer

    config = TrainConfig.preset("fast", styles=["ihc"], content=["astronaut", "coffee"], precision="float32")
    full = Trainer(config, loss_network=vgg19)
    tuned = Trainer(
        config,
        TransformerNet(num_styles=1, width=config.width, style_names=["ihc"]),
        trainable="styles",
        loss_network=vgg19,
    )
    a, b = training_step_flops(full), training_step_flops(tuned)
    assert a["total"] == pytest.approx(a["network"] + a["loss"]) and a["network"] > 0 and a["loss"] > 0
    assert b["loss"] == pytest.approx(a["loss"])  # the same loss network, forward and backward
    # Without weight gradients the network costs its forward plus the input gradients: about 2/3 of a full step.
    assert 0.5 < b["network"] / a["network"] < 0.75
    assert full.step == 0  # train_step does not count steps; fit does
