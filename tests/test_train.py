"""The trainer: N-style batches, logging, evaluation, checkpoints, exact resume, new styles."""

import pytest
import torch

import cinlab
from cinlab.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from cinlab.content import training_photos
from cinlab.evaluation import read_log
from cinlab.model import TransformerNet
from cinlab.train import TrainConfig, Trainer, add_styles

KEEP = ["astronaut", "coffee", "rocket"]  # a small, quick photo pool for tests


def tiny_config(**overrides):
    base = dict(
        styles=["ihc", "brick"],
        crop_size=32,
        batch_size=4,
        style_size=40,
        width=0.25,
        steps=4,
        log_every=2,
        eval_batches=1,
        eval_batch_size=2,
        checkpoint_every=0,
        content=KEEP,
    )
    return TrainConfig.preset("fast", **{**base, **overrides})


@pytest.fixture(scope="module")
def loss_net():
    from cinlab.paper import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS

    return cinlab.LossNetwork("vgg19", layers=tuple(dict.fromkeys(PAPER_CONTENT_LAYERS + PAPER_STYLE_LAYERS)))


def make_trainer(loss_net, out_dir=None, **overrides):
    return Trainer(tiny_config(**overrides), out_dir=out_dir, device="cpu", loss_network=loss_net)


def test_the_default_pool_is_the_training_photos_minus_the_figure_photos():
    photos = training_photos()
    assert "tubingen" not in photos and "chelsea" not in photos and "boston" not in photos
    assert "astronaut" in photos and "kodim01" in photos and "cq100_girl" in photos
    assert set(cinlab.image_names("train_photos")) <= set(photos) and len(photos) >= 130


def test_style_targets_are_computed_once_at_the_declared_size(loss_net):
    trainer = make_trainer(loss_net)
    for _layer, grams in trainer.style_grams.items():
        assert grams.shape[0] == 2 and grams.shape[1] == grams.shape[2]
    brick = cinlab.load_image("brick", 40)
    expected = cinlab.gram_matrix(loss_net(brick, ["relu2_2"])["relu2_2"])[0]
    torch.testing.assert_close(trainer.style_grams["relu2_2"][1], expected)


def test_each_example_is_scored_against_its_own_style(loss_net):
    trainer = make_trainer(loss_net)
    content = trainer.sampler.sample(2)
    out = trainer.model(content, torch.tensor([0, 1]))
    grams = trainer.style_grams
    together = trainer.loss(out, content, style_grams={l: g[[0, 1]] for l, g in grams.items()})
    for i in range(2):
        alone = trainer.loss(
            out[i : i + 1], content[i : i + 1], style_grams={l: g[i : i + 1] for l, g in grams.items()}
        )
        for key in ("content", "style", "total"):
            torch.testing.assert_close(together[key][i : i + 1], alone[key], rtol=1e-4, atol=0)
    swapped = trainer.loss(out, content, style_grams={l: g[[1, 0]] for l, g in grams.items()})
    assert not torch.allclose(swapped["style"], together["style"])


def test_batches_mix_styles(loss_net):
    trainer = make_trainer(loss_net, batch_size=16)
    ks = torch.cat([trainer.train_step()["k"] for _ in range(2)])
    assert set(ks.tolist()) == {0, 1}


def test_training_lowers_the_loss(loss_net):
    trainer = make_trainer(loss_net, steps=30, log_every=1, lr=5e-3)
    trainer.fit(progress=False)
    totals = [row["total"] for row in trainer.history]
    assert len(totals) == 30
    assert sum(totals[-5:]) / 5 < 0.6 * sum(totals[:5]) / 5


