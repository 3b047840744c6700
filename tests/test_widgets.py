"""The style-mixing widgets: the logic (StyleMixer, LatestOnly, the pad) and the ipywidgets wiring.

The browser side (latency, clicks, what JupyterLab shows) is checked in
``benchmarks/browser/test_notebook07_browser.py``; the browser half's logic in ``test_live.py``.
"""

import base64
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinlab import embedding, live as live_threads, mixer as mixer_module, widgets
from cinlab.live import Sizing
from cinlab.mixer import StyleMixer
from cinlab.style import StyleCondition
from cinlab.widgets import (
    LatestOnly,
    pad_picture,
    pad_point,
    pad_uv,
    spatial_blend,
    style_pad,
    two_style_slider,
    weight_sliders,
)

ROOT = Path(__file__).resolve().parent.parent


def picture_size(live_widget) -> tuple[int, int]:
    return Image.open(io.BytesIO(live_widget.picture)).size


# ----------------------------------------------------------------------------- StyleMixer


def test_a_mixture_renders_as_the_network_whose_style_rows_are_the_mixed_rows(model, photo):
    """What a slider value does to (gamma, beta): the picture is the one of a one-style network whose
    rows are 0.75 of style 0's plus 0.25 of style 2's (the embedding's view of a mixture)."""
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    first = mixer.render()
    mixer.set_pair(0, 2, 0.25)
    second = mixer.render()
    mixed = {"a": 0.75, "c": 0.25}
    expected = embedding.split_mixture(model, mixed, mixed)(mixer.content, 0)
    torch.testing.assert_close(second, expected, rtol=1e-5, atol=1e-5)
    assert second.shape == (1, 3, 32, 38) and not torch.equal(first, second)
    assert mixer.last_ms > 0


def test_the_mixer_never_changes_the_network(model, photo):
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    tables = [id(p) for p in model.style_parameters()]
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    for set_mixture in (lambda: mixer.set_pair(1, 3, 0.4), lambda: mixer.set_spatial(0, 2, "circle")):
        set_mixture()
        mixer.render()
        mixer.render(16)
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert [id(p) for p in model.style_parameters()] == tables  # no table swapped in or out
    assert model(mixer.content, 0).shape == (1, 3, 32, 38)  # and it renders a single style as before


