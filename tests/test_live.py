"""Pictures rendered ahead and kept in the browser (cinlab.live and cinlab/frame_cache.js).

The JavaScript half is run with Node where it is installed (the browser test in
``benchmarks/browser`` runs it in Chromium); its key must match the Python one exactly.
"""

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinlab import live as live_module, widgets
from cinlab.live import Frame, FrameCache, Sizing, axis, control_state, full_side, prefetch_plan, state_key
from cinlab.mixer import StyleMixer
from cinlab.widgets import spatial_blend, style_pad, two_style_slider, weight_sliders

JS = Path(live_module.__file__).with_name("frame_cache.js")


# ----------------------------------------------------------------------------- states and keys


def test_state_of_sliders_and_selections():
    import ipywidgets as W

    pick = W.Dropdown(options=[("0: a", 0), ("1: b", 1), ("2: c", 2)], value=2)
    split = W.ToggleButtons(options=["horizontal", "vertical"], value="vertical")
    alpha = W.FloatSlider(value=0.1 + 0.2, min=0.0, max=1.0, step=0.05)
    state = tuple(control_state(c) for c in (pick, split, alpha))
    assert state == (2, 1, 0.3) and state_key(state) == "2|1|0.3000"
    assert axis(pick) == [0, 1, 2] and axis(split) == [0, 1]
    assert axis(alpha) == [round(i * 0.05, 4) for i in range(21)]
    softness = W.FloatSlider(value=0.15, min=0.01, max=0.5, step=0.01)
    assert (
        len(axis(softness)) == 50 and axis(softness)[0] == 0.01 and axis(softness)[-1] == 0.5 and 0.15 in axis(softness)
    )


def test_prefetch_plan_goes_one_step_first_in_the_direction_of_the_last_move():
    axes = [[0, 1, 2, 3], [round(i * 0.25, 4) for i in range(5)]]
    plan = list(prefetch_plan((1, 0.5), axes, previews=True, moved=(1, -1)))
    # previews of one step of each control, the moved slider first and the way it went
    assert plan[:4] == [((1, 0.25), False), ((1, 0.75), False), ((2, 0.5), False), ((0, 0.5), False)]
    assert plan[4:8] == [((1, 0.25), True), ((1, 0.75), True), ((2, 0.5), True), ((0, 0.5), True)]
    # then every value of each control (previews before full pictures), nothing out of range
    everything = {(a, 0.5) for a in axes[0]} | {(1, b) for b in axes[1]}
    assert {s for s, full in plan if not full} == everything == {s for s, full in plan if full}
    first_full = next(i for i, (s, full) in enumerate(plan[8:]) if full) + 8
    assert all(not full for _, full in plan[8:first_full])
    # without previews (a fast machine): full pictures only, same order of states
    fast = list(prefetch_plan((1, 0.5), axes, previews=False, moved=(1, -1)))
    assert all(full for _, full in fast) and fast[:4] == [(s, True) for s, _ in plan[:4]]


def test_prefetch_plan_covers_a_grid_nearest_first():
    axes = [[round(i * 0.25, 4) for i in range(5)]] * 2
    plan = [s for s, full in prefetch_plan((0.0, 0.0), axes, previews=False, grids=[(0, 1)])]
    assert plan[:2] == [(0.25, 0.0), (0.0, 0.25)]  # one step of each, then the grid (a click may land anywhere)
    grid = plan[2:27]
    assert set(grid) == {(a, b) for a in axes[0] for b in axes[1]}
    distances = [a * a + b * b for a, b in grid]
    assert distances == sorted(distances)


