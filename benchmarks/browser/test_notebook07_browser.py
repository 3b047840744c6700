"""Notebook 7's widgets in a real browser: what a student sees and feels, checked and timed.

    python -m pytest benchmarks/browser -m browser      # also part of a plain `python -m pytest`

Starts JupyterLab (its default settings, notebook windowing included) on a free local port with
copies of notebook 7, opens them in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright; never Playwright's own browser download) and checks what a person sees, in this order:

1. before anything runs, untrusted and trusted (the saved widget state, no kernel state): each
   widget cell shows its saved still picture on the screen, not Python text, an error or a
   broken image;
2. after running every cell in fast mode (``CINLAB_FAST=1``): after each input the picture has a
   box on the page and its pixels on the screen changed (screenshots of it before and after; not
   its source, which changed while nothing was on the screen), for each control
   (``CINLAB_BROWSER_N`` inputs per control, 1 by default), a click in the 2-D pad and a drag
   across it (which ends where the pointer let go), and each picture is shown at its own size;
3. a step of a slider that the kernel has rendered ahead is shown by the browser alone, with
   no message to the kernel (``cinlab/frame_cache.js``);
4. all weight sliders at 0 show a message and dim the picture;
5. after a kernel restart every widget says it is no longer connected;
6. saved then and reopened (the page reloaded: its kernel has none of the widgets), each widget
   cell shows its still picture again, not "Error displaying widget: model not found".

Every wait is on an event (a picture shown, a state reached, a kernel idle), never on time.

The input-to-paint latency table (median, p90 per control) is printed with the machine's load and
written to ``widget_latency.json`` in pytest's temporary folder. It is asserted only when
``CINLAB_BROWSER_MAX_MEDIAN_MS`` is set (a shared CI machine is too noisy for a fixed bound).
Skipped, with the reason, where Chromium or Playwright is missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import time
from argparse import Namespace
from pathlib import Path

import pytest

from harness import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}: apt-get install -y chromium (Debian)"),
]


def _saved_outputs(page, cells: dict[str, str]) -> dict[str, dict]:
    """What each widget cell shows where it has no live widget: its pictures on the screen (a box,
    decoded, and not blank in a screenshot), broken ones, and its text as shown."""
    from harness import cell_output

    from PIL import Image

    seen = {}
    for name, needle in cells.items():
        output = cell_output(page, needle)
        output.scroll_into_view_if_needed()
        page.wait_for_function(  # every picture of the output loaded, shown or broken
            "(area) => [...area.querySelectorAll('img')].every((img) => img.complete)", arg=output.element_handle()
        )
        pictures = output.evaluate(
            """(area) => [...area.querySelectorAll('img')].map((img, i) => {
                const r = img.getBoundingClientRect();
                img.dataset.cinlabSeen = String(i);
                return { index: i, boxed: img.getClientRects().length > 0 && r.width > 0 && r.height > 0,
                         decoded: img.naturalWidth > 0, width: r.width };
            })"""
        )
        shown = []
        for picture in [p for p in pictures if p["boxed"]]:
            png = output.locator(f'img[data-cinlab-seen="{picture["index"]}"]').screenshot()
            pixels = Image.open(io.BytesIO(png)).convert("L")
            picture["blank"] = max(pixels.getextrema()) - min(pixels.getextrema()) < 32
            shown.append(picture)
        seen[name] = {
            "pictures": [p for p in shown if p["decoded"] and not p["blank"]],
            "broken": [p for p in shown if not p["decoded"]],
            "text": output.inner_text(),
        }
    return seen


def _check_still_pictures(seen: dict[str, dict], when: str) -> None:
    for name, cell in seen.items():
        assert cell["pictures"], f"{when}, {name}: no picture on the screen; the cell shows {cell['text'][:200]!r}"
        assert not cell["broken"], f"{when}, {name}: a broken image on the screen ({cell['broken']})"
        assert "children=" not in cell["text"] and "Error displaying widget" not in cell["text"], (
            f"{when}, {name}: {cell['text'][:200]!r}"
        )


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _all_weights_zero(page, needle: str) -> dict:
    """Press Home on every weight slider; what the widget shows then."""
    from harness import cell_output, find_controls, widget_image, widget_text

    output = cell_output(page, needle)
    for control in find_controls(output):
        control.locator.focus()
        control.locator.press("Home")
    shown = _wait_for(lambda: "Nothing to show" in widget_text(output), 60)
    return {
        "message": widget_text(output) if shown else None,
        "classes": widget_image(output).get_attribute("class") or "",
    }


def _step_shown_from_the_browser(page, needle: str, timeout: float = 180.0) -> dict:
    """Use a widget's last slider once, wait until the browser holds the picture of one more step
    (the kernel renders it ahead and sends it), then take that step: what it looked like."""
    from harness import cell_output, find_controls, measure, press, widget_image
    from widget_latency import full_quality, slider_key

    output = cell_output(page, needle)
    image = widget_image(output)
    slider = [c for c in find_controls(output) if c.kind == "slider"][-1]  # the last control: the state's last entry
    state: dict = {}
    settled = full_quality(output)
    measure(page, image, lambda: press(slider.locator, slider_key(slider.locator, state)), settled=settled)
    key = slider_key(slider.locator, state)
    step = 0.05  # the alpha slider's (widgets.two_style_slider)
    target = round(float(slider.locator.get_attribute("aria-valuenow")) + (step if key == "ArrowRight" else -step), 4)
    view = output.locator(".cinlab-view").first
    if view.count() == 0:  # a view that does not say what it holds (an older cinlab): take the step now
        m = measure(page, image, lambda: press(slider.locator, key), settled=settled)
        return {"latency_ms": m.latency_ms, "from_browser": m.from_browser, "changed": m.seen_changed}
    page.wait_for_function(  # the kernel has sent the picture of that state (rendered ahead)
        """([view, value]) => {
            const parts = view.dataset.state.split("|");
            parts[parts.length - 1] = value.toFixed(4);
            return view.cinlabHas(parts.join("|"));
        }""",
        arg=[view.element_handle(), target],
        timeout=timeout * 1000,
        polling=100,
    )
    m = measure(page, image, lambda: press(slider.locator, key), settled=settled)
    return {"latency_ms": m.latency_ms, "from_browser": m.from_browser, "changed": m.seen_changed}


@pytest.fixture(scope="module")
def session(tmp_path_factory, request):
    """Run notebook 7 in Chromium once, exercise every widget; the facts the tests check."""
    pytest.importorskip("playwright", reason="Playwright for Python is not installed: pip install playwright")
    pytest.importorskip("jupyterlab", reason='JupyterLab is not installed: pip install -e ".[notebooks]"')
    from playwright.sync_api import sync_playwright

    from harness import (
        cell_output,
        jupyterlab,
        launch_chromium,
        open_notebook,
        reload_notebook,
        restart_kernel,
        run_all_cells,
        save_notebook,
        trust_notebook,
    )
    from widget_latency import NOTEBOOK, WIDGET_CELLS, exercise_widget, print_tables

    folder = tmp_path_factory.mktemp("nb07")
    untrusted = "untrusted_" + NOTEBOOK.name
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    shutil.copy(NOTEBOOK, folder / untrusted)
    args = Namespace(
        n=int(os.environ.get("CINLAB_BROWSER_N", "1")),
        drags=0,
        pad_drags=1,
        timeout=60.0,
        quiet=float(os.environ.get("CINLAB_BROWSER_QUIET_MS", "500")),
    )
    rows, facts = [], {}
    load_start = os.getloadavg()
    with jupyterlab(folder, env={"CINLAB_FAST": "1"}) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_notebook(browser, server, untrusted)
        facts["saved"] = _saved_outputs(page, WIDGET_CELLS)
        page.evaluate("() => window.__cinlabPanel().sessionContext.shutdown()")
        page.context.close()
        trust_notebook(server, NOTEBOOK.name)  # as after `jupyter trust`, or a notebook the student ran and saved
        page = open_notebook(browser, server, NOTEBOOK.name)
        console_errors = []
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        facts["trusted"] = _saved_outputs(page, WIDGET_CELLS)
        facts["errors"] = run_all_cells(page, timeout=1200)
        assert facts["errors"] == [], f"cells failed in the browser: {facts['errors']}"
        facts["boxes"] = {
            name: exercise_widget(page, name, needle, args, rows, None)["box"] for name, needle in WIDGET_CELLS.items()
        }
        facts["step"] = _step_shown_from_the_browser(page, WIDGET_CELLS["two-style"])
        facts["zero"] = _all_weights_zero(page, WIDGET_CELLS["weights"])
        hints = [cell_output(page, needle).locator(".cinlab-offline") for needle in WIDGET_CELLS.values()]
        facts["offline_before"] = [h.count() > 0 and h.first.is_visible() for h in hints]
        restart_kernel(page)
        facts["offline_after"] = [h.count() > 0 and _wait_for(h.first.is_visible, 30) for h in hints]
        save_notebook(page)  # after the restart: its kernel has none of the widgets
        console_errors.clear()
        reload_notebook(page, NOTEBOOK.name)
        page.wait_for_function(  # every widget output has been rendered (a view, an error, or hidden)
            "() => !document.body.innerText.includes('Loading widget...')", timeout=60000
        )
        facts["reopened"] = _saved_outputs(page, WIDGET_CELLS)
        facts["console_errors_reopened"] = list(console_errors)
        browser.close()
    facts["rows"] = rows
    out = io.StringIO()
    print_tables(rows, out=out)
    load = f"load average (1, 5, 15 min): start {tuple(round(x, 2) for x in load_start)}, end {tuple(round(x, 2) for x in os.getloadavg())}"
    table = out.getvalue() + f"\n{load}\n"
    (folder / "widget_latency.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    (folder / "widget_latency.txt").write_text(table)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:  # shown in CI's log, also without -s
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n\nnotebook 7 in Chromium, fast mode: input-to-paint latency (ms){table}")
    return facts


def test_saved_widget_outputs_show_a_still_picture_untrusted(session):
    _check_still_pictures(session["saved"], "untrusted, not run")


def test_a_trusted_notebook_not_yet_run_shows_its_still_pictures(session):
    _check_still_pictures(session["trusted"], "trusted, not run")


def test_a_notebook_saved_after_a_restart_and_reopened_shows_its_still_pictures(session):
    _check_still_pictures(session["reopened"], "saved after a restart, reopened")


def test_every_control_changes_the_picture_on_the_screen(session):
    controls = [r for r in session["rows"] if r.control != "pad"]
    assert {r.widget for r in controls} == {"two-style", "weights", "2-D pad", "spatial"}
    unseen = [f"{r.widget}/{r.control}: box {r.boxed}, changed on screen {r.seen}" for r in controls if not all(r.seen)]
    assert unseen == [], "after an input the picture had no box on the page, or did not change on the screen"


def test_pad_responds_to_a_click_and_a_drag(session):
    pad = {r.input: r for r in session["rows"] if r.control == "pad"}
    assert set(pad) == {"click", "drag"}, "no clickable pad found"
    for kind in ("click", "drag"):
        row = pad[kind]
        assert all(row.seen), (
            f"pad {kind}: on the screen {row.seen} (box {row.boxed}), latencies {row.latencies}, paints {row.paints}, "
            f"from browser {row.from_browser}"
        )
    assert pad["drag"].landed and all(pad["drag"].landed), "a drag in the pad ended elsewhere than the pointer let go"


def test_pictures_are_shown_at_their_own_size(session):
    for name, box in session["boxes"].items():
        (w, h), (shown_w, shown_h) = box["natural"], box["shown"]
        assert abs(shown_w - w) <= 1 and abs(shown_h - h) <= 1, (
            f"{name}: a {w}x{h} picture is shown at {shown_w:.0f}x{shown_h:.0f}"
        )


def test_a_step_rendered_ahead_is_shown_by_the_browser_alone(session):
    step = session["step"]
    assert step["changed"] and step["latency_ms"] is not None
    assert step["from_browser"], (
        "the browser waited for the kernel for a picture it should have had (cinlab/frame_cache.js)"
    )


def test_all_weights_zero_shows_a_message(session):
    assert session["zero"]["message"] is not None, "no message with all weights at 0"
    assert "cinlab-stale" in session["zero"]["classes"]


def test_widgets_say_when_their_kernel_is_gone(session):
    assert session["offline_before"] == [False] * 4
    assert session["offline_after"] == [True] * 4


def test_latency_within_bound_if_set(session):
    bound = os.environ.get("CINLAB_BROWSER_MAX_MEDIAN_MS")
    if not bound:
        pytest.skip("CINLAB_BROWSER_MAX_MEDIAN_MS not set: latency recorded (see the table above), not asserted")
    slow = {f"{r.widget}/{r.control}/{r.input}": statistics.median(r.latencies) for r in session["rows"] if r.latencies}
    assert {k: v for k, v in slow.items() if v > float(bound)} == {}
