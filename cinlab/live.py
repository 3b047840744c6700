"""Keeping a live picture up with its controls: render threads, and pictures rendered ahead.

A live widget (:mod:`cinlab.widgets`) renders in the kernel, a message round trip away from the
browser: ~100 ms on a 2-core machine before any rendering (``benchmarks/browser``). Two things
make it feel immediate, and neither is about style, so they live here:

- :class:`LatestOnly` draws the newest state of the controls in a worker thread, a preview at
  once and the full picture when they are still, never a stale one; a second, low-priority
  thread renders ahead while nothing else happens.
- **Frames rendered ahead, kept in the browser.** The kernel renders the states a student
  reaches next (one step of any control, then whole rows of values: :func:`prefetch_plan`)
  and sends every picture to the browser, where the ``FramePicture`` view (``frame_cache.js``,
  :func:`widget_classes`) keeps them keyed by the controls' state. A control moved to a state
  already there shows its picture in the next animation frame, without the kernel; the 2-D
  pad's ``PointPad`` view moves its sliders in the browser itself, so a press in it is such a move.
- **One sizing policy** (:class:`Sizing`): the full picture is the largest that renders within
  ``FULL_BUDGET_MS``, a preview the largest within ``PREVIEW_BUDGET_MS``.

A *state* is a tuple with one entry per control: a selection's index (dropdowns, toggle
buttons) or a slider's value. :func:`state_key` writes it as the text both halves use.

(Longer than the other modules, on purpose: the render threads, the prefetch plan, the sizes and
the frame cache are one mechanism, and the browser half in ``frame_cache.js`` mirrors the last.)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from .config import render_threads_from_env


class RenderCancelled(Exception):
    """A render stopped part-way because its picture was no longer wanted (see :meth:`StyleMixer.render`)."""


#: The ``nice`` of the thread that renders ahead: about a tenth of a core where something else
#: wants it. Not the lowest (19): that thread also holds Python's lock between torch's operations,
#: and one that the OS starves while holding it would stall the kernel's own thread.
AHEAD_NICE = 10


def render_threads() -> int:
    """Threads for a live render on the CPU: half the cores, at least one
    (``CINLAB_RENDER_THREADS`` overrides it, e.g. to measure).

    On 2 cores the browser, the Jupyter server and the kernel's main thread need one of them
    while the picture renders; a forward pass with 2 threads on a core that is also busy
    waits at every layer for the thread that lost the core (measured: 128 px took 960 ms with
    2 threads against 183 ms with 1 while the browser was busy).
    """
    return render_threads_from_env() or max(1, (os.cpu_count() or 2) // 2)


class LatestOnly:
    """Draw the newest state in a worker thread, never a stale one; work ahead while idle.

    Every change of a control calls :meth:`request`, which returns at once. The worker then
    calls ``draw(True)`` (a preview) as soon as it is free, and ``draw(False)`` (the full
    picture) once no request has come for ``settle_s`` seconds. ``draw`` reads the controls
    when it starts, so requests that arrive while it runs are merged into the next draw: during
    a drag the worker draws previews back to back, each of the latest position, and nothing
    queues up behind it. A full draw may stop early with :class:`RenderCancelled` when
    :meth:`pending` says a new request has come (the next preview then starts at once).

    Once the full picture is drawn, a second thread calls ``background()`` again and again (one
    short piece of work each: a picture rendered ahead) until it returns False or a request
    comes; a piece may stop with :class:`RenderCancelled` when :meth:`pending` says so. That
    thread runs at a low CPU priority (Linux ``nice`` ``AHEAD_NICE``), so that the kernel's own
    thread, the Jupyter server and the browser, which answer the next input, never wait for it.

    ``threads`` (default :func:`render_threads`) sets ``torch.set_num_threads`` for both
    threads (the notebook's own thread keeps its setting; threads started later start with it).
    ``draws`` counts the pictures drawn; :meth:`wait` blocks until the newest state is drawn at
    full quality (``background=True``: and there is no work left at all). The threads start at
    once, or with :meth:`start` (``start=False``).
    """

    def __init__(
        self,
        draw: Callable[[bool], None],
        *,
        settle_s: float = 0.08,
        threads: int | None = None,
        background: Callable[[], bool] | None = None,
        start: bool = True,
    ):
        self.draw = draw
        self.background = background
        self.settle_s = settle_s
        self.threads = threads or render_threads()
        self.draws = {"preview": 0, "full": 0, "cancelled": 0, "background": 0}
        self.error: BaseException | None = None  # the last exception ``draw`` or ``background`` raised
        self._cond = threading.Condition()
        self._changed = False
        self._idle = True  # the newest state is drawn at full quality
        self._ahead = background is not None  # there may be work ahead (background thread)
        self._ahead_busy = False
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name="cinlab-live-render", daemon=True)]
        if background is not None:
            self._threads.append(threading.Thread(target=self._work_ahead, name="cinlab-render-ahead", daemon=True))
        if start:
            self.start()

    def start(self) -> None:
        """Start the threads (``start=False``: once what ``draw`` and ``background`` need is ready)."""
        for thread in self._threads:
            thread.start()

    def request(self) -> None:
        """A control changed: draw the new state soon."""
        with self._cond:
            self._changed, self._idle = True, False
            self._ahead = self.background is not None
            self._cond.notify_all()

    def resume_ahead(self) -> None:
        """Work ahead again: wake the background thread (which stopped when ``background()``
        returned False), e.g. when another widget has finished its own work ahead."""
        with self._cond:
            if self.background is not None and not self._closed:
                self._ahead = True
                self._cond.notify_all()

    def pending(self) -> bool:
        """Whether a request is waiting (a full picture being drawn is then already stale), or
        the worker is closing."""
        return self._changed or self._closed

    def wait(self, timeout: float | None = 30.0, *, background: bool = False) -> bool:
        """Block until every request has been drawn at full quality (``background``: and the
        work ahead is done too); False on timeout."""

        def done():
            return self._closed or (self._idle and not (background and (self._ahead or self._ahead_busy)))

        with self._cond:
            return self._cond.wait_for(done, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the threads: a render in progress stops at its next layer (one that asks
        :meth:`pending`); wait up to ``timeout`` seconds for them to end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _next_change(self, timeout: float | None, *, drawn: bool) -> bool:
        """Take a request if one is waiting, else wait up to ``timeout`` seconds (None: until
        there is one). ``drawn``: the newest state is on screen at full quality."""
        with self._cond:
            if drawn and not self._changed:
                self._idle = True
                self._cond.notify_all()
            self._cond.wait_for(lambda: self._changed or self._closed, timeout)
            changed, self._changed = self._changed, False
            return changed

    def _work(self) -> None:
        torch.set_num_threads(self.threads)
        full_due = False
        while not self._closed:
            if self._next_change(self.settle_s if full_due else None, drawn=not full_due):
                self._draw(preview=True)
                full_due = True
            elif full_due:
                self._draw(preview=False)
                full_due = False

    def _draw(self, preview: bool) -> None:
        try:
            self.draw(preview)
            self.draws["preview" if preview else "full"] += 1
        except RenderCancelled:  # the controls moved again: the next loop draws a preview
            self.draws["cancelled"] += 1
        except Exception as error:  # keep the worker alive; the widget shows its own message
            self.error = error

    def _work_ahead(self) -> None:
        torch.set_num_threads(self.threads)
        if sys.platform.startswith("linux"):  # there a thread id names the thread alone; elsewhere normal priority
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), AHEAD_NICE)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or (self._ahead and self._idle and not self._changed))
                if self._closed:
                    return
                self._ahead_busy = True
            more = True
            try:
                more = self.background()
                self.draws["background"] += int(more)
            except RenderCancelled:
                self.draws["cancelled"] += 1
            except Exception as error:
                self.error = error
                more = False
            with self._cond:
                self._ahead_busy = False
                if not more and not self._changed:
                    self._ahead = False
                self._cond.notify_all()


# ----------------------------------------------------------------------------- frames rendered ahead

State = tuple  # one entry per control: int (a selection's index) or float (a slider's value)

#: What the kernel keeps per widget: frames (as many as the browser keeps, ``frame_cache.js``)
#: and bytes of JPEGs.
MAX_CACHE_FRAMES = 1000
MAX_CACHE_BYTES = 32 * 2**20


def is_selection(control) -> bool:
    """Dropdowns, toggle buttons, selection sliders: keyed by ``index``; other controls by ``value``."""
    return hasattr(control, "index") and hasattr(control, "options")


def control_state(control) -> int | float:
    """One control's entry in a state: a selection's index, or a slider's value to 4 decimals."""
    return int(control.index) if is_selection(control) else round(float(control.value), 4)


def state_key(state: State) -> str:
    """The text of a state, e.g. ``"3|0.4500"``; ``frame_cache.js`` writes the same from the
    controls in the browser (index as an integer, value with 4 decimals)."""
    return "|".join(str(v) if isinstance(v, int) else f"{v:.4f}" for v in state)


def axis(control) -> list[int | float]:
    """Every state one control can take: a selection's indices, or a slider's values from
    ``min`` to ``max`` in steps of ``step`` (4 decimals)."""
    if is_selection(control):
        return list(range(len(control.options)))
    count = int(round((control.max - control.min) / control.step)) + 1
    return [round(min(control.min + i * control.step, control.max), 4) for i in range(count)]


def _position(values: list, value) -> int:
    """The index of ``value`` on an axis (the nearest, for a slider value between steps)."""
    return min(range(len(values)), key=lambda i: abs(values[i] - value))


def prefetch_plan(
    state: State,
    axes: Sequence[list],
    *,
    previews: bool,
    moved: tuple[int, int] | None = None,
    grids: Sequence[tuple[int, int]] = (),
) -> Iterator[tuple[State, bool]]:
    """The states to render ahead of ``state``, most likely next first, as ``(state, full)``.

    ``axes`` are the controls' :func:`axis`; ``moved`` is ``(control, direction)`` of the last
    change (±1), which is continued first; ``grids`` are pairs of controls that move together
    (the 2-D pad) and get every point of their grid. With ``previews`` (renders slower than
    the preview budget) small previews come before full pictures:

    1. one step of every control (the moved one, in its direction, first): previews, then full;
    2. every point of each grid (nearest first: a click may land anywhere), and every value of
       every control, the others kept (nearest first): previews, then full.

    States may repeat; the caller skips what it already has.
    """

    def step_states():
        order = list(range(len(axes)))
        if moved is not None:
            order.remove(moved[0])
            order.insert(0, moved[0])
        for c in order:
            here = _position(axes[c], state[c])
            first = moved[1] if moved is not None and moved[0] == c else 1
            for delta in (first, -first):
                if 0 <= here + delta < len(axes[c]):
                    yield state[:c] + (axes[c][here + delta],) + state[c + 1 :]

    def line_states():
        for c, values in enumerate(axes):
            here = _position(values, state[c])
            for i in sorted(range(len(values)), key=lambda i: abs(i - here)):
                yield state[:c] + (values[i],) + state[c + 1 :]

    def grid_states():
        for a, b in grids:
            ha, hb = _position(axes[a], state[a]), _position(axes[b], state[b])
            points = sorted(
                ((i, j) for i in range(len(axes[a])) for j in range(len(axes[b]))),
                key=lambda p: (p[0] - ha) ** 2 + (p[1] - hb) ** 2,
            )
            for i, j in points:
                s = list(state)
                s[a], s[b] = axes[a][i], axes[b][j]
                yield tuple(s)

    if previews:  # previews of everything near first: they cost a twentieth of a full picture
        order = [
            (step_states, False),
            (step_states, True),
            (grid_states, False),
            (line_states, False),
            (line_states, True),
            (grid_states, True),
        ]
    else:
        order = [(step_states, True), (grid_states, True), (line_states, True)]
    for group, full in order:
        yield from ((s, full) for s in group())


@dataclass
class Frame:
    """One rendered state: JPEG bytes (None when ``error`` says why there is no picture), whether
    it is the full picture or a preview, and the caption under it."""

    jpeg: bytes | None
    full: bool
    caption: str = ""
    error: str | None = None

    @property
    def nbytes(self) -> int:
        return len(self.jpeg or b"")


class FrameCache:
    """The kernel's copy of the frames sent to the browser: key -> :class:`Frame`, oldest
    dropped first beyond ``max_bytes`` or ``max_frames``; a full frame is never replaced by a preview. Safe to use
    from the render thread and the kernel's main thread at once."""

    def __init__(self, max_bytes: int = MAX_CACHE_BYTES, max_frames: int = MAX_CACHE_FRAMES):
        self.max_bytes, self.max_frames = max_bytes, max_frames
        self._frames: OrderedDict[str, Frame] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: str) -> Frame | None:
        return self._frames.get(key)

    def has(self, key: str, full: bool) -> bool:
        """Whether a frame of ``key`` is here that is at least as good as asked (full, or any)."""
        frame = self._frames.get(key)
        return frame is not None and (frame.full or not full)

    def put(self, key: str, frame: Frame) -> bool:
        """Keep ``frame``; False (and nothing changes) when a full frame of ``key`` is already here."""
        with self._lock:
            old = self._frames.get(key)
            if old is not None and old.full and not frame.full:
                return False
            if old is not None:
                self.nbytes -= old.nbytes
                del self._frames[key]
            self._frames[key] = frame
            self.nbytes += frame.nbytes
            while (self.nbytes > self.max_bytes or len(self._frames) > self.max_frames) and len(self._frames) > 1:
                _, dropped = self._frames.popitem(last=False)
                self.nbytes -= dropped.nbytes
            return True

    def items(self) -> list[tuple[str, Frame]]:
        """Every (key, frame), oldest first."""
        with self._lock:
            return list(self._frames.items())

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.nbytes = 0


