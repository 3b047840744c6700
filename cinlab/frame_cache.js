// The browser half of cinlab's live pictures (Python half: cinlab/live.py, cinlab/widgets.py).
//
// A live widget's picture is drawn by the kernel, which is a round trip away: on a 2-core
// machine ~100 ms before any rendering. So the kernel sends every picture it renders, also
// the ones it renders ahead (the states one step away from the current one, see
// live.prefetch_plan), and this view keeps them, keyed by the state of the widget's
// controls. When a control moves to a state already here, its picture is shown at once, with
// no message to the kernel and back. The 2-D pad (role "pad") moves its two sliders here in the
// browser, so a click or a drag in it is a control moved like any other.
//
// Messages from the kernel: {kind: "frame", key, full, live, caption, error} with the JPEG
// bytes as buffers[0] (none when `error` says why there is no picture, e.g. all weights 0).
// `key` is the state the frame shows: the controls' values joined by "|", a selection's
// index or a slider's value with 4 decimals (live.state_key writes the same).
// `live` marks the picture of the kernel's current state (shown even when the controls have
// moved on, e.g. during a drag); frames drawn ahead are only kept.
// To the kernel: {kind: "ready"} when a view opens, so it sends the frames it has; {kind:
// "missing", key} for a frame it was named but no longer has.
//
// The view's element gets the class "cinlab-live" once a kernel has sent it a picture: the saved
// still picture of the cell (widgets.LiveMixer.outputs) gives way to the live widget only then.

const MAX_FRAMES = 1000; // ~10 MB of JPEGs (and their decoded pixels, ~50 MB) at most; the oldest go first

/** The key of the controls' state: see live.state_key (Python). */
export function stateKey(controls) {
  return controls
    .map((m) => (m.get("index") !== undefined ? String(m.get("index")) : Number(m.get("value")).toFixed(4)))
    .join("|");
}

/** The frames a view holds: key -> {url, full, caption, error}; never replaces a full frame by a preview. */
export class FrameStore {
  constructor(makeUrl, dropUrl, maxFrames = MAX_FRAMES) {
    this.frames = new Map();
    this.makeUrl = makeUrl;
    this.dropUrl = dropUrl;
    this.maxFrames = maxFrames;
  }
  get(key) {
    return this.frames.get(key);
  }
  /** Keep a frame; returns it, or undefined when a full frame of that state is already here. */
  put(key, { full, caption, error }, bytes, inUse) {
    const old = this.frames.get(key);
    if (old && old.full && !full) return undefined;
    const frame = { full: !!full, caption: caption || "", error: error || null, url: bytes ? this.makeUrl(bytes) : null };
    if (old && old.url && !inUse(old.url)) this.dropUrl(old.url);
    this.frames.delete(key); // re-inserted last: the Map's order is the age
    this.frames.set(key, frame);
    for (const [oldest, f] of this.frames) {
      if (this.frames.size <= this.maxFrames) break;
      if (f.url && inUse(f.url)) continue;
      if (f.url) this.dropUrl(f.url);
      this.frames.delete(oldest);
    }
    return frame;
  }
}

/**
 * Wire a view: `controls` are the controls' models, `show(key, frame)` puts the frame of state
 * `key` on screen, `ask(key)` asks the kernel for a frame this view was named but has dropped.
 * Returns handlers for control changes and kernel messages (exported for the unit test).
 *
 * A picture on screen is only ever replaced by one of a state the controls were in later: the
 * kernel's "live" frames trail the controls (a drag runs ahead of it), and one that arrives
 * after the view has shown a newer state from its own frames would take the picture back.
 */
