"""Every public path on a CUDA GPU. Marked ``gpu``: skipped (with the reason) where there is none.

Run alone with ``python -m pytest -m gpu tests/test_gpu.py``, or through
``python benchmarks/gpu_check.py``, which also runs the GPU benchmarks and prints a verdict.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import cinlab
from cinlab import style
from cinlab.checkpoint import load_model, save_checkpoint
from cinlab.hardware import DeviceError
from cinlab.train import TrainConfig, Trainer, add_styles

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ROOT = Path(__file__).resolve().parent.parent
POOL = ["astronaut", "coffee", "rocket"]


def tiny(**overrides):
    base = dict(
        styles=["ihc", "brick"],
        width=0.25,
        steps=3,
        crop_size=64,
        batch_size=4,
        style_size=64,
        eval_batches=1,
        eval_batch_size=2,
        checkpoint_every=0,
        log_every=1,
        content=POOL,
    )
    return TrainConfig.preset("fast", **{**base, **overrides})


@pytest.mark.parametrize("spelling", ["cuda", "cuda:0", torch.device("cuda"), None])
def test_trainer_takes_every_device_spelling(spelling):
    trainer = Trainer(tiny(), device=spelling).fit(progress=False)
    assert trainer.device == torch.device("cuda", 0)
    assert all(p.device == trainer.device for p in trainer.model.parameters())
    assert np.isfinite(trainer.history[-1]["total"])


@pytest.mark.parametrize("compiled", [False, True])
def test_bf16_and_float32_agree_compiled_or_eager(compiled):
    first = {}
    for precision in ("float32", "bf16"):
        trainer = Trainer(tiny(precision=precision, compile=compiled), device="cuda")
        terms = trainer.train_step()
        first[precision] = terms["total"].mean().item()
        trainer.fit(progress=False)
        assert np.isfinite(trainer.history[-1]["total"])
    assert first["bf16"] == pytest.approx(first["float32"], rel=0.05)


def test_the_precision_this_gpu_gets():
    major, _ = torch.cuda.get_device_capability()
    expected = torch.bfloat16 if major >= 8 else torch.float16 if major == 7 else torch.float32
    assert cinlab.hardware.choose_precision(cinlab.default_device()).dtype == expected


def test_checkpoint_and_exact_resume_on_the_gpu(tmp_path):
    """Bit-identical to an uninterrupted run, with deterministic kernels (cuDNN autotuning and
    atomics are otherwise free to change the last bits between two runs)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        straight = Trainer(tiny(steps=6), out_dir=tmp_path / "a", device="cuda").fit(progress=False)
        Trainer(tiny(steps=3), out_dir=tmp_path / "b", device="cuda").fit(progress=False)
        resumed = Trainer.resume(tmp_path / "b" / "checkpoint.pt", steps=6, device="cuda").fit(progress=False)
    finally:
        torch.use_deterministic_algorithms(previous)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert (tmp_path / "a" / "train_log.csv").read_text() == (tmp_path / "b" / "train_log.csv").read_text()


def test_gpu_checkpoints_load_on_the_cpu_and_cpu_checkpoints_on_the_gpu(tmp_path):
    trainer = Trainer(tiny(), out_dir=tmp_path / "run", device="cuda").fit(progress=False)
    on_cpu = load_model(tmp_path / "run" / "model.pt", "cpu")
    assert next(on_cpu.parameters()).device.type == "cpu"
    cpu_file = save_checkpoint(tmp_path / "cpu.pt", on_cpu)
    on_gpu = load_model(cpu_file, "cuda")
    assert next(on_gpu.parameters()).device == torch.device("cuda", 0)
    image = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(
        on_gpu.stylize(image, 1, precision="float32"), on_cpu.stylize(image, 1, precision="float32"), atol=2e-3, rtol=0
    )
    assert trainer.model.style_names == on_gpu.style_names


def test_add_styles_keeps_old_rows_bit_identical_on_the_gpu(tmp_path):
    Trainer(tiny(), out_dir=tmp_path / "base", device="cuda").fit(progress=False)
    model = load_model(tmp_path / "base" / "model.pt", "cuda")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    add_styles(model, ["gravel"], out_dir=tmp_path / "new", device="cuda", progress=False)
    for name, p in model.named_parameters():
        old = p[:2] if name.endswith(("gamma", "beta")) else p
        assert torch.equal(old, before[name]), name