def test_a_mixture_is_passed_as_a_condition_on_the_styles_it_uses(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    mixer.set_pair(1, 3, 0.4)
    condition = mixer.condition()
    assert condition.kind == "weights" and condition.rows.tolist() == [1, 3]
    torch.testing.assert_close(condition.value, torch.tensor([[0.6, 0.4]]))
    mixer.set_spatial(0, 2, "horizontal")
    condition = mixer.condition((16, 19))
    assert condition.kind == "spatial" and condition.rows.tolist() == [0, 2]
    assert condition.value.shape == (1, 2, 16, 19)  # resized to the preview


def test_pure_styles_at_the_ends(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    content = mixer.content
    mixer.set_pair(1, 3, 0.0)
    torch.testing.assert_close(mixer.render(), model(content, 1), rtol=1e-5, atol=1e-5)
    mixer.set_pair(1, 3, 1.0)
    torch.testing.assert_close(mixer.render(), model(content, 3), rtol=1e-5, atol=1e-5)


def test_weights_are_normalised_and_checked(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    torch.testing.assert_close(mixer.set_weights([2, 0, 2, 0]), torch.tensor([0.5, 0, 0.5, 0]))
    with pytest.raises(ValueError, match="4 weights"):
        mixer.set_weights([1, 1])
    with pytest.raises(ValueError, match="negative"):
        mixer.set_weights([1, -1, 0, 0])
    with pytest.raises(ValueError, match="all zero"):
        mixer.set_weights([0, 0, 0, 0])


def test_a_preview_is_the_same_picture_smaller(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    mixer.set_pair(0, 1, 0.5)
    full, preview = mixer.render(), mixer.render(16)
    assert full.shape[-2:] == (32, 38) and preview.shape[-2:] == (16, 19)
    assert mixer.content_at(16) is mixer.content_at(16)  # resized once, then kept
    # the same mixture, on the photo resized
    expected = model(mixer.content_at(16), torch.tensor([0.5, 0.5, 0.0, 0.0]))
    torch.testing.assert_close(preview, expected, rtol=1e-5, atol=1e-5)


def test_spatial_split_puts_each_style_on_its_side(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    weights = mixer.set_spatial(0, 1, "horizontal", position=0.5, softness=0.01)
    assert weights[0, 0, :, 0].min() > 0.99 and weights[0, 1, :, -1].min() > 0.99
    assert mixer.render().shape[-2:] == mixer.content.shape[-2:]
    with pytest.raises(ValueError, match="kind"):
        mixer.set_spatial(0, 1, "diagonal")


def test_spatial_render_on_the_used_styles_equals_the_full_network(model, photo):
    """The mixer renders a split of 2 styles with a condition on their 2 rows: same picture."""
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    weights = mixer.set_spatial(1, 3, "circle", position=0.6, softness=0.2)
    expected = model(mixer.content, StyleCondition("spatial", weights))
    torch.testing.assert_close(mixer.render(), expected, rtol=1e-5, atol=1e-5)
    mixer.set_spatial(0, 2, "vertical")  # other styles: the rows follow
    torch.testing.assert_close(
        mixer.render(), model(mixer.content, StyleCondition("spatial", mixer.spatial)), rtol=1e-5, atol=1e-5
    )
    assert mixer.render(16).shape[-2:] == (16, 19)  # the map is resized for a preview
    mixer.set_pair(0, 3, 0.5)  # back to plain mixing
    torch.testing.assert_close(
        mixer.render(), model(mixer.content, torch.tensor([0.5, 0, 0, 0.5])), rtol=1e-5, atol=1e-5
    )


def test_a_render_stops_when_it_is_no_longer_wanted(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    asked = []

    def cancelled():  # the controls move while the third layer is about to run
        asked.append(1)
        return len(asked) >= 3

    with pytest.raises(widgets.RenderCancelled):
        mixer.render(cancelled=cancelled)
    assert len(asked) == 3  # stopped there, not at the end (16 layers)
    assert mixer.render().shape[-2:] == (32, 38)  # and the next render runs normally
    assert model(mixer.content, 0).shape == (1, 3, 32, 38)  # so does the network outside a render


def test_a_cancelled_render_stops_only_its_own_thread(model, photo):
    import threading

    mixer, ahead = StyleMixer(model, photo, size=32, precision="float32"), None
    ahead = mixer.fork()  # a second mixer of the same network, as a widget renders ahead with
    assert len(model.conv_layers()) == 16
    assert all(len(layer._forward_pre_hooks) == 1 for layer in model.conv_layers())  # added once
    inside, done = threading.Event(), threading.Event()
    results = {}

    def render_ahead():  # renders while the other thread's render is being cancelled
        def slow():
            inside.set()
            done.wait(60)
            return False

        results["ahead"] = ahead.render(cancelled=slow)

    thread = threading.Thread(target=render_ahead)
    thread.start()
    assert inside.wait(60)
    with pytest.raises(widgets.RenderCancelled):
        mixer.render(cancelled=lambda: True)
    done.set()
    thread.join(60)
    assert results["ahead"].shape == (1, 3, 32, 38)


# ----------------------------------------------------------------------------- LatestOnly


# These wait on events, not on time: under load (CI on 2 busy cores) a sleep of 5 ms can take 50.


def test_latest_only_draws_the_newest_state_and_drops_stale_ones():
    import threading

    state = {"value": 0}
    drawn = []
    rendering, finish = threading.Event(), threading.Event()

    def draw(preview):
        drawn.append((preview, state["value"]))
        rendering.set()
        assert finish.wait(60)  # a render that lasts until the drag below is over

    renderer = LatestOnly(draw, settle_s=0.05, threads=1)
    try:
        state["value"] = 1
        renderer.request()
        assert rendering.wait(60)  # the first preview is being drawn ...
        for value in range(2, 41):  # ... while the controls move 39 more times
            state["value"] = value
            renderer.request()
        finish.set()
        assert renderer.wait(60)
    finally:
        renderer.close()
    # the state the first render started from, then only the newest: one preview, one full picture
    assert drawn == [(True, 1), (True, 40), (False, 40)]
    assert renderer.draws == {"preview": 2, "full": 1, "cancelled": 0, "background": 0}


def test_latest_only_waits_for_the_controls_to_settle_before_the_full_picture():
    drawn = []
    renderer = LatestOnly(lambda preview: drawn.append((preview, time.monotonic())), settle_s=0.2, threads=1)
    try:
        renderer.request()
        assert renderer.wait(60)
    finally:
        renderer.close()
    (p1, t1), (p2, t2) = drawn
    assert p1 and not p2
    assert t2 - t1 >= 0.19  # the full picture only after the pause


def test_a_full_picture_in_progress_gives_way_to_a_new_change():
    import threading

    drawn = []
    renderer = None
    full_started = threading.Event()

    def draw(preview):
        if not preview:  # a full render that checks between its layers, and would never end by itself
            full_started.set()
            while not renderer.pending():
                time.sleep(0.001)
            raise widgets.RenderCancelled()
        drawn.append(preview)

    renderer = LatestOnly(draw, settle_s=0.02, threads=1)
    try:
        renderer.request()
        assert full_started.wait(60)  # the preview is done and the full render has started
        draw_full, renderer.draw = draw, lambda preview: drawn.append(preview)  # the next full render ends
        renderer.request()
        assert renderer.wait(60)
    finally:
        renderer.close()
    assert renderer.draws["cancelled"] == 1 and renderer.draws["full"] == 1
    assert drawn == [True, True, False]  # the second preview came, then the full picture


def test_latest_only_uses_its_own_thread_count_and_survives_errors():
    main_threads = torch.get_num_threads()
    seen = []

    def draw(preview):
        seen.append(torch.get_num_threads())
        raise RuntimeError("boom")

    renderer = LatestOnly(draw, settle_s=0.01, threads=1)
    try:
        renderer.request()
        assert renderer.wait(60)
        renderer.request()  # still alive after an error
        assert renderer.wait(60)
    finally:
        renderer.close()
    assert seen == [1, 1, 1, 1] and isinstance(renderer.error, RuntimeError)
    assert torch.get_num_threads() == main_threads  # the notebook's own thread is untouched


def test_render_threads_leave_half_the_cores_to_the_browser(monkeypatch):
    monkeypatch.delenv("CINLAB_RENDER_THREADS", raising=False)
    monkeypatch.setattr(live_threads.os, "cpu_count", lambda: 2)
    assert live_threads.render_threads() == 1
    monkeypatch.setattr(live_threads.os, "cpu_count", lambda: 16)
    assert live_threads.render_threads() == 8
    monkeypatch.setenv("CINLAB_RENDER_THREADS", "2")
    assert live_threads.render_threads() == 2


# ----------------------------------------------------------------------------- the widgets


def test_two_style_slider_renders_a_preview_then_the_full_picture(model, photo, live):
    box = two_style_slider(model, photo, 0, 3, size=32, preview_size=16)
    live(box)
    sizes = []
    render = box.mixer.render
    box.mixer.render = lambda size=None, **kw: sizes.append(size) or render(size, **kw)
    before = box.picture
    box.cache.clear()  # nothing rendered ahead: the kernel draws this state itself
    box.controls["alpha"].value = 1.0
    assert box.renderer.wait(60)
    assert sizes == [16, None]  # a small preview at once, the full picture after the pause
    assert box.picture != before and picture_size(box) == (38, 32)
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert "ms per render" in box.caption and "preview" not in box.caption and "d 100 %" in box.caption


def test_the_preview_is_as_large_as_fits_the_time_budget(model, photo, live, monkeypatch):
    box = two_style_slider(model, photo, 0, 3, size=256, full_budget_ms=None)
    live(box)
    assert box.renderer.wait(300, background=True)  # nothing renders (and times itself) behind the test's back
    assert box.sizing == Sizing(full_budget_ms=None, preview_budget_ms=50.0, min_preview=widgets.MIN_PREVIEW)
    box.full_ms = 40.0  # a GPU: the full picture fits the budget, no preview
    assert box.preview_size is None
    box.full_ms = 200.0  # a quarter of the pixels fits
    assert box.preview_size == 128
    box.full_ms = 800.0  # a 2-core CPU in float32: 256 * sqrt(50 / 800) = 64
    assert box.preview_size == 64
    box.full_ms = 5000.0  # heavily loaded: never below MIN_PREVIEW
    assert box.preview_size == widgets.MIN_PREVIEW
    box.full_ms = 60.0  # nearly fast enough: a preview nearly as large as the picture
    assert box.preview_size == 224
    sizes = []
    render = box.mixer.render
    box.mixer.render = lambda size=None, **kw: sizes.append(size) or render(size, **kw)
    box.full_ms = 30.0
    box.cache.clear()
    box.controls["alpha"].value = 0.8
    assert box.renderer.wait(60)
    assert sizes == [None]  # the full picture at once, and only once


def test_pictures_are_shown_at_their_own_size(model, photo, live):
    box = two_style_slider(model, photo, 0, 1, size=32)
    live(box)
    w, h = picture_size(box)
    assert (box.image.width, box.image.height) == (w, h)  # the browser sizes the <img> to these (frame_cache.js)
    js = (ROOT / "cinlab" / "frame_cache.js").read_text()
    assert 'maxWidth: "100%", objectFit: "contain"' in js  # a narrow page shrinks it, undistorted


def test_weight_sliders_normalise(model, photo, live):
    box = weight_sliders(model, photo, styles=[0, 1, 2], size=32)
    live(box)
    assert list(box.controls) == ["a", "b", "c"]  # named by their styles
    box.controls["b"].value = 1.0
    assert box.renderer.wait(60)
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.5, 0.5, 0.0, 0.0]))


def test_all_weights_zero_shows_a_message_and_dims_the_picture(model, photo, live):
    box = weight_sliders(model, photo, styles=[0, 1, 2], size=32)
    live(box)
    for slider in box.controls.values():
        slider.value = 0.0
    assert box.renderer.wait(60)
    assert "Nothing to show" in box.caption and "raise at least one slider" in box.caption
    assert box.current[1].error and box.current[1].jpeg is None  # the browser dims the old picture (frame_cache.js)
    box.controls["c"].value = 0.5  # back to a mixture: a picture again
    assert box.renderer.wait(60)
    assert box.current[1].error is None and "ms per render" in box.caption
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_spatial_blend_widget(model, photo, live):
    blend = spatial_blend(model, photo, 0, 2, size=32)
    live(blend)
    before = blend.picture
    blend.controls["position"].value = 0.2
    assert blend.renderer.wait(60)
    assert blend.mixer.spatial is not None and blend.mixer.spatial.shape[1] == 4
    assert blend.picture != before


# ----------------------------------------------------------------------------- the 2-D pad


def test_pad_coordinates_round_trip_and_clamp_to_the_square():
    for u, v in [(0, 0), (1, 0), (0, 1), (1, 1), (0.25, 0.7)]:
        assert pad_uv(*pad_point(u, v)) == pytest.approx((u, v))
    assert pad_uv(0, 0) == (0.0, 0.0)  # on the top-left painting: its corner
    assert pad_uv(widgets.PAD_SIZE, 0) == (1.0, 0.0)
    assert pad_uv(-50, widgets.PAD_SIZE + 50) == (0.0, 1.0)


def _red_pixels(img: Image.Image) -> int:
    rgb = np.asarray(img).astype(int)
    return int(((rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).sum())


def test_the_pad_dot_is_never_clipped():
    centre = _red_pixels(pad_picture(0.5, 0.5))
    assert centre > 100
    for u, v in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        img = pad_picture(u, v)
        assert _red_pixels(img) == centre, f"the dot is cut at corner ({u}, {v})"
        x, y = pad_point(u, v)  # inside the square's frame, not on the thumbnails
        lo, hi = widgets.PAD_THUMB, widgets.PAD_THUMB + widgets.PAD_SQUARE - 1
        assert (
            lo < x - widgets.PAD_DOT
            and x + widgets.PAD_DOT < hi
            and lo < y - widgets.PAD_DOT
            and y + widgets.PAD_DOT < hi
        )


def test_the_pad_moves_the_mixture_through_its_two_sliders(model, photo, live):
    """A press or a drag in the pad sets its two sliders in the browser (``frame_cache.js``,
    ``test_live.py``); the kernel follows the sliders, like any other control's."""
    pad = style_pad(model, photo, corners=(0, 1, 2, 3), size=32)
    live(pad)
    u, v = pad.controls["u"], pad.controls["v"]
    area = pad.panel.children[0]
    assert area.point == [u, v] and area.geometry == widgets.PAD_GEOMETRY
    background = Image.open(io.BytesIO(area.background))
    assert background.size == (widgets.PAD_SIZE, widgets.PAD_SIZE)
    assert _red_pixels(background) == 0  # the browser draws the dot
    u.value, v.value = 1.0, 0.0  # a press on the top-right corner
    assert pad.renderer.wait(60)
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 1.0, 0.0, 0.0]))
    u.value, v.value = 0.5, 1.0  # dragged to the middle of the bottom edge
    assert pad.renderer.wait(60)
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 0.0, 0.5, 0.5]))
    assert _red_pixels(pad.panel_still()) > 100  # the still picture has its dot, where the point is


