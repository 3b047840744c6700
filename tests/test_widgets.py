"""The style-mixing widgets: the logic (StyleMixer, LatestOnly, the pad) and the ipywidgets wiring.

The browser side (latency, clicks, what JupyterLab shows) is checked in
``benchmarks/browser/test_notebook07_browser.py``.
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

from cinlab import live as live_threads, widgets
from cinlab.style import StyleCondition
from cinlab.widgets import (
    LatestOnly,
    StyleMixer,
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


def test_slider_value_gives_the_mixed_gamma_beta_and_a_new_image(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    first = mixer.render()
    mixer.set_pair(0, 2, 0.25)
    gamma, beta = mixer.mixed_affine(layer=3)
    norm = model.norm_layers()[3]
    torch.testing.assert_close(gamma, 0.75 * norm.gamma[0] + 0.25 * norm.gamma[2])
    torch.testing.assert_close(beta, 0.75 * norm.beta[0] + 0.25 * norm.beta[2])
    second = mixer.render()
    assert second.shape == (1, 3, 32, 38) and not torch.equal(first, second)
    assert mixer.last_ms > 0


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
    """The mixer renders a split of 2 styles on a 2-style copy of the tables: same picture."""
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    weights = mixer.set_spatial(1, 3, "circle", position=0.6, softness=0.2)
    expected = model(mixer.content, StyleCondition("spatial", weights))
    torch.testing.assert_close(mixer.render(), expected, rtol=1e-5, atol=1e-5)
    assert mixer._network.norm_layers()[0].gamma.shape[0] == 2
    # the mixer's network shares the model's convolutions (not copied); the model keeps its 4 styles
    assert mixer._network.conv1.conv.weight is model.conv1.conv.weight
    assert model.norm_layers()[0].gamma.shape[0] == 4
    mixer.set_spatial(0, 2, "vertical")  # other styles: the rows follow
    torch.testing.assert_close(
        mixer.render(), model(mixer.content, StyleCondition("spatial", mixer.spatial)), rtol=1e-5, atol=1e-5
    )
    assert mixer.render(16).shape[-2:] == (16, 19)  # the map is resized for a preview
    mixer.set_pair(0, 3, 0.5)  # back to plain mixing: all 4 styles' tables again, the model's own
    torch.testing.assert_close(
        mixer.render(), model(mixer.content, torch.tensor([0.5, 0, 0, 0.5])), rtol=1e-5, atol=1e-5
    )
    assert mixer._network.norm_layers()[0].gamma is model.norm_layers()[0].gamma


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


# ----------------------------------------------------------------------------- LatestOnly


def test_latest_only_draws_the_newest_state_and_drops_stale_ones():
    state = {"value": 0}
    drawn = []

    def draw(preview):
        seen = state["value"]
        time.sleep(0.03)  # a render
        drawn.append((preview, seen))

    renderer = LatestOnly(draw, settle_s=0.05, threads=1)
    try:
        for value in range(1, 41):  # a drag: 40 changes 5 ms apart, faster than a render
            state["value"] = value
            renderer.request()
            time.sleep(0.005)
        assert renderer.wait(5)
    finally:
        renderer.close()
    previews = [v for p, v in drawn if p]
    fulls = [v for p, v in drawn if not p]
    assert len(drawn) < 15  # coalesced: nowhere near one render per change
    assert previews == sorted(previews) and previews[-1] == 40  # never an older state after a newer one
    assert fulls == [40] and drawn[-1] == (False, 40)  # one full picture, of the last state, at the end
    assert renderer.draws == {"preview": len(previews), "full": 1, "cancelled": 0, "background": 0}


def test_latest_only_waits_for_the_controls_to_settle_before_the_full_picture():
    drawn = []
    renderer = LatestOnly(lambda preview: drawn.append((preview, time.monotonic())), settle_s=0.2, threads=1)
    try:
        start = time.monotonic()
        renderer.request()
        assert renderer.wait(5)
    finally:
        renderer.close()
    (p1, t1), (p2, t2) = drawn
    assert p1 and not p2
    assert t1 - start < 0.15 and t2 - t1 >= 0.19  # preview at once, full after the pause


def test_a_full_picture_in_progress_gives_way_to_a_new_change():
    drawn = []
    renderer = None

    def draw(preview):
        if not preview:  # a slow full render that checks between its layers
            for _ in range(50):
                time.sleep(0.01)
                if renderer.pending():
                    raise widgets.RenderCancelled()
        drawn.append((preview, time.monotonic()))

    renderer = LatestOnly(draw, settle_s=0.02, threads=1)
    try:
        renderer.request()
        time.sleep(0.15)  # the preview is done and the full render has started
        moved = time.monotonic()
        renderer.request()
        assert renderer.wait(5)
    finally:
        renderer.close()
    assert renderer.draws["cancelled"] == 1 and renderer.draws["full"] == 1
    second_preview = [t for p, t in drawn if p][1]
    assert second_preview - moved < 0.1  # not after the rest of the 0.5 s full render


def test_latest_only_uses_its_own_thread_count_and_survives_errors():
    main_threads = torch.get_num_threads()
    seen = []

    def draw(preview):
        seen.append(torch.get_num_threads())
        raise RuntimeError("boom")

    renderer = LatestOnly(draw, settle_s=0.01, threads=1)
    try:
        renderer.request()
        assert renderer.wait(5)
        renderer.request()  # still alive after an error
        assert renderer.wait(5)
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
    box.alpha.value = 1.0
    assert box.renderer.wait(5)
    assert sizes == [16, None]  # a small preview at once, the full picture after the pause
    assert box.picture != before and picture_size(box) == (38, 32)
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert "ms per render" in box.caption and "preview" not in box.caption and "d 100 %" in box.caption


def test_the_preview_is_as_large_as_fits_the_time_budget(model, photo, live, monkeypatch):
    box = two_style_slider(model, photo, 0, 3, size=256, full_budget_ms=None)
    live(box)
    assert box.renderer.wait(60, background=True)  # nothing renders (and times itself) behind the test's back
    monkeypatch.setattr(widgets, "PREVIEW_BUDGET_MS", 50.0)
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
    box.alpha.value = 0.8
    assert box.renderer.wait(30)
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
    box.sliders[1].value = 1.0
    assert box.renderer.wait(5)
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.5, 0.5, 0.0, 0.0]))


def test_all_weights_zero_shows_a_message_and_dims_the_picture(model, photo, live):
    box = weight_sliders(model, photo, styles=[0, 1, 2], size=32)
    live(box)
    for slider in box.sliders:
        slider.value = 0.0
    assert box.renderer.wait(5)
    assert "Nothing to show" in box.caption and "raise at least one slider" in box.caption
    assert box.current[1].error and box.current[1].jpeg is None  # the browser dims the old picture (frame_cache.js)
    box.sliders[2].value = 0.5  # back to a mixture: a picture again
    assert box.renderer.wait(5)
    assert box.current[1].error is None and "ms per render" in box.caption
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_spatial_blend_widget(model, photo, live):
    blend = spatial_blend(model, photo, 0, 2, size=32)
    live(blend)
    before = blend.picture
    blend.position.value = 0.2
    assert blend.renderer.wait(5)
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


def test_a_click_or_drag_in_the_pad_moves_the_mixture(model, photo, live):
    pad = style_pad(model, photo, corners=(0, 1, 2, 3), size=32)
    live(pad)
    presses, moves = pad.pad_events
    assert set(presses.watched_events) == {"mousedown", "mouseup", "mouseleave"} and presses.prevent_default_action
    assert moves.watched_events == [] and moves.throttle_or_debounce == "throttle"  # moves only while pressed
    x, y = pad_point(1.0, 0.0)
    before = pad.pad.value
    pad.on_pointer({"type": "mousedown", "dataX": x, "dataY": y, "buttons": 1})  # click the top-right corner
    assert moves.watched_events == ["mousemove"]  # pressed: moves come (a drag)
    pad.on_pointer({"type": "mouseup", "dataX": x, "dataY": y, "buttons": 0})
    assert moves.watched_events == []  # released: hovering sends nothing
    assert pad.renderer.wait(5)
    assert (pad.u.value, pad.v.value) == (1.0, 0.0) and pad.pad.value != before  # the dot moved
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 1.0, 0.0, 0.0]))
    pad.on_pointer({"type": "mousemove", "dataX": 0, "dataY": 0, "buttons": 0})  # hovering does nothing
    assert (pad.u.value, pad.v.value) == (1.0, 0.0)
    x, y = pad_point(0.5, 1.0)
    pad.on_pointer({"type": "mousemove", "dataX": x, "dataY": y, "buttons": 1})  # dragging does
    assert pad.renderer.wait(5)
    assert (pad.u.value, pad.v.value) == pytest.approx((0.5, 1.0))
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 0.0, 0.5, 0.5]))
    pad.u.value = 0.0  # the sliders (the keyboard's way) move the same point
    assert pad.renderer.wait(5)
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_pad_corner_paintings(has_registry_images):
    if not has_registry_images:
        pytest.skip("registry images not available")
    thumbs = widgets.corner_thumbnails(["starry_night", "not a painting"])
    assert thumbs[0].size == (widgets.PAD_THUMB, widgets.PAD_THUMB) and thumbs[1] is None
    with_painting = pad_picture(0.5, 0.5, ["starry_night", "", "", ""], thumbs + [None, None])
    assert with_painting.getpixel((10, 10)) != pad_picture(0.5, 0.5).getpixel((10, 10))


# ----------------------------------------------------------------------------- without a kernel


def test_saved_output_has_a_still_picture_and_a_line_of_text(model, photo, live):
    pad = style_pad(model, photo, size=32)
    live(pad)
    data, metadata = pad._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == pad.widget.model_id  # live where possible
    assert data["text/plain"].startswith("live widget: run this cell") and "children=" not in data["text/plain"]
    still = Image.open(io.BytesIO(base64.b64decode(data["image/jpeg"])))
    picture_w, picture_h = picture_size(pad)
    assert still.width >= widgets.PAD_SIZE + picture_w and still.height > max(widgets.PAD_SIZE, picture_h)
    assert metadata["image/jpeg"] == {"width": still.width, "height": still.height}  # shown at its own size


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
    for cell in widget_cells:
        (output,) = [o for o in cell["outputs"] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert "image/jpeg" in output["data"]
        assert "".join(output["data"]["text/plain"]).startswith("live widget: run this cell")


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
