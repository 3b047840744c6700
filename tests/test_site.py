"""The website (docs/build.py) and its style mixer, built from the working tree and opened in Chromium.

The build is the real command (``python docs/build.py --out TMP``): Sphinx with warnings as errors,
the mixer's assets, and the check that every internal link and image resolves. The browser part
opens every page in Debian's headless Chromium (Playwright; never ``playwright install``), served
by a local server that sends the cross-origin isolation headers, and fails on console errors; on
the mixer page it compares the pictures read back from the canvas with cinlab's PyTorch output.

Skipped, with the reason, where the tools are missing: the ``docs`` extra
(``pip install -e ".[docs]"``), ``web/node_modules`` (``npm ci --prefix web``), Chromium or
Playwright. Marker ``site``; run alone with ``python -m pytest -m site``.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cinlab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
sys.path.insert(0, str(ROOT / "benchmarks" / "browser"))

import build as site_build

pytestmark = pytest.mark.site

CHROMIUM = "/usr/bin/chromium"
#: Parity of the page's pictures with PyTorch float32, in grey levels (0-255, both rounded to 8 bits).
#: Measured (onnxruntime-web 1.31, WebAssembly, 2 threads; chelsea at 384 x 256): mean < 0.01, max 1,
#: the same as onnxruntime on the CPU (float16 weights that the checkpoint already holds exactly).
MAX_MEAN_DIFF = 0.05
MAX_DIFF = 3

missing_docs = [m for m in ("sphinx", "myst_nb", "sphinx_book_theme") if importlib.util.find_spec(m) is None]
needs_tools = pytest.mark.skipif(
    bool(missing_docs) or not (ROOT / "web" / "node_modules" / "onnxruntime-web").is_dir(),
    reason=f"the site's tools are missing: {', '.join(missing_docs) or 'web/node_modules'} "
    '(pip install -e ".[docs]" and npm ci --prefix web)',
)
needs_browser = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) or importlib.util.find_spec("playwright") is None,
    reason="headless Chromium (Debian's /usr/bin/chromium) or Playwright for Python is missing",
)


# ----------------------------------------------------------------------------- the build's own parts


def test_link_check_finds_missing_files_and_fragments(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a> <img src="pic.png"> <a href="sub/page.html#nowhere">bad id</a>'
        '<a href="https://example.org/x">external</a> <script src="gone.js"></script> <a href="#top">top</a>'
        '<span id="top"></span> <img srcset="pic.png 1x, pic2.png 2x">'
    )
    (tmp_path / "pic.png").write_bytes(b"")
    (tmp_path / "sub" / "page.html").write_text(
        '<h1 id="here">x</h1><a href="../index.html">up</a><a href="../../out.html">out</a>'
    )
    problems = site_build.check_links(tmp_path)
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert "nowhere" in text and "gone.js" in text and "pic2.png" in text and "leaves the site" in text


def test_api_pages_follow_the_module_table_and_cover_every_module():
    chapters = site_build.chapters_from_docstring(cinlab.__doc__)
    assert chapters[0].modules == ("cinlab.reference",)  # the course's order: the paper first
    pages = site_build.api_pages()
    documented = [line.split()[-1] for text in pages.values() for line in text.splitlines() if "automodule" in line]
    assert sorted(documented) == site_build.package_modules()  # every module once, none twice
    first = [name for name in pages if name != "api/index.md"][0]
    assert first == "api/01_reference.md"


@needs_tools
def test_staging_takes_whatever_notebooks_and_guides_are_committed(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "README.md").write_text("# A course\n\n[the guide](notebooks/TEACHING.md)\n")
    for name in ("02_b.ipynb", "01_a.ipynb", "TEACHING.md"):
        (repo / "notebooks" / name).write_text("{}" if name.endswith(".ipynb") else "# Guide\n")
    (repo / "data").mkdir()
    monkeypatch.setattr(site_build, "ROOT", repo)
    stage = tmp_path / "stage"
    notebooks = site_build.stage_sources(stage, mixer=False)
    assert notebooks == ["01_a", "02_b"]
    index = (stage / "index.md").read_text()
    assert index.startswith("# A course") and "notebooks/01_a\nnotebooks/02_b\nnotebooks/TEACHING" in index
    assert (stage / "notebooks" / "TEACHING.md").is_file() and (stage / "data").is_symlink()
    assert (stage / "_vendor" / "mathjax" / "tex-chtml.js").is_file()
    assert not (stage / "mixer.md").exists() and "mixer" not in index


@needs_tools
def test_notebook_links_come_from_the_project_address():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    from cinlab_site import notebook_links_node

    from cinlab.project import notebook_links

    node = notebook_links_node("07_style_interpolation.ipynb")
    from docutils import nodes

    urls = [ref["refuri"] for ref in node.findall(nodes.reference)]
    links = notebook_links("07_style_interpolation.ipynb")
    assert urls == [links["source"], links["colab"], links["kaggle"], links["binder"]]


# ----------------------------------------------------------------------------- the built site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from the working tree by the one command."""
    if missing_docs or not (ROOT / "web" / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("the site's tools are missing")
    out = tmp_path_factory.mktemp("site") / "site"
    stage = out.parent / "stage"
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(out), "--stage", str(stage)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, f"the build failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"site: built in {summary['seconds']} s (Sphinx {summary['sphinx_seconds']} s), {summary['bytes'] / 1e6:.1f} MB"
    )
    return out


