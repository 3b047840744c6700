"""Packaging: pyproject.toml, environment.yml and binder/ agree; one version; the notebooks' setup cell;
the README's badges. (Building and installing the wheel: test_wheel.py.)"""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Package names that differ between PyPI and conda-forge.
CONDA_NAMES = {"torch": "pytorch", "build": "python-build"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _environment(path=ROOT / "environment.yml"):
    conda, pip = {}, {}
    section = None
    for raw in path.read_text().splitlines():
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


# ----------------------------------------------------------------------------- one version, metadata


def test_the_version_comes_from_the_installed_distribution_of_this_copy(monkeypatch):
    from importlib import metadata

    from cinlab import _version

    package = Path(_version.__file__).resolve().parent

    class Dist:  # a stand-in for importlib.metadata's distribution
        def __init__(self, files_at, url):
            self.version, self.files_at, self.url = "9.9.9", files_at, url

        def locate_file(self, name):
            return Path(self.files_at) / name

        def read_text(self, name):
            return f'{{"url": "{self.url}", "dir_info": {{"editable": true}}}}' if self.url else None

    def installed(dist):
        monkeypatch.setattr(metadata, "distribution", lambda name: dist)
        return _version._installed_version()

    assert installed(Dist(package.parent, "")) == "9.9.9"  # a wheel: cinlab/ beside its metadata
    assert installed(Dist("/elsewhere/site-packages", f"file://{package.parent}")) == "9.9.9"  # editable, here
    assert installed(Dist("/elsewhere/site-packages", "file:///another/checkout")) is None  # another copy's
    assert installed(Dist("/elsewhere/site-packages", "")) is None
    # Not installed here: the source tree's pyproject.toml.
    assert _version._source_tree_version() == _pyproject()["version"]


def test_project_urls_and_licence_are_what_a_package_index_accepts():
    from cinlab import project

    pyproject = _pyproject()
    assert pyproject["license"] == "MIT" and (ROOT / pyproject["license-files"][0]).is_file()  # SPDX + file
    assert not any(c.startswith("License ::") for c in pyproject["classifiers"])  # PEP 639: the expression only
    urls = pyproject["urls"]
    assert urls["Homepage"] == urls["Source"] == project.repository_url()
    assert all(url.startswith(project.repository_url()) for url in urls.values())
    assert pyproject["requires-python"] == ">=3.10"
    versions = [
        c.rsplit(":: ", 1)[1] for c in pyproject["classifiers"] if c.startswith("Programming Language :: Python :: 3.")
    ]
    assert versions and min(versions, key=lambda v: tuple(map(int, v.split(".")))) == "3.10"


def test_changelog_has_this_version():
    import cinlab

    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{cinlab.__version__}]" in text


# ----------------------------------------------------------------------------- hosted notebooks


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_starts_with_the_setup_cell():
    import json

    from cinlab import project

    source = project.setup_cell_source()
    assert len(NOTEBOOKS) == 7
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first = next(cell for cell in cells if cell["cell_type"] == "code")
        assert "".join(first["source"]) == source, (
            f"{path.name}: its first code cell is not cinlab.project.setup_cell_source(); "
            "run `python -m cinlab.project notebooks/` (after a version bump, too)"
        )


def test_the_setup_cell_pins_this_version_and_the_configured_repository():
    import cinlab
    from cinlab import project

    source = project.setup_cell_source()
    assert f"git+https://github.com/{project.REPOSITORY}@v{cinlab.__version__}" in source
    compile(source, "setup cell", "exec")  # valid Python, no IPython magics


def test_the_setup_cell_installs_nothing_where_cinlab_is_importable(monkeypatch, capsys):
    import subprocess

    from cinlab import project

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the setup cell ran pip"))
    namespace = {}
    exec(project.setup_cell_source(), namespace)
    assert str(namespace["device"]) in capsys.readouterr().out


def test_the_setup_cell_installs_the_pinned_version_where_cinlab_is_missing(monkeypatch):
    import importlib.util
    import subprocess

    from cinlab import project

    calls = []
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cinlab" else find_spec(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    exec(project.setup_cell_source(), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", project.pip_requirement()]]
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(RuntimeError, match="internet access"):
        exec(project.setup_cell_source(), {})


def test_write_setup_cells_inserts_once_then_updates_and_keeps_the_rest(tmp_path):
    import json

    from cinlab import project

    for path in NOTEBOOKS[:2]:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        notebook["cells"] = [c for c in notebook["cells"] if c.get("id") != project.SETUP_CELL_ID]
        (tmp_path / path.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    before = {p.name: json.loads(p.read_text()) for p in tmp_path.glob("*.ipynb")}
    assert len(project.write_setup_cells(tmp_path, version="1.2.3")) == 2
    assert project.write_setup_cells(tmp_path, version="1.2.3") == []  # nothing left to do
    assert len(project.write_setup_cells(tmp_path, version="1.2.4")) == 2  # a new version: the cell is replaced
    for path in tmp_path.glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        setup = [c for c in cells if "".join(c["source"]).startswith(project.SETUP_MARKER)]
        assert len(setup) == 1 and "cinlab 1.2.4" in "".join(setup[0]["source"])
        assert [c for c in cells if c is not setup[0]] == before[path.name]["cells"]  # outputs and all


def test_readme_badges_open_every_notebook_at_the_configured_address():
    import re

    from cinlab import project

    readme = (ROOT / "README.md").read_text()
    expected = set()
    for path in NOTEBOOKS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.stem}`")), "")
        assert project.badges_markdown(path.name) in row, f"README's walkthrough row of {path.stem}"
        expected |= {url for service, url in project.notebook_links(path.name).items() if service != "source"}
    found = set(
        re.findall(
            r"\((https://(?:colab\.research\.google\.com/github|kaggle\.com/kernels|mybinder\.org/v2)[^)\s]*)\)", readme
        )
    )
    assert found == expected, f"links in README.md that cinlab.project did not make: {sorted(found - expected)}"


def test_binder_installs_cinlab_without_resolving_torch_again():
    binder = ROOT / "binder"
    post_build = (binder / "postBuild").read_text()
    assert "pip install --no-deps" in post_build and (binder / "postBuild").stat().st_mode & 0o111
    conda, pip = _environment(binder / "environment.yml")
    project = _pyproject()
    wanted = {
        CONDA_NAMES.get(_name(r), _name(r)): r
        for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]
    }
    listed = {**conda, **pip}
    assert set(wanted) <= set(listed), f"missing from binder/environment.yml: {sorted(set(wanted) - set(listed))}"
    for name, requirement in wanted.items():
        assert listed[name].endswith(requirement[len(_name(requirement)) :].strip()), name
    assert "-e ." not in (binder / "environment.yml").read_text()  # postBuild installs cinlab, with --no-deps
