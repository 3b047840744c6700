"""Sphinx extension for cinlab's website.

- Each notebook page gets a line of links under its title: the notebook file in the repository
  and the pages that open it in Colab, Kaggle and Binder, all from :func:`cinlab.project.notebook_links`
  (the one configured repository address).
- A link from a page to a file of the repository that is not a page of the site (``cinlab/reference.py``,
  ``environment.yml``) goes to that file in the repository; a link to a file that does not exist
  stays a broken link, which the build reports.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from docutils import nodes
from sphinx.util import logging

from cinlab import project as cinlab_project

logger = logging.getLogger(__name__)

#: Where links to repository files point (files, not folders: GitHub's "blob" view).
LINK_LABELS = (("source", "the notebook file"), ("colab", "Colab"), ("kaggle", "Kaggle"), ("binder", "Binder"))


def notebook_links_node(filename: str) -> nodes.paragraph:
    """``Open this notebook: the notebook file · Colab · Kaggle · Binder`` as a paragraph."""
    links = cinlab_project.notebook_links(filename)
    para = nodes.paragraph(classes=["cinlab-notebook-links"])
    para += nodes.strong(text="Open this notebook: ")
    for i, (key, label) in enumerate(LINK_LABELS):
        if i:
            para += nodes.Text(" · ")
        para += nodes.reference("", label, refuri=links[key], classes=[f"cinlab-link-{key}"])
    return para


def add_notebook_links(app, doctree) -> None:
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if not docname.startswith("notebooks/") or source.suffix != ".ipynb":
        return
    node = notebook_links_node(source.name)
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, node)
    else:
        doctree.insert(0, node)


def repository_file_url(path: str) -> str:
    return f"{cinlab_project.repository_url()}/blob/{cinlab_project.REF}/{path}"


def resolve_repository_file(app, env, node, contnode):
    """``missing-reference``: a MyST link to a file of the repository that is not a page."""
    if node.get("refdomain") not in (None, "", "myst") and node.get("reftype") != "myst":
        return None
    target = node.get("reftarget", "")
    if not target or "://" in target:
        return None
    path, _, fragment = target.partition("#")
    here = PurePosixPath(node.get("refdoc", "index")).parent
    relative = PurePosixPath(*(here / path).parts)
    repo = Path(app.config.cinlab_repository_root)
    parts = []
    for part in relative.parts:  # normalise a/../b without touching the file system
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    rel = "/".join(parts)
    if not rel or not (repo / rel).is_file():
        return None
    url = repository_file_url(rel) + (f"#{fragment}" if fragment else "")
    ref = nodes.reference("", "", internal=False, refuri=url)
    ref += contnode
    return ref


def resolve_package_alias(app, env, node, contnode):
    """``missing-reference``: ``cinlab.load_image`` (a name the package re-exports) is documented as
    ``cinlab.images.load_image``; a ``TypeVar`` in a signature is plain text."""
    import importlib
    import typing

    if node.get("refdomain") != "py" or not node.get("reftarget", "").startswith("cinlab."):
        return None
    target = node["reftarget"]
    module_name, _, attr_path = target.partition(".")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(f"{module_name}.{part}")
            except ImportError:
                return None
            module_name = f"{module_name}.{part}"
    if isinstance(obj, typing.TypeVar):
        return contnode
    canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    if canonical == target or not canonical.startswith("cinlab."):
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode)


def setup(app):
    app.add_config_value("cinlab_repository_root", str(Path(__file__).resolve().parents[2]), "env")
    app.connect("doctree-read", add_notebook_links)
    app.connect("missing-reference", resolve_repository_file, priority=900)
    app.connect("missing-reference", resolve_package_alias, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