def test_frame_cache_never_downgrades_and_drops_the_oldest():
    cache = FrameCache(max_bytes=25)
    assert cache.put("a", Frame(b"x" * 10, True))
    assert not cache.put("a", Frame(b"y" * 5, False))  # a preview never replaces a full frame
    assert cache.get("a").jpeg == b"x" * 10 and cache.has("a", full=True)
    cache.put("b", Frame(b"p" * 5, False))
    assert cache.has("b", full=False) and not cache.has("b", full=True)
    assert cache.put("b", Frame(b"f" * 10, True))  # a full frame replaces a preview
    cache.put("c", Frame(b"z" * 10, True))  # 30 bytes > 25: the oldest ("a") goes
    assert [k for k, _ in cache.items()] == ["b", "c"] and cache.nbytes == 20
    cache.put("err", Frame(None, True, error="all weights are 0"))
    assert cache.get("err").nbytes == 0


def test_full_side_fits_the_budget():
    assert full_side(256, 256, 640.0, 180.0) == 128  # 256 * sqrt(180 / 640) = 135.8 -> 128
    assert full_side(256, 256, 100.0, 180.0) == 256  # fits: as asked
    assert full_side(256, 64, 40.0, 180.0) == 128  # timed at 64 px: the same cost per pixel
    assert full_side(512, 512, 1e6, 180.0) == 64  # never below the smallest
    assert full_side(48, 48, 1e6, 180.0) == 48


def test_one_sizing_policy_gives_the_full_picture_and_its_previews():
    sizing = Sizing()  # the budgets of cinlab.live: 180 ms full, 50 ms previews, at least 48 px
    assert sizing.full(256, 256, 640.0) == 128 and sizing.full(256, 256, 100.0) == 256
    assert Sizing(full_budget_ms=None).full(256, 256, 1e6) == 256  # the size asked for, whatever it costs
    assert sizing.preview(256, 40.0) is None  # the full picture fits the preview budget: no preview
    assert sizing.preview(256, 800.0) == 64  # 256 * sqrt(50 / 800)
    assert sizing.preview(256, 5000.0) == live_module.MIN_PREVIEW
    assert Sizing(preview_budget_ms=200.0).preview(256, 800.0) == 128


# ----------------------------------------------------------------------------- the browser half, in Node


def _node(script: str) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "Node.js is not installed (apt-get install nodejs); the browser test runs frame_cache.js in Chromium"
        )
    result = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_javascript_key_is_the_python_key():
    values = [0.0, 0.05, 0.1 + 0.2, 0.35000000000000003, 0.7, 1.0, 0.15, 0.49999999999, 0.12345]
    models = json.dumps(
        [{"value": v} for v in values] + [{"index": 3, "value": 3}, {"index": 0, "value": "horizontal"}]
    )
    out = _node(f"""
        import {{ stateKey }} from {json.dumps(JS.as_uri())};
        const models = {models}.map((attrs) => ({{ get: (k) => attrs[k] }}));
        console.log(JSON.stringify(models.map((m) => stateKey([m]))));
    """)
    expected = [state_key((round(v, 4),)) for v in values] + ["3", "0"]
    assert out == expected


def test_javascript_view_shows_cached_frames_at_once_and_the_kernels_newest_picture():
    out = _node(f"""
        import {{ FrameStore, connect }} from {json.dumps(JS.as_uri())};
        const slider = {{ value: 0.5, get(k) {{ return k === "value" ? this.value : undefined; }} }};
        let urls = 0, dropped = [];
        const store = new FrameStore(() => `blob:${{++urls}}`, (u) => dropped.push(u), 3);
        const shown = [];
        const view = connect([slider], store, (key, f) => shown.push(f.url || f.error));
        const inUse = () => false;
        const log = {{}};
        view.onFrame({{ key: "0.5000", full: true, live: true, caption: "c" }}, "bytes", inUse);
        log.first = [...shown];
        view.onFrame({{ key: "0.5500", full: false, live: false }}, "bytes", inUse);   // drawn ahead: kept, not shown
        log.ahead = [...shown];
        slider.value = 0.55; view.onControls();                                        // moved onto it: shown at once
        log.moved = [...shown];
        view.onFrame({{ key: "0.5500", full: true, live: false }}, "bytes", inUse);    // its full picture: replaces the preview
        log.full = [...shown];
        view.onFrame({{ key: "0.5500", full: false, live: true }}, "bytes", inUse);    // a late preview: never over a full one
        log.late = [...shown];
        slider.value = 0.6; view.onChange();                                           // a drag passes 0.6 ...
        slider.value = 0.9; view.onControls();                                         // ... to 0.9, not here: nothing changes ...
        log.missing = [...shown];
        view.onFrame({{ key: "0.6000", full: false, live: true }}, "bytes", inUse);    // ... until the kernel's newest picture
        log.live = [...shown];
        view.onFrame({{ key: "0.9000", full: true, live: true, error: "no mixture" }}, null, inUse);
        log.error = [...shown];
        log.size = store.frames.size; log.dropped = dropped;
        console.log(JSON.stringify(log));
    """)
    assert out["first"] == ["blob:1"]
    assert out["ahead"] == ["blob:1"]
    assert out["moved"] == ["blob:1", "blob:2"]
    assert out["full"] == ["blob:1", "blob:2", "blob:3"]
    assert out["late"] == out["full"]
    assert out["missing"] == out["full"]
    assert out["live"][-1] == "blob:4"
    assert out["error"][-1] == "no mixture"
    assert out["size"] == 3 and out["dropped"][:2] == ["blob:2", "blob:1"]  # replaced preview, then the oldest


