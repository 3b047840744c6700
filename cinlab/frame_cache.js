// The browser half of cinlab's live pictures (Python half: cinlab/live.py).
//
// A live widget's picture is drawn by the kernel, which is a round trip away: on a 2-core
// machine ~100 ms before any rendering. So the kernel sends every picture it renders, also
// the ones it renders ahead (the states one step away from the current one, see
// live.prefetch_plan), and this view keeps them, keyed by the state of the widget's
// controls. When a control moves to a state already here, its picture is shown at once, in
// the same task as the input event, with no message to the kernel and back.
//
// Messages from the kernel: {kind: "frame", key, full, live, caption, error} with the JPEG
// bytes as buffers[0] (none when `error` says why there is no picture, e.g. all weights 0);
// {kind: "show", key} before the kernel moves several controls at once (a click in the pad).
// `key` is the state the frame shows: the controls' values joined by "|", a selection's
// index or a slider's value with 4 decimals (live.state_key writes the same).
// `live` marks the picture of the kernel's current state (shown even when the controls have
// moved on, e.g. during a drag); frames drawn ahead are only kept.
// To the kernel: {kind: "ready"} when a view opens, so it sends the frames it has; {kind:
// "missing", key} for a frame it was named but no longer has.

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
 * Wire a view: `controls` are the controls' models, `show(frame)` puts a frame on screen.
 * Returns handlers for control changes and kernel messages (exported for the unit test).
 */
export function connect(controls, store, show, now = () => performance.now(), ask = () => {}) {
  let shownKey = null;
  // A state the kernel is moving the controls to (a click in the pad): its picture is shown at
  // once, and the controls' in-between states (one slider moved, the other not yet) are not.
  let pinned = null;
  let pinnedUntil = 0;
  const display = (key, frame) => {
    shownKey = key;
    show(frame);
  };
  const target = () => {
    const key = stateKey(controls);
    if (pinned !== null && (key === pinned || now() > pinnedUntil)) pinned = null;
    return pinned !== null ? pinned : key;
  };
  return {
    get shownKey() {
      return shownKey;
    },
    onControls() {
      const key = target();
      const frame = store.get(key);
      if (frame && key !== shownKey) display(key, frame);
    },
    onShow(key, pinMs = 1000) {
      pinned = key;
      pinnedUntil = now() + pinMs;
      const frame = store.get(key);
      if (frame && key !== shownKey) display(key, frame);
    },
    onFrame(msg, bytes, inUse) {
      // a frame without bytes (and no error) names a state whose picture this view should have;
      // if it has dropped it (the oldest go), it asks the kernel for the bytes
      const named = !bytes && !msg.error;
      if (named && !store.get(msg.key)) return ask(msg.key);
      const frame = named ? undefined : store.put(msg.key, msg, bytes, inUse);
      const current = target();
      if (msg.key === current) {
        const f = frame || store.get(current);
        if (f && (frame || shownKey !== current)) display(current, f);
      } else if (msg.live && shownKey !== current && pinned === null) {
        const f = frame || store.get(msg.key);
        if (f) display(msg.key, f); // the kernel's newest picture while the controls run ahead of it
      }
    },
  };
}

async function render({ model, el }) {
  const img = document.createElement("img");
  img.className = "cinlab-picture";
  img.alt = "style-mixing picture";
  const width = model.get("width");
  const height = model.get("height");
  // At its own size (a preview is scaled up into the same box), never wider than the page.
  Object.assign(img.style, { width: `${width}px`, height: `${height}px`, maxWidth: "100%", objectFit: "contain", display: "block" });
  const caption = document.createElement("div");
  caption.className = "cinlab-caption";
  caption.style.maxWidth = `${Math.max(width, 320)}px`;
  el.append(img, caption);

  const ids = model.get("controls").map((ref) => ref.replace(/^IPY_MODEL_/, ""));
  const controls = await Promise.all(ids.map((id) => model.widget_manager.get_model(id)));
  // Each frame is decoded when it arrives, not when it is shown: decode took 14-18 ms of a key's
  // 37-43 ms with this, 21-33 ms without (benchmarks/browser, 2-core AMD EPYC).
  const decoded = new Map(); // url -> its decoded Image, kept while the frame is
  const store = new FrameStore(
    (bytes) => {
      const url = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
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
  caption.style.fontSize = "smaller";
  // as text, never as HTML: captions carry style names from a checkpoint, which may come from anyone
  const show = (frame) => {
    if (frame.error) {
      img.classList.add("cinlab-stale");
      const why = document.createElement("b");
      why.textContent = "Nothing to show: ";
      const line = document.createElement("span");
      line.style.color = "#a40000";
      line.append(why, frame.error);
      caption.replaceChildren(line);
      return;
    }
    if (img.src !== frame.url) img.src = frame.url;
    img.classList.remove("cinlab-stale");
    caption.textContent = frame.caption;
  };
  const view = connect(controls, store, show, () => performance.now(), (key) => model.send({ kind: "missing", key }));
  // Changes that the kernel makes arrive one control at a time (a click in the pad moves two
  // sliders): wait for the next animation frame so that an in-between state never flashes.
  let scheduled = false;
  const onControls = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      view.onControls();
    });
  };
  for (const control of controls) control.on("change", onControls);
  const onMessage = (msg, buffers) => {
    if (msg.kind === "show") view.onShow(msg.key);
    if (msg.kind !== "frame") return;
    const bytes = msg.error || !buffers.length ? null : buffers[0];
    view.onFrame(msg, bytes, (url) => url === img.src);
  };
  model.on("msg:custom", onMessage);
  model.send({ kind: "ready" });
  return () => {
    for (const control of controls) control.off("change", onControls);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
