"""pyproject.toml and environment.yml list the same dependencies."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Package names that differ between PyPI and conda-forge.
CONDA_NAMES = {"torch": "pytorch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _environment():
    conda, pip = {}, {}
    section = None
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.startswith("dependencies:"):
            section = conda
            continue
        if section is None:
            continue
        if line.strip() == "- pip:":
            section = pip
            continue
        m = re.match(r"\s*-\s+(\S.*)$", line)
        if m and not m.group(1).startswith("-e"):
            section[_name(m.group(1))] = m.group(1).strip()
    return conda, pip


def test_environment_yml_matches_pyproject():
    project = _pyproject()
    wanted = list(project["dependencies"])
    for extra in ("notebooks", "test"):
        wanted += project["optional-dependencies"][extra]
    conda, pip = _environment()
    listed = {**conda, **pip}
    expected = {}
    for requirement in wanted:
        name = _name(requirement)
        expected[CONDA_NAMES.get(name, name)] = requirement
    missing = sorted(set(expected) - set(listed))
    extra = sorted(set(listed) - set(expected) - {"python", "pip"})
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    # Same version constraints too.
    for name, requirement in expected.items():
        spec = requirement[len(_name(requirement)) :].strip()
        assert listed[name].endswith(spec), f"{name}: pyproject says {requirement!r}, environment.yml {listed[name]!r}"


def test_version_matches_package():
    import cinlab

    assert _pyproject()["version"] == cinlab.__version__


def test_long_modules_say_why_at_their_top():
    """A module over 400 lines is a chapter that grew: its docstring must say why it stays one file."""
    unexplained = []
    for module in sorted((ROOT / "cinlab").glob("*.py")):
        text = module.read_text()
        lines = text.count("\n")
        head = text.split('"""', 2)[1] if text.startswith('"""') else ""
        if lines > 400 and "Longer than the other modules, on purpose" not in head:
            unexplained.append(f"{module.name} ({lines} lines)")
    assert unexplained == [], f"split these modules or say at their top why not: {unexplained}"
