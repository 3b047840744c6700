"""Notebook 7's live pictures in Firefox: are they on the screen, and do they change there?

    python benchmarks/browser/firefox_check.py                    # Debian's firefox-esr, JupyterLab defaults
    python benchmarks/browser/firefox_check.py --windowing none

Playwright drives Chromium for the browser test; its Firefox needs Playwright's own patched
build (never downloaded here), and its WebDriver BiDi route to a stock Firefox
(``channel="moz-firefox"``) fails on Firefox ESR 153 at the first page (``emulation.
setMediaFeaturesOverride``: unknown command). So this script speaks WebDriver BiDi to Firefox
itself (``firefox-esr --remote-debugging-port``, a websocket; no geckodriver): it runs every cell
of a copy of notebook 7 in fast mode, then for each live widget checks that its picture has a
box on the page and, after one key press on its last slider, that the picture on the screen
(a screenshot of its box) changed. Prints one line per widget and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websocket

from harness import LAB_SETTINGS, free_port, jupyterlab, pixels_differ, windowing
from widget_latency import NOTEBOOK, WIDGET_CELLS, pad_point_at

FIREFOX = "/usr/bin/firefox-esr"


class Bidi:
    """A WebDriver BiDi session over a websocket: :meth:`call` sends a command and returns its result."""

    def __init__(self, url: str, timeout: float = 300.0):
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)  # Firefox refuses an Origin
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if message.get("type") == "error":
                    raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]


def start_firefox(executable: str, port: int, profile: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [executable, "--headless", "--no-remote", "--profile", str(profile), f"--remote-debugging-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def connect(port: int, timeout: float = 60.0) -> Bidi:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Bidi(f"ws://127.0.0.1:{port}/session")
        except (ConnectionError, OSError, websocket.WebSocketException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firefox", default=FIREFOX)
    parser.add_argument("--windowing", choices=["none", "defer", "full", "contentVisibility"])
    parser.add_argument("--repo", type=Path, default=NOTEBOOK.parents[1], help="the cinlab checkout to test")
    args = parser.parse_args(argv)
    notebook = args.repo / "notebooks" / NOTEBOOK.name
    folder = Path(tempfile.mkdtemp(prefix="cinlab-firefox-"))
    shutil.copy(notebook, folder / notebook.name)
    profile = Path(tempfile.mkdtemp(prefix="cinlab-firefox-profile-"))
    port = free_port()
    env = {"CINLAB_FAST": "1", "PYTHONPATH": str(args.repo)}
    failed = False
    with jupyterlab(folder, env=env, settings=windowing(args.windowing, LAB_SETTINGS)) as server:
        firefox = start_firefox(args.firefox, port, profile)
        try:
            bidi = connect(port)
            session = bidi.call("session.new", capabilities={})
            print(f"Firefox {session['capabilities'].get('browserVersion')}, windowing: {args.windowing or 'default'}")
            context = bidi.call("browsingContext.getTree")["contexts"][0]["context"]
            bidi.call("browsingContext.setViewport", context=context, viewport={"width": 1400, "height": 1000})
            bidi.call("browsingContext.navigate", context=context, url=server.lab_url(notebook.name), wait="complete")

            def js(source: str, timeout: float = 1200.0):
                result = bidi.call(  # JSON back, not BiDi's own serialisation of values
                    "script.evaluate",
                    expression=f"(async () => JSON.stringify(await (async () => {{ {source} }})()))()",
                    target={"context": context},
                    awaitPromise=True,
                )
                if result["type"] == "exception":
                    raise RuntimeError(result["exceptionDetails"]["text"])
                value = result["result"].get("value")
                return None if value is None else json.loads(value)

            def until(condition: str, timeout: float = 1200.0) -> None:
                deadline = time.monotonic() + timeout
                while not js(f"return !!({condition});"):
                    if time.monotonic() > deadline:
                        raise TimeoutError(condition)
                    time.sleep(0.2)

            until("window.jupyterapp")
            js("await window.jupyterapp.restored;")
            panel = (
                f"[...window.jupyterapp.shell.widgets('main')].find((w) => w.context && w.context.path === "
                f"{json.dumps(notebook.name)} && w.content && w.content.widgets)"
            )
            until(f"{panel} && {panel}.context.isReady")
            kernel = f"{panel}.sessionContext.session?.kernel"
            until(f"{kernel} && {kernel}.status === 'idle'")
            js(
                f"window.jupyterapp.shell.activateById({panel}.id); "
                "await window.jupyterapp.commands.execute('notebook:run-all-cells');"
            )
            until(f"{kernel}.status === 'idle'")

            def picture(needle: str) -> dict:
                return js(f"""
                    const cell = {panel}.content.widgets.find((c) => c.model.sharedModel.getSource().includes({json.dumps(needle)}));
                    cell.node.scrollIntoView({{ block: 'center' }});
                    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
                    const img = cell.node.querySelector('img.cinlab-picture');
                    if (!img) return {{ found: false }};
                    const r = img.getBoundingClientRect();
                    const view = img.closest('.cinlab-view');
                    return {{ found: true, boxed: img.getClientRects().length > 0 && r.width > 0, x: r.x, y: r.y,
                              width: r.width, height: r.height,
                              settled: !view || (view.dataset.state === view.dataset.shown && view.dataset.full === 'true') }};
                """)

            def screenshot(box: dict) -> bytes | None:
                if not box.get("boxed"):
                    return None
                clip = {"type": "box", "x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]}
                data = bidi.call("browsingContext.captureScreenshot", context=context, origin="viewport", clip=clip)
                return base64.b64decode(data["data"])

            for name, needle in WIDGET_CELLS.items():
                before = picture(needle)
                png_before = screenshot(before)
                js(f"""
                    const cell = {panel}.content.widgets.find((c) => c.model.sharedModel.getSource().includes({json.dumps(needle)}));
                    const handles = cell.node.querySelectorAll('.noUi-handle');
                    handles[handles.length - 1].focus();
                """)
                key = "\ue014"  # ArrowRight (WebDriver's key code)
                bidi.call(
                    "input.performActions",
                    context=context,
                    actions=[
                        {
                            "type": "key",
                            "id": "keyboard",
                            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}],
                        }
                    ],
                )
                deadline = time.monotonic() + 120
                after = picture(needle)
                while not after.get("settled") and time.monotonic() < deadline:
                    time.sleep(0.2)
                    after = picture(needle)
                png_after = screenshot(after)
                changed = pixels_differ(png_before, png_after)
                ok = before.get("boxed") and after.get("boxed") and changed
                failed |= not ok
                print(
                    f"{name:<10} picture found {before.get('found')}, box before {before.get('boxed')}, "
                    f"after a key {after.get('boxed')}, changed on the screen {changed}: {'ok' if ok else 'FAILED'}"
                )
            # a press in the 2-D pad: the point goes where the pointer is, the picture changes on the screen
            needle = WIDGET_CELLS["2-D pad"]
            before = picture(needle)  # (scrolls the cell into view first: the pad's box is then where it is pressed)
            png_before = screenshot(before)
            area = js(f"""
                const cell = {panel}.content.widgets.find((c) => c.model.sharedModel.getSource().includes({json.dumps(needle)}));
                const area = cell.node.querySelector('.cinlab-pad-area');
                if (!area) return null;
                const r = area.getBoundingClientRect();
                return {{ x: r.x, y: r.y, width: r.width, height: r.height }};
            """)
            if area is None:
                print("2-D pad    no .cinlab-pad-area (an older cinlab): press not checked")
            else:
                fx, fy = 0.6, 0.4
                x, y = area["x"] + fx * area["width"], area["y"] + fy * area["height"]
                bidi.call(
                    "input.performActions",
                    context=context,
                    actions=[
                        {
                            "type": "pointer",
                            "id": "mouse",
                            "parameters": {"pointerType": "mouse"},
                            "actions": [
                                {"type": "pointerMove", "x": round(x), "y": round(y)},
                                {"type": "pointerDown", "button": 0},
                                {"type": "pointerUp", "button": 0},
                            ],
                        }
                    ],
                )
                deadline = time.monotonic() + 120
                after = picture(needle)
                while not after.get("settled") and time.monotonic() < deadline:
                    time.sleep(0.2)
                    after = picture(needle)
                point = js(f"""
                    const cell = {panel}.content.widgets.find((c) => c.model.sharedModel.getSource().includes({json.dumps(needle)}));
                    return [...cell.node.querySelectorAll('.noUi-handle')].map((h) => Number(h.getAttribute('aria-valuenow')));
                """)
                changed = pixels_differ(png_before, screenshot(after))
                expected = list(pad_point_at((fx, fy)))
                ok = after.get("boxed") and changed and point == expected
                failed |= not ok
                print(
                    f"2-D pad    a press at ({fx}, {fy}) of the pad: point {point} (expected {expected}), "
                    f"changed on the screen {changed}: {'ok' if ok else 'FAILED'}"
                )
        finally:
            os.killpg(firefox.pid, 15)
            firefox.wait(10)
            shutil.rmtree(profile, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
