// The style mixer page: the controls of notebook 7's widgets (a style, two styles and alpha, one weight
// per style, a 2-D pad between four paintings) around one of cinlab's N-style networks running in the
// page (engine.js). Plain ES modules, no framework.
//
// Live: while a control moves, a small picture (a preview, sized to render in PREVIEW_BUDGET_MS) is shown
// scaled up; when the controls rest (REST_MS without input, or a click / release), the full picture.
// One render runs at a time and a newer request replaces a waiting one (LatestOnly), so no stale work
// queues behind the newest input. Everything (network, photos, paintings) is loaded up front: once the
// page has loaded, it works offline.

import {
  Engine,
  LatestOnly,
  MIN_SIDE,
  bestBackend,
  bilinearWeights,
  loadRuntime,
  normalise,
  oneHot,
  pairWeights,
} from './engine.js';

const HERE = new URL('./', import.meta.url);
const PREVIEW_BUDGET_MS = 70; // render time a preview aims for (input to picture stays well under 150 ms)
const REST_MS = 200; // no input for this long: the controls rest, render the full picture
const PREVIEW_MIN = 32;
const PREVIEW_START = 96;

const $ = (id) => document.getElementById(id);
const root = $('cinlab-mixer');
const canvas = $('mixer-picture');
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const params = new URLSearchParams(location.search);

const api = {
  ready: null, // resolves when the first full picture is shown
  info: {},
  lastFull: null, // {key, ms, weights, photo, network, width, height}
  lastPreview: null,
  renders: 0,
  busy: () => scheduler.busy, // a picture is rendering
  latencies: [], // {kind, ms}: input (the control's event) to the picture drawn and the next frame painted
  engine: null,
  manifest: null,
};
window.cinlabMixer = api;

const state = {
  network: 0,
  photo: null,
  mode: 'one',
  one: 0,
  two: { a: 0, b: 1, alpha: 0.5 },
  weights: null,
  pad: { corners: [0, 1, 2, 3], u: 0.5, v: 0.5 },
};
let manifest;
let engine = null;
let runtime = null;
const photos = new Map(); // name -> {full: ImageData, bitmap, caption, previews: Map(side -> ImageData)}
let previewSide = PREVIEW_START;
let restTimer = null;

function setStatus(text, kind = 'info') {
  const status = $('mixer-status');
  status.textContent = text;
  status.dataset.kind = kind;
}

function network() {
  return manifest.networks[state.network];
}

function styleLabel(i) {
  const s = network().styles[i];
  return s.title ? `${s.title} (${s.artist})` : s.name;
}

// ----------------------------------------------------------------------------- the mixture

function currentWeights() {
  const n = network().styles.length;
  switch (state.mode) {
    case 'one':
      return oneHot(n, state.one);
    case 'two':
      return pairWeights(n, state.two.a, state.two.b, state.two.alpha);
    case 'weights':
      return normalise(state.weights);
    case 'pad':
      return bilinearWeights(n, state.pad.corners, state.pad.u, state.pad.v);
    default:
      throw new Error(`unknown mode ${state.mode}`);
  }
}

function describe(weights) {
  const parts = [];
  weights.forEach((w, i) => {
    if (w > 0.0005) parts.push(`${network().styles[i].name} ${Math.round(100 * w)} %`);
  });
  return parts.join(', ');
}

function keyOf(weights) {
  return `${network().name}|${state.photo}|${Array.from(weights, (w) => w.toFixed(4)).join(',')}`;
}

// ----------------------------------------------------------------------------- rendering