# ----------------------------------------------------------------------------- the widgets render ahead


def _decoded(jpeg: bytes) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(io.BytesIO(jpeg)))).float()


@pytest.mark.parametrize("make", ["two_style", "spatial"])
def test_pictures_rendered_ahead_are_the_pictures_of_their_states(model, photo, live, make):
    if make == "two_style":
        box = two_style_slider(model, photo, 0, 3, size=32, preview_size=16)
        control, value = box.controls["alpha"], 0.8
    else:
        box = spatial_blend(model, photo, 0, 2, size=32, preview_size=16)
        control, value = box.controls["position"], 0.7
    live(box)
    assert box.renderer.wait(300, background=True)
    ahead = box.cache.get(
        state_key(box.state()[:-1] + (value,))
        if make == "two_style"
        else state_key(box.state()[:3] + (value,) + box.state()[4:])
    )
    assert ahead is not None and ahead.full
    renders = []
    original = box.mixer.render
    box.mixer.render = lambda *a, **k: renders.append(a) or original(*a, **k)
    control.value = value
    assert box.renderer.wait(60)
    assert renders == [] and box.current[1] is ahead  # shown from the cache: no render
    # the same picture as rendering the state from scratch
    fresh = StyleMixer(model, photo, size=32)
    if make == "two_style":
        fresh.set_pair(0, 3, value)
    else:
        fresh.set_spatial(0, 2, "horizontal", value, 0.15)
    expected = fresh.encode(fresh.render(), quality=90)
    assert (_decoded(ahead.jpeg) - _decoded(expected)).abs().max() <= 1


def test_rendering_ahead_leaves_the_mixture_on_screen_alone(model, photo, live):
    box = weight_sliders(model, photo, styles=[0, 1, 2], size=32, preview_size=16)
    live(box)
    box.controls["b"].value = 1.0
    assert box.renderer.wait(60)
    for _ in range(20):  # while frames are rendered ahead, the widget's mixture is the controls'
        torch.testing.assert_close(box.mixer.weights, torch.tensor([0.5, 0.5, 0.0, 0.0]))
        time.sleep(0.01)
    assert box.renderer.wait(300, background=True) and box.renderer.draws["background"] > 10
    assert box.renderer.error is None


def test_a_new_browser_view_gets_every_frame(model, photo, live):
    box = two_style_slider(model, photo, 0, 1, size=32, preview_size=16)
    live(box)
    assert box.renderer.wait(300, background=True)
    sent = []
    box.image.send_frame = lambda key, frame, live: sent.append((key, live))
    box._on_browser(box.image, {"kind": "ready"}, [])
    assert len(sent) == len(box.cache) + 1 and sent[-1] == (box.current[0], True)
    assert {k for k, _ in sent} == {k for k, _ in box.cache.items()}


