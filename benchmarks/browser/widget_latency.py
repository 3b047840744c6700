"""Input-to-paint latency of notebook 7's live widgets in a real browser (JupyterLab + Chromium).

    python benchmarks/browser/widget_latency.py                 # fast mode, 10 inputs per control
    python benchmarks/browser/widget_latency.py -n 20 --drags 5 --json /tmp/latency.json
    python benchmarks/browser/widget_latency.py --env OMP_NUM_THREADS=1   # extra kernel env

Copies the notebook to a temporary folder (the original is never touched), starts JupyterLab
there, opens the copy in headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright,
runs every cell (``CINLAB_FAST=1`` unless ``--no-fast``) and then, for each widget (a code cell
whose output holds an ipywidgets Image), exercises every control ``n`` times:

- a slider: focus its handle, press ArrowRight or ArrowLeft (turning round 20 % from the ends);
- a dropdown: select another option;
- toggle buttons: click the next button;

plus ``--drags`` pointer drags of each slider (20 moves at ~33 Hz), and ``n`` clicks and ``--drags``
drags on the 2-D pad's picture. A measurement ends once the widget shows the picture of its
controls' state at full quality (cinlab's live view says which state it shows; without that, its
status line no longer says "preview"). It prints, per control: n, the median and p90 of
input-to-paint, the p90 of each state's input-to-paint during drags (``steps``), the median
settle time (last input to last picture painted: the full-quality one), the kernel's own render
time of the last picture (status line), the pictures painted per input, whether the picture came
from the browser, and whether the picture was on the screen and changed there every time
(``seen``: a box on the page and different pixels in a screenshot); then where the time of the
keyboard/select inputs went, and the machine load before and after.

JupyterLab runs with its default settings (``--windowing`` picks a notebook windowing mode).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import (
    CHROMIUM,
    LAB_SETTINGS,
    cell_output,
    click_at,
    drag,
    find_controls,
    image_box,
    jupyterlab,
    launch_chromium,
    measure,
    open_notebook,
    percentile,
    press,
    run_all_cells,
    slider_value,
    wait_for_image,
    widget_image,
    widget_text,
    windowing,
)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "07_style_interpolation.ipynb"
# The code cells that build notebook 7's widgets, found by their source.
WIDGET_CELLS = {
    "two-style": "two_style_slider(",
    "weights": "weight_sliders(",
    "2-D pad": "style_pad(",
    "spatial": "spatial_blend(",
}
STAGES = ["input_to_send", "kernel_round_trip", "receive_to_src", "decode", "paint"]


@dataclass
class Row:
    widget: str
    control: str
    input: str
    latencies: list[float] = field(default_factory=list)
    settles: list[float] = field(default_factory=list)
    renders: list[float] = field(default_factory=list)
    paints: list[int] = field(default_factory=list)
    changed: list[bool] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    sizes: list[list[int]] = field(default_factory=list)  # natural size of the last picture painted
    from_browser: list[bool] = field(default_factory=list)  # first picture shown without the kernel
    seen: list[bool] = field(default_factory=list)  # on the screen: a box, and pixels that changed
    boxed: list[bool] = field(default_factory=list)  # a box on the page once settled
    steps: list[float] = field(default_factory=list)  # each state's input-to-picture (drags)
    landed: list[bool] = field(default_factory=list)  # a pad drag: the point is where the pointer let go

    def add(self, m, render_ms):
        self.changed.append(m.changed and m.latency_ms is not None)
        self.from_browser.append(m.from_browser)
        self.seen.append(m.boxed and m.seen_changed)
        self.boxed.append(m.boxed)
        self.steps.extend(m.steps_ms)
        self.paints.append(m.paints)
        if m.latency_ms is not None:
            self.latencies.append(m.latency_ms)
            self.settles.append(m.settle_ms)
            self.sizes.append(list(m.sizes[-1]))
        if render_ms is not None:
            self.renders.append(render_ms)
        for stage, value in m.breakdown.items():
            self.stages.setdefault(stage, []).append(value)


def render_ms(output) -> float | None:
    """The kernel's render time from the widget's status line ("... 123 ms per render ...")."""
    match = re.search(r"(\d+(?:\.\d+)?) ms per render", widget_text(output))
    return float(match.group(1)) if match else None


def slider_key(handle, state: dict) -> str:
    """ArrowRight / ArrowLeft, turning round at 20 % from either end of the range.

    Staying off the ends keeps every control meaningful: at alpha = 1 style A has no weight (a
    new A changes nothing), and a weight slider at 0 drops out of the normalised mixture.
    """
    value, low, high = slider_value(handle)
    margin = 0.2 * (high - low)
    direction = state.get("direction", 1)
    if value >= high - margin - 1e-9:
        direction = -1
    elif value <= low + margin + 1e-9 and direction < 0:
        direction = 1
    state["direction"] = direction
    return "ArrowRight" if direction > 0 else "ArrowLeft"


def next_option(select) -> int:
    return select.evaluate("(s) => (s.selectedIndex + 1 + Math.floor(s.options.length / 3)) % s.options.length")


def next_toggle(container):
    buttons = container.locator("button")
    count = buttons.count()
    active = next((i for i in range(count) if "mod-active" in (buttons.nth(i).get_attribute("class") or "")), 0)
    return buttons.nth((active + 1) % count)


def full_quality(output) -> Callable[[], bool]:
    """A ``settled`` test for :func:`harness.measure`: the widget shows the picture of its
    controls' state at full quality (cinlab's live view: ``data-shown`` is ``data-state`` and
    ``data-full`` is true; the kernel draws the full picture in a thread after a pause). A view
    that does not say (an older cinlab): its status line does not say "preview"."""
    view = output.locator(".cinlab-view")

    def settled() -> bool:
        if view.count():
            return view.first.evaluate(
                "(v) => v.dataset.state !== undefined && v.dataset.state === v.dataset.shown && v.dataset.full === 'true'"
            )
        return "preview" not in widget_text(output)

    return settled


def pad_picture(output):
    """The 2-D pad's square with its paintings (``.cinlab-pad-area``, or the ``img.cinlab-pad`` of
    an older cinlab); without one, any second picture (image or canvas) in the widget; None if
    there is none."""
    for selector in (".cinlab-pad-area", "img.cinlab-pad"):
        if output.locator(selector).count():
            return output.locator(selector).first
    pictures = output.locator("canvas, img.widget-image")
    return pictures.first if pictures.count() > 1 else None


def exercise_widget(page, name: str, needle: str, args, rows: list[Row], screenshots: Path | None) -> dict:
    """Exercise every control of one widget (see the module docstring); append a :class:`Row`
    per control and input kind. Returns facts for checks: ``box`` (the picture's natural and
    shown size once settled)."""
    output = cell_output(page, needle)
    output.scroll_into_view_if_needed()
    image = widget_image(output)
    wait_for_image(image)
    settled = full_quality(output)

    def run(row, action, **kwargs):
        m = measure(page, image, action, timeout=args.timeout, quiet_ms=args.quiet, settled=settled, **kwargs)
        row.add(m, render_ms(output))

    # Last to first: the weight sliders start at (1, 0, 0, ...), where a small move of the first
    # one leaves the normalised mixture unchanged; after the others have moved it changes it.
    controls = list(reversed(find_controls(output)))
    for control in controls:
        row = Row(name, control.label, {"slider": "key", "dropdown": "select", "toggle": "click"}[control.kind])
        rows.append(row)
        state: dict = {}
        for _ in range(args.n):
            if control.kind == "slider":
                key = slider_key(control.locator, state)
                action = lambda: press(control.locator, key)  # noqa: E731
            elif control.kind == "dropdown":
                index = next_option(control.locator)
                action = lambda: control.locator.select_option(index=index)  # noqa: E731
            else:
                button = next_toggle(control.locator)
                action = button.click
            run(row, action)
    for control in controls:
        if control.kind != "slider" or args.drags == 0:
            continue
        row = Row(name, control.label, "drag")
        rows.append(row)
        track = control.locator.locator("xpath=ancestor::*[contains(@class,'noUi-target')][1]")
        for _ in range(args.drags):
            value, low, high = slider_value(control.locator)
            width = track.bounding_box()["width"]
            # 40 % of the track towards the farther end: the slider never ends a drag at 0, where
            # a weight slider would drop out of the mixture
            dx = (0.4 if value - low < high - value else -0.4) * width
            run(row, lambda: drag(page, control.locator, dx), value_handle=control.locator)
    pad = pad_picture(output)
    if pad is not None:
        row = Row(name, "pad", "click")
        rows.append(row)
        for i in range(args.n):  # a different point each time, corners included
            fx, fy = [(0.1, 0.1), (0.9, 0.15), (0.5, 0.5), (0.15, 0.9), (0.9, 0.9)][i % 5]
            run(row, lambda: click_at(page, pad, fx, fy), expect_change=True)
        pad_drags = getattr(args, "pad_drags", args.drags)
        if pad_drags:
            row = Row(name, "pad", "drag")
            rows.append(row)
            for i in range(pad_drags):
                sign = 1 if i % 2 == 0 else -1
                start = (0.3, 0.35) if sign > 0 else (0.7, 0.6)
                end = (start[0] + sign * 0.4, start[1] + sign * 0.25)
                run(row, lambda: drag(page, pad, *_offset(pad, start, end), start=start))
                row.landed.append(pad_point_shown(output) == pad_point_at(end))
    if screenshots:
        output.screenshot(path=str(screenshots / f"{name.replace(' ', '_')}.png"))
    return {"box": image_box(image)}


def _offset(element, start, end) -> tuple[float, float]:
    box = element.bounding_box()
    return (end[0] - start[0]) * box["width"], (end[1] - start[1]) * box["height"]


def pad_point_at(fraction: tuple[float, float]) -> tuple[float, float]:
    """The grid point of the 2-D pad under the pointer at ``fraction`` (x, y) of the pad's square
    picture (``cinlab.widgets.pad_uv``, snapped to ``PAD_STEP`` as ``cinlab.widgets.snap`` does:
    what the widget should put there; written out here to measure older versions too)."""
    import math

    from cinlab.widgets import PAD_SIZE, PAD_STEP, pad_uv

    return tuple(
        round(math.floor(p / PAD_STEP + 0.5) * PAD_STEP, 4)
        for p in pad_uv(fraction[0] * PAD_SIZE, fraction[1] * PAD_SIZE)
    )


def pad_point_shown(output) -> tuple[float, float]:
    """The point (u, v) of the pad's two sliders, as the page shows them."""
    from harness import slider_handle

    return tuple(slider_value(slider_handle(output, label))[0] for label in ("left-right", "top-bottom"))