const scheduler = new LatestOnly(async (job) => {
  const photo = photos.get(job.photo);
  if (!photo || !engine || job.network !== network().name) return;
  const input = job.kind === 'full' ? photo.full : previewOf(photo, previewSide);
  let result;
  try {
    result = await engine.run(input, job.weights);
  } catch (e) {
    setStatus(`The network could not render this picture: ${e.message || e}`, 'error');
    return;
  }
  api.renders += 1;
  const current = keyOf(currentWeights() || job.weights);
  if (job.kind === 'preview') {
    adaptPreview(input, result.ms);
    api.lastPreview = { key: job.key, ms: result.ms, width: input.width, height: input.height };
    if (canvas.dataset.key === current && canvas.dataset.quality === 'full') return; // already final
    drawScaled(result.image);
    noteLatency('preview', job.t);
    canvas.dataset.quality = 'preview';
    canvas.dataset.key = job.key;
    $('mixer-timing').textContent = `preview ${input.width} × ${input.height} px in ${result.ms.toFixed(0)} ms`;
  } else {
    if (job.key !== current) return; // the controls moved on; their own request is on its way
    canvas.width = result.image.width;
    canvas.height = result.image.height;
    ctx.putImageData(result.image, 0, 0);
    noteLatency('full', job.t);
    canvas.dataset.quality = 'full';
    canvas.dataset.key = job.key;
    api.lastFull = {
      key: job.key,
      ms: result.ms,
      weights: Array.from(job.weights),
      photo: job.photo,
      network: job.network,
      width: result.image.width,
      height: result.image.height,
    };
    $('mixer-timing').textContent = `${result.image.width} × ${result.image.height} px in ${result.ms.toFixed(0)} ms · ${engineLabel()}`;
    root.dispatchEvent(new CustomEvent('cinlab-mixer-full', { detail: api.lastFull }));
  }
  $('mixer-caption').textContent = describe(job.weights);
});

function noteLatency(kind, t) {
  requestAnimationFrame(() => {
    api.latencies.push({ kind, ms: performance.now() - t });
    if (api.latencies.length > 1000) api.latencies.splice(0, 500);
  });
}

function engineLabel() {
  if (!runtime) return '';
  if (runtime.backend === 'webgpu') return 'WebGPU';
  return `WebAssembly, ${runtime.threads} thread${runtime.threads > 1 ? 's' : ''}`;
}

/** Resize the preview so that it renders in about PREVIEW_BUDGET_MS (time grows with the pixels). */
function adaptPreview(input, ms) {
  const side = Math.min(input.width, input.height);
  const scale = Math.sqrt(PREVIEW_BUDGET_MS / Math.max(ms, 1));
  const target = Math.max(PREVIEW_MIN, Math.min(manifest.photo_side / 2, Math.round((side * scale) / 8) * 8));
  previewSide = Math.round(0.5 * previewSide + 0.5 * target);
}

function previewOf(photo, side) {
  side = Math.max(MIN_SIDE, Math.round(side));
  if (!photo.previews.has(side)) {
    const { width, height } = photo.full;
    const scale = side / Math.min(width, height);
    const w = Math.max(MIN_SIDE, Math.round(width * scale));
    const h = Math.max(MIN_SIDE, Math.round(height * scale));
    const small = new OffscreenCanvas(w, h).getContext('2d');
    small.imageSmoothingQuality = 'high';
    small.drawImage(photo.bitmap, 0, 0, w, h);
    if (photo.previews.size > 8) photo.previews.clear();
    photo.previews.set(side, small.getImageData(0, 0, w, h));
  }
  return photo.previews.get(side);
}