def test_the_full_picture_is_as_large_as_renders_within_the_budget(model, photo, live, monkeypatch):
    original = StyleMixer.render

    def timed(self, size=None, **kwargs):  # a slow machine: 640 ms at 256 px, in proportion to the pixels
        out = original(self, size, **kwargs)
        self.last_ms = 640.0 * (min(out.shape[-2:]) / 256) ** 2
        return out

    monkeypatch.setattr(StyleMixer, "render", timed)
    photo = torch.rand(1, 3, 256, 384)
    box = two_style_slider(model, photo, 0, 1, size=256, preview_size=16)
    live(box)
    assert box.mixer.size == 128 and box.image.width == 192 and box.image.height == 128
    assert box.requested_size == 256 and "192×128 px" in box.caption
    kept = two_style_slider(model, photo, 0, 1, size=256, preview_size=16, full_budget_ms=None)
    live(kept)
    assert kept.mixer.size == 256 and kept.image.height == 256


def test_pad_clicks_snap_to_the_grid_rendered_ahead(model, photo, live):
    pad = style_pad(model, photo, size=32, preview_size=16)
    live(pad)
    pad.controls["u"].value, pad.controls["v"].value = 0.3, 0.8  # a press in the pad (the browser snaps it)
    assert pad.renderer.wait(300, background=True)
    assert all(
        pad.cache.has(state_key((round(i * 0.1, 4), round(j * 0.1, 4))), full=True)
        for i in range(11)
        for j in range(11)
    )


def test_the_widget_used_last_renders_ahead_first_and_the_others_in_turn(model, photo, live):
    first = two_style_slider(model, photo, 0, 1, size=32, preview_size=16)
    live(first)
    second = weight_sliders(model, photo, styles=[0, 1, 2], size=32, preview_size=16)
    live(second)
    assert second.rendering_ahead and not first.rendering_ahead  # the newest one first
    # then, once it has rendered its plan, the other one (a first use of it finds its pictures too)
    assert second.renderer.wait(300, background=True) and first.renderer.wait(300, background=True)
    plan = {state_key(s) for s, _ in prefetch_plan(first.state(), first.axes, previews=True)}
    assert plan <= {key for key, frame in first.cache.items() if frame.full}
    second.controls["b"].value = 1.0  # used: it renders ahead again, first
    assert second.rendering_ahead and not first.rendering_ahead
    first.controls["alpha"].value = 0.25  # and now the first one takes the turn back
    assert first.rendering_ahead and not second.rendering_ahead
    assert first.renderer.wait(300, background=True) and second.renderer.wait(300, background=True)
    assert second.renderer.error is None and first.renderer.error is None


def test_javascript_view_never_takes_the_picture_back_to_an_older_state():
    """During a drag the controls run ahead of the kernel: its "live" pictures of states the
    controls have left are shown only while nothing newer is on screen."""
    out = _node(f"""
        import {{ FrameStore, connect }} from {json.dumps(JS.as_uri())};
        const slider = {{ value: 0.0, get(k) {{ return k === "value" ? this.value : undefined; }} }};
        let urls = 0;
        const store = new FrameStore(() => `blob:${{++urls}}`, () => {{}});
        const shown = [];
        const view = connect([slider], store, (key, f) => shown.push(key));
        const frame = (key, live) => view.onFrame({{ key, full: true, live }}, "bytes", () => false);
        frame("0.0000", true);
        frame("0.2000", false);                                      // rendered ahead: kept
        slider.value = 0.1; view.onControls();                        // a drag: 0.1 (not here) ...
        slider.value = 0.2; view.onControls();                        // ... 0.2 (here: shown at once) ...
        slider.value = 0.3; view.onControls();                        // ... 0.3 (not here)
        frame("0.1000", true);                                        // the kernel's picture of 0.1: older than 0.2
        const log = {{ back: [...shown] }};
        frame("0.3000", true);                                        // the kernel catches up
        log.caught = [...shown];
        slider.value = 0.5; view.onControls();
        frame("0.4000", true);                                        // a state the controls never were in
        log.never = [...shown];
        console.log(JSON.stringify(log));
    """)
    assert out["back"] == ["0.0000", "0.2000"]  # 0.1 would take the picture back: not shown
    assert out["caught"] == ["0.0000", "0.2000", "0.3000"]
    assert out["never"] == out["caught"]


