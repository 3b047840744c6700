"""Where the project lives: the one configured repository address, and the links built from it.

Badges in the README, the notebooks' "open in" links, the notebooks' setup cell (which installs
cinlab from this repository on Colab and Kaggle) and the website all come from :data:`REPOSITORY`,
so they are right once the project is public (change it here only; pyproject.toml's project URLs
repeat it, and tests/test_packaging.py checks that they agree).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: The public repository (GitHub): owner/name.
REPOSITORY = "cinlab-course/cinlab"
#: The branch or tag the hosted-notebook links open.
REF = "main"


def repository_url() -> str:
    """``https://github.com/<owner>/<name>``."""
    return f"https://github.com/{REPOSITORY}"


def notebook_links(notebook: str) -> dict[str, str]:
    """Links that open ``notebook`` (a file name in ``notebooks/``, e.g. ``"01_gram_matrices.ipynb"``):
    ``source`` (the file on GitHub), ``colab``, ``kaggle`` and ``binder``."""
    path = f"notebooks/{notebook}"
    source = f"{repository_url()}/blob/{REF}/{path}"
    return {
        "source": source,
        "colab": f"https://colab.research.google.com/github/{REPOSITORY}/blob/{REF}/{path}",
        "kaggle": f"https://kaggle.com/kernels/welcome?src={source}",
        "binder": f"https://mybinder.org/v2/gh/{REPOSITORY}/{REF}?labpath={path}",
    }


# ----------------------------------------------------------------------------- badges


#: Badge pictures of the hosted notebook services (their own, as they ask them to be shown).
BADGES = {
    "colab": ("Open in Colab", "https://colab.research.google.com/assets/colab-badge.svg"),
    "kaggle": ("Open in Kaggle", "https://kaggle.com/static/images/open-in-kaggle.svg"),
    "binder": ("Open in Binder", "https://mybinder.org/badge_logo.svg"),
}


def badges_markdown(notebook: str) -> str:
    """The README's "open in" badges for ``notebook`` (Colab, Kaggle, Binder), as Markdown."""
    links = notebook_links(notebook)
    return " ".join(f"[![{alt}]({image})]({links[service]})" for service, (alt, image) in BADGES.items())


# ----------------------------------------------------------------------------- the notebooks' setup cell

#: The first line of every notebook's setup cell (how :func:`write_setup_cells` recognises it).
SETUP_MARKER = "# cinlab setup:"
#: The id of the setup cell in every notebook (nbformat 4.5 cell ids).
SETUP_CELL_ID = "cinlab-setup"


def pip_requirement(version: str | None = None) -> str:
    """What a hosted notebook installs: this version of cinlab from the repository's tag ``v<version>``.

    cinlab is not on PyPI yet; once it is, this becomes ``cinlab==<version>``.
    """
    return f"cinlab @ git+{repository_url()}@v{version or _version()}"


def setup_cell_source(version: str | None = None) -> str:
    """The source of every notebook's first code cell.

    Where cinlab is importable it installs nothing; elsewhere (Colab, Kaggle, a bare Jupyter) it
    installs the version the notebook was written for, quietly. Then it picks the device the
    notebook uses (:func:`cinlab.default_device`: the GPU when there is one) and says what
    training will use on it (:func:`cinlab.hardware.choose_precision`: on a T4, float16 with a
    gradient scaler).
    """
    version = version or _version()
    requirement = pip_requirement(version)
    return f'''{SETUP_MARKER} on Colab, Kaggle or Binder this installs cinlab {version} (the version this notebook
# was written for, from GitHub: cinlab is not on PyPI yet). Where cinlab is installed it installs nothing.
import importlib.util, subprocess, sys
if importlib.util.find_spec("cinlab") is None:
    if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{requirement}"]).returncode:
        raise RuntimeError("Could not install cinlab: this notebook needs internet access to do it (Kaggle: Settings > Internet on).")
    importlib.invalidate_caches()
import torch
import cinlab
device = cinlab.default_device()  # the GPU when there is one; the notebooks use it
precision = cinlab.hardware.choose_precision(device)
_gpu = f" ({{torch.cuda.get_device_name(device)}})" if device.type == "cuda" else ""
_scaler = " with a gradient scaler" if precision.needs_grad_scaler else ""  # float16 (a T4)
print(f"cinlab {{cinlab.__version__}} · device: {{device}}{{_gpu}} · training precision: {{precision.name}}{{_scaler}}")
if cinlab.__version__ != "{version}":
    print("note: this notebook was written for cinlab {version}; some cells may differ in yours.")'''


def write_setup_cells(folder: str | os.PathLike, version: str | None = None) -> list[Path]:
    """Make :func:`setup_cell_source` the first code cell of every notebook in ``folder``.

    A notebook whose first code cell is a setup cell (it starts with :data:`SETUP_MARKER`) gets
    the current source (and its outputs cleared); any other gets a new setup cell before its
    first code cell. Nothing else changes: the other cells keep their sources and outputs.
    Returns the notebooks that changed. Run it after a version bump:
    ``python -m cinlab.project notebooks/``.
    """
    from .files import write_bytes

    source = setup_cell_source(version)
    changed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
        cells = notebook["cells"]
        first = next((i for i, cell in enumerate(cells) if cell["cell_type"] == "code"), len(cells))
        lines = source.splitlines(keepends=True)
        if first < len(cells) and "".join(cells[first]["source"]).startswith(SETUP_MARKER):
            if "".join(cells[first]["source"]) == source:
                continue
            cells[first].update(source=lines, outputs=[], execution_count=None)
        else:
            cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": lines}
            if notebook.get("nbformat", 4) > 4 or notebook.get("nbformat_minor", 0) >= 5:
                cell["id"] = SETUP_CELL_ID
            cells.insert(first, cell)
        # nbformat's own layout (indent 1, sorted keys, UTF-8 as is), so the diff is the setup cell only
        write_bytes(
            path,
            (json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"),
            overwrite=True,
        )
        changed.append(path)
    return changed


def _version() -> str:
    from ._version import __version__

    return __version__


if __name__ == "__main__":  # python -m cinlab.project notebooks/
    for changed_path in write_setup_cells(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(f"setup cell written: {changed_path}")
