"""Drive notebooks with ipywidgets in a real browser: JupyterLab + headless Chromium + Playwright.

Plain functions, in the order a test uses them::

    from playwright.sync_api import sync_playwright
    from harness import *

    with jupyterlab(root_dir, env={"CINLAB_FAST": "1"}) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_notebook(browser, server, "07_style_interpolation.ipynb")
        errors = run_all_cells(page, timeout=900)
        out = cell_output(page, "two_style_slider(")           # output area of that cell
        img = widget_image(out)                                # the widget's <img>
        alpha = slider_handle(out, "alpha")
        m = measure(page, img, lambda: press(alpha, "ArrowRight"))
        print(m.latency_ms, m.changed)

What is measured (see ``latency_probe.js``): the page's own clock (``performance.now()``) at the
input event (``Event.timeStamp`` of the keydown / pointerdown / change) and at the moment the new
picture has been painted: the ``<img>``'s ``src`` changed (MutationObserver), ``img.decode()``
resolved, the next animation frame ran and a task queued from it ran (after that frame's paint).
``latency_ms`` is first input to first such paint; ``settle_ms`` is last input to last paint.

What a person sees is checked apart from that, from the screen: before and after every input the
picture's box on the page (it has one: ``getClientRects()``) and its pixels, read back with a
screenshot of that box (:func:`on_screen`). A new ``src``, or new decoded data, is not enough: both
changed every time while no picture was on the screen at all (JupyterLab 4's default windowing).

JupyterLab runs with its default settings (:data:`LAB_SETTINGS` changes nothing a student would
see: no news, no update checks), windowing mode included, unless a test asks otherwise.

Chromium comes from Debian (``apt-get install -y chromium``), not from ``playwright install``; it
is launched with :data:`CHROMIUM_ARGS` (without the background-networking flags its start-up
connections are refused by a closed network and slow it down).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROBE_JS = (Path(__file__).with_name("latency_probe.js")).read_text()

# JupyterLab user settings for a reproducible page: JupyterLab's defaults (its notebook windowing
# mode included: "contentVisibility" in JupyterLab 4.2+, which skips the rendering of cells off
# screen), without news / update checks and toast notifications. ``windowing(mode)`` adds a mode.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


def windowing(mode: str | None, settings: Mapping[str, dict] = LAB_SETTINGS) -> dict:
    """``settings`` with the notebook windowing mode ``mode`` ("none", "defer", "full",
    "contentVisibility"); None: JupyterLab's default."""
    out = dict(settings)
    if mode is not None:
        out["@jupyterlab/notebook-extension/tracker"] = {"windowingMode": mode}
    return out


# ----------------------------------------------------------------------------- JupyterLab server