def test_javascript_pad_puts_a_press_where_python_would():
    """The browser maps a press to a grid point (``frame_cache.js``); the still picture and the
    frames rendered ahead use Python's ``pad_uv``, ``pad_point`` and ``snap``: the same points."""
    size = widgets.PAD_SIZE
    points = [[x + 0.5 * (y % 2), y] for x in range(-20, size + 20, 3) for y in range(-20, size + 20, 7)]
    out = _node(f"""
        import {{ padUV, padPoint, snap }} from {json.dumps(JS.as_uri())};
        const g = {json.dumps(widgets.PAD_GEOMETRY)};
        const points = {json.dumps(points)};
        console.log(JSON.stringify({{
            uv: points.map(([x, y]) => padUV(x, y, g).map((p) => snap(p, g.step))),
            xy: [[0, 0], [1, 0], [0.3, 0.7], [1, 1]].map(([u, v]) => padPoint(u, v, g)),
        }}));
    """)
    expected = [[widgets.snap(p) for p in widgets.pad_uv(x, y)] for x, y in points]
    assert out["uv"] == expected
    assert out["xy"] == [list(widgets.pad_point(u, v)) for u, v in [(0, 0), (1, 0), (0.3, 0.7), (1, 1)]]
    assert {tuple(p) for p in out["uv"]} == {(i / 10, j / 10) for i in range(11) for j in range(11)}  # every point


def test_work_ahead_runs_in_its_own_low_priority_thread():
    import os
    import sys
    import threading

    from cinlab.live import LatestOnly

    seen = {}

    def draw(preview):
        seen.setdefault("draw", (threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))

    def ahead():
        seen["ahead"] = (
            threading.get_native_id(),
            os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
            torch.get_num_threads(),
        )
        return False

    renderer = LatestOnly(draw, settle_s=0.01, threads=1, background=ahead)
    try:
        renderer.request()
        assert renderer.wait(300, background=True)
    finally:
        renderer.close()
    assert seen["ahead"][0] != seen["draw"][0] and seen["ahead"][2] == 1
    if sys.platform.startswith("linux"):
        assert seen["ahead"][1] == live_module.AHEAD_NICE > 0 and seen["draw"][1] == os.getpriority(
            os.PRIO_PROCESS, 0
        )  # only that thread
    assert not any(t.is_alive() for t in renderer._threads)  # close() ends both


def test_a_view_that_dropped_a_frame_asks_for_it_again(model, photo, live):
    out = _node(f"""
        import {{ FrameStore, connect }} from {json.dumps(JS.as_uri())};
        const slider = {{ value: 0.5, get(k) {{ return k === "value" ? this.value : undefined; }} }};
        const asked = [], shown = [];
        const store = new FrameStore((b) => `blob:${{b}}`, () => {{}}, 1);
        const view = connect([slider], store, (key, f) => shown.push(f.url), (key) => asked.push(key));
        view.onFrame({{ key: "0.5000", full: true, live: true }}, "a", () => false);
        view.onFrame({{ key: "0.6000", full: true, live: false }}, "b", () => false);   // the oldest ("0.5000") goes
        view.onFrame({{ key: "0.5000", full: true, live: true }}, null, () => false);  // named only: not here any more
        console.log(JSON.stringify({{ asked, shown }}));
    """)
    assert out == {"asked": ["0.5000"], "shown": ["blob:a"]}
    box = two_style_slider(model, photo, 0, 1, size=32, preview_size=16)
    live(box)
    sent = []
    box.image.send_frame = lambda key, frame, live, bytes=True: sent.append((key, frame, live, bytes))
    key, frame = box.current
    box._on_browser(box.image, {"kind": "missing", "key": key}, [])
    assert sent == [(key, frame, True, True)]  # the bytes, again


