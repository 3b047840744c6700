"""Notebook 7's widgets in a real browser: every control changes the picture; latency recorded.

    python -m pytest benchmarks/browser -m browser -p no:nbval -s

Starts JupyterLab on a free local port with a copy of notebook 7, opens it in headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright), runs it in fast mode (``CINLAB_FAST=1``)
and exercises each control once (``CINLAB_BROWSER_N`` times if set). The latency table is printed
and written to ``widget_latency.json`` in pytest's temporary folder; it is not asserted unless
``CINLAB_BROWSER_MAX_MEDIAN_MS`` is set (a shared CI machine is too noisy for a fixed bound).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from argparse import Namespace
from pathlib import Path

import pytest

from harness import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def exercised(tmp_path_factory):
    """Run notebook 7 in Chromium once and exercise every widget; the rows of measurements."""
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from harness import jupyterlab, launch_chromium, open_notebook, run_all_cells
    from widget_latency import NOTEBOOK, WIDGET_CELLS, exercise_widget, print_tables

    folder = tmp_path_factory.mktemp("nb07")
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    args = Namespace(n=int(os.environ.get("CINLAB_BROWSER_N", "1")), drags=0, timeout=60.0, quiet=float(os.environ.get("CINLAB_BROWSER_QUIET_MS", "1000")))
    rows = []
    with jupyterlab(folder, env={"CINLAB_FAST": "1"}) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_notebook(browser, server, NOTEBOOK.name)
        errors = run_all_cells(page, timeout=1200)
        assert errors == [], f"cells failed in the browser: {errors}"
        for name, needle in WIDGET_CELLS.items():
            exercise_widget(page, name, needle, args, rows, folder)
        browser.close()
    print_tables(rows)
    (folder / "widget_latency.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    return rows


def test_every_control_changes_the_picture(exercised):
    controls = [r for r in exercised if r.input != "click"]
    assert {r.widget for r in controls} == {"two-style", "weights", "2-D pad", "spatial"}
    unchanged = [f"{r.widget}/{r.control}" for r in controls if not all(r.changed)]
    assert unchanged == []


def test_latency_within_bound_if_set(exercised):
    bound = os.environ.get("CINLAB_BROWSER_MAX_MEDIAN_MS")
    if not bound:
        pytest.skip("CINLAB_BROWSER_MAX_MEDIAN_MS not set: latency recorded, not asserted")
    slow = {f"{r.widget}/{r.control}": statistics.median(r.latencies) for r in exercised if r.latencies}
    assert {k: v for k, v in slow.items() if v > float(bound)} == {}


@pytest.mark.xfail(strict=True, reason="notebook 7's pad picture does not take clicks yet (sliders only)")
def test_pad_responds_to_a_click(exercised):
    clicks = [r for r in exercised if r.widget == "2-D pad" and r.input == "click"]
    assert clicks and all(all(r.changed) for r in clicks)
