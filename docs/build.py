"""Build cinlab's website into a folder any static host serves: ``python docs/build.py [--out DIR]``.

One command, four steps; any failure exits non-zero with what went wrong:

1. **Stage** the sources in ``build/site-src``: the README as the landing page (``index.md``),
   ``notebooks/*.ipynb`` (and ``notebooks/*.md``, e.g. the teacher's guide) as they are committed,
   one API page per chapter of the module table in ``cinlab/__init__.py``'s docstring (in its
   order, modules generated with ``automodule``; modules the table does not name go on a last
   page), the mixer page, and MathJax from ``web/node_modules`` (never from a CDN). The rest of the
   repository is linked in, so the README's relative links (``data/results/fig4.jpg``) resolve.
2. **Sphinx** (myst-nb, sphinx-book-theme; config in ``docs/conf.py``) with warnings as errors
   (``-W --keep-going -n``): notebooks are rendered from their committed outputs, never run.
3. **The mixer's assets** (``mixer/`` in the output): the networks exported to ONNX with float16
   weights by :func:`cinlab.export.to_onnx` and their metadata as JSON, onnxruntime-web from
   ``web/node_modules``, the sample photos (scikit-image's and matplotlib's built-in ones, and the
   registry's photos found in the image folder) and the painting thumbnails.
4. **A check of the built HTML**: every internal link, every ``src`` and every ``#fragment`` resolves
   to a file (and an ``id``) in the output.

The output has a ``.nojekyll`` (GitHub Pages serves ``_static/`` as it is). Exported networks are
cached in ``build/site-cache`` keyed by the checkpoint's and the exporter's sha256 (``--no-cache``).
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
WEB = ROOT / "web"
NODE_MODULES = WEB / "node_modules"
DEFAULT_OUT = ROOT / "build" / "site"
DEFAULT_STAGE = ROOT / "build" / "site-src"
DEFAULT_CACHE = ROOT / "build" / "site-cache"

#: MathJax 3 (es5 build) files the pages load: the TeX-to-HTML component, its fonts and the
#: extensions it loads on demand (no speech rule engine: 4 MB the pages never ask for).
MATHJAX_PARTS = ("tex-chtml.js", "input", "output/chtml", "a11y", "ui", "adaptors")


class BuildError(RuntimeError):
    """A step of the build failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[site] {message}", flush=True)


# ----------------------------------------------------------------------------- 1. staging


@dataclass(frozen=True)
class Chapter:
    """One row of the module table: its modules (``cinlab.x``) and what the chapter is about."""

    modules: tuple[str, ...]
    about: str


def chapters_from_docstring(docstring: str) -> list[Chapter]:
    """The rows of the RST table in ``cinlab``'s docstring: ````a``, ``b``   what it is``."""
    rows = []
    for line in docstring.splitlines():
        match = re.match(r"^((?:``[\w.]+``,?\s*)+)\s{2,}(\S.*)$", line.strip())
        if match:
            names = re.findall(r"``([\w.]+)``", match.group(1))
            rows.append(Chapter(tuple(f"cinlab.{n}" for n in names), match.group(2).strip()))
    if not rows:
        raise BuildError("cinlab/__init__.py's docstring has no module table (rows of ``module``  description).")
    return rows


def package_modules() -> list[str]:
    """Every module of the ``cinlab`` package (``cinlab.x``), sorted; ``__main__`` left out."""
    import pkgutil

    import cinlab

    return sorted(f"cinlab.{m.name}" for m in pkgutil.iter_modules(cinlab.__path__) if not m.name.startswith("_"))


