"""Sphinx extension for cinlab's website.

- Each notebook page gets a line of links under its title: the notebook file in the repository
  and the pages that open it in Colab, Kaggle and Binder, all from :func:`cinlab.project.notebook_links`
  (the one configured repository address).
- A link from a page to a file of the repository that is not a page of the site (``cinlab/reference.py``,
  ``environment.yml``) goes to that file in the repository; a link to ``docs/<page>.md`` (the README's
  link to the mixer) or to ``README.md`` goes to that page of the site; a link to a file that does not exist stays a
  broken link, which the build reports.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from docutils import nodes
from sphinx import addnodes

from cinlab import project as cinlab_project

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


def drop_widget_state(app, doctree) -> None:
    """``doctree-read``: a notebook's saved widget state is for a widget manager, which a static page
    does not load (the widgets' still pictures are shown instead): leave it out of the page."""
    from myst_nb.sphinx_ import NbMetadataCollector

    NbMetadataCollector.get_js_files(app.env, app.env.docname).pop("ipywidgets_state", None)


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


def _repository_path(refdoc: str, target: str) -> str | None:
    """``target`` (relative to the page ``refdoc``) as a path from the repository root, or None when it
    leaves the repository. The staged pages sit where their sources sit in the repository."""
    parts: list[str] = []
    for part in (PurePosixPath(refdoc).parent / target).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or None


def link_repository_files(app, doctree) -> None:
    """``doctree-read``: MyST links to repository files that are not pages of the site.

    ``docs/<page>.md`` and ``README.md`` become links to those pages; any other file of the repository
    (``cinlab/reference.py``) a link to it in the repository (:func:`repository_file_url`); a path that
    is not a file of the repository is left alone, and MyST reports it (the build fails).
    """
    repo = Path(app.config.cinlab_repository_root)
    for node in list(doctree.findall(addnodes.pending_xref)) + list(doctree.findall(addnodes.download_reference)):
        if node.get("reftype") != "myst" or node.get("refdomain") not in (None, ""):
            continue
        target = node.get("reftarget", "")
        if not target or "://" in target or target.startswith("#"):
            continue
        path, _, fragment = target.partition("#")
        rel = _repository_path(node.get("refdoc", app.env.docname), path)
        if rel is None or not (repo / rel).is_file():
            continue
        page = "index" if rel == "README.md" else None
        if rel.startswith("docs/") and rel.endswith(".md"):
            page = rel[len("docs/") : -len(".md")]
        if page is not None and page in app.env.found_docs:
            new = addnodes.pending_xref(
                "",
                *node.children,
                refdomain="doc",
                reftarget=page,
                reftargetid=fragment or None,
                refdoc=node.get("refdoc", app.env.docname),
                reftype="myst",
                refexplicit=node.get("refexplicit", True),
            )
        else:
            new = nodes.reference(
                "",
                "",
                *node.children,
                internal=False,
                refuri=repository_file_url(rel) + (f"#{fragment}" if fragment else ""),
            )
        node.replace_self(new)


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
    app.connect("doctree-read", drop_widget_state)
    app.connect("doctree-read", link_repository_files)
    app.connect("missing-reference", resolve_package_alias, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
