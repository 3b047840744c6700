"""Where the project lives: the one configured repository address, and the links built from it.

Badges in the README, the notebooks' "open in" links and the website all come from
:data:`REPOSITORY`, so they are right once the project is public (change it here only).
"""

from __future__ import annotations

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