@needs_tools
def test_site_has_every_page_and_the_mixers_assets(site):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and all((site / "notebooks" / f"{n}.html").is_file() for n in notebooks)
    assert (site / "index.html").is_file() and (site / ".nojekyll").is_file() and (site / "mixer.html").is_file()
    index = (site / "index.html").read_text()
    assert "Fig 4" in index and "_images/fig4" in index  # the README's figure is on the landing page
    assert 'href="mixer.html"' in index  # the README's link to docs/mixer.md is the mixer page
    chapters = site_build.chapters_from_docstring(cinlab.__doc__)
    assert len(list((site / "api").glob("[0-9][0-9]_*.html"))) >= len(chapters)
    manifest = json.loads((site / "mixer" / "mixer.json").read_text())
    for network in manifest["networks"]:
        assert (site / "mixer" / network["file"]).stat().st_size < 4.2e6  # float16 weights: under ~4 MB
        assert network["parity"]["max_abs"] <= MAX_DIFF
        assert network["trained"]["step"] > 0 and network["styles"]
    assert any(p["name"] == "chelsea" for p in manifest["photos"])
    assert not list(site.rglob("*.ipynb_checkpoints"))


@needs_tools
def test_notebook_pages_show_still_pictures_answers_and_links(site):
    page = (site / "notebooks" / "07_style_interpolation.html").read_text()
    assert "<details" in page and "colab.research.google.com" in page and "mybinder.org" in page
    assert "live widget" not in page or "<img" in page
    # The widgets' stills are shown (image/jpeg beats the widget view); no widget JavaScript is loaded.
    nb = json.loads((ROOT / "notebooks" / "07_style_interpolation.ipynb").read_text())
    widget_outputs = sum(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        for c in nb["cells"]
        for o in c.get("outputs", [])
    )
    images = page.count("<img")
    assert images >= widget_outputs
    assert "embed-amd.js" not in page and "cdn.jsdelivr" not in page and "require.min.js" not in page
    assert "widget-state+json" not in page  # the saved widget state is for a widget manager: left out


# ----------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser_site(site):
    if not os.path.exists(CHROMIUM) or importlib.util.find_spec("playwright") is None:
        pytest.skip("headless Chromium or Playwright is missing")
    from harness import launch_chromium
    from playwright.sync_api import sync_playwright
    from serve import serving

    with serving(site, isolate=True) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser, url
        finally:
            browser.close()


def _watch(page) -> list[str]:
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    return problems


@needs_tools
@needs_browser
def test_every_page_loads_without_console_errors(site, browser_site):
    browser, url = browser_site
    pages = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if p.relative_to(site).parts[0] not in ("_static", "_sources")
    )
    assert len(pages) >= 20
    context = browser.new_context()
    failures = {}
    try:
        for path in pages:
            page = context.new_page()
            problems = _watch(page)
            page.goto(url + path, wait_until="networkidle")
            if path == "mixer.html":
                page.evaluate("() => window.cinlabMixer.ready")
            if page.locator("mjx-container").count() == 0 and page.locator(".math").count():
                page.wait_for_function("() => document.querySelector('mjx-container') !== null")
            if problems:
                failures[path] = problems
            page.close()
    finally:
        context.close()
    assert not failures, failures


def _canvas_pixels(page) -> np.ndarray:
    data_url = page.evaluate("() => document.getElementById('mixer-picture').toDataURL('image/png')")
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _wait_full(page, weights) -> dict:
    """Wait until the page shows the full picture for these weights; return its record."""
    page.wait_for_function(
        """(w) => { const f = window.cinlabMixer.lastFull;
                    const c = document.getElementById('mixer-picture');
                    return f && c.dataset.quality === 'full' && c.dataset.key === f.key
                        && f.weights.length === w.length && f.weights.every((x, i) => Math.abs(x - w[i]) < 1e-6); }""",
        arg=list(weights),
        timeout=120_000,
    )
    return page.evaluate("() => window.cinlabMixer.lastFull")