def test_pad_presses_snap_to_the_grid():
    assert [widgets.snap(p) for p in (0.0, 0.04, 0.05, 0.149, 0.33, 0.76, 1.0)] == [0.0, 0.0, 0.1, 0.1, 0.3, 0.8, 1.0]
    x, y = pad_point(0.33, 0.76)
    assert tuple(widgets.snap(p) for p in pad_uv(x, y)) == (0.3, 0.8)


def test_pad_corner_paintings(has_registry_images):
    if not has_registry_images:
        pytest.skip("registry images not available")
    thumbs = widgets.corner_thumbnails(["starry_night", "not a painting"])
    assert thumbs[0].size == (widgets.PAD_THUMB, widgets.PAD_THUMB) and thumbs[1] is None
    with_painting = pad_picture(0.5, 0.5, ["starry_night", "", "", ""], thumbs + [None, None])
    assert with_painting.getpixel((10, 10)) != pad_picture(0.5, 0.5).getpixel((10, 10))


# ----------------------------------------------------------------------------- without a kernel


def test_a_widget_cell_outputs_a_style_sheet_a_still_picture_and_the_live_widget(model, photo, live):
    pad = style_pad(model, photo, size=32)
    live(pad)
    (css, _), (still, still_metadata), (widget, _) = pad.outputs()
    # 1. the style sheet that, where the notebook is trusted, shows one of the other two
    assert list(css) == ["text/html"] and css["text/html"] == widgets.OUTPUTS_CSS
    for rule in (
        ".jp-OutputArea-child:has(.cinlab-outputs) { display: none; }",
        ":has(+ .jp-OutputArea-child .cinlab-live) { display: none; }",
        "+ .jp-OutputArea-child:not(:has(.cinlab-live)) { display: none; }",
    ):
        assert rule in css["text/html"]
    # 2. the still picture, with the line of text, at its own size
    assert still["text/plain"].startswith("live widget: run this cell") and "children=" not in still["text/plain"]
    picture = Image.open(io.BytesIO(base64.b64decode(still["image/jpeg"])))
    picture_w, picture_h = picture_size(pad)
    assert picture.width >= widgets.PAD_SIZE + picture_w and picture.height > max(widgets.PAD_SIZE, picture_h)
    assert still_metadata["image/jpeg"] == {"width": picture.width, "height": picture.height}
    # 3. the live widget, whose text says nothing (the still picture says it)
    assert widget["application/vnd.jupyter.widget-view+json"]["model_id"] == pad.widget.model_id
    assert widget["text/plain"] == ""


