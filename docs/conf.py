"""Sphinx configuration of cinlab's website (built by ``python docs/build.py``, which stages the
sources: the README as ``index.md``, the notebooks, the API pages and the mixer page)."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import cinlab
from cinlab import project as cinlab_project

project = "cinlab"
author = "the cinlab authors"
copyright = "the cinlab authors (MIT licence)"
release = version = cinlab.__version__
language = "en"

extensions = [
    "myst_nb",  # Markdown (MyST) and notebooks; brings myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "cinlab_site",  # notebook links, links to repository files, the mixer page's assets
]

root_doc = "index"
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
# The staging folder mirrors the repository; only these are pages.
exclude_patterns = [
    "_build",
    "**/.ipynb_checkpoints",
    "_vendor",
    "web",
    "build",
    "benchmarks",
    "tests",
    "cinlab",
    "data",
]
include_patterns = ["index.md", "notebooks/*.ipynb", "notebooks/*.md", "api/*.md", "mixer.md"]

# ----------------------------------------------------------------------------- MyST and notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image", "attrs_inline"]
myst_heading_anchors = 3  # the README's #results, #offline, ... links
nb_execution_mode = "off"  # pages show the committed outputs; nothing is re-run
nb_merge_streams = True
# A widget output carries a still picture (image/jpeg) next to the widget's view: show the still
# (a static page has no kernel) and load no widget JavaScript (it would come from a CDN).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}

# ----------------------------------------------------------------------------- API reference
autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_mock_imports = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
add_module_names = False
python_display_short_literal_types = True
# Warnings are errors and every reference is checked (-n), except references to other packages'
# objects (torch.Tensor, numpy.ndarray, ...): there is no network for their inventories.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!cinlab\b).*"),
]

# ----------------------------------------------------------------------------- HTML
html_theme = "sphinx_book_theme"
html_title = f"cinlab {release}"
# docs/build.py stages the sources and the vendored browser assets (MathJax) and says where.
STAGE = Path(os.environ.get("CINLAB_SITE_STAGE", HERE))
html_static_path = ["_static"] + ([str(STAGE / "_vendor")] if (STAGE / "_vendor").is_dir() else [])
html_css_files = ["cinlab.css"]
html_copy_source = True  # the theme's download button offers the .ipynb / .md source
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": cinlab_project.repository_url(),
    "repository_branch": cinlab_project.REF,
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
# MathJax from the site itself (vendored from npm by docs/build.py), never from a CDN.
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}

suppress_warnings = []
html_context = {"default_mode": "light"}  # the reader's toggle still switches; no empty mode to complain about
html_favicon = "_static/favicon.svg"
toc_object_entries_show_parents = "hide"  # the right-hand contents: "stylize()", not "TransformerNet.stylize()"