def test_frame_cache_keeps_as_many_frames_as_the_browser():
    cache = FrameCache(max_frames=2)
    for key in "abc":
        cache.put(key, Frame(b"x", True))
    assert [k for k, _ in cache.items()] == ["b", "c"]
    assert f"MAX_FRAMES = {live_module.MAX_CACHE_FRAMES};" in JS.read_text()


def test_the_view_writes_captions_as_text_not_html():
    # captions and messages carry style names from a checkpoint, which may come from anyone
    source = JS.read_text()
    assert "innerHTML" not in source and "caption.textContent = frame.caption" in source


# A page in Node: just enough of the DOM for the two views of frame_cache.js, which records every
# element put into the page with the source it had at that moment.
_FAKE_PAGE = """
    const attached = [];
    class El {
        constructor(tag) {
            Object.assign(this, { tagName: tag.toUpperCase(), children: [], parent: null, style: {}, dataset: {},
                                  listeners: {}, className: "", src: "", _classes: new Set(), _text: "" });
        }
        get classList() {
            const c = this._classes;
            return { add: (x) => c.add(x), remove: (x) => c.delete(x), contains: (x) => c.has(x) };
        }
        _attach(kid) { kid.parent = this; attached.push({ tag: kid.tagName, src: kid.src || "" }); }
        append(...kids) { for (const kid of kids) { this.children.push(kid); this._attach(kid); } }
        replaceWith(other) { const kids = this.parent.children; kids[kids.indexOf(this)] = other; this.parent._attach(other); }
        replaceChildren(...kids) { this.children = []; this.append(...kids); }
        set textContent(text) { this._text = text; }
        get textContent() { return this._text; }
        addEventListener(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); }
        dispatch(type, event) { for (const f of this.listeners[type] || []) f({ preventDefault() {}, ...event }); }
        getBoundingClientRect() { return { left: 10, top: 20, width: 288, height: 288 }; }
        setPointerCapture() {}
    }
    globalThis.document = { createElement: (tag) => new El(tag) };
    globalThis.Image = class { decode() { return Promise.resolve(); } };
    globalThis.requestAnimationFrame = (f) => setTimeout(f, 0);
    const tick = () => new Promise((r) => setTimeout(r, 5));
    const slider = (id, value) => {
        const handlers = {};
        return { id, value, saved: [], get(k) { return k === "value" ? this.value : undefined; },
                 set(k, v) { this.value = v; for (const f of [...(handlers["change:value"] || []), ...(handlers.change || [])]) f(); },
                 save_changes() { this.saved.push(this.value); },
                 on(ev, f) { (handlers[ev] = handlers[ev] || []).push(f); }, off() {} };
    };
    const modelOf = (attrs, widgets) => {
        const handlers = {}, sent = [];
        return { sent, get: (k) => attrs[k], on(ev, f) { handlers[ev] = f; }, off() {}, send(m) { sent.push(m); },
                 message(m, buffers) { handlers["msg:custom"](m, buffers); },
                 widget_manager: { get_model: async (id) => widgets[id] } };
    };
"""