const scratch = new OffscreenCanvas(1, 1);
function drawScaled(image) {
  scratch.width = image.width;
  scratch.height = image.height;
  scratch.getContext('2d').putImageData(image, 0, 0);
  const photo = photos.get(state.photo);
  if (photo && (canvas.width !== photo.full.width || canvas.height !== photo.full.height)) {
    canvas.width = photo.full.width;
    canvas.height = photo.full.height;
  }
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

/** A control changed: a preview now; the full picture now (`settled`) or once the controls rest. */
function changed(settled) {
  const weights = currentWeights();
  const message = $('mixer-weights-message');
  message.textContent = '';
  if (!weights) {
    message.textContent = 'All the weights are 0, so there is no mixture: raise at least one slider.';
    return;
  }
  if (!engine || !state.photo) return;
  const job = { key: keyOf(weights), weights, photo: state.photo, network: network().name, t: performance.now() };
  $('mixer-caption').textContent = describe(weights);
  clearTimeout(restTimer);
  if (canvas.dataset.key === job.key && canvas.dataset.quality === 'full') return;
  scheduler.request({ ...job, kind: 'preview' });
  if (settled) scheduler.request({ ...job, kind: 'full' });
  else restTimer = setTimeout(() => scheduler.request({ ...job, kind: 'full' }), REST_MS);
}

// ----------------------------------------------------------------------------- photos

async function decodeBlob(blob) {
  return createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
}

function pixelsOf(bitmap, width, height) {
  const c = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  c.imageSmoothingQuality = 'high';
  c.drawImage(bitmap, 0, 0, width, height);
  return c.getImageData(0, 0, width, height);
}

async function addSamplePhoto(entry) {
  const response = await fetch(new URL(entry.file, HERE));
  if (!response.ok) throw new Error(`could not load ${entry.file} (HTTP ${response.status})`);
  const blob = await response.blob();
  const bitmap = await decodeBlob(blob);
  // Sample photos are stored at exactly the picture's size: their pixels go in unchanged.
  photos.set(entry.name, { full: pixelsOf(bitmap, bitmap.width, bitmap.height), bitmap, previews: new Map() });
  addPhotoButton(entry.name, URL.createObjectURL(blob), entry.caption);
}

function addPhotoButton(name, src, caption) {
  const list = $('mixer-photo-list');
  let button = list.querySelector(`[data-photo="${CSS.escape(name)}"]`);
  if (!button) {
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'mixer-photo';
    button.dataset.photo = name;
    button.append(document.createElement('img'));
    button.addEventListener('click', () => selectPhoto(name));
    list.append(button);
  }
  const img = button.querySelector('img');
  if (src) img.src = src;
  img.alt = caption;
  button.title = caption;
}

function selectPhoto(name) {
  state.photo = name;
  for (const b of document.querySelectorAll('.mixer-photo')) b.setAttribute('aria-pressed', String(b.dataset.photo === name));
  const photo = photos.get(name);
  canvas.width = photo.full.width;
  canvas.height = photo.full.height;
  changed(true);
}

/** Centre-crop to at most `maxAspect`, scale the shorter side to `side`: the build's rule for sample photos. */
function fitSize(width, height, side, maxAspect) {
  let w = width;
  let h = height;
  if (w / h > maxAspect) w = Math.round(h * maxAspect);
  if (h / w > maxAspect) h = Math.round(w * maxAspect);
  const scale = side / Math.min(w, h);
  return { cropW: w, cropH: h, width: Math.round(w * scale), height: Math.round(h * scale) };
}

async function upload(file) {
  const message = $('mixer-upload-message');
  message.textContent = '';
  if (!file) return;
  const limits = manifest.upload;
  if (file.size > limits.max_bytes) {
    message.textContent = `“${file.name}” is ${(file.size / 1e6).toFixed(1)} MB; this page takes photos up to ${limits.max_bytes / 1e6} MB. Choose a smaller one.`;
    return;
  }
  let bitmap;
  try {
    bitmap = await decodeBlob(file);
  } catch (e) {
    message.textContent = `“${file.name}” is not an image this browser can read. Choose a photo (JPEG, PNG, WebP, GIF).`;
    return;
  }
  if (bitmap.width * bitmap.height > limits.max_pixels) {
    message.textContent = `“${file.name}” is ${bitmap.width} × ${bitmap.height} px; this page takes up to ${(limits.max_pixels / 1e6).toFixed(0)} megapixels.`;
    bitmap.close();
    return;
  }
  if (Math.min(bitmap.width, bitmap.height) < MIN_SIDE) {
    message.textContent = `“${file.name}” is ${bitmap.width} × ${bitmap.height} px; the network needs at least ${MIN_SIDE} px a side.`;
    bitmap.close();
    return;
  }
  const fit = fitSize(bitmap.width, bitmap.height, manifest.photo_side, manifest.max_aspect);
  const crop = new OffscreenCanvas(fit.width, fit.height).getContext('2d', { willReadFrequently: true });
  crop.imageSmoothingQuality = 'high';
  const sx = (bitmap.width - fit.cropW) / 2;
  const sy = (bitmap.height - fit.cropH) / 2;
  crop.drawImage(bitmap, sx, sy, fit.cropW, fit.cropH, 0, 0, fit.width, fit.height);
  bitmap.close();
  const full = crop.getImageData(0, 0, fit.width, fit.height);
  const small = await createImageBitmap(full);
  photos.set('your photo', { full, bitmap: small, previews: new Map() });
  const thumb = new OffscreenCanvas(fit.width, fit.height);
  thumb.getContext('2d').putImageData(full, 0, 0);
  addPhotoButton('your photo', URL.createObjectURL(await thumb.convertToBlob()), `your photo (${file.name})`);
  selectPhoto('your photo');
}

// ----------------------------------------------------------------------------- controls

function thumbSrc(i) {
  const s = network().styles[i];
  return s.thumb ? new URL(s.thumb, HERE).href : '';
}

function fillSelect(select, value) {
  select.replaceChildren(
    ...network().styles.map((s, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = `${i}: ${s.name}`;
      return option;
    }),
  );
  select.value = String(value);
}

function buildControls() {
  const n = network().styles.length;
  state.one = Math.min(state.one, n - 1);
  state.two = { a: 0, b: Math.min(1, n - 1), alpha: state.two.alpha };
  state.weights = oneHot(n, 0);
  state.pad.corners = [0, 1, 2, 3].map((i) => Math.min(i, n - 1));

  const gallery = $('mixer-gallery');
  gallery.replaceChildren(
    ...network().styles.map((s, i) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'mixer-style';
      button.dataset.style = String(i);
      button.title = styleLabel(i);
      button.setAttribute('aria-pressed', String(i === state.one));
      if (s.thumb) {
        const img = document.createElement('img');
        img.src = thumbSrc(i);
        img.alt = styleLabel(i);
        button.append(img);
      }
      const name = document.createElement('span');
      name.textContent = s.name;
      button.append(name);
      button.addEventListener('click', () => {
        state.one = i;
        for (const b of gallery.children) b.setAttribute('aria-pressed', String(b === button));
        changed(true);
      });
      return button;
    }),
  );

  fillSelect($('mixer-a'), state.two.a);
  fillSelect($('mixer-b'), state.two.b);
  pairThumbs();

  const weights = $('mixer-weights');
  weights.replaceChildren(
    ...network().styles.map((s, i) => {
      const label = document.createElement('label');
      label.className = 'mixer-weight';
      label.title = styleLabel(i);
      if (s.thumb) {
        const img = document.createElement('img');
        img.src = thumbSrc(i);
        img.alt = '';
        label.append(img);
      }
      const name = document.createElement('span');
      name.textContent = s.name;
      const input = document.createElement('input');
      input.type = 'range';
      input.min = '0';
      input.max = '1';
      input.step = '0.05';
      input.value = String(state.weights[i]);
      input.dataset.style = String(i);
      input.setAttribute('aria-label', `weight of ${s.name}`);
      input.addEventListener('input', () => {
        state.weights[i] = Number(input.value);
        changed(false);
      });
      input.addEventListener('change', () => changed(true));
      label.append(name, input);
      return label;
    }),
  );

  for (const select of document.querySelectorAll('[data-corner-select]')) {
    const c = Number(select.dataset.cornerSelect);
    fillSelect(select, state.pad.corners[c]);
  }
  $('mixer-palette').replaceChildren(
    ...network().styles.map((s, i) => {
      const img = document.createElement('img');
      img.src = thumbSrc(i) || 'data:,';
      img.alt = styleLabel(i);
      img.title = `${styleLabel(i)}: drag onto a corner`;
      img.draggable = true;
      img.dataset.style = String(i);
      img.addEventListener('dragstart', (e) => e.dataTransfer.setData('text/plain', `style:${i}`));
      return img;
    }),
  );
  padCorners();
  padDot();
}