def api_pages() -> dict[str, str]:
    """The API reference: ``{"api/index.md": text, "api/01_reference.md": text, ...}``."""
    import cinlab

    chapters = chapters_from_docstring(cinlab.__doc__ or "")
    known = set(package_modules())
    listed = [m for c in chapters for m in c.modules]
    missing = sorted(set(listed) - known)
    if missing:
        raise BuildError(f"The module table in cinlab/__init__.py names modules that do not exist: {missing}.")
    rest = [m for m in sorted(known) if m not in listed]
    if rest:
        chapters.append(Chapter(tuple(rest), "more modules: the ones the table above does not name"))
    pages, toc = {}, []
    for number, chapter in enumerate(chapters, 1):
        slug = f"{number:02d}_{chapter.modules[0].split('.')[-1]}"
        title = ", ".join(f"`{m.split('.', 1)[1]}`" for m in chapter.modules)
        body = [f"# {title}", "", chapter.about[:1].upper() + chapter.about[1:] + ".", ""]
        for module in chapter.modules:
            body += ["```{eval-rst}", f".. automodule:: {module}", "```", ""]
        pages[f"api/{slug}.md"] = "\n".join(body)
        toc.append(f"{slug}")
    index = [
        "# API reference",
        "",
        "One page per chapter of the course, in its order (the table in `cinlab/__init__.py`), generated from "
        "the library's docstrings. Tensor shapes and value ranges are in each docstring.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *toc,
        "```",
        "",
    ]
    pages["api/index.md"] = "\n".join(index)
    return pages


def landing_page(readme: str, notebooks: list[str], has_mixer: bool) -> str:
    """The README, plus the site's table of contents (hidden: the theme shows it in its sidebar)."""
    toc = ["", "```{toctree}", ":hidden:", ":caption: The course", ""]
    toc += [f"notebooks/{n}" for n in notebooks]
    toc += ["```", "", "```{toctree}", ":hidden:", ":caption: Try it and look it up", ""]
    toc += (["mixer"] if has_mixer else []) + ["api/index", "```", ""]
    return readme.rstrip() + "\n" + "\n".join(toc)


def stage_sources(stage: Path, *, mixer: bool = True) -> list[str]:
    """Fill ``stage`` with the site's sources; returns the notebook pages' names (without suffix)."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    # The repository beside the pages, so relative links and images resolve as they do on GitHub.
    for entry in ROOT.iterdir():
        if entry.name in ("README.md", "notebooks", "docs", "build", ".git") or entry.name.startswith("."):
            continue
        (stage / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (stage / "notebooks").mkdir()
    pages = []
    for source in sorted((ROOT / "notebooks").iterdir()):
        if source.suffix in (".ipynb", ".md") and source.is_file():
            shutil.copy2(source, stage / "notebooks" / source.name)
            pages.append(source.stem if source.suffix == ".ipynb" else None)
    notebooks = sorted(p for p in pages if p)
    guides = sorted(p.stem for p in (stage / "notebooks").glob("*.md"))
    if not notebooks:
        raise BuildError("notebooks/ holds no notebook.")
    for name, text in api_pages().items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    if mixer:
        shutil.copy2(DOCS / "mixer.md", stage / "mixer.md")
    readme = (ROOT / "README.md").read_text()
    (stage / "index.md").write_text(landing_page(readme, notebooks + guides, mixer))
    (stage / "_static").symlink_to(DOCS / "_static", target_is_directory=True)
    vendor_mathjax(stage / "_vendor" / "mathjax")
    return notebooks


def node_module(name: str) -> Path:
    path = NODE_MODULES / name
    if not path.is_dir():
        raise BuildError(f"web/node_modules/{name} is missing: run `npm ci --prefix web` first.")
    return path


def vendor_mathjax(target: Path) -> None:
    source = node_module("mathjax") / "es5"
    for part in MATHJAX_PARTS:
        src, dst = source / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


# ----------------------------------------------------------------------------- 2. sphinx


def run_sphinx(stage: Path, out: Path, jobs: str) -> None:
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-W",
        "--keep-going",
        "-n",
        "-q",
        "-j",
        jobs,
        "-c",
        str(DOCS),
        "-d",
        str(stage / ".doctrees"),
        str(stage),
        str(out),
    ]
    env = {
        **os.environ,
        "CINLAB_SITE_STAGE": str(stage),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise BuildError(f"sphinx-build failed (exit {result.returncode}); its warnings are above.")


# ----------------------------------------------------------------------------- 4. checking the output


class _LinkParser(html.parser.HTMLParser):
    ATTRIBUTES = {"href", "src", "poster", "data"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif name in self.ATTRIBUTES:
                self.links.append((tag, value))
            elif name == "srcset":
                for item in value.split(","):
                    if item.strip():
                        self.links.append((tag, item.strip().split()[0]))


def check_links(out: Path) -> list[str]:
    """Every internal ``href``/``src`` in the HTML under ``out`` that does not resolve: a missing file,
    a folder without ``index.html``, or a ``#fragment`` with no such ``id`` in its page."""
    parsed: dict[Path, _LinkParser] = {}

    def parse(path: Path) -> _LinkParser:
        if path not in parsed:
            parser = _LinkParser()
            parser.feed(path.read_text(errors="replace"))
            parsed[path] = parser
        return parsed[path]

    problems = []
    # The pages (the theme also copies two Jinja macro files, *.html, into _static/: not pages).
    pages = sorted(p for p in out.rglob("*.html") if p.relative_to(out).parts[0] not in ("_static", "_sources"))
    for page in pages:
        for tag, url in parse(page).links:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("data:", "mailto:", "javascript:")):
                continue
            where = page.relative_to(out)
            if parts.path:
                target = (out / parts.path.lstrip("/")) if parts.path.startswith("/") else (page.parent / parts.path)
                target = Path(os.path.normpath(urllib.parse.unquote(str(target))))
                if out.resolve() not in target.resolve().parents and target.resolve() != out.resolve():
                    problems.append(f"{where}: <{tag}> {url} leaves the site")
                    continue
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file():
                    problems.append(f"{where}: <{tag}> {url} -> missing {target.relative_to(out)}")
                    continue
            else:
                target = page
            fragment = urllib.parse.unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in parse(target).ids:
                problems.append(f"{where}: <{tag}> {url} -> no id {fragment!r} in {target.relative_to(out)}")
    return problems


