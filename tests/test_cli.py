"""The command line, run in-process and once as ``python -m cinlab``."""

import subprocess
import sys

import pytest

import cinlab
from cinlab.cli import main


def test_gatys_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "pastiche.png"
    args = ["gatys", "--content", "astronaut", "--style", "ihc", "--out", str(out), "--size", "32", "--steps", "2", "--quiet", "--device", "cpu"]
    assert main(args) == 0
    image = cinlab.load_image(out)
    assert min(image.shape[-2:]) == 32
    assert "saved" in capsys.readouterr().out
    before = out.read_bytes()
    with pytest.raises(SystemExit, match="--overwrite"):
        main(args)
    assert out.read_bytes() == before
    assert main(args + ["--overwrite", "--style-weight", "1e-3"]) == 0


def test_gatys_command_reports_bad_input(tmp_path, capsys):
    code = main(["gatys", "--content", "no_such_photo", "--style", "ihc", "--out", str(tmp_path / "x.png"), "--quiet"])
    assert code == 2
    assert "no_such_photo" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_python_dash_m_cinlab_help():
    done = subprocess.run([sys.executable, "-m", "cinlab", "gatys", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "--style-scale" in done.stdout
