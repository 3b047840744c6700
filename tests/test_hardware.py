"""Devices and precision: every spelling of a device, and the dtype each kind of hardware gets.

The GPU is faked here (``torch.cuda`` functions monkeypatched), so the CPU suite checks the code
paths that crashed on a real GPU; ``tests/test_gpu.py`` runs the same paths on one.
"""

import pytest
import torch

import cinlab
from cinlab import hardware
from cinlab.hardware import DeviceError, choose_precision, resolve_device


@pytest.fixture()
def fake_gpus(monkeypatch):
    """A machine with two CUDA GPUs of a chosen compute capability, as torch.cuda reports it."""
    state = {"capability": (9, 0), "current": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: state["current"])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: state["capability"])
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return state


@pytest.mark.parametrize(
    "spelling", ["cuda", "cuda:0", torch.device("cuda"), torch.device("cuda", 0), None, "auto", " CUDA "]
)
def test_every_gpu_spelling_becomes_an_indexed_device(fake_gpus, spelling):
    device = resolve_device(spelling)
    assert device == torch.device("cuda", 0) and device.index == 0


def test_an_indexed_device_satisfies_torch_cuda_set_device(fake_gpus):
    """The crash on the H200: torch.cuda.set_device(torch.device("cuda")) raises; an index is needed."""
    from torch.cuda._utils import _get_device_index

    with pytest.raises(ValueError, match="specified index"):
        _get_device_index(torch.device("cuda"), optional=False)  # what set_device does with the old value
    assert _get_device_index(resolve_device("cuda"), optional=False) == 0


def test_the_trainer_resolves_its_device_before_calling_set_device(fake_gpus, monkeypatch):
    """Trainer(device="cuda") passes an indexed device to torch.cuda.set_device, as torch requires."""
    from torch.cuda._utils import _get_device_index

    seen = []

    class Stop(Exception):
        pass

    def strict_set_device(device):
        seen.append(_get_device_index(device, optional=False))  # raises for an unindexed device, like torch
        raise Stop  # a CPU-only machine cannot go further

    monkeypatch.setattr(torch.cuda, "set_device", strict_set_device)
    config = cinlab.TrainConfig.preset("fast", styles=["ihc"])
    for spelling in ("cuda", torch.device("cuda"), "cuda:1", None):
        with pytest.raises(Stop):
            cinlab.Trainer(config, device=spelling)
    assert seen == [0, 0, 1, 0]


def test_torchrun_local_rank_picks_the_gpu(fake_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # an explicit index wins


def test_the_current_gpu_is_used_outside_torchrun(fake_gpus):
    fake_gpus["current"] = 1
    assert resolve_device("cuda") == torch.device("cuda", 1)


def test_a_gpu_that_is_not_there_is_a_clear_error(fake_gpus, monkeypatch):
    with pytest.raises(DeviceError, match="GPU 5 was asked for, but this machine has 2"):
        resolve_device("cuda:5")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no usable CUDA GPU.*use 'cpu'"):
        resolve_device("cuda")
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["bogus", "gpu", "cuda:x", 3.5, "tpu"])
def test_spellings_that_are_not_devices_name_the_fix(bad):
    with pytest.raises(DeviceError, match="'cpu'"):
        resolve_device(bad)


def test_cpu_spellings():
    for spelling in ("cpu", torch.device("cpu"), "CPU"):
        assert resolve_device(spelling) == torch.device("cpu")


@pytest.mark.parametrize(
    "capability,dtype,scaler",
    [
        ((9, 0), torch.bfloat16, False),
        ((8, 0), torch.bfloat16, False),
        ((8, 6), torch.bfloat16, False),
        ((7, 5), torch.float16, True),
        ((7, 0), torch.float16, True),
        ((6, 1), torch.float32, False),
    ],
)
def test_precision_follows_the_gpu_generation(fake_gpus, capability, dtype, scaler):
    """A100/H100/RTX 30xx: bf16. T4/V100: fp16 with a gradient scaler. Older: float32."""
    fake_gpus["capability"] = capability
    precision = choose_precision(torch.device("cuda", 0))
    assert precision.dtype == dtype and precision.needs_grad_scaler == scaler
    assert precision.grad_scaler().is_enabled() == scaler


def test_precision_on_cpus_depends_on_native_bf16(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert choose_precision("cpu").dtype == torch.bfloat16
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert choose_precision("cpu").dtype == torch.float32 and not choose_precision("cpu").mixed


def test_forced_precisions_and_bad_names():
    assert choose_precision("cpu", "fp16").dtype == torch.float16
    assert choose_precision("cpu", "float32").dtype == torch.float32
    assert choose_precision("cpu", torch.bfloat16).name == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("cpu", "half-ish")


def test_one_function_decides_precision_for_training_and_inference(monkeypatch):
    """Trainer, stylize and StyleMixer all ask choose_precision (faked to float16 here)."""
    calls = []
    real = hardware.choose_precision

    def spy(device, mode="auto"):
        calls.append(mode)
        return real(device, "fp16" if mode == "auto" else mode)

    import cinlab.mixer
    import cinlab.model
    import cinlab.train

    for module in (cinlab.train, cinlab.model, cinlab.mixer):
        monkeypatch.setattr(module, "choose_precision", spy)
    net = cinlab.TransformerNet(num_styles=2, width=0.25)
    assert net.stylize(torch.rand(1, 3, 16, 16), 1).dtype == torch.float32
    mixer = cinlab.mixer.StyleMixer(net, torch.rand(1, 3, 16, 16), size=16)
    assert mixer.precision.dtype == torch.float16
    trainer = cinlab.Trainer(
        cinlab.TrainConfig.preset("fast", styles=["ihc"], width=0.25, content=["astronaut"]), device="cpu"
    )
    assert trainer.precision.dtype == torch.float16 and trainer.scaler.is_enabled()
    assert len(calls) == 3


def test_float16_training_with_a_gradient_scaler_lowers_the_loss():
    """The T4/V100 path (fp16 autocast + GradScaler), run with float16 on the CPU."""
    config = cinlab.TrainConfig.preset(
        "fast",
        styles=["ihc"],
        width=0.125,
        steps=16,
        lr=1e-2,
        precision="fp16",
        crop_size=24,
        batch_size=2,
        content=["astronaut"],
        log_every=1,
    )
    trainer = cinlab.Trainer(config, device="cpu")
    assert trainer.precision.dtype == torch.float16 and trainer.scaler.is_enabled()
    trainer.fit(progress=False)
    totals = [row["total"] for row in trainer.history]
    assert sum(totals[-4:]) < 0.7 * sum(totals[:4]), totals
    assert trainer.loss_unit is not None and trainer.scaler.get_scale() > 0


def test_a_checkpoint_written_on_a_gpu_loads_on_the_cpu():
    """The shipped impressionist10 was trained and saved on an H200."""
    from cinlab.config import models_dir

    model = cinlab.load_model(models_dir() / "impressionist10.pt", "cpu")
    assert "H200" in model.metadata["device"] and next(model.parameters()).device.type == "cpu"
    assert model.stylize(torch.rand(1, 3, 24, 24), 0).shape == (1, 3, 24, 24)


def test_the_loss_network_refuses_images_on_another_device():
    net = cinlab.LossNetwork("random", layers=("relu1_1",))
    with pytest.raises(DeviceError, match="are on meta but the network is on cpu"):
        net(torch.rand(1, 3, 8, 8, device="meta"))
