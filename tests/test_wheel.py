"""The package as a user gets it: build the sdist and the wheel, check them as a package index would,
install the wheel (not editable) into a fresh virtual environment outside the checkout, and use it from
an empty folder: the command line, a shipped network by name, Gatys, and a notebook copied there alone.

The fresh environment reuses the dependencies already installed here (a ``.pth`` file naming this
environment's site-packages: the wheel's cinlab in the new environment's own site-packages comes
first), so this costs a build and a few runs, not a PyTorch download. About 1-2 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Fast in fast mode, and it loads a shipped network through the library (cinlab.config.models_dir()).
NOTEBOOK = "02_instance_normalization.ipynb"


def _pyproject_version() -> str:
    import re

    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    """The sdist and the wheel, built from this checkout with this environment's setuptools."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "is absent from the `packages` configuration" not in done.stdout + done.stderr
    (sdist,), (wheel,) = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    return sdist, wheel


def test_twine_check_passes(dists):
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_carries_what_cinlab_reads_at_run_time_and_nothing_else(dists):
    _, wheel = dists
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"cinlab/{p.name}" for p in (ROOT / "cinlab").glob("*.py")}
    wanted |= {"cinlab/frame_cache.js", "cinlab/assets/__init__.py", "cinlab/assets/images.csv"}
    wanted |= {f"cinlab/assets/models/{p.name}" for p in (ROOT / "data" / "models").glob("*.pt")}
    wanted |= {f"cinlab/assets/results/{p.name}" for p in (ROOT / "data" / "results").glob("*.csv")}
    wanted |= {"cinlab/assets/results/summary.json"}
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
    package_files = {n for n in names if ".dist-info/" not in n}
    assert package_files == wanted, f"in the wheel but not wanted: {sorted(package_files - wanted)}"
    assert not any(n.startswith(("tests/", "notebooks/", "benchmarks/", "data/")) for n in names)
    dist_info = {n.split("/", 1)[1] for n in names if ".dist-info/" in n}
    assert "licenses/LICENSE" in dist_info
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Version: {_pyproject_version()}" in metadata and "License-Expression: MIT" in metadata


def test_the_sdist_builds_the_same_package(dists):
    sdist, _ = dists
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "data/images.csv",
        "cinlab/frame_cache.js",
    } <= names
    assert {f"data/models/{p.name}" for p in (ROOT / "data" / "models").glob("*.pt")} <= names
    assert not any(n.startswith("tests/") for n in names)


# ----------------------------------------------------------------------------- installed, elsewhere


@dataclass
class Installed:
    """A fresh virtual environment with the wheel installed, and an empty folder to work in."""

    venv: Path
    purelib: Path
    cwd: Path
    env: dict

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, (
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
        return done


def install_wheel(wheel: Path, where: Path) -> Installed:
    """``python -m venv`` (no pip of its own) + a .pth naming this environment's site-packages + the wheel."""
    venv, cwd = where / "venv", where / "empty"
    cwd.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_outer_environment.pth").write_text("\n".join(outer) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "CINLAB_ASSETS")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", CINLAB_FAST="1", MPLBACKEND="Agg")
    env.pop("VIRTUAL_ENV", None)
    installed = Installed(venv, purelib, cwd, env)
    # pip from the outer environment, run by the new interpreter: installs into the new one only.
    installed.run(
        python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed", str(wheel)
    )
    return installed


def check_version(installed: Installed, version: str) -> None:
    done = installed.run(str(installed.venv / "bin" / "cinlab"), "--version")
    assert done.stdout.strip() == f"cinlab {version}"


def check_load_model_by_name(installed: Installed) -> None:
    done = installed.run(
        installed.python,
        "-c",
        "import cinlab, json; m = cinlab.load_model('impressionist10', 'cpu'); "
        "print(json.dumps([cinlab.__file__, str(cinlab.config.assets_dir()), m.num_styles, sorted(cinlab.shipped_models())]))",
    )
    module, assets, styles, names = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(module) == installed.purelib / "cinlab" / "__init__.py"  # the wheel's, not the checkout's
    assert Path(assets) == installed.purelib / "cinlab" / "assets"
    assert styles == 10 and {"impressionist10", "varied32"} <= set(names)


def check_stylize(installed: Installed) -> None:
    cinlab = str(installed.venv / "bin" / "cinlab")
    args = ["--content", "chelsea", "--style", "water_lilies", "--size", "48", "--device", "cpu"]
    installed.run(cinlab, "stylize", "--model", "impressionist10", *args, "--out", "stylized.png")
    from PIL import Image

    with Image.open(installed.cwd / "stylized.png") as image:
        assert min(image.size) == 48


def check_gatys(installed: Installed) -> None:
    cinlab = str(installed.venv / "bin" / "cinlab")
    args = ["--content", "chelsea", "--style", "ihc", "--size", "32", "--steps", "3", "--device", "cpu", "--quiet"]
    done = installed.run(cinlab, "gatys", *args, "--out", "gatys.png")
    assert "after 3 steps" in done.stdout and (installed.cwd / "gatys.png").stat().st_size > 0


def check_notebook(installed: Installed, notebook: Path) -> None:
    """The notebook copied alone into the empty folder, run by a kernel of the new environment."""
    copy = installed.cwd / notebook.name
    content = json.loads(notebook.read_text(encoding="utf-8"))
    probe = "import sys, cinlab\nprint('PROBE', sys.executable, cinlab.__file__)"
    content["cells"].append(
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": probe}
    )
    copy.write_text(json.dumps(content))
    runner = installed.venv / "run_notebook.py"  # outside the folder the notebook runs in
    runner.write_text(
        "import sys, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': '.'}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    installed.run(installed.python, str(runner), copy.name, "executed.ipynb", timeout=600)
    cells = json.loads((installed.cwd / "executed.ipynb").read_text())["cells"]
    printed = "".join("".join(o.get("text", "")) for o in cells[-1]["outputs"])  # a str, or a list of lines
    _, executable, module = printed.split()
    assert Path(executable).parent == installed.venv / "bin"
    assert Path(module) == installed.purelib / "cinlab" / "__init__.py"
    errors = [o for cell in cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_the_installed_wheel_works_from_an_empty_folder(dists, tmp_path):
    import time

    _, wheel = dists
    seconds = {}
    start = time.perf_counter()
    installed = install_wheel(wheel, tmp_path)
    steps = {
        "version": lambda: check_version(installed, _pyproject_version()),
        "load_model": lambda: check_load_model_by_name(installed),
        "stylize": lambda: check_stylize(installed),
        "gatys": lambda: check_gatys(installed),
        "notebook": lambda: check_notebook(installed, ROOT / "notebooks" / NOTEBOOK),
    }
    seconds["install"] = time.perf_counter() - start
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - start
    print("seconds per step:", {k: round(v, 1) for k, v in seconds.items()})  # shown with -s
    assert sorted(p.name for p in installed.cwd.iterdir()) == sorted(
        ["stylized.png", "gatys.png", NOTEBOOK, "executed.ipynb"]
    ), "cinlab wrote into the current folder"
    shutil.rmtree(installed.venv)