function pairThumbs() {
  $('mixer-a-thumb').src = thumbSrc(state.two.a) || 'data:,';
  $('mixer-b-thumb').src = thumbSrc(state.two.b) || 'data:,';
  $('mixer-a-thumb').alt = styleLabel(state.two.a);
  $('mixer-b-thumb').alt = styleLabel(state.two.b);
}

function padCorners() {
  for (const img of document.querySelectorAll('.mixer-corner')) {
    const i = state.pad.corners[Number(img.dataset.corner)];
    img.src = thumbSrc(i) || 'data:,';
    img.alt = styleLabel(i);
    img.title = styleLabel(i);
  }
}

function padDot() {
  const dot = $('mixer-pad-dot');
  dot.style.left = `${100 * state.pad.u}%`;
  dot.style.top = `${100 * state.pad.v}%`;
  $('mixer-pad').setAttribute('aria-valuetext', `u ${state.pad.u.toFixed(2)}, v ${state.pad.v.toFixed(2)}`);
}

function wireControls() {
  for (const tab of document.querySelectorAll('.mixer-tabs [data-mode]')) {
    tab.addEventListener('click', () => {
      state.mode = tab.dataset.mode;
      for (const t of document.querySelectorAll('.mixer-tabs [data-mode]')) t.setAttribute('aria-selected', String(t === tab));
      for (const panel of document.querySelectorAll('.mixer-panel')) panel.hidden = panel.dataset.panel !== state.mode;
      changed(true);
    });
  }
  $('mixer-a').addEventListener('change', (e) => {
    state.two.a = Number(e.target.value);
    pairThumbs();
    changed(true);
  });
  $('mixer-b').addEventListener('change', (e) => {
    state.two.b = Number(e.target.value);
    pairThumbs();
    changed(true);
  });
  const alpha = $('mixer-alpha');
  alpha.addEventListener('input', () => {
    state.two.alpha = Number(alpha.value);
    $('mixer-alpha-value').textContent = state.two.alpha.toFixed(2);
    changed(false);
  });
  alpha.addEventListener('change', () => changed(true));

  for (const select of document.querySelectorAll('[data-corner-select]')) {
    select.addEventListener('change', () => {
      state.pad.corners[Number(select.dataset.cornerSelect)] = Number(select.value);
      padCorners();
      changed(true);
    });
  }
  // Corners take a painting dragged from the palette, or swap with another corner dragged onto them.
  for (const img of document.querySelectorAll('.mixer-corner')) {
    const corner = Number(img.dataset.corner);
    img.draggable = true;
    img.addEventListener('dragstart', (e) => e.dataTransfer.setData('text/plain', `corner:${corner}`));
    img.addEventListener('dragover', (e) => {
      e.preventDefault();
      img.classList.add('mixer-drop');
    });
    img.addEventListener('dragleave', () => img.classList.remove('mixer-drop'));
    img.addEventListener('drop', (e) => {
      e.preventDefault();
      img.classList.remove('mixer-drop');
      const [kind, value] = e.dataTransfer.getData('text/plain').split(':');
      const corners = state.pad.corners;
      if (kind === 'style') corners[corner] = Number(value);
      else if (kind === 'corner') [corners[corner], corners[Number(value)]] = [corners[Number(value)], corners[corner]];
      else return;
      for (const select of document.querySelectorAll('[data-corner-select]')) {
        select.value = String(corners[Number(select.dataset.cornerSelect)]);
      }
      padCorners();
      changed(true);
    });
  }
  const pad = $('mixer-pad');
  const moveTo = (event) => {
    const box = pad.getBoundingClientRect();
    state.pad.u = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    state.pad.v = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    padDot();
  };
  pad.addEventListener('pointerdown', (event) => {
    pad.setPointerCapture(event.pointerId);
    moveTo(event);
    changed(false);
  });
  pad.addEventListener('pointermove', (event) => {
    if (!pad.hasPointerCapture(event.pointerId)) return;
    moveTo(event);
    changed(false);
  });
  pad.addEventListener('pointerup', () => changed(true));
  pad.addEventListener('keydown', (event) => {
    const step = event.shiftKey ? 0.25 : 0.05;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    state.pad.u = Math.min(1, Math.max(0, state.pad.u + move[0]));
    state.pad.v = Math.min(1, Math.max(0, state.pad.v + move[1]));
    padDot();
    changed(false);
  });
  $('mixer-upload').addEventListener('change', (e) => upload(e.target.files[0]));
  $('mixer-network').addEventListener('change', (e) => switchNetwork(Number(e.target.value)));
}