export function connect(controls, store, show, ask = () => {}) {
  let shownKey = null;
  let moves = 0;
  const when = new Map(); // state key -> the number of the last move of the controls into it
  const remember = (key) => {
    when.delete(key); // re-inserted last: the oldest states go first beyond MAX_FRAMES
    when.set(key, ++moves);
    if (when.size > MAX_FRAMES) when.delete(when.keys().next().value);
  };
  remember(stateKey(controls));
  const display = (key, frame) => {
    shownKey = key;
    show(key, frame);
  };
  return {
    get shownKey() {
      return shownKey;
    },
    /** A control changed (every change, also those that onControls, once a frame, never sees). */
    onChange() {
      remember(stateKey(controls));
    },
    /** Show the controls' state, if its frame is here. */
    onControls() {
      const key = stateKey(controls);
      remember(key);
      const frame = store.get(key);
      if (frame && key !== shownKey) display(key, frame);
    },
    onFrame(msg, bytes, inUse) {
      // a frame without bytes (and no error) names a state whose picture this view should have;
      // if it has dropped it (the oldest go), it asks the kernel for the bytes
      const named = !bytes && !msg.error;
      if (named && !store.get(msg.key)) return ask(msg.key);
      const frame = named ? undefined : store.put(msg.key, msg, bytes, inUse);
      const current = stateKey(controls);
      if (msg.key === current) {
        const f = frame || store.get(current);
        if (f && (frame || shownKey !== current)) display(current, f);
      } else if (msg.live && shownKey !== current && (when.get(msg.key) || 0) > (when.get(shownKey) || 0)) {
        const f = frame || store.get(msg.key);
        if (f) display(msg.key, f); // the kernel's newest picture while the controls run ahead of it
      }
    },
  };
}

// ---------------------------------------------------------------------------- the 2-D pad's geometry
// The same arithmetic as widgets.pad_point / pad_uv / snap (Python); the unit test checks they agree.

/** Where the point (u, v) of the unit square is drawn in the pad picture: [x, y] in px. */
export function padPoint(u, v, g) {
  return [g.square_x + u * g.span, g.square_y + v * g.span];
}

/** The point (u, v) for (x, y) px in the pad picture, clamped to the unit square (a press on a corner painting: that corner). */
export function padUV(x, y, g) {
  const clamp = (p) => Math.min(Math.max(p, 0), 1);
  return [clamp((x - g.square_x) / g.span), clamp((y - g.square_y) / g.span)];
}

/** `p` on the grid of `step` (half-way rounds up), to 4 decimals. */
export function snap(p, step) {
  return Math.round(Math.floor(p / step + 0.5) * step * 1e4) / 1e4;
}

// ---------------------------------------------------------------------------- the views

const modelsOf = (model, refs) =>
  Promise.all(refs.map((ref) => model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""))));

const jpegUrl = (bytes) => URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));

async function renderPicture({ model, el }) {
  el.classList.add("cinlab-view");
  const width = model.get("width");
  const height = model.get("height");
  // Until the first picture arrives, a box of its size holds its place. The <img> is made with
  // its first picture and never exists without one: in Chromium an <img alt="..."> laid out
  // without a source (its alt-text/broken-image fallback) that gets its first source while its
  // cell is skipped by `content-visibility: auto` (JupyterLab 4's default windowing) never gets
  // a box again: the picture was not on screen at all (benchmarks/browser, issue 24).
  const place = document.createElement("div");
  Object.assign(place.style, { width: `${width}px`, height: `${height}px`, maxWidth: "100%" });
  let img = null;
  const caption = document.createElement("div");
  caption.className = "cinlab-caption";
  caption.style.maxWidth = `${Math.max(width, 320)}px`;
  caption.style.fontSize = "smaller";
  el.append(place, caption);

  const controls = await modelsOf(model, model.get("controls"));
  // Each frame is decoded when it arrives, not when it is shown: decode took 14-18 ms of a key's
  // 37-43 ms with this, 21-33 ms without (benchmarks/browser, 2-core AMD EPYC).
  const decoded = new Map(); // url -> its decoded Image, kept while the frame is
  const store = new FrameStore(
    (bytes) => {
      const url = jpegUrl(bytes);
      const early = new Image();
      early.src = url;
      early.decode().catch(() => {});
      decoded.set(url, early);
      return url;
    },
    (url) => {
      decoded.delete(url);
      URL.revokeObjectURL(url);
    },
  );
  // as text, never as HTML: captions carry style names from a checkpoint, which may come from anyone
  const show = (key, frame) => {
    el.classList.add("cinlab-live");
    // what is on screen, for tests that wait on it (benchmarks/browser): the state and its quality
    el.dataset.shown = key;
    el.dataset.full = String(frame.full);
    if (frame.error) {
      if (img) img.classList.add("cinlab-stale");
      const why = document.createElement("b");
      why.textContent = "Nothing to show: ";
      const line = document.createElement("span");
      line.style.color = "#a40000";
      line.append(why, frame.error);
      caption.replaceChildren(line);
      return;
    }
    if (!img) {
      img = document.createElement("img");
      img.className = "cinlab-picture";
      img.alt = "style-mixing picture";
      img.draggable = false;
      // At its own size (a preview is scaled up into the same box), never wider than the page.
      Object.assign(img.style, { width: `${width}px`, height: `${height}px`, maxWidth: "100%", objectFit: "contain", display: "block" });
      img.src = frame.url; // before it is in the page (see above)
      place.replaceWith(img);
    } else if (img.src !== frame.url) {
      img.src = frame.url;
    }
    img.classList.remove("cinlab-stale");
    caption.textContent = frame.caption;
  };
  const view = connect(controls, store, show, (key) => model.send({ kind: "missing", key }));
  el.cinlabHas = (key) => store.get(key) !== undefined; // for tests that wait until a frame is here
  // A control's change is shown in the next animation frame, with every other change of the same
  // task (the pad moves two sliders): an in-between state never flashes.
  let scheduled = false;
  const onControls = () => {
    el.dataset.state = stateKey(controls);
    view.onChange();
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      view.onControls();
    });
  };
  el.dataset.state = stateKey(controls);
  for (const control of controls) control.on("change", onControls);
  const onMessage = (msg, buffers) => {
    if (msg.kind !== "frame") return;
    const bytes = msg.error || !buffers.length ? null : buffers[0];
    view.onFrame(msg, bytes, (url) => img !== null && url === img.src);
  };
  model.on("msg:custom", onMessage);
  model.send({ kind: "ready" });
  return () => {
    for (const control of controls) control.off("change", onControls);
    model.off("msg:custom", onMessage);
  };
}