def test_javascript_picture_view_never_puts_an_image_without_its_picture_in_the_page():
    """An <img alt> laid out without a source and given one while its cell is skipped by
    content-visibility never gets a box in Chromium (the live picture that was not on screen):
    the view makes its <img> with its first picture, and marks itself live then."""
    out = _node(f"""
        import view, {{ stateKey }} from {json.dumps(JS.as_uri())};
        {_FAKE_PAGE}
        const alpha = slider("a", 0.5);
        const model = modelOf({{ role: "picture", width: 96, height: 64, controls: ["IPY_MODEL_a"] }}, {{ a: alpha }});
        const el = new El("div");
        await view.render({{ model, el }});
        const log = {{ before: attached.map((a) => a.tag), live_before: el.classList.contains("cinlab-live"), sent: model.sent }};
        const jpeg = new Uint8Array([255, 216, 255, 217]);
        model.message({{ kind: "frame", key: "0.5000", full: true, live: true, caption: "c" }}, [jpeg]);
        model.message({{ kind: "frame", key: "0.5500", full: false, live: false, caption: "d" }}, [jpeg]);
        const img = el.children[0];
        log.first = {{ tag: img.tagName, src: img.src.slice(0, 5), live: el.classList.contains("cinlab-live"),
                       shown: el.dataset.shown, full: el.dataset.full }};
        alpha.set("value", 0.55);
        await tick();
        log.moved = {{ same: el.children[0] === img, changed: img.src !== log.first.src, shown: el.dataset.shown,
                       full: el.dataset.full, state: el.dataset.state }};
        log.attached = attached;
        console.log(JSON.stringify(log));
    """)
    assert out["before"] == ["DIV", "DIV"] and out["sent"] == [{"kind": "ready"}]  # a box in its place, the caption
    assert out["live_before"] is False
    assert out["first"] == {"tag": "IMG", "src": "blob:", "live": True, "shown": "0.5000", "full": "true"}
    images = [a for a in out["attached"] if a["tag"] == "IMG"]
    assert len(images) == 1 and images[0]["src"].startswith("blob:")  # in the page only with its picture
    assert out["moved"] == {"same": True, "changed": True, "shown": "0.5500", "full": "false", "state": "0.5500"}


def test_javascript_pad_moves_both_sliders_at_a_press_and_during_a_drag():
    out = _node(f"""
        import view from {json.dumps(JS.as_uri())};
        {_FAKE_PAGE}
        const u = slider("u", 0.5), v = slider("v", 0.5);
        const g = {json.dumps(widgets.PAD_GEOMETRY)};
        const model = modelOf({{ role: "pad", point: ["IPY_MODEL_u", "IPY_MODEL_v"], geometry: g,
                                 background: new Uint8Array([255, 216, 255, 217]) }}, {{ u, v }});
        const el = new El("div");
        await view.render({{ model, el }});
        const box = el.children[0];
        const [picture, dot] = box.children;
        const log = {{ picture: picture.src.slice(0, 5), dot: [dot.style.left, dot.style.top] }};
        // the box is at (10, 20) in the page; a press at the point (1, 0), then a drag with the button down
        const at = (pu, pv) => ({{ clientX: 10 + g.square_x + pu * g.span, clientY: 20 + g.square_y + pv * g.span }});
        box.dispatch("pointermove", {{ pointerId: 1, button: 0, ...at(0.2, 0.2) }});      // hovering: nothing
        log.hover = [u.value, v.value];
        box.dispatch("pointerdown", {{ pointerId: 1, button: 0, ...at(0.98, 0.03) }});
        log.press = [u.value, v.value, [...u.saved], [...v.saved]];
        box.dispatch("pointermove", {{ pointerId: 1, ...at(0.52, 0.96) }});
        box.dispatch("pointermove", {{ pointerId: 1, ...at(0.5, 1.4) }});                // outside: clamped, same point
        log.drag = [u.value, v.value, u.saved.length, v.saved.length];
        box.dispatch("pointerup", {{ pointerId: 1 }});
        box.dispatch("pointermove", {{ pointerId: 1, ...at(0, 0) }});
        log.released = [u.value, v.value, dot.style.left, dot.style.top];
        console.log(JSON.stringify(log));
    """)
    assert out["picture"] == "blob:"
    assert out["hover"] == [0.5, 0.5]
    assert out["press"] == [1, 0, [1], [0]]  # both sliders, and both sent to the kernel
    assert out["drag"] == [0.5, 1, 2, 2]
    x, y = widgets.pad_point(0.5, 1.0)
    left, top = (f"{100 * (p - widgets.PAD_DOT) / widgets.PAD_SIZE}%" for p in (x, y))
    assert out["released"][:2] == [0.5, 1]
    assert [float(p.rstrip("%")) for p in out["released"][2:]] == pytest.approx(
        [float(left.rstrip("%")), float(top.rstrip("%"))]
    )