// ----------------------------------------------------------------------------- the network

function networkInfo(net) {
  const t = net.trained;
  const rows = [
    ['network', `${net.name}: ${net.styles.length} styles, ${net.parameters.toLocaleString('en')} parameters (${net.per_style.toLocaleString('en')} per style)`],
    ['trained by', `cinlab ${t.cinlab_version} on ${t.device}, ${t.precision}`],
    ['training', `${t.step.toLocaleString('en')} steps × batch ${t.batch_size} × ${t.crop_size} px crops, in ${formatSeconds(t.seconds)}; paintings at ${t.style_size} px`],
    ['loss', `${t.loss_network}; content ${t.content_layers.join(', ')}, style ${t.style_layers.join(', ')}; style weight ${t.style_weight}`],
    ['content photos', t.content ? `${t.content.length} photos${t.held_out?.length ? `; held out: ${t.held_out.join(', ')}` : ''}` : 'cinlab’s default photo pool'],
  ];
  if (t.provenance) rows.push(['provenance', t.provenance]);
  rows.push(['this page', `ONNX file of ${(net.bytes / 1e6).toFixed(1)} MB (float16 weights, float32 arithmetic), exported by cinlab.export.to_onnx; run by onnxruntime-web ${runtime?.ort?.env?.versions?.web ?? ''} (${engineLabel()}) in your browser. Photos never leave the page.`]);
  rows.push(['parity', net.parity ? `against cinlab's PyTorch float32 output at ${net.parity.size} px: mean ${net.parity.mean_abs.toFixed(2)}, max ${net.parity.max_abs} grey levels (of 255), onnxruntime on the CPU` : 'not measured']);
  const table = document.createElement('table');
  table.className = 'mixer-info';
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    tr.append(th);
    tr.insertCell().textContent = v;
  }
  return table;
}