def test_stylize_labels_mixtures_and_spatial_weights_on_the_gpu():
    model = Trainer(tiny(), device="cuda").fit(progress=False).model
    photo = cinlab.load_image("chelsea", 48)
    out = model.stylize(photo, [0, "brick", {"ihc": 0.5, "brick": 0.5}])
    assert out.shape == (3, 3, *photo.shape[-2:]) and out.device.type == "cpu"
    strip = model.stylize(photo, style.interpolate("ihc", "brick", [0.0, 0.5, 1.0]))
    torch.testing.assert_close(strip[[0, 2]], model.stylize(photo, ["ihc", "brick"]), atol=1e-2, rtol=0)
    spatial = model.stylize(photo, style.spatial_split("ihc", "brick", *photo.shape[-2:]))
    assert spatial.shape == (1, 3, *photo.shape[-2:])
    with pytest.raises(DeviceError, match="are on cpu but the network is on cuda"):
        model(photo, 0)  # a CPU tensor into a GPU network: a clear error, not a silent copy


def test_exports_from_a_gpu_network_match_it(tmp_path):
    import onnxruntime as ort

    from cinlab.export import to_onnx, to_torchscript

    model = Trainer(tiny(), device="cuda").fit(progress=False).model.eval()
    image, weights = torch.rand(1, 3, 37, 45), torch.tensor([[0.3, 0.7]])
    with torch.no_grad():
        expected = model(image.cuda(), weights.cuda()).cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(to_torchscript(model, tmp_path / "m.ts")))
    torch.testing.assert_close(scripted(image, weights), expected, atol=5e-3, rtol=0)  # TF32 on the GPU side
    session = ort.InferenceSession(str(to_onnx(model, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": image.numpy(), "style_weights": weights.numpy()})
    np.testing.assert_allclose(out, expected.numpy(), atol=5e-3)
    assert next(model.parameters()).is_cuda  # exporting did not move the network


def test_gatys_and_the_style_mixer_on_the_gpu():
    result = cinlab.gatys("astronaut", "ihc", size=64, steps=10, device="cuda", progress=False)
    assert result.final_losses["total"] < result.history["total"][0] and result.image.device.type == "cpu"
    from cinlab.widgets import StyleMixer

    model = Trainer(tiny(), device="cuda").fit(progress=False).model
    mixer = StyleMixer(model, "chelsea", size=48)
    mixer.set_pair(0, 1, 0.5)
    assert mixer.render().shape[-2:] == mixer.content.shape[-2:] and mixer.last_ms > 0


def test_the_command_line_with_device_cuda(tmp_path):
    def cinlab_cli(*args):
        done = subprocess.run(
            [sys.executable, "-m", "cinlab", *args], capture_output=True, text=True, timeout=600, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run = tmp_path / "run"
    cinlab_cli(
        "train",
        "--preset",
        "fast",
        "--styles",
        "ihc",
        "brick",
        "--out",
        str(run),
        "--steps",
        "3",
        "--width",
        "0.25",
        "--crop-size",
        "64",
        "--batch",
        "4",
        "--eval-batches",
        "1",
        "--device",
        "cuda",
        "--quiet",
    )
    assert load_model(run / "model.pt", "cpu").metadata["device"] != "cpu"
    cinlab_cli(
        "stylize",
        "--model",
        str(run / "model.pt"),
        "--content",
        "chelsea",
        "--style",
        "brick",
        "--out",
        str(tmp_path / "s.png"),
        "--size",
        "48",
        "--device",
        "cuda",
    )
    cinlab_cli(
        "gatys",
        "--content",
        "astronaut",
        "--style",
        "ihc",
        "--out",
        str(tmp_path / "g.png"),
        "--size",
        "48",
        "--steps",
        "5",
        "--device",
        "cuda",
        "--quiet",
    )
    assert (tmp_path / "s.png").exists() and (tmp_path / "g.png").exists()


NOTEBOOKS = [
    "03_gatys_optimization",
    "04_single_style_network",
    "05_n_style_training_gpu",
    "06_new_styles",
    "07_style_interpolation",
]


def test_notebooks_run_in_fast_mode_with_the_gpu_visible(tmp_path):
    """The notebooks' code cells, in order, one process per notebook, all at once (no Jupyter needed)."""
    env = {**os.environ, "CINLAB_FAST": "1", "MPLBACKEND": "Agg"}
    running = {}
    for name in NOTEBOOKS:
        cells = [
            c
            for c in json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
            if c["cell_type"] == "code"
        ]
        lines = ["".join(c["source"]) for c in cells]
        script = tmp_path / f"{name}.py"
        script.write_text(
            "\n\n".join(
                "\n".join(l for l in cell.splitlines() if not l.lstrip().startswith(("%", "!"))) for cell in lines
            )
        )
        running[name] = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT / "notebooks",
            env=env,
        )
    failed = {}
    for name, process in running.items():
        _, err = process.communicate(timeout=600)
        if process.returncode != 0:
            failed[name] = err[-2000:]
    assert failed == {}