@needs_tools
@needs_browser
def test_mixer_matches_pytorch_and_handles_bad_input_and_offline(site, browser_site):
    browser, url = browser_site
    manifest = json.loads((site / "mixer" / "mixer.json").read_text())
    network = manifest["networks"][0]
    net = cinlab.load_model(ROOT / "data" / "models" / f"{network['name']}.pt", device="cpu")
    n = net.num_styles
    photo_entry = manifest["photos"][0]
    photo = cinlab.load_image(site / "mixer" / photo_entry["file"])  # the very pixels the page uses
    assert min(photo.shape[-2:]) == manifest["photo_side"]

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems = _watch(page)
    page.goto(url + "mixer.html?backend=wasm")
    page.evaluate("() => window.cinlabMixer.ready")
    info = page.evaluate("() => window.cinlabMixer.info")
    assert info["backend"] == "wasm"

    def compare(weights, label):
        record = _wait_full(page, weights.tolist())
        assert record["photo"] == photo_entry["name"] and record["network"] == network["name"]
        shown = _canvas_pixels(page)
        reference = net.stylize(photo, weights, precision="float32")[0]
        expected = (reference * 255).round().to(torch.int16).permute(1, 2, 0).numpy()
        assert shown.shape == expected.shape, (shown.shape, expected.shape)
        diff = np.abs(shown - expected)
        print(
            f"mixer vs PyTorch, {label}: mean {diff.mean():.4f}, max {diff.max()} grey levels "
            f"({shown.shape[1]}x{shown.shape[0]}, {record['ms']:.0f} ms, {info['threads']} thread(s))"
        )
        assert diff.mean() <= MAX_MEAN_DIFF and diff.max() <= MAX_DIFF, (label, diff.mean(), diff.max())

    # Two single styles, chosen by clicking their paintings.
    for style in (1, n - 1):
        page.locator(f'.mixer-style[data-style="{style}"]').click()
        compare(torch.eye(n)[style], f"style {style} ({net.style_names[style]})")

    # A mixture: the two-style tab, A and B picked, alpha moved by keyboard (input events, then a change).
    page.locator('.mixer-tabs [data-mode="two"]').click()
    page.locator("#mixer-a").select_option("2")
    page.locator("#mixer-b").select_option(str(n - 2))
    alpha = page.locator("#mixer-alpha")
    alpha.focus()
    for _ in range(20):  # 0.50 -> 0.30 in steps of 0.01
        page.keyboard.press("ArrowLeft")
    mixture = torch.zeros(n)
    mixture[2], mixture[n - 2] = 0.7, 0.3
    compare(mixture.float(), "mixture 0.7 / 0.3")

    # Live: a burst of inputs renders far fewer pictures than inputs (no queue), and the last state wins.
    renders_before = page.evaluate("() => window.cinlabMixer.renders")
    page.evaluate(
        """() => { const a = document.getElementById('mixer-alpha');
                   for (let i = 0; i <= 40; i++) { a.value = String(0.3 + i * 0.01); a.dispatchEvent(new Event('input')); } }"""
    )
    mixture[2], mixture[n - 2] = 0.3, 0.7
    _wait_full(page, mixture.tolist())
    renders = page.evaluate("() => window.cinlabMixer.renders") - renders_before
    assert renders <= 4, f"{renders} renders for one burst of 41 inputs: stale work was queued"

    # The 2-D pad: a painting dragged onto a corner; the dot in the middle mixes the four corners equally.
    page.locator('.mixer-tabs [data-mode="pad"]').click()
    page.locator('#mixer-palette img[data-style="5"]').drag_to(page.locator('.mixer-corner[data-corner="0"]'))
    pad = torch.zeros(n)
    for corner in (5, 1, 2, 3):
        pad[corner] += 0.25
    _wait_full(page, pad.tolist())

    # A file that is not an image gets a message, and the picture stays.
    page.locator("#mixer-upload").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}
    )
    page.wait_for_function("() => document.getElementById('mixer-upload-message').textContent.includes('not an image')")

    # A photo of one's own: cropped to at most 1.5:1, scaled to the picture's size, stylised in the page.
    upload = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 96, 3), dtype=np.uint8)).save(upload, "PNG")
    page.locator("#mixer-upload").set_input_files(
        {"name": "mine.png", "mimeType": "image/png", "buffer": upload.getvalue()}
    )
    page.wait_for_function(
        "() => { const f = window.cinlabMixer.lastFull; const c = document.getElementById('mixer-picture');"
        " return f && f.photo === 'your photo' && c.dataset.quality === 'full' && c.dataset.key === f.key; }",
        timeout=120_000,
    )
    size = page.evaluate("() => [window.cinlabMixer.lastFull.width, window.cinlabMixer.lastFull.height]")
    assert size == [round(1.5 * manifest["photo_side"]), manifest["photo_side"]], size  # 96x48 cropped to 72x48
    assert page.locator("#mixer-upload-message").text_content() == ""

    # Offline once loaded: another style and another sample photo still render.
    context.set_offline(True)
    page.locator('.mixer-tabs [data-mode="one"]').click()
    page.locator('.mixer-style[data-style="0"]').click()
    if len(manifest["photos"]) > 1:
        page.locator(f'.mixer-photo[data-photo="{manifest["photos"][1]["name"]}"]').click()
    record = _wait_full(page, torch.eye(n)[0].tolist())
    assert record["photo"] == manifest["photos"][min(1, len(manifest["photos"]) - 1)]["name"]
    context.set_offline(False)
    context.close()
    assert not problems, problems