@dataclass
class LabServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``token``, the process and its log."""

    url: str
    token: str
    port: int
    root_dir: Path
    process: subprocess.Popen
    log_path: Path
    home: Path  # private config/settings/workspaces/runtime folders

    def lab_url(self, notebook: str) -> str:
        """The browser URL that opens ``notebook`` (relative to ``root_dir``) in JupyterLab."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_jupyterlab(
    root_dir: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    token: str | None = None,
    timeout: float = 90.0,
    settings: Mapping[str, dict] | None = None,
) -> LabServer:
    """Start JupyterLab on 127.0.0.1 (a free port unless given) with a token and no browser.

    ``env`` is added to this process's environment; kernels inherit it (e.g. ``CINLAB_FAST=1``).
    Config, data (with the notebook trust database), lab settings (:data:`LAB_SETTINGS` unless
    ``settings`` is given), workspaces and runtime files go to a private temporary folder, so the
    user's own Jupyter set-up does not leak in, no workspace is restored and every notebook opens
    untrusted until it is run (override any of these folders through ``env``). ``window.jupyterapp`` is exposed to the page (needed by
    :func:`run_all_cells`). Returns once ``/api/status`` answers; raises ``RuntimeError`` with the
    server log if the server exits or does not answer within ``timeout`` seconds.
    """
    root_dir = Path(root_dir).resolve()
    port = port or free_port()
    token = token or secrets.token_hex(16)
    home = Path(tempfile.mkdtemp(prefix="cinlab-lab-"))
    settings_dir = home / "settings"
    for plugin, values in (LAB_SETTINGS if settings is None else settings).items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    full_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),  # incl. the trust database: notebooks start untrusted
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    log_path = home / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=full_env, cwd=root_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, port, root_dir, process, log_path, home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            request = urllib.request.Request(f"{server.url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    stop_jupyterlab(server)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_jupyterlab(server: LabServer, timeout: float = 15.0) -> None:
    """Stop the server (SIGTERM, then SIGKILL) with its kernels, and remove its private folder."""
    if server.process.poll() is None:
        # The server runs in its own session; its kernels are its children in that group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, 15)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, 9)
            server.process.wait(5)
    shutil.rmtree(server.home, ignore_errors=True)


@contextlib.contextmanager
def jupyterlab(root_dir: str | Path, **kwargs) -> Iterator[LabServer]:
    """:func:`start_jupyterlab` as a context manager that always stops the server."""
    server = start_jupyterlab(root_dir, **kwargs)
    try:
        yield server
    finally:
        stop_jupyterlab(server)


# ----------------------------------------------------------------------------- browser and notebook


def launch_chromium(playwright, executable_path: str = CHROMIUM, args: list[str] | None = None):
    """Launch Debian's Chromium (not Playwright's download) headless with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(
        executable_path=executable_path, args=CHROMIUM_ARGS if args is None else args, headless=True
    )


def open_notebook(
    browser, server: LabServer, notebook: str, *, timeout: float = 120.0, kernel: bool = True, viewport=(1400, 1000)
):
    """Open ``notebook`` in a new page with the latency probe installed; return the page.

    Waits until JupyterLab has restored and the notebook is loaded and, if ``kernel`` (default),
    until its kernel (JupyterLab starts one for the notebook's kernelspec) is connected and idle.
    Runs nothing.
    """
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    page.set_default_timeout(timeout * 1000)
    page.goto(server.lab_url(notebook))
    _wait_for_notebook(page, notebook, timeout, kernel)
    return page


def reload_notebook(page, notebook: str, *, timeout: float = 120.0, kernel: bool = True) -> None:
    """Reload the page (as a person coming back to a saved notebook whose kernel still runs) and
    wait as :func:`open_notebook` does. A "leave the page?" question is answered yes."""
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    _wait_for_notebook(page, notebook, timeout, kernel)


def _wait_for_notebook(page, notebook: str, timeout: float, kernel: bool) -> None:
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(
        """async (path) => {
            const app = window.jupyterapp;
            await app.restored;
            window.__cinlabPanel = () => {
                for (const w of app.shell.widgets('main')) {
                    if (w.context && w.context.path === path && w.content && w.content.widgets) return w;
                }
                return null;
            };
        }""",
        notebook,
    )
    page.wait_for_function("() => { const p = window.__cinlabPanel(); return p !== null && p.context.isReady; }")
    page.evaluate("() => window.__cinlabPanel().sessionContext.ready")
    if kernel:
        wait_for_kernel_idle(page, timeout)


def kernel_status(page) -> str:
    """The notebook's kernel status ("idle", "busy", "starting", ...), or "none"."""
    return page.evaluate(
        """() => {
            const kernel = window.__cinlabPanel()?.sessionContext?.session?.kernel;
            if (!kernel) return 'none';
            return kernel.connectionStatus === 'connected' ? kernel.status : kernel.connectionStatus;
        }"""
    )


def wait_for_kernel_idle(page, timeout: float = 120.0) -> None:
    """Wait until the notebook's kernel is connected and idle."""
    page.wait_for_function(
        """() => {
            const kernel = window.__cinlabPanel()?.sessionContext?.session?.kernel;
            return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=timeout * 1000,
        polling=100,
    )


def run_all_cells(page, timeout: float = 900.0) -> list[dict]:
    """Run every cell (JupyterLab's ``notebook:run-all-cells`` command) and wait for the end.

    Returns the error outputs as ``{"cell": index, "ename": ..., "evalue": ...}`` (empty when
    every cell ran cleanly). Raises Playwright's ``TimeoutError`` after ``timeout`` seconds.
    """
    page.evaluate(
        """() => {
            window.__cinlabRunAll = { done: false, ok: null, error: null };
            window.jupyterapp.shell.activateById(window.__cinlabPanel().id);  // the command runs the current notebook
            window.jupyterapp.commands.execute('notebook:run-all-cells')
                .then((ok) => { window.__cinlabRunAll = { done: true, ok, error: null }; })
                .catch((e) => { window.__cinlabRunAll = { done: true, ok: false, error: String(e) }; });
        }"""
    )
    page.wait_for_function("() => window.__cinlabRunAll.done", timeout=timeout * 1000, polling=250)
    wait_for_kernel_idle(page, timeout)
    return page.evaluate(
        """() => {
            const errors = [];
            window.__cinlabPanel().content.widgets.forEach((cell, index) => {
                const outputs = cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
                for (const o of outputs) {
                    if (o.output_type === 'error') errors.push({ cell: index, ename: o.ename, evalue: o.evalue });
                }
            });
            if (window.__cinlabRunAll.error) errors.push({ cell: -1, ename: 'run-all', evalue: window.__cinlabRunAll.error });
            return errors;
        }"""
    )


def save_notebook(page) -> None:
    """Save the notebook (its document context) and wait until it is written."""
    page.evaluate("() => window.__cinlabPanel().context.save()")


def trust_notebook(server: LabServer, path: str | Path) -> None:
    """Mark the notebook ``path`` (relative to the server's root) trusted, as ``jupyter trust`` does,
    in the server's own trust database (open it afterwards)."""
    import nbformat
    from nbformat.sign import NotebookNotary

    full = server.root_dir / path
    notebook = nbformat.read(full, as_version=4)
    NotebookNotary(data_dir=str(server.home / "data")).sign(notebook)


def restart_kernel(page, timeout: float = 120.0) -> None:
    """Restart the notebook's kernel (no dialog) and wait until the new one is idle."""
    page.evaluate("() => window.__cinlabPanel().sessionContext.session.kernel.restart()")
    wait_for_kernel_idle(page, timeout)


# ----------------------------------------------------------------------------- finding widgets


def cell_output(page, source_contains: str):
    """The output area (a Locator) of the first code cell whose source contains the string."""
    index = page.evaluate(
        """(needle) => {
            const cells = window.__cinlabPanel().content.widgets;
            const index = cells.findIndex((c) => c.model.type === 'code' && c.model.sharedModel.getSource().includes(needle));
            if (index >= 0) cells[index].node.setAttribute('data-cinlab-cell', String(index));
            return index;
        }""",
        source_contains,
    )
    if index < 0:
        raise LookupError(f"no code cell contains {source_contains!r}")
    return page.locator(f'[data-cinlab-cell="{index}"] .jp-OutputArea').first


def _labelled(scope, container: str, description: str):
    label = scope.page.locator(".widget-label").filter(has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    found = scope.locator(container).filter(has=label)
    return found.first


def slider_handle(scope, description: str):
    """The (focusable) handle of the ipywidgets slider labelled ``description`` inside ``scope``."""
    return _labelled(scope, ".widget-slider", description).locator(".noUi-handle").first


def slider_value(handle) -> tuple[float, float, float]:
    """(value, min, max) of a slider handle, from its ARIA attributes."""
    values = [handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")]
    return tuple(float(v) for v in values)


def dropdown(scope, description: str):
    """The ``<select>`` of the ipywidgets Dropdown labelled ``description``."""
    return _labelled(scope, ".widget-dropdown", description).locator("select").first


def toggle_button(scope, text: str):
    """The button with this text in an ipywidgets ToggleButtons inside ``scope``."""
    return (
        scope.locator(".widget-toggle-buttons button").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).first
    )


@dataclass
class Control:
    """One ipywidgets control found by :func:`find_controls`: ``kind`` is "slider", "dropdown" or
    "toggle"; ``label`` its description; ``locator`` the element that takes input (the slider's
    handle, the ``<select>``, the ToggleButtons container)."""

    kind: str
    label: str
    locator: object


def find_controls(scope) -> list[Control]:
    """Every slider, dropdown and toggle-buttons widget inside ``scope``, in page order."""
    found = []
    kinds = {"widget-slider": "slider", "widget-dropdown": "dropdown", "widget-toggle-buttons": "toggle"}
    items = scope.locator(".widget-slider, .widget-dropdown, .widget-toggle-buttons")
    for i in range(items.count()):
        item = items.nth(i)
        classes = (item.get_attribute("class") or "").split()
        kind = next(k for c, k in kinds.items() if c in classes)
        label = item.locator(".widget-label").first.inner_text().strip()
        target = {"slider": ".noUi-handle", "dropdown": "select"}.get(kind)
        found.append(Control(kind, label, item.locator(target).first if target else item))
    return found


def widget_image(scope, index: int = -1, timeout: float = 60.0):
    """The picture of a cinlab live widget (``img.cinlab-picture``) inside ``scope``; without one,
    the ``index``-th ``<img>`` of an ipywidgets Image (default: the last). Waits up to ``timeout``
    seconds for one of them to be in the page (a live widget makes its picture with the first
    frame from the kernel)."""
    scope.locator("img.cinlab-picture, img.widget-image").first.wait_for(state="attached", timeout=timeout * 1000)
    if scope.locator("img.cinlab-picture").count():
        return scope.locator("img.cinlab-picture").first
    images = scope.locator("img.widget-image")
    return images.nth(index) if index >= 0 else images.last


def image_box(image) -> dict:
    """The ``<img>``'s natural size and its size on the page (CSS px): ``{"natural": [w, h], "shown": [w, h]}``."""
    return image.evaluate(
        """(img) => { const r = img.getBoundingClientRect();
                      return { natural: [img.naturalWidth, img.naturalHeight], shown: [r.width, r.height] }; }"""
    )


def widget_text(scope, selector: str | None = None) -> str:
    """The text of the last matching widget: by default a cinlab widget's caption under its
    picture (``.cinlab-caption``), else the last ipywidgets HTML."""
    if selector is None:
        selector = ".cinlab-caption" if scope.locator(".cinlab-caption").count() else ".widget-html"
    return scope.locator(selector).last.inner_text()


def wait_for_image(image, timeout: float = 60.0) -> None:
    """Wait until the ``<img>`` has a decoded picture (whether it is on the screen is
    :func:`on_screen`'s question: a picture can be decoded and have no box)."""
    image.wait_for(state="attached", timeout=timeout * 1000)
    image.evaluate("(img) => img.decode().catch(() => null)")


# ----------------------------------------------------------------------------- inputs


def press(handle, key: str = "ArrowRight") -> None:
    """Focus ``handle`` (without an event of its own) and press ``key``."""
    handle.focus()
    handle.press(key)


def drag(
    page,
    element,
    dx: float,
    dy: float = 0.0,
    *,
    start: tuple[float, float] = (0.5, 0.5),
    steps: int = 20,
    interval: float = 0.03,
) -> None:
    """Drag from the point ``start`` (fractions of ``element``'s box; default its centre) by
    (dx, dy) px: pointer down, ``steps`` moves ``interval`` s apart (about 33 Hz by default, like
    a hand), pointer up at the end position. For a slider pass its handle."""
    box = element.bounding_box()
    x, y = box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + dx * i / steps, y + dy * i / steps)
        time.sleep(interval)
    page.mouse.up()


def click_at(page, element, fx: float, fy: float) -> None:
    """Click ``element`` at the fraction (fx, fy) of its box."""
    box = element.bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


# ----------------------------------------------------------------------------- measuring


@dataclass
class Seen:
    """What a person sees of a picture: whether it has a box on the page, and the screenshot of
    that box (PNG bytes; None without a box)."""

    boxed: bool
    png: bytes | None


def on_screen(page, image) -> Seen:
    """The picture ``image`` as it is on the screen: its box (``getClientRects()``, and a size)
    and a screenshot of that box (scrolled into view first, as a person would look at it)."""
    if image.count() == 0:
        return Seen(False, None)
    boxed = image.evaluate(
        "(img) => { const r = img.getBoundingClientRect(); return img.getClientRects().length > 0 && r.width > 0 && r.height > 0; }"
    )
    if not boxed:
        return Seen(False, None)
    image.evaluate("(img) => img.scrollIntoView({ block: 'nearest' })")
    box = image.bounding_box()
    if box is None or box["width"] <= 0 or box["height"] <= 0:
        return Seen(False, None)
    return Seen(True, page.screenshot(clip=box, animations="disabled", caret="initial"))


def pixels_differ(before: bytes | None, after: bytes | None, level: int = 2) -> bool:
    """Whether two screenshots of a picture differ: some pixel by more than ``level`` (0-255) in a
    channel. The same picture drawn again gives the same pixels (headless Chromium and Firefox
    draw deterministically); a small move of a slider (a spatial blend's softness by 0.01) may
    change only a few pixels, by a few levels."""
    import io

    import numpy as np
    from PIL import Image

    if before is None or after is None:
        return False
    a = np.asarray(Image.open(io.BytesIO(before)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(after)).convert("RGB")).astype(int)
    if a.shape != b.shape:
        return True
    return int(np.abs(a - b).max()) > level


@dataclass
class Measurement:
    """One input (or gesture) and the pictures it produced, in page milliseconds.

    ``latency_ms``: first input event to the first new picture painted (None: no new picture);
    for a drag of a slider, from the input that first moved its value (a pointer press and the
    first small moves do not).
    ``settle_ms``: last input event (for a slider drag: the last one that moved its value) to the
    last picture painted (the picture the user is left with).
    ``from_browser``: the first picture was shown without a message from the kernel (the
    browser had it, see ``cinlab/frame_cache.js``).
    ``changed``: the final picture's decoded pixels differ from the picture before the input.
    ``breakdown``: for the first paint, where the time went (see :func:`breakdown`).
    ``boxed``, ``seen_changed``: once settled, the picture has a box on the page, and its pixels
    on the screen differ from those before the input (:func:`on_screen`): what a person sees.
    ``steps_ms``: for every state the controls reached (a key, each point of a drag), input to
    the picture of that state painted, where the view says which state it shows (cinlab's live
    view: ``data-state``, ``data-shown``); states never shown are left out.
    """

    latency_ms: float | None
    settle_ms: float | None
    changed: bool
    paints: int
    sizes: list[tuple[int, int]]
    breakdown: dict[str, float] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)
    from_browser: bool = False
    boxed: bool = False
    seen_changed: bool = False
    steps_ms: list[float] = field(default_factory=list)


def measure(
    page,
    image,
    action: Callable[[], None],
    *,
    quiet_ms: float = 500.0,
    timeout: float = 30.0,
    expect_change: bool = True,
    settled: Callable[[], bool] | None = None,
    value_handle=None,
    look: bool = True,
) -> Measurement:
    """Run ``action`` (which sends input to the page) and measure what happens to ``image``.

    Waits first until the kernel is idle (and ``settled()``, if given, is true), then records
    input events and new pictures until nothing has happened for ``quiet_ms``, the kernel is
    idle again and ``settled()`` is true (e.g. the widget's status says the full-quality
    picture is shown: widgets that render in a thread after the kernel went idle). If no new
    picture arrives within ``timeout`` seconds (or ``quiet_ms`` after the input when
    ``expect_change=False``) the measurement ends with ``latency_ms=None``. ``value_handle``: a
    slider handle whose value changes tell which inputs of a drag moved it. ``look``: check the
    screen before and after (:func:`on_screen`; off for timings alone).
    """
    settled = settled or (lambda: True)
    wait_for_kernel_idle(page, timeout)
    deadline = time.monotonic() + timeout
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.05)
    before = on_screen(page, image) if look else None
    image.evaluate("(img) => window.__cinlabProbe.watch(img)")  # and its view's data-state / data-shown
    if value_handle is not None:
        value_handle.evaluate("(h) => window.__cinlabProbe.watchValue(h)")
    else:
        page.evaluate("() => window.__cinlabProbe.watchValue(null)")
    page.evaluate("() => window.__cinlabProbe.start()")
    action()
    deadline = time.monotonic() + timeout
    if expect_change:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):  # no picture: reported as latency_ms=None
            page.wait_for_function("() => window.__cinlabProbe.paintCount() > 0", timeout=timeout * 1000, polling="raf")
    while time.monotonic() < deadline:
        if (
            page.evaluate("(q) => window.__cinlabProbe.quiet(q)", quiet_ms)
            and kernel_status(page) == "idle"
            and settled()
        ):
            break
        time.sleep(0.05)
    raw = page.evaluate("() => window.__cinlabProbe.stop()")
    m = summarize(raw)
    if look:
        after = on_screen(page, image)
        m.boxed, m.seen_changed = after.boxed, before.boxed and pixels_differ(before.png, after.png)
    return m


def summarize(raw: dict) -> Measurement:
    """Turn the probe's raw record into a :class:`Measurement`."""
    inputs = [e["t"] for e in raw["inputs"]]
    paints = [p for p in raw["paints"] if p.get("tPainted") is not None and not p.get("stale")]
    changed = raw["fingerprintAfter"] is not None and raw["fingerprintAfter"] != raw["fingerprintBefore"]
    if not inputs or not paints:
        return Measurement(None, None, changed, len(paints), [], {}, raw)
    values = [v["t"] for v in raw.get("values", [])]
    if values:  # a slider drag: the inputs that moved the value (the last input at or before each change)
        first_input = max([t for t in inputs if t <= values[0]], default=inputs[0])
        last_input = max([t for t in inputs if t <= values[-1]], default=inputs[-1])
    else:
        first_input, last_input = inputs[0], inputs[-1]
    later = [p for p in paints if p["tSrc"] >= first_input] or paints
    first, last = later[0], paints[-1]
    stages = breakdown(raw, first, first_input)
    return Measurement(
        steps_ms=step_latencies(raw),
        latency_ms=first["tPainted"] - first_input,
        settle_ms=max(0.0, last["tPainted"] - last_input),
        changed=changed,
        paints=len(paints),
        sizes=[(p["w"], p["h"]) for p in paints],
        breakdown=stages,
        raw=raw,
        from_browser="kernel_round_trip" not in stages,
    )


def step_latencies(raw: dict) -> list[float]:
    """For each state the controls reached (``data-state`` of the view), the time from the input
    that caused it (the last input at or before it) to the paint of the picture of that state
    (the paint whose ``src`` was set when ``data-shown`` became that state)."""
    marks = raw.get("view", [])
    inputs = [e["t"] for e in raw["inputs"]]
    paints = [p for p in raw["paints"] if p.get("tPainted") is not None]
    out = []
    for mark in marks:
        if mark["attr"] != "state":
            continue
        before = [t for t in inputs if t <= mark["t"]]
        if not before:
            continue
        shown = next(
            (s for s in marks if s["attr"] == "shown" and s["value"] == mark["value"] and s["t"] >= mark["t"]), None
        )
        if shown is None:
            continue
        paint = next((p for p in paints if abs(p["tSrc"] - shown["t"]) < 5), None)  # its src was set then
        if paint is not None:
            out.append(paint["tPainted"] - before[-1])
    return out


def breakdown(raw: dict, paint: dict, t_input: float | None = None) -> dict[str, float]:
    """Split input-to-paint for ``paint`` into stages (ms), from the input at ``t_input``
    (default: the first one):

    - ``input_to_send``: browser-side, first input to the first kernel-websocket frame sent;
    - ``kernel_round_trip``: that frame to the last frame received before the new ``src`` (server
      + kernel: deserialise, callback, render, encode, send);
    - ``receive_to_src``: that frame to the new ``src`` (widget manager: deserialise, set src);
    - ``decode``: new ``src`` to ``img.decode()`` resolved;
    - ``paint``: decoded to painted (the next frame).

    Without a frame sent and one received between the input and the new ``src`` the picture
    came from the browser itself (no kernel stages).
    """
    t_input = raw["inputs"][0]["t"] if t_input is None else t_input
    sends = [f["t"] for f in raw["frames"] if f["dir"] == "send" and t_input <= f["t"] <= paint["tSrc"]]
    recvs = [f["t"] for f in raw["frames"] if f["dir"] == "recv" and f["t"] <= paint["tSrc"]]
    out = {}
    if sends and recvs and recvs[-1] >= sends[0]:
        out["input_to_send"] = sends[0] - t_input
        out["kernel_round_trip"] = recvs[-1] - sends[0]
        out["receive_to_src"] = paint["tSrc"] - recvs[-1]
    out["decode"] = paint["tDecoded"] - paint["tSrc"]
    out["paint"] = paint["tPainted"] - paint["tDecoded"]
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``, interpolated linearly (as numpy's default); NaN
    for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)
