// The style mixer's engine: one of cinlab's N-style networks (exported to ONNX by cinlab.export.to_onnx)
// run by onnxruntime-web, in the page, on the reader's machine. Nothing is sent anywhere.
//
// The network takes `image` [1, 3, H, W] in [0, 1] and `style_weights` [1, N] (a mixture; one-hot for a
// single style) and returns `stylized` [1, 3, H, W] in [0, 1]. H and W are free (>= 16).

const HERE = new URL('./', import.meta.url);

/** The smallest side the network takes (it downsamples by 4 and pads by reflection). */
export const MIN_SIDE = 16;

/**
 * Load onnxruntime-web (vendored beside this file in ort/) for a backend:
 * 'webgpu' (the WebGPU build; only where navigator.gpu gives an adapter) or 'wasm' (WebAssembly).
 * `threads` > 1 needs a cross-origin isolated page (SharedArrayBuffer); otherwise 1 is used.
 */
export async function loadRuntime(backend, threads) {
  const file = backend === 'webgpu' ? 'ort/ort.webgpu.min.mjs' : 'ort/ort.wasm.min.mjs';
  const ort = await import(new URL(file, HERE).href);
  ort.env.wasm.wasmPaths = new URL('ort/', HERE).href;
  const isolated = globalThis.crossOriginIsolated === true;
  ort.env.wasm.numThreads = isolated ? Math.max(1, threads) : 1;
  // Inference in a worker keeps the page responsive while a picture renders (pointer moves, sliders).
  ort.env.wasm.proxy = backend === 'wasm';
  ort.env.logLevel = 'error';
  return { ort, backend, threads: ort.env.wasm.numThreads, isolated };
}

/** 'webgpu' where the browser has a WebGPU adapter, else 'wasm'. */
export async function bestBackend() {
  try {
    if (globalThis.navigator?.gpu && (await navigator.gpu.requestAdapter())) return 'webgpu';
  } catch (e) {
    /* no adapter: WebAssembly */
  }
  return 'wasm';
}

/** One network in one onnxruntime-web session; `run` is never called twice at once (see LatestOnly). */
export class Engine {
  constructor(runtime, session, numStyles) {
    this.runtime = runtime;
    this.session = session;
    this.numStyles = numStyles;
  }

  /** Create a session for the ONNX file at `modelUrl` (bytes fetched once; the session keeps them). */
  static async create(runtime, modelUrl, numStyles) {
    const response = await fetch(modelUrl);
    if (!response.ok) throw new Error(`could not load the network ${modelUrl} (HTTP ${response.status})`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const providers = runtime.backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
    const session = await runtime.ort.InferenceSession.create(bytes, {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
    });
    return new Engine(runtime, session, numStyles);
  }

  /** Stylise `pixels` (an ImageData) with `weights` (Float32Array [N]); returns {image: ImageData, ms}. */
  async run(pixels, weights) {
    if (weights.length !== this.numStyles) throw new Error(`need ${this.numStyles} weights, got ${weights.length}`);
    const t0 = performance.now();
    const { ort } = this.runtime;
    const { width, height } = pixels;
    const image = new ort.Tensor('float32', imageDataToCHW(pixels), [1, 3, height, width]);
    const style = new ort.Tensor('float32', Float32Array.from(weights), [1, this.numStyles]);
    const outputs = await this.session.run({ image, style_weights: style });
    const result = outputs.stylized;
    const data = await result.getData(true);
    const out = chwToImageData(data, height, width);
    return { image: out, ms: performance.now() - t0 };
  }

  /** Time `runs` pictures of h x w px (fixed pseudo-random pixels, the first style), after one warm-up
   * unless `warmup` is false; returns the milliseconds of each. */
  async time(height, width, runs, warmup = true) {
    const pixels = new ImageData(width, height);
    for (let i = 0; i < pixels.data.length; i++) pixels.data[i] = (i * 2654435761) % 251;
    const weights = new Float32Array(this.numStyles);
    weights[0] = 1;
    if (warmup) await this.run(pixels, weights);
    const times = [];
    for (let i = 0; i < runs; i++) times.push((await this.run(pixels, weights)).ms);
    return times;
  }
}

/** RGBA bytes (ImageData) -> float32 [3, H, W] in [0, 1] (as cinlab.load_image reads an 8-bit file). */
export function imageDataToCHW(pixels) {
  const { data, width, height } = pixels;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = data[4 * i] / 255;
    out[plane + i] = data[4 * i + 1] / 255;
    out[2 * plane + i] = data[4 * i + 2] / 255;
  }
  return out;
}

/** float32 [3, H, W] in [0, 1] -> ImageData, rounding as cinlab.images.to_pil does (round(255 x)). */
export function chwToImageData(chw, height, width) {
  const plane = width * height;
  const out = new ImageData(width, height);
  const d = out.data; // Uint8ClampedArray: clamps to [0, 255] and rounds half to even, like torch.round
  for (let i = 0; i < plane; i++) {
    d[4 * i] = chw[i] * 255;
    d[4 * i + 1] = chw[plane + i] * 255;
    d[4 * i + 2] = chw[2 * plane + i] * 255;
    d[4 * i + 3] = 255;
  }
  return out;
}

// ----------------------------------------------------------------------------- mixtures (cinlab.style)

/** One style: a one-hot vector [N]. */
export function oneHot(n, index) {
  const w = new Float32Array(n);
  w[index] = 1;
  return w;
}

/** (1 - alpha) A + alpha B, as cinlab.style.interpolate. */
export function pairWeights(n, a, b, alpha) {
  const w = new Float32Array(n);
  w[a] += 1 - alpha;
  w[b] += alpha;
  return w;
}

/** The point (u, v) of the unit square whose corners are styles (TL, TR, BL, BR), as cinlab.style.bilinear. */
export function bilinearWeights(n, corners, u, v) {
  const [tl, tr, bl, br] = corners;
  const w = new Float32Array(n);
  w[tl] += (1 - u) * (1 - v);
  w[tr] += u * (1 - v);
  w[bl] += (1 - u) * v;
  w[br] += u * v;
  return w;
}

/** Weights scaled to sum to 1 (cinlab.style.normalize); null when they are all 0 (no mixture). */
export function normalise(raw) {
  let total = 0;
  for (const x of raw) total += x;
  if (!(total > 0)) return null;
  return Float32Array.from(raw, (x) => x / total);
}

// ----------------------------------------------------------------------------- scheduling

/**
 * At most one job runs; a request made while one runs waits, and a newer request replaces a waiting one
 * (never stale work queued behind the newest input). `run(job)` returns a promise.
 */
export class LatestOnly {
  constructor(run) {
    this._run = run;
    this._running = null;
    this._waiting = null;
  }

  get busy() {
    return this._running !== null;
  }

  request(job) {
    this._waiting = job;
    this._pump();
  }

  _pump() {
    if (this._running || !this._waiting) return;
    const job = this._waiting;
    this._waiting = null;
    this._running = Promise.resolve()
      .then(() => this._run(job))
      .catch((e) => console.warn('render failed', e))
      .finally(() => {
        this._running = null;
        this._pump();
      });
  }
}