#: What a preview render may take (ms): the browser and the transport add about 35 ms, so
#: input-to-picture stays under 100 ms. The cost grows with the pixels, so the preview's side is
#: the full side times sqrt(budget / full render time), in steps of 16 px, at least
#: ``MIN_PREVIEW``; where the full picture fits the budget (a GPU) there is no preview.
#: Measured full renders at 256 px (385x256), float32, one thread: 0.7-1.5 s on the 2-core AMD
#: EPYC (30 GFLOP at ~40 GFLOP/s), so its previews are 48-64 px.
PREVIEW_BUDGET_MS = 50.0
MIN_PREVIEW = 48

#: What a full render may take (ms) for the picture to settle within 300 ms of the last
#: movement: the round trip and the paint add ~100 ms on 2 busy cores. Where the full picture
#: asked for renders slower, the widget draws the largest one that fits (a multiple of 16 px):
#: on the 2-core AMD EPYC, 256 px asked takes 600-700 ms, so 128 px (~160 ms) is drawn.
FULL_BUDGET_MS = 180.0


def full_side(
    size: int, probe_side: int, probe_ms: float, budget_ms: float, *, multiple: int = 16, smallest: int = 64
) -> int:
    """The largest shorter side (a multiple of ``multiple``, at most ``size``) whose render should
    fit ``budget_ms``, given that ``probe_side`` px took ``probe_ms``: the forward pass costs in
    proportion to the pixels. Never below ``smallest`` (or ``size``, if that is smaller)."""
    side = probe_side * math.sqrt(budget_ms / max(probe_ms, 1e-6))
    side = int(side) // multiple * multiple
    return max(min(size, smallest), min(size, side))


