// In-page latency probe for ipywidgets images, installed by harness.py (page.add_init_script).
//
// All times are performance.now() / Event.timeStamp of the page (one clock, milliseconds).
//
// - Input events (keydown, pointerdown/move/up, click, input, change) are recorded in the capture
//   phase on window while a measurement is open: their timeStamp is when the browser created the
//   event, i.e. when the input reached the page. A pointer move without a button pressed (hover,
//   or the move to where a click lands) is not an input.
// - The watched <img> is observed with a MutationObserver on its `src` attribute (ipywidgets'
//   ImageView sets a new blob: URL for every new value). For every new src the probe records when
//   the src was set, when `img.decode()` resolved (bytes loaded and decoded), the start of the next
//   animation frame (the frame that paints the new image) and a task queued from that frame, which
//   runs after the frame has been painted ("painted"). A cheap pixel fingerprint (32x32 canvas)
//   tells whether the picture really changed.
// - cinlab's live view (the picture's parent, class "cinlab-view") says which state of the controls
//   it shows (data-shown) and which they are in (data-state): every change of either is recorded,
//   which gives each state's input-to-picture time during a drag.
// - The kernel websocket (/api/kernels/<id>/channels) is wrapped to log the time and size of every
//   frame sent and received, which splits the latency into browser-side send, kernel round trip and
//   browser-side receive.
(() => {
  if (window.__cinlabProbe) return;

  const INPUT_EVENTS = ["keydown", "keyup", "pointerdown", "pointermove", "pointerup", "click", "input", "change"];
  const state = {
    recording: false,
    inputs: [],      // {type, t}
    paints: [],      // {tSrc, tDecoded, tFrame, tPainted, w, h, fp, stale, error}
    frames: [],      // kernel websocket frames {dir: "send"|"recv", t, bytes}
    img: null,
    observer: null,
    values: [],      // {t}: changes of the watched slider handle's aria-valuenow (watchValue)
    valueObserver: null,
    view: [],        // {attr: "state"|"shown", value, t}: changes of the live view's data-state / data-shown
    viewObserver: null,
    fingerprintBefore: null,
    pending: 0,      // paints whose decode/paint has not finished yet
    lastActivity: 0, // time of the last input or src change
  };

  for (const type of INPUT_EVENTS) {
    window.addEventListener(type, (event) => {
      if (!state.recording) return;
      // a pointer moving with no button pressed (hovering, or moving to where a click will be) asks nothing
      if (type === "pointermove" && !event.buttons) return;
      state.inputs.push({ type, t: event.timeStamp, trusted: event.isTrusted });
      state.lastActivity = Math.max(state.lastActivity, event.timeStamp);
    }, { capture: true, passive: true });
  }

  // ---- kernel websocket frames
  const NativeWebSocket = window.WebSocket;
  const byteLength = (data) =>
    typeof data === "string" ? data.length : (data.byteLength !== undefined ? data.byteLength : (data.size || 0));
  class ProbedWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes("/channels")) return;
      this.addEventListener("message", (event) => {
        if (state.recording) state.frames.push({ dir: "recv", t: performance.now(), bytes: byteLength(event.data) });
      });
    }
    send(data) {
      if (state.recording && String(this.url).includes("/channels")) {
        state.frames.push({ dir: "send", t: performance.now(), bytes: byteLength(data) });
      }
      return super.send(data);
    }
  }
  window.WebSocket = ProbedWebSocket;

  // ---- image paints
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 32;
  function fingerprint(img) {
    if (!img || !img.naturalWidth) return null;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.clearRect(0, 0, 32, 32);
    ctx.drawImage(img, 0, 0, 32, 32);
    const data = ctx.getImageData(0, 0, 32, 32).data;
    let hash = 2166136261; // FNV-1a over the pixels
    for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i], 16777619) >>> 0;
    return hash.toString(16);
  }

  function afterNextPaint() {
    // rAF runs at the start of the frame that will contain the image; a message posted from it
    // runs after that frame's paint.
    return new Promise((resolve) => requestAnimationFrame(() => {
      const tFrame = performance.now();
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve([tFrame, performance.now()]);
      channel.port2.postMessage(null);
    }));
  }

  async function onNewSrc(img) {
    const record = { tSrc: performance.now(), src: img.src };
    state.lastActivity = record.tSrc;
    if (state.recording) state.paints.push(record);
    state.pending += 1;
    try {
      await img.decode();
    } catch (error) {
      record.error = String(error); // typically: replaced by a newer src before it decoded
    }
    record.tDecoded = performance.now();
    const [tFrame, tPainted] = await afterNextPaint();
    record.tFrame = tFrame;
    record.tPainted = tPainted;
    record.stale = img.src !== record.src;
    record.w = img.naturalWidth;
    record.h = img.naturalHeight;
    if (!record.stale) record.fp = fingerprint(img);
    delete record.src;
    state.lastActivity = Math.max(state.lastActivity, tPainted);
    state.pending -= 1;
  }

  window.__cinlabProbe = {
    /** Watch this <img> (replaces any previously watched one). */
    watch(img) {
      if (state.observer) state.observer.disconnect();
      if (state.viewObserver) state.viewObserver.disconnect();
      state.img = img;
      state.observer = new MutationObserver(() => onNewSrc(img));
      state.observer.observe(img, { attributes: true, attributeFilter: ["src"] });
      const view = img.closest(".cinlab-view");
      state.viewObserver = null;
      if (view) {
        state.viewObserver = new MutationObserver((records) => {
          const t = performance.now();
          for (const r of records) {
            if (state.recording) state.view.push({ attr: r.attributeName.slice(5), value: view.getAttribute(r.attributeName), t });
          }
        });
        state.viewObserver.observe(view, { attributes: true, attributeFilter: ["data-state", "data-shown"] });
      }
    },
    /** Also record when this slider handle's value changes (a drag: which input moved it). */
    watchValue(handle) {
      if (state.valueObserver) state.valueObserver.disconnect();
      state.valueObserver = null;
      if (!handle) return;
      state.valueObserver = new MutationObserver(() => {
        if (state.recording) state.values.push({ t: performance.now() });
      });
      state.valueObserver.observe(handle, { attributes: true, attributeFilter: ["aria-valuenow"] });
    },
    /** Open a measurement: forget earlier events, remember the current picture. */
    start() {
      state.values = [];
      state.view = [];
      state.inputs = [];
      state.paints = [];
      state.frames = [];
      state.fingerprintBefore = fingerprint(state.img);
      state.lastActivity = performance.now();
      state.recording = true;
    },
    /** True once nothing happened for quietMs: no input, no new src, no decode/paint pending. */
    quiet(quietMs) {
      return state.pending === 0 && performance.now() - state.lastActivity >= quietMs;
    },
    paintCount() {
      return state.paints.filter((p) => p.tPainted !== undefined).length;
    },
    /** Close the measurement and return everything recorded. */
    stop() {
      state.recording = false;
      return {
        inputs: state.inputs,
        paints: state.paints,
        frames: state.frames,
        values: state.values,
        view: state.view,
        fingerprintBefore: state.fingerprintBefore,
        fingerprintAfter: fingerprint(state.img),
        now: performance.now(),
      };
    },
    fingerprint: () => fingerprint(state.img),
  };
})();