async function renderPad({ model, el }) {
  const g = model.get("geometry");
  const [u, v] = await modelsOf(model, model.get("point"));
  const box = document.createElement("div");
  box.className = "cinlab-pad-area";
  // touch-action none: a drag on a touch screen moves the point, not the page
  Object.assign(box.style, { position: "relative", width: `${g.size}px`, height: `${g.size}px`, cursor: "crosshair", touchAction: "none", userSelect: "none" });
  const picture = document.createElement("img");
  picture.alt = "four paintings at the corners of a square";
  picture.draggable = false;
  Object.assign(picture.style, { display: "block", width: "100%", height: "100%" });
  picture.src = jpegUrl(model.get("background")); // before it is in the page (see renderPicture)
  const dot = document.createElement("div");
  dot.className = "cinlab-pad-dot";
  const d = 2 * g.dot + 1;
  Object.assign(dot.style, {
    position: "absolute", width: `${(100 * d) / g.size}%`, height: `${(100 * d) / g.size}%`, borderRadius: "50%",
    background: "rgb(200, 40, 40)", border: "1px solid white", boxSizing: "border-box", pointerEvents: "none",
  });
  box.append(picture, dot);
  el.append(box);
  const placeDot = () => {
    const [x, y] = padPoint(u.get("value"), v.get("value"), g);
    dot.style.left = `${(100 * (x - g.dot)) / g.size}%`;
    dot.style.top = `${(100 * (y - g.dot)) / g.size}%`;
  };
  placeDot();
  u.on("change:value", placeDot);
  v.on("change:value", placeDot);

  // A press, or a move with the button down, puts the point there: both sliders are set in this
  // task (the picture's view shows that point's frame in the next animation frame, if it has
  // it) and then sent to the kernel, which draws the picture if the browser has none.
  let pressed = null;
  const moveTo = (event) => {
    const r = box.getBoundingClientRect();
    const [pu, pv] = padUV(((event.clientX - r.left) * g.size) / r.width, ((event.clientY - r.top) * g.size) / r.height, g);
    const point = [snap(pu, g.step), snap(pv, g.step)];
    if (point[0] === u.get("value") && point[1] === v.get("value")) return;
    u.set("value", point[0]);
    v.set("value", point[1]);
    u.save_changes();
    v.save_changes();
  };
  const press = (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    pressed = event.pointerId;
    box.setPointerCapture(event.pointerId); // the drag goes on outside the square (clamped to its edge)
    moveTo(event);
  };
  const move = (event) => {
    if (event.pointerId === pressed) moveTo(event);
  };
  const release = (event) => {
    if (event.pointerId === pressed) pressed = null;
  };
  box.addEventListener("pointerdown", press);
  box.addEventListener("pointermove", move);
  box.addEventListener("pointerup", release);
  box.addEventListener("pointercancel", release);
  box.addEventListener("lostpointercapture", release);
  return () => {
    u.off("change:value", placeDot);
    v.off("change:value", placeDot);
  };
}

function render(context) {
  return context.model.get("role") === "pad" ? renderPad(context) : renderPicture(context);
}

export default { render };