def test_the_live_view_marks_itself_live_only_with_a_picture_from_a_kernel():
    source = (ROOT / "cinlab" / "frame_cache.js").read_text()
    show = source[source.index("const show = (key, frame) => {") :]
    assert show.index('el.classList.add("cinlab-live")') < show.index("};")  # in show(), nowhere else
    assert source.count('classList.add("cinlab-live")') == 1


def test_a_disconnected_widget_says_so(model, photo, live):
    box = two_style_slider(model, photo, size=32)
    live(box)
    hint = [w for w in box.widget.children if "cinlab-offline" in w._dom_classes]
    assert len(hint) == 1 and "run this cell again" in hint[0].value
    # shown only when ipywidgets marks the view disconnected (kernel restarted, saved copy)
    assert ".cinlab-offline.jupyter-widgets-disconnected { display: block" in hint[0].value


def _notebook(name):
    return json.loads((ROOT / "notebooks" / name).read_text())


def test_notebook_07_explains_trust_restarts_and_model_not_found():
    cells = _notebook("07_style_interpolation.ipynb")["cells"]
    note = "".join(cells[1]["source"])
    assert cells[1]["cell_type"] == "markdown"
    for words in ("Trust Notebook", "jupyter trust", "restart", "model not found", "live widget: run this cell"):
        assert words in note


