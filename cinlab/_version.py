"""cinlab's version, from one place: ``version`` in pyproject.toml.

An installed cinlab (a wheel, or an editable install of a checkout) reads it from the installed
distribution's metadata, which pip wrote from pyproject.toml. Only metadata that belongs to *this*
copy of the package counts: a checkout imported through ``PYTHONPATH`` next to another installed
cinlab must not report the other one's version. A source tree that is not installed reads
pyproject.toml beside the package; anything else is ``0+unknown``.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "cinlab"
UNKNOWN = "0+unknown"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _installed_version() -> str | None:
    """The installed distribution's version, if that distribution is this copy of cinlab."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    # A wheel install: the distribution's files sit beside its metadata, cinlab/ among them.
    if Path(dist.locate_file("cinlab")).resolve() == _PACKAGE_DIR:
        return dist.version
    # An editable install: direct_url.json (PEP 610) names the source folder the package lives in.
    try:
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    except json.JSONDecodeError:
        return None
    parsed = urlparse(url)
    if parsed.scheme == "file" and Path(unquote(parsed.path)).resolve() == _PACKAGE_DIR.parent:
        return dist.version
    return None


def _source_tree_version() -> str | None:
    """``version = "..."`` of the ``[project]`` table in pyproject.toml beside the package, if any."""
    pyproject = _PACKAGE_DIR.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    text = pyproject.read_text(encoding="utf-8")
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    found = project and re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), flags=re.MULTILINE)
    return found.group(1) if found else None


__version__: str = _installed_version() or _source_tree_version() or UNKNOWN