@dataclass(frozen=True)
class Sizing:
    """How large a live picture is, decided in one place from the time one render took.

    ``full_budget_ms``: the full picture is the largest, up to the size asked for, that renders
    in this time (None: always the size asked for). ``preview_budget_ms``: a preview (drawn at
    once while the controls move) is the largest that renders in this time, at least
    ``min_preview`` px; no preview where the full picture fits this budget.
    """

    full_budget_ms: float | None = FULL_BUDGET_MS
    preview_budget_ms: float = PREVIEW_BUDGET_MS
    min_preview: int = MIN_PREVIEW

    def full(self, asked: int, side: int, ms: float) -> int:
        """The full picture's shorter side for ``asked`` px, given that ``side`` px took ``ms``."""
        if self.full_budget_ms is None:
            return asked
        return full_side(asked, side, ms, self.full_budget_ms)

    def preview(self, full: int, full_ms: float) -> int | None:
        """The preview's shorter side for a ``full`` px picture that takes ``full_ms``; None: no preview needed."""
        side = full_side(full, full, full_ms, self.preview_budget_ms, smallest=self.min_preview)
        return side if side < full else None


_CLASSES: dict = {}


def widget_classes() -> dict:
    """The two browser views of a live widget, ``anywidget.AnyWidget`` classes made on first use
    (anywidget and ipywidgets are needed only by the widgets), both drawn by ``frame_cache.js``:

    - ``FramePicture``: the picture, with the browser-side frame cache;
    - ``PointPad``: a square to click or drag in, which moves two sliders (the 2-D pad) in the
      browser itself, so that the picture's view shows a point it has at once.
    """
    if not _CLASSES:
        import anywidget
        import ipywidgets
        import traitlets

        script = Path(__file__).with_name("frame_cache.js")

        class FramePicture(anywidget.AnyWidget):
            """The picture of a live widget, with the browser-side frame cache (``frame_cache.js``).

            ``controls`` are the widgets whose state picks the frame; ``width`` and ``height``
            the picture's size in px. Frames go to the browser with :meth:`send_frame`.
            """

            _esm = script
            role = traitlets.Unicode("picture").tag(sync=True)
            controls = traitlets.List(traitlets.Instance(ipywidgets.Widget)).tag(
                sync=True, **ipywidgets.widget_serialization
            )
            width = traitlets.Int(256).tag(sync=True)
            height = traitlets.Int(256).tag(sync=True)

            def send_frame(self, key: str, frame: Frame, *, live: bool, bytes: bool = True) -> None:
                """Send ``frame`` (the picture of state ``key``); ``live``: the kernel's current
                state; ``bytes=False``: name it only (the browser has its picture already)."""
                content = {
                    "kind": "frame",
                    "key": key,
                    "full": frame.full,
                    "live": live,
                    "caption": frame.caption,
                    "error": frame.error,
                }
                self.send(content, buffers=[frame.jpeg] if frame.jpeg is not None and bytes else None)

        class PointPad(anywidget.AnyWidget):
            """A picture (``background``, JPEG bytes) with a dot that marks the point (u, v) of
            two sliders (``point``: [u, v], values 0-1); a press or a drag in it moves both sliders
            in the browser, snapped to ``geometry["step"]``. ``geometry`` gives the picture's
            side ``size`` and where the unit square lies in it (``square_x``, ``square_y``,
            ``span``: px from the point (0, 0) to (1, 1)), and the dot's radius ``dot`` (px)."""

            _esm = script
            role = traitlets.Unicode("pad").tag(sync=True)
            point = traitlets.List(traitlets.Instance(ipywidgets.Widget)).tag(
                sync=True, **ipywidgets.widget_serialization
            )
            background = traitlets.Bytes(b"").tag(sync=True)
            geometry = traitlets.Dict().tag(sync=True)

        _CLASSES.update(FramePicture=FramePicture, PointPad=PointPad)
    return _CLASSES
