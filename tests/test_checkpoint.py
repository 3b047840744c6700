"""Checkpoints: the file names its network's class and config and rebuilds from them; everything in it
is checked against that config before anything is allocated; checksums cover the weights and the
training state; old files still load."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cinlab
from cinlab.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint, tensor_checksum
from cinlab.model import TransformerNet
from cinlab.train import TrainConfig, Trainer

DATA = Path(cinlab.__file__).resolve().parent.parent / "data" / "models"


@pytest.fixture()
def small(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(num_styles=3, width=0.25, style_names=["a", "b", "c"])
    return save_checkpoint(tmp_path / "small.pt", net), net


def _payload(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _save(payload, path):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_checkpoint_names_its_class_and_rebuilds_from_its_config(small):
    path, net = small
    payload = _payload(path)
    assert payload["format_version"] == 3 and payload["model"]["class"] == "TransformerNet"
    loaded = load_model(path, "cpu")
    assert loaded.config == net.config and loaded.style_names == net.style_names
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x, "b"), net.eval()(x, "b"), rtol=0, atol=0)


def test_an_unknown_class_is_refused(small, tmp_path):
    path, _ = small
    payload = _payload(path)
    payload["model"]["class"] = "EvilNet"
    with pytest.raises(CheckpointError, match="EvilNet"):
        load_model(_save(payload, tmp_path / "x.pt"))


def test_declared_shapes_are_compared_with_the_stored_tensors_before_anything_is_built(tmp_path):
    """A tiny file declaring 100,000 styles at width 16 (its style tables alone would need ~20 GB) is
    refused from its header: the process grows by less than 512 MB."""
    net = TransformerNet(num_styles=1, width=0.25)
    state = net.state_dict()
    payload = {
        "format": "cinlab-transformer",
        "format_version": 2,
        "cinlab_version": "0.2.0",
        "model": {
            "config": {"num_styles": 100_000, "width": 16.0},
            "style_names": [f"s{i}" for i in range(100_000)],
            "state_dict": state,
        },
        "checksum": tensor_checksum(state),
        "metadata": {},
        "training": None,
    }
    crafted = _save(payload, tmp_path / "crafted.pt")
    assert crafted.stat().st_size < 2 * 2**20
    code = f"""
import resource, sys
from cinlab.checkpoint import CheckpointError, load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
try:
    load_model({str(crafted)!r}, "cpu")
except CheckpointError as err:
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print("refused:", err, "| grew by", grown, "KiB")
    sys.exit(0 if grown < 512 * 1024 else 3)  # building it would have taken ~20 GB
sys.exit(1)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused:" in done.stdout and "shape" in done.stdout


def test_nan_or_infinite_weights_are_refused(small, tmp_path):
    path, _ = small
    payload = _payload(path)
    key = next(k for k in payload["model"]["state_dict"] if k.endswith("conv.weight"))
    payload["model"]["state_dict"][key][0, 0, 0, 0] = float("nan")
    payload["checksum"] = tensor_checksum(payload["model"]["state_dict"])  # a consistent file, bad weights
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_model(_save(payload, tmp_path / "nan.pt"))


def test_declaring_format_1_does_not_switch_the_checksum_off(small, tmp_path):
    path, _ = small
    payload = _payload(path)
    key = next(k for k in payload["model"]["state_dict"] if k.endswith("gamma"))
    payload["model"]["state_dict"][key] += 1  # tampered weights
    payload["format_version"] = 1
    tampered = _save(payload, tmp_path / "v1.pt")
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(tampered)
    del payload["checksum"]  # a genuine format-1 file has none: loading it is the caller's decision
    unverified = _save(payload, tmp_path / "v1_nochecksum.pt")
    with pytest.raises(CheckpointError, match="cannot be verified.*trust_unverified"):
        load_checkpoint(unverified)
    assert load_checkpoint(unverified, trust_unverified=True)["format_version"] == 1


def test_the_training_state_has_a_checksum_too(tmp_path):
    """A flipped Adam moment used to resume silently."""
    config = TrainConfig.preset("fast", styles=["ihc"], content=["astronaut"], steps=2)
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    trainer = Trainer(
        config, out_dir=tmp_path / "run", device="cpu", loss_network=cinlab.LossNetwork("random", layers=layers)
    )
    trainer.fit(progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    payload = _payload(path)
    state = payload["training"]["optimizer"]["state"]
    moment = state[next(iter(state))]["exp_avg"]
    moment.view(-1)[0] = moment.view(-1)[0] * 2 + 1
    with pytest.raises(CheckpointError, match="training state"):
        Trainer.resume(_save(payload, tmp_path / "run" / "tampered.pt"), device="cpu")


def test_duplicate_style_names_in_a_file_are_refused(small, tmp_path):
    path, _ = small
    payload = _payload(path)
    payload["model"]["style_names"] = ["a", "a", "c"]
    with pytest.raises(CheckpointError, match="more than once"):
        load_model(_save(payload, tmp_path / "dup.pt"))


OLD = "8351802"  # the last release of the old layer code (cinlab 0.2)

_OLD_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from cinlab.checkpoint import load_model, save_checkpoint
from cinlab.model import TransformerNet
models, out = sys.argv[1], sys.argv[2]
x = torch.rand(1, 3, 44, 52, generator=torch.Generator().manual_seed(1))
pictures = {}
for path in sorted(__import__("pathlib").Path(models).glob("*.pt")):
    net = load_model(path, "cpu")
    labels = torch.tensor(sorted({0, 1 % net.num_styles, net.num_styles - 1}))
    with torch.no_grad():
        pictures[path.name] = net(x.expand(len(labels), -1, -1, -1), labels)
torch.manual_seed(0)
small = TransformerNet(num_styles=3, width=0.25, style_names=["a", "b", "c"])
with torch.no_grad():
    for p in small.style_parameters():
        p.normal_(1.0, 0.5)
save_checkpoint(out + "/written_by_old.pt", small)
with torch.no_grad():
    pictures["written_by_old.pt"] = small.eval()(x.expand(3, -1, -1, -1), torch.arange(3))
torch.save({"x": x, "pictures": pictures}, out + "/old_pictures.pt")
"""


def test_checkpoints_of_the_old_code_load_and_draw_bit_identical_pictures(tmp_path):
    """Every shipped checkpoint, and one written by the old code (commit 8351802), gives exactly the
    pictures the old code drew from it (same input, one thread in both)."""
    root = Path(cinlab.__file__).resolve().parent.parent
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", OLD, "cinlab"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(
            f"commit {OLD} is not in this checkout's history (an sdist or a shallow clone): {archive.stderr[:200]!r}"
        )
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    env = {**__import__("os").environ, "PYTHONPATH": str(old)}
    done = subprocess.run(  # run from old/, so that the checkout's own cinlab/ is not on the path
        [sys.executable, "-c", _OLD_SCRIPT, str(DATA), str(tmp_path)],
        env=env,
        cwd=old,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reference = torch.load(tmp_path / "old_pictures.pt", weights_only=True)
    x, pictures = reference["x"], reference["pictures"]
    assert len(pictures) == len(list(DATA.glob("*.pt"))) + 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, expected in pictures.items():
            net = load_model((tmp_path if name == "written_by_old.pt" else DATA) / name, "cpu")
            n = net.num_styles
            labels = torch.arange(3) if name == "written_by_old.pt" else torch.tensor(sorted({0, 1 % n, n - 1}))
            with torch.no_grad():
                drawn = net(x.expand(len(labels), -1, -1, -1), labels)
            assert torch.equal(drawn, expected), name
    finally:
        torch.set_num_threads(threads)