def test_notebook_07_saved_widget_outputs_read_well_without_a_kernel():
    cells = _notebook("07_style_interpolation.ipynb")["cells"]
    widget_cells = [
        c
        for c in cells
        if c["cell_type"] == "code"
        and re.search(r"widgets\.(two_style_slider|weight_sliders|style_pad|spatial_blend)\(", "".join(c["source"]))
    ]
    assert len(widget_cells) == 4
    for cell in widget_cells:  # the three outputs of LiveMixer.outputs, in order
        css, still, live = [o["data"] for o in cell["outputs"] if o["output_type"] == "display_data"]
        assert "".join(css["text/html"]) == widgets.OUTPUTS_CSS
        assert "image/jpeg" in still and "".join(still["text/plain"]).startswith("live widget: run this cell")
        assert "application/vnd.jupyter.widget-view+json" in live and "".join(live["text/plain"]) == ""


def _stuck_progress_bars(name):
    """Saved progress-bar widgets whose text (what an untrusted notebook shows) is not 100 %."""
    stuck = []
    for cell in _notebook(name)["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/plain", ""))
            match = re.search(r"(\d+)%\|", text)
            if match and int(match.group(1)) < 100:
                stuck.append(text.strip())
    return stuck


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_saved_progress_bars_show_a_finished_state(name):
    assert _stuck_progress_bars(name) == []