def fmt(value: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None or value != value else f"{value:>{width}.0f}"


def print_tables(rows: list[Row], out=sys.stdout):
    print(
        f"\n{'widget':<10} {'control':<15} {'input':<6} {'n':>3} {'median':>8} {'p90':>8} {'steps90':>8} {'settle':>8} {'render':>8} {'paints':>6} {'final':>8} {'browser':>8} {'seen':>7}  changed",
        file=out,
    )
    print(
        f"{'':<10} {'':<15} {'':<6} {'':>3} {'ms':>8} {'ms':>8} {'ms':>8} {'ms':>8} {'ms':>8} {'':>6} {'px':>8} {'':>8} {'':>7}",
        file=out,
    )
    for r in rows:
        med = statistics.median(r.latencies) if r.latencies else None
        settle = statistics.median(r.settles) if r.settles else None
        render = statistics.median(r.renders) if r.renders else None
        paints = statistics.median(r.paints) if r.paints else 0
        changed = f"{sum(r.changed)}/{len(r.changed)}" + (" (every time)" if all(r.changed) else "")
        final = "x".join(map(str, r.sizes[-1])) if r.sizes else "-"
        browser = f"{sum(r.from_browser)}/{len(r.from_browser)}"
        seen = f"{sum(r.seen)}/{len(r.seen)}"
        steps = percentile(sorted(r.steps), 90) if r.input == "drag" else None
        print(
            f"{r.widget:<10} {r.control:<15} {r.input:<6} {len(r.changed):>3} {fmt(med)} {fmt(percentile(sorted(r.latencies), 90))} "
            f"{fmt(steps)} {fmt(settle)} {fmt(render)} {paints:>6.0f} {final:>8} {browser:>8} {seen:>7}  {changed}",
            file=out,
        )
    print(
        "\nwhere the time goes (medians, ms; keys, selects and clicks; kernel stages only where the kernel was involved):",
        file=out,
    )
    print(
        f"{'widget':<10} {'control':<15} {'in->send':>9} {'kernel rt':>10} {'(render)':>9} {'recv->src':>10} {'decode':>7} {'paint':>7}",
        file=out,
    )
    for r in rows:
        if r.input == "drag" or not r.latencies:
            continue
        med = {s: (statistics.median(r.stages[s]) if r.stages.get(s) else None) for s in STAGES}
        render = statistics.median(r.renders) if r.renders else None
        print(
            f"{r.widget:<10} {r.control:<15} {fmt(med['input_to_send'], 9)} {fmt(med['kernel_round_trip'], 10)} {fmt(render, 9)} "
            f"{fmt(med['receive_to_src'], 10)} {fmt(med['decode'], 7)} {fmt(med['paint'], 7)}",
            file=out,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the notebook with CINLAB_FAST=1 (default)",
    )
    parser.add_argument("-n", type=int, default=10, help="inputs per control (default 10)")
    parser.add_argument("--drags", type=int, default=3, help="drags per slider (default 3; 0: none)")
    parser.add_argument(
        "--widgets", nargs="*", default=list(WIDGET_CELLS), help=f"which widgets (default: all of {list(WIDGET_CELLS)})"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for JupyterLab and its kernel",
    )
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument(
        "--windowing",
        choices=["none", "defer", "full", "contentVisibility"],
        help="JupyterLab's notebook windowing mode (default: JupyterLab's default)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a picture after an input")
    parser.add_argument(
        "--quiet",
        type=float,
        default=500.0,
        help="ms without input or new picture (and an idle kernel, and no preview on show) that end a "
        "measurement (default 500)",
    )
    parser.add_argument("--run-timeout", type=float, default=1200.0, help="seconds for running all cells")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each widget in this folder")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()
    env = dict(kv.split("=", 1) for kv in args.env)
    env["CINLAB_FAST"] = "1" if args.fast else "0"
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cinlab-browser-"))
    shutil.copy(args.notebook, workdir / args.notebook.name)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        with (
            jupyterlab(workdir, env=env, settings=windowing(args.windowing, LAB_SETTINGS)) as server,
            sync_playwright() as pw,
        ):
            browser = launch_chromium(pw, args.chromium)
            page = open_notebook(browser, server, args.notebook.name)
            errors = run_all_cells(page, timeout=args.run_timeout)
            run_s = time.monotonic() - started
            if errors:
                raise SystemExit(f"cells failed: {errors}")
            boxes = {
                name: exercise_widget(page, name, WIDGET_CELLS[name], args, rows, args.screenshots)["box"]
                for name in args.widgets
            }
            browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()

    print(
        f"notebook {args.notebook.name}, JupyterLab + {args.chromium} (headless), fast mode: {args.fast}, "
        f"windowing: {args.windowing or 'JupyterLab default'}, extra env: {args.env or 'none'}; start + run all: {run_s:.0f} s; "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        "latency: input event (a slider drag: the first input that moved the value) to the new picture painted; "
        "settle: last input (that moved the value) to last picture painted;\n"
        "render: the kernel's own forward pass for the last picture (caption); final: that picture's size; "
        "browser: first picture shown by the browser from its frame cache, without the kernel;\n"
        "steps90: p90 over every state a drag reached of input to its picture painted; "
        "seen: the picture had a box on the page and its pixels on the screen changed (screenshots)"
    )
    print_tables(rows)
    print(
        "\npicture on the page (natural px -> shown CSS px): "
        + "; ".join(
            f"{name} {'x'.join(str(round(v)) for v in box['natural'])} -> {'x'.join(str(round(v)) for v in box['shown'])}"
            for name, box in boxes.items()
        )
    )
    print(
        f"\nload average (1, 5, 15 min): start {tuple(round(x, 2) for x in load_start)}, end {tuple(round(x, 2) for x in load_end)}"
    )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()
