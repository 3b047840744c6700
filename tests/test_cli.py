"""The command line, run in-process and once as ``python -m cinlab``."""

import subprocess
import sys

import pytest

import cinlab
import cinlab.checkpoint
from cinlab.cli import main


def test_gatys_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "pastiche.png"
    args = [
        "gatys",
        "--content",
        "astronaut",
        "--style",
        "ihc",
        "--out",
        str(out),
        "--size",
        "32",
        "--steps",
        "2",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    image = cinlab.load_image(out)
    assert min(image.shape[-2:]) == 32
    assert "saved" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(args + ["--overwrite", "--style-weight", "1e-3"]) == 0


def test_gatys_command_reports_bad_input(tmp_path, capsys):
    code = main(["gatys", "--content", "no_such_photo", "--style", "ihc", "--out", str(tmp_path / "x.png"), "--quiet"])
    assert code == 2
    assert "no_such_photo" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_python_dash_m_cinlab_help():
    done = subprocess.run(
        [sys.executable, "-m", "cinlab", "gatys", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert "--style-scale" in done.stdout


def test_train_stylize_add_style_and_export_commands(tmp_path, capsys):

    run = tmp_path / "run"
    common = [
        "--crop-size",
        "32",
        "--batch",
        "2",
        "--style-size",
        "40",
        "--eval-batches",
        "1",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert (
        main(
            [
                "train",
                "--preset",
                "fast",
                "--styles",
                "ihc",
                "brick",
                "--out",
                str(run),
                "--steps",
                "2",
                "--width",
                "0.25",
                *common,
            ]
        )
        == 0
    )
    model = run / "model.pt"
    assert model.exists()
    assert main(["train", "--preset", "fast", "--styles", "ihc", "--out", str(run), *common]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--quiet", "--device", "cpu"]) == 0
    assert cinlab.checkpoint.load_model(model).metadata["step"] == 3

    out = tmp_path / "one.png"
    assert (
        main(
            [
                "stylize",
                "--model",
                str(model),
                "--content",
                "astronaut",
                "--style",
                "brick",
                "--out",
                str(out),
                "--size",
                "32",
            ]
        )
        == 0
    )
    assert cinlab.load_image(out).shape[-2:] == (32, 32)
    folder = tmp_path / "many"
    assert (
        main(
            [
                "stylize",
                "--model",
                str(model),
                "--content",
                "astronaut",
                "--style",
                "0",
                "1",
                "--out",
                str(folder),
                "--size",
                "32",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in folder.iterdir()) == ["astronaut_brick.png", "astronaut_ihc.png"]
    assert (
        main(
            [
                "stylize",
                "--model",
                str(model),
                "--content",
                "astronaut",
                "--weights",
                "1",
                "3",
                "--normalize",
                "--out",
                str(tmp_path / "mix.png"),
                "--size",
                "32",
            ]
        )
        == 0
    )
    code = main(
        [
            "stylize",
            "--model",
            str(model),
            "--content",
            "astronaut",
            "--style",
            "7",
            "--out",
            str(tmp_path / "bad.png"),
            "--size",
            "32",
        ]
    )
    assert code == 2 and "out of range" in capsys.readouterr().err

    grown = tmp_path / "grown"
    assert (
        main(["add-style", "--model", str(model), "--styles", "gravel", "--out", str(grown), "--steps", "2", *common])
        == 0
    )
    assert cinlab.checkpoint.load_model(grown / "model.pt").num_styles == 3

    assert main(["export", "--model", str(model), "--format", "torchscript", "--out", str(tmp_path / "net.ts")]) == 0
    assert (tmp_path / "net.ts").exists()