def test_logs_checkpoints_and_metadata(loss_net, tmp_path):
    trainer = make_trainer(loss_net, out_dir=tmp_path, steps=4, eval_every=2)
    trainer.fit(progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {
        "checkpoint.pt",
        "model.pt",
        "train_log.csv",
        "eval_log.csv",
        ".lock",
    }
    log = read_log(tmp_path / "train_log.csv")
    assert [r["step"] for r in log if r["name"] == "all"] == [1, 2, 3, 4]
    per_style = [r for r in log if r["name"] != "all"]
    assert {r["name"] for r in per_style} <= {"ihc", "brick"} and per_style
    assert {"content", "style/relu1_2", "style/relu4_3", "style", "total"} <= set(log[0])
    evals = read_log(tmp_path / "eval_log.csv")
    assert [(r["step"], r["name"]) for r in evals] == [(2, "ihc"), (2, "brick"), (4, "ihc"), (4, "brick")]

    model = load_model(tmp_path / "model.pt")
    meta = model.metadata
    config = TrainConfig.from_metadata(meta)
    assert model.num_styles == 2 and model.style_names == ["ihc", "brick"]
    assert config.style_size == 40 and meta["step"] == 4 and config.backend == "vgg19"
    assert config.style_layers == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    assert len(meta["style_sha256"]) == 2 and all(len(h) == 64 for h in meta["style_sha256"])
    assert config.width == 0.25 and meta["cinlab_version"] == cinlab.__version__
    # The file loads with weights_only=True (no pickled code).
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert payload["training"]["step"] == 4
    assert model.stylize("astronaut", 1, size=32).shape == (1, 3, 32, 32)


def test_resume_is_exact(loss_net, tmp_path):
    straight = make_trainer(loss_net, out_dir=tmp_path / "a", steps=6)
    straight.fit(progress=False)

    first = make_trainer(loss_net, out_dir=tmp_path / "b", steps=3)
    first.fit(progress=False)
    resumed = Trainer.resume(tmp_path / "b" / "checkpoint.pt", steps=6, device="cpu")
    assert resumed.step == 3
    resumed.fit(progress=False)

    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    log_a = [r for r in read_log(tmp_path / "a" / "train_log.csv")]
    log_b = [r for r in read_log(tmp_path / "b" / "train_log.csv")]
    assert log_a == log_b


def test_resume_drops_log_rows_written_after_the_checkpoint(loss_net, tmp_path):
    trainer = make_trainer(loss_net, out_dir=tmp_path, steps=4, log_every=1)
    trainer.fit(progress=False)
    # Pretend the run went on to step 6 (logged) and crashed before its next checkpoint.
    with open(tmp_path / "train_log.csv", "a", newline="") as f:
        f.write("6,all,4," + ",".join(["1.0"] * 7) + "\n")
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", steps=5, device="cpu")
    assert max(r["step"] for r in read_log(tmp_path / "train_log.csv")) == 4
    resumed.fit(progress=False)
    assert [r["step"] for r in read_log(tmp_path / "train_log.csv") if r["name"] == "all"] == [1, 2, 3, 4, 5]


def test_adding_a_style_trains_only_its_rows(loss_net, tmp_path):
    base = make_trainer(loss_net, out_dir=tmp_path / "base", steps=3)
    base.fit(progress=False)
    model = load_model(tmp_path / "base" / "model.pt")
    x = cinlab.load_image("rocket", 32)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    old_outputs = [model(x, i) for i in range(2)]

    trainer = add_styles(
        model, ["gravel"], out_dir=tmp_path / "new", device="cpu", progress=False, fit=False, loss_network=loss_net
    )
    trainer.fit(steps=4, progress=False)
    assert model.num_styles == 3 and model.style_names[-1] == "gravel"
    for name, p in model.named_parameters():
        if name.endswith(("gamma", "beta")):
            assert torch.equal(p[:2], before[name]), name  # old rows bit-identical
        else:
            assert torch.equal(p, before[name]), name  # shared weights frozen
    assert any(not torch.allclose(p[2], before[n].mean(0)) for n, p in model.named_parameters() if n.endswith("gamma"))
    for i in range(2):
        assert torch.equal(model(x, i), old_outputs[i])
    reloaded = load_model(tmp_path / "new" / "model.pt")
    assert reloaded.num_styles == 3 and reloaded.metadata["trainable"] == "styles"


def test_eval_batches_are_the_same_for_every_run(loss_net):
    a = make_trainer(loss_net, seed=1)
    b = make_trainer(loss_net, seed=2)
    assert torch.equal(a.eval_batches[0], b.eval_batches[0])


# ----------------------------------------------------------------------------- checkpoint errors


def test_corrupt_truncated_and_foreign_checkpoints_are_rejected(tmp_path):
    net = TransformerNet(num_styles=2, width=0.25)
    good = save_checkpoint(tmp_path / "good.pt", net, metadata={"note": "test"})
    assert load_model(good).num_styles == 2
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_model(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": net.state_dict()}, foreign)
    with pytest.raises(CheckpointError, match="not a cinlab checkpoint"):
        load_model(foreign)
    future = tmp_path / "future.pt"
    payload = load_checkpoint(good)
    payload["format_version"] = 99
    torch.save(payload, future)
    with pytest.raises(CheckpointError, match="upgrade cinlab"):
        load_model(future)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "cinlab-transformer", "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_model(path)


def test_mismatched_number_of_styles(tmp_path):
    path = save_checkpoint(tmp_path / "ten.pt", TransformerNet(num_styles=10, width=0.25))
    with pytest.raises(CheckpointError, match="10 styles, not the 4 expected"):
        load_model(path, num_styles=4)


def test_half_precision_files_and_no_overwrite(tmp_path):
    net = TransformerNet(num_styles=2, width=0.25)
    full = save_checkpoint(tmp_path / "full.pt", net)
    half = save_checkpoint(tmp_path / "half.pt", net, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half)
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_checkpoint(full, net, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.pt", "half.pt"]


def test_bad_training_configs():
    with pytest.raises(ValueError, match="No styles"):
        Trainer(TrainConfig(styles=[]))
    with pytest.raises(ValueError, match="Unknown preset"):
        TrainConfig.preset("huge")
    with pytest.raises(ValueError, match="more than once"):
        TrainConfig(styles=["ihc", "brick", "ihc"]).validate()
    with pytest.raises(ValueError, match="width must be a number in"):
        TrainConfig(styles=["ihc"], width=1000).validate()  # checked before a network is built
    with pytest.raises(ValueError, match="style_layer_weights names"):
        TrainConfig(styles=["ihc"], style_layer_weights={"relu5_1": 2.0}).validate()
    with pytest.raises(ValueError, match="tv_weight"):
        TrainConfig(styles=["ihc"], tv_weight=float("nan")).validate()


def test_the_command_line_says_in_one_line_what_cannot_train(tmp_path, capsys):
    from cinlab.cli import main

    assert main(["train", "--styles", "ihc", "--out", str(tmp_path / "wide"), "--width", "1000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "width must be a number in" in err
    # --resume on a folder whose checkpoint.pt is a model file (no training state): a clean message
    (tmp_path / "model_only").mkdir()
    save_checkpoint(tmp_path / "model_only" / "checkpoint.pt", TransformerNet(num_styles=1, width=0.25))
    assert main(["train", "--resume", "--out", str(tmp_path / "model_only"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no training state" in err and "Traceback" not in err


def test_content_from_an_image_folder(loss_net, tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "coco"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (50 + i, 60, 3), dtype=np.uint8)).save(folder / "sub" / f"{i}.jpg")
    (folder / "notes.txt").write_text("not an image, ignored")
    trainer = make_trainer(loss_net, content=str(folder), num_workers=0, steps=2)
    assert len(trainer.sampler.dataset) == 3
    batch = trainer.sampler.sample(4)
    assert batch.shape == (3, 3, 32, 32)  # 3 images: one short batch per pass
    trainer.fit(progress=False)
    assert trainer.step == 2
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_trainer(loss_net, content=str(tmp_path / "missing"), num_workers=0)
