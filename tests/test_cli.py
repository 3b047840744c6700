"""The command line, run in-process and once as ``python -m cinlab``."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cinlab
import cinlab.checkpoint
from cinlab.cli import main
from cinlab.model import TransformerNet

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "models"


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


# ----------------------------------------------------------------------------- names, mixtures, info, help


@pytest.fixture()
def named_model(tmp_path):
    """A small network whose style names try to escape the output folder and collide."""
    torch.manual_seed(0)
    names = ["x/../../escaped", "../up", "..", "Dup", "dup", "starry_night"]
    net = TransformerNet(num_styles=len(names), width=0.25, style_names=names)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    return cinlab.checkpoint.save_checkpoint(tmp_path / "named.pt", net)


def test_style_names_from_a_checkpoint_never_become_paths(named_model, tmp_path, capsys):
    folder = tmp_path / "out"
    before = set(tmp_path.rglob("*"))
    labels = [str(i) for i in range(6)]
    args = ["stylize", "--model", str(named_model), "--content", "astronaut", "--size", "32", "--out", str(folder)]
    assert main([*args, "--style", *labels]) == 0
    written = set(tmp_path.rglob("*")) - before - {folder}
    assert all(p.parent == folder and p.suffix == ".png" for p in written), sorted(map(str, written))
    assert len(written) == 6 and not (tmp_path / "escaped.png").exists()
    names = sorted(p.name for p in written)
    assert "astronaut_starry_night.png" in names  # plain names stay as they are
    assert all(name.startswith("astronaut_") and "/" not in name for name in names)
    assert len({n.casefold() for n in names}) == 6  # distinct, also on case-insensitive file systems


def test_stylize_mixes_named_styles_without_one_weight_per_style(tmp_path, capsys):
    torch.manual_seed(0)
    names = ["ihc", "brick", "gravel", "water_lilies", "in_bed"]
    net = TransformerNet(num_styles=len(names), width=0.25, style_names=names)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    model = cinlab.checkpoint.save_checkpoint(tmp_path / "m.pt", net)
    out = tmp_path / "mix.png"
    args = ["stylize", "--model", str(model), "--content", "astronaut", "--size", "32"]
    assert main([*args, "--mix", "water_lilies=0.5", "in_bed=1.5", "--normalize", "--out", str(out)]) == 0
    expected = net.stylize("astronaut", {"water_lilies": 0.25, "in_bed": 0.75}, size=32, precision="float32")
    got = cinlab.load_image(out)
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6
    assert main([*args, "--mix", "water_lilys=1", "--out", str(tmp_path / "typo.png")]) == 2
    assert "Did you mean 'water_lilies'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not STYLE=WEIGHT: argparse's usage error
        main([*args, "--mix", "in_bed", "--out", str(tmp_path / "x.png")])
    assert "STYLE=WEIGHT" in capsys.readouterr().err


def test_info_lists_styles_and_how_the_network_was_trained(capsys, tmp_path):
    assert main(["info", "--model", str(SHIPPED / "varied32.pt")]) == 0
    out = capsys.readouterr().out
    assert "32 style(s)" in out and "31: fairy_tale_of_castles" in out and "14: water_lilies" in out
    assert "2500 steps" in out and "96 px crops" in out and "vgg19" in out and "relu3_3" in out
    assert main(["info", "--model", str(SHIPPED / "varied32.pt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["style_names"][14] == "water_lilies" and info["metadata"]["step"] == 2500
    # A name from a file never sends escape sequences to the terminal.
    net = TransformerNet(num_styles=1, width=0.25, style_names=["\x1b[2Jred"])
    path = cinlab.checkpoint.save_checkpoint(tmp_path / "esc.pt", net)
    assert main(["info", "--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2Jred" in out and "no training metadata" in out


@pytest.mark.parametrize("command", ["gatys", "stylize", "info", "export"])
def test_every_option_has_help_text(command):
    from cinlab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    missing = [a.option_strings[0] for a in sub._actions if a.option_strings and not (a.help or "").strip()]
    assert not missing, f"{command}: options without help: {missing}"


def test_the_readme_command_lines_are_valid_commands():
    """Every ``cinlab ...`` line (and ``cinlab`` inline example) in the README parses, options and all."""
    import re
    import shlex

    from cinlab.cli import build_parser

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S)).splitlines()
    lines = [line for line in blocks if line.startswith("cinlab ") or " -m cinlab " in line]
    lines += re.findall(r"`(cinlab (?:[a-z-]+) [^`]*)`", readme.replace("\n", " "))  # inline examples
    commands = [shlex.split(line.split("  #")[0].split("-m cinlab ", 1)[-1].removeprefix("cinlab ")) for line in lines]
    assert {c[0] for c in commands} >= {"gatys", "train", "add-style", "stylize", "export", "info", "download-images"}
    long_runs = [line for line in lines if "--steps 5000" in line]  # hours on a CPU: the README says where it runs
    assert long_runs and all("GPU" in line for line in long_runs), long_runs
    for words in commands:
        try:
            build_parser().parse_args(words)
        except SystemExit as exit_:
            if exit_.code:  # --version and --help exit with 0 after printing
                pytest.fail(f"README: `cinlab {' '.join(words)}` is not a valid command")