# ----------------------------------------------------------------------------- main


def build(
    out: Path,
    *,
    stage: Path = DEFAULT_STAGE,
    cache: Path | None = DEFAULT_CACHE,
    jobs: str = "auto",
    mixer: bool = True,
) -> dict:
    """Build the site into ``out`` (replaced); returns a summary (seconds, bytes, pages)."""
    start = time.perf_counter()
    out = Path(out).resolve()
    if out.exists():
        if not ((out / ".nojekyll").exists() or (out / ".buildinfo").exists()) and any(out.iterdir()):
            raise BuildError(f"{out} exists and is not a site this script built: choose another --out or remove it.")
        shutil.rmtree(out)
    log(f"staging the sources in {stage}")
    stage_sources(stage, mixer=mixer)
    log("sphinx-build (warnings are errors)")
    run_sphinx(stage, out, jobs)
    t_sphinx = time.perf_counter() - start
    if mixer:
        log("the mixer's assets: networks, onnxruntime-web, photos, paintings")
        from mixer_assets import build_mixer_assets

        build_mixer_assets(out / "mixer", cache=cache)
    (out / ".nojekyll").write_text("")
    log("checking every internal link and image")
    problems = check_links(out)
    if problems:
        for p in problems[:200]:
            print(f"  {p}", file=sys.stderr)
        raise BuildError(f"{len(problems)} broken internal link(s) or image(s) in the built site (listed above).")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary = {
        "out": str(out),
        "seconds": round(time.perf_counter() - start, 1),
        "sphinx_seconds": round(t_sphinx, 1),
        "bytes": size,
        "pages": len([p for p in out.rglob("*.html") if p.relative_to(out).parts[0] != "_static"]),
    }
    log(f"done in {summary['seconds']} s: {summary['pages']} pages, {size / 1e6:.1f} MB in {out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT.relative_to(ROOT)})"
    )
    parser.add_argument("--stage", type=Path, default=DEFAULT_STAGE, help="staging folder for the sources (replaced)")
    parser.add_argument("--no-cache", action="store_true", help="export the networks again even when cached")
    parser.add_argument("--no-mixer", action="store_true", help="leave the mixer page out (faster; for the text only)")
    parser.add_argument("-j", "--jobs", default="auto", help="sphinx-build's parallel jobs (default auto)")
    args = parser.parse_args(argv)
    try:
        summary = build(
            args.out,
            stage=args.stage.resolve(),
            cache=None if args.no_cache else DEFAULT_CACHE,
            jobs=args.jobs,
            mixer=not args.no_mixer,
        )
    except (BuildError, RuntimeError, OSError) as e:
        print(f"[site] build failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


sys.path.insert(0, str(DOCS))  # docs/mixer_assets.py
if __name__ == "__main__":
    sys.exit(main())