function formatSeconds(s) {
  return s >= 90 ? `${(s / 60).toFixed(0)} min` : `${s.toFixed(0)} s`;
}

async function switchNetwork(index) {
  state.network = index;
  const net = network();
  setStatus(`Loading ${net.name} (${(net.bytes / 1e6).toFixed(1)} MB)…`);
  root.dataset.state = 'loading';
  try {
    try {
      engine = await Engine.create(runtime, new URL(net.file, HERE).href, net.styles.length);
    } catch (e) {
      if (runtime.backend !== 'webgpu') throw e;
      console.warn('WebGPU could not run the network; using WebAssembly', e);
      runtime = await loadRuntime('wasm', runtime.threads);
      api.info = { backend: runtime.backend, threads: runtime.threads, isolated: runtime.isolated };
      engine = await Engine.create(runtime, new URL(net.file, HERE).href, net.styles.length);
    }
  } catch (e) {
    setStatus(`The network ${net.name} could not be loaded: ${e.message || e}`, 'error');
    root.dataset.state = 'error';
    throw e;
  }
  api.engine = engine;
  buildControls();
  $('mixer-network-info').replaceChildren(networkInfo(net));
  setStatus(`${net.name}: ${net.styles.length} styles, running in this page (${engineLabel()}).`);
  root.dataset.state = 'ready';
  canvas.dataset.key = '';
  changed(true);
}

async function start() {
  manifest = await (await fetch(new URL('mixer.json', HERE))).json();
  api.manifest = manifest;
  const select = $('mixer-network');
  select.replaceChildren(
    ...manifest.networks.map((net, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = `${net.name} (${net.styles.length} styles; ${net.summary})`;
      return option;
    }),
  );
  $('mixer-upload-note').textContent =
    `Your photo never leaves this page: the network runs here. Files up to ${manifest.upload.max_bytes / 1e6} MB and ${(manifest.upload.max_pixels / 1e6).toFixed(0)} megapixels; ` +
    `it is cropped to at most ${manifest.max_aspect}:1 and scaled to ${manifest.photo_side} px on its shorter side.`;
  const requested = params.get('backend');
  const backend = requested === 'wasm' || requested === 'webgpu' ? requested : await bestBackend();
  const threads = Number(params.get('threads')) || Math.min(4, navigator.hardwareConcurrency || 1);
  try {
    runtime = await loadRuntime(backend, threads);
  } catch (e) {
    if (backend === 'wasm') throw e;
    runtime = await loadRuntime('wasm', threads); // no WebGPU after all
  }
  api.info = { backend: runtime.backend, threads: runtime.threads, isolated: runtime.isolated };
  for (const entry of manifest.photos) addPhotoButton(entry.name, '', entry.caption); // in the manifest's order
  await Promise.all(manifest.photos.map(addSamplePhoto));
  state.photo = manifest.photos[0].name;
  for (const b of document.querySelectorAll('.mixer-photo')) b.setAttribute('aria-pressed', String(b.dataset.photo === state.photo));
  wireControls();
  const firstFull = new Promise((resolve) => root.addEventListener('cinlab-mixer-full', resolve, { once: true }));
  await switchNetwork(0);
  await firstFull;
}

api.ready = start().catch((e) => {
  console.error(e);
  setStatus(`The mixer could not start: ${e.message || e}`, 'error');
  root.dataset.state = 'error';
  throw e;
});
