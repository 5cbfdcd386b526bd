/**
 * coreg's browser app (bundled to web-dist/app.js): pick or drop two images, register them in a Web Worker,
 * look at the result in NiiVue, download the files the CLI writes; atlas segmentation with a worker pool.
 * Everything runs in the page: the only requests go to the page's own origin (the app's files, and images named
 * by ?fixed=…&moving=… on the same origin).
 */
import { Niivue, NVImage } from '@niivue/niivue';
import { CoregError } from '../errors.js';
import { finiteRange, numberOfPixels, pixelTypeOf, type Image } from '../image/image.js';
import { decodeImage, encodeImage } from '../io/image-io.js';
import { createBrowserWorkerPool } from '../parallel/browser.js';
import type { WorkerPool } from '../parallel/pool.js';
import { defaultConfig, validateConfig, type MetricName, type RegistrationConfig, type TransformKind } from '../register/config.js';
import type { ProgressEvent } from '../register/register.js';
import { FUSION_METHODS, withAtlasDefaults, type FusionMethod, type SegmentProgress } from '../segment/index.js';
import { declaredElements, memoryBudgetBytes, tooLargeMessage } from './limits.js';
import type { RegisterTaskEvent, RegisterTaskOutput, SegmentTaskEvent, SegmentTaskOutput } from './tasks.js';

type Role = 'fixed' | 'moving';

interface Loaded {
  name: string;
  image: Image;
  /** Uncompressed NIfTI of the image, for NiiVue. */
  nifti: Uint8Array;
}

/** What tests and scripts can read: progress events seen, and the state of the last run. */
interface AppState {
  events: ProgressEvent[];
  segmentEvents: SegmentProgress[];
  registerSeconds?: number;
  /** The worker's time for the output files and pictures, and the page's for showing them. */
  outputSeconds?: number;
  viewSeconds?: number;
  segmentSeconds?: number;
  isolated: boolean;
  /** The last registration's team: threads, and the blocks its helper threads did (registration, outputs). */
  team?: RegisterTaskOutput['team'];
  /** The last registration's Jacobian determinant map, summarised (as `coreg eval jacobian`). */
  jacobian?: RegisterTaskOutput['jacobian'];
  /** The last registration's warnings (e.g. why it ran on one thread). */
  warnings: string[];
  /** The two result views' cursor positions (world mm), for checking that they are linked. */
  cursors?: () => number[][];
}

const PRESETS: Record<string, { transforms: TransformKind[]; metrics: MetricName[] }> = {
  rigid: { transforms: ['rigid'], metrics: ['mi'] },
  affine: { transforms: ['rigid', 'affine'], metrics: ['mi'] },
  bspline: { transforms: ['affine', 'bspline'], metrics: ['mi'] },
  syn: { transforms: ['rigid', 'affine', 'syn'], metrics: ['mi', 'mi', 'lncc'] },
};

const workerUrl = new URL('./worker.js', import.meta.url);
const params = new URLSearchParams(location.search);
const budget = memoryBudgetBytes(params, (navigator as { deviceMemory?: number }).deviceMemory);
const state: AppState = { events: [], segmentEvents: [], warnings: [], isolated: globalThis.crossOriginIsolated === true };
(globalThis as unknown as { coreg: AppState }).coreg = state;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return e as T;
}

function setBodyState(s: 'idle' | 'running' | 'done' | 'error' | 'cancelled'): void {
  document.body.dataset.state = s;
}

function showMessage(id: 'message' | 'seg-message', text: string, error = false): void {
  const m = el(id);
  m.textContent = text;
  m.classList.toggle('error', error);
}

/** One line for any failure: CoregError's "subject: message", allocation failures as memory messages. */
function describeError(err: unknown, subject: string): string {
  if (err instanceof CoregError) return `${err.subject}: ${err.message}`;
  if (err instanceof RangeError || (err instanceof Error && /allocation|out of memory|Invalid typed array length|Array buffer/i.test(err.message))) {
    return `${subject}: too large for this browser's memory (${(err as Error).message})`;
  }
  if (err instanceof Error) {
    if (err.name === 'AbortError') return `${subject}: cancelled`;
    return `${subject}: ${err.message}`;
  }
  return `${subject}: ${String(err)}`;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

// ---------------------------------------------------------------------------------------------- inputs

const inputs: Partial<Record<Role, Loaded>> = {};
const inputErrors: Partial<Record<Role, string>> = {};

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString();
}

function headerRows(img: Image, name: string, bytes: number): [string, string][] {
  const range = finiteRange(img.data);
  const d = img.dimension;
  const rows: string[] = [];
  for (let r = 0; r < d; r++) rows.push(img.direction.slice(r * d, r * d + d).map(fmt).join(' '));
  return [
    ['file', `${name} (${(bytes / 1024).toFixed(1)} KB)`],
    ['dimension', `${d}D`],
    ['size', img.size.join(' × ')],
    ['spacing (mm)', img.spacing.map(fmt).join(' × ')],
    ['origin (LPS mm)', img.origin.map(fmt).join(', ')],
    ['direction', rows.join(' | ')],
    ['pixel type', `${pixelTypeOf(img.data)}${img.components > 1 ? ` × ${img.components}` : ''}`],
    ['range', range ? `${fmt(range.min)} … ${fmt(range.max)}` : 'no finite values'],
  ];
}

function showHeader(table: HTMLElement, rows: [string, string][]): void {
  table.replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement('tr');
      const a = document.createElement('td');
      const b = document.createElement('td');
      a.textContent = k;
      b.textContent = v;
      tr.append(a, b);
      return tr;
    }),
  );
}

/** Decodes a file's bytes into an image, refusing declared sizes the page cannot hold before allocating them. */
function decodeChecked(bytes: Uint8Array, name: string): Image {
  const elements = declaredElements(bytes, name);
  if (elements !== null) {
    const msg = tooLargeMessage(elements, budget);
    if (msg) throw new CoregError(name, msg);
  }
  const image = decodeImage(bytes, { name });
  const msg = tooLargeMessage(numberOfPixels(image) * image.components, budget);
  if (msg) throw new CoregError(name, msg);
  return image;
}

async function loadInput(role: Role, name: string, bytes: Uint8Array): Promise<void> {
  const table = el(`${role}-header`);
  delete inputs[role];
  updateRunButton();
  try {
    const image = decodeChecked(bytes, name);
    if (image.components !== 1) throw new CoregError(name, `has ${image.components} components per pixel; registration needs scalar images`);
    inputs[role] = { name, image, nifti: encodeImage(image, 'view.nii')[0].bytes };
    showHeader(table, headerRows(image, name, bytes.length));
    delete inputErrors[role];
    const other = Object.values(inputErrors)[0];
    showMessage('message', other ?? '', other !== undefined);
    setBodyState(other ? 'error' : 'idle');
  } catch (e) {
    table.replaceChildren();
    inputErrors[role] = `${role} image ${describeError(e, name)}`;
    showMessage('message', inputErrors[role], true);
    setBodyState('error');
  }
  updateRunButton();
  await showInputs();
}

function wireDrop(role: Role): void {
  const zone = el(`${role}-drop`);
  const input = el<HTMLInputElement>(`${role}-file`);
  const take = async (file: File | undefined): Promise<void> => {
    if (file) await loadInput(role, file.name, new Uint8Array(await file.arrayBuffer()));
  };
  input.addEventListener('change', () => void take(input.files?.[0]));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    void take(e.dataTransfer?.files[0]);
  });
}

/** Fetches an image named by a URL parameter; only the page's own origin is allowed. */
async function fetchSameOrigin(spec: string): Promise<{ name: string; bytes: Uint8Array }> {
  const url = new URL(spec, location.href);
  if (url.origin !== location.origin) throw new CoregError(spec, `not on this page's origin (${location.origin}); images never leave or enter the machine from elsewhere`);
  const res = await fetch(url);
  if (!res.ok) throw new CoregError(spec, `could not be fetched (HTTP ${res.status})`);
  const name = decodeURIComponent(url.pathname.split('/').pop() || 'image');
  return { name, bytes: new Uint8Array(await res.arrayBuffer()) };
}

// -------------------------------------------------------------------------------------------- settings

function presetConfig(preset: string): RegistrationConfig {
  const p = PRESETS[preset];
  if (!p) throw new CoregError('preset', `unknown preset "${preset}" (expected ${Object.keys(PRESETS).join(', ')})`);
  return defaultConfig(p.transforms, p.metrics);
}

function applyPreset(preset: string): void {
  // ?threads=N (scripted runs, timings): the settings' "threads", as register --threads N
  const threads = Number(params.get('threads') ?? NaN);
  el<HTMLTextAreaElement>('config').value = JSON.stringify({ ...presetConfig(preset), ...(Number.isInteger(threads) && threads >= 1 ? { threads } : {}) }, null, 2);
}

/** The settings object in the text box, checked as the CLI checks --config. */
function readConfig(): RegistrationConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(el<HTMLTextAreaElement>('config').value);
  } catch (e) {
    throw new CoregError('settings', `not valid JSON (${(e as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CoregError('settings', 'must be a JSON object');
  return validateConfig(parsed as RegistrationConfig, 'settings');
}

// ---------------------------------------------------------------------------------------------- viewer

let nvA: Niivue | null = null;
let nvB: Niivue | null = null;
let nvSeg: Niivue | null = null;
let result: RegisterTaskOutput | null = null;

async function viewer(canvasId: string): Promise<Niivue> {
  const nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isColorbar: false, loadingText: '' });
  await nv.attachToCanvas(el<HTMLCanvasElement>(canvasId));
  return nv;
}

async function ensureViewers(): Promise<[Niivue, Niivue]> {
  if (!nvA || !nvB) {
    nvA = await viewer('view-a');
    nvB = await viewer('view-b');
    // Linked cursor: a click or scroll in either view moves the other.
    nvA.broadcastTo(nvB, { '2d': true, '3d': true });
    nvB.broadcastTo(nvA, { '2d': true, '3d': true });
    state.cursors = () => [nvA, nvB].map((nv) => Array.from(nv!.frac2mm(nv!.scene.crosshairPos)).slice(0, 3));
    nvA.onLocationChange = (loc: unknown) => {
      el('location').textContent = (loc as { string?: string }).string ?? '';
    };
  }
  return [nvA, nvB];
}

interface Layer {
  bytes: Uint8Array;
  name: string;
  colormap?: string;
  opacity?: number;
  calMin?: number;
  calMax?: number;
}

async function showLayers(nv: Niivue, layers: Layer[], twoD: boolean): Promise<void> {
  for (const v of [...nv.volumes].reverse()) nv.removeVolume(v);
  for (const layer of layers) {
    const buffer = layer.bytes.slice().buffer;
    const opts: Record<string, unknown> = { url: layer.name, name: layer.name, buffer, colormap: layer.colormap ?? 'gray', opacity: layer.opacity ?? 1 };
    if (layer.calMin !== undefined) opts.cal_min = layer.calMin;
    if (layer.calMax !== undefined) opts.cal_max = layer.calMax;
    const vol = await NVImage.loadFromUrl(opts as Parameters<typeof NVImage.loadFromUrl>[0]);
    nv.addVolume(vol);
  }
  nv.setSliceType(twoD ? nv.sliceTypeAxial : nv.sliceTypeMultiplanar);
  nv.updateGLVolume();
}

function opacity(): number {
  return Number(el<HTMLInputElement>('opacity').value);
}

/** Before a run: fixed with the moving image blended (each in its own physical place); right: moving. */
async function showInputs(): Promise<void> {
  const { fixed, moving } = inputs;
  if (!fixed) return;
  const [a, b] = await ensureViewers();
  const twoD = fixed.image.dimension === 2;
  const layers: Layer[] = [{ bytes: fixed.nifti, name: 'fixed.nii' }];
  if (moving) layers.push({ bytes: moving.nifti, name: 'moving.nii', colormap: 'warm', opacity: opacity() });
  await showLayers(a, layers, twoD);
  el('caption-a').textContent = moving ? 'fixed + moving (blended, before registration)' : 'fixed';
  if (moving) {
    await showLayers(b, [{ bytes: moving.nifti, name: 'moving.nii' }], moving.image.dimension === 2);
    el('caption-b').textContent = 'moving';
  }
}

async function showResult(): Promise<void> {
  const { fixed } = inputs;
  if (!result || !fixed) return;
  const [a] = await ensureViewers();
  const twoD = fixed.image.dimension === 2;
  await showLayers(a, [{ bytes: fixed.nifti, name: 'fixed.nii' }, { bytes: result.display.warped, name: 'warped.nii', colormap: 'warm', opacity: opacity() }], twoD);
  el('caption-a').textContent = 'fixed + warped moving (blended)';
  await showRightView();
}

async function showRightView(): Promise<void> {
  const [, b] = await ensureViewers();
  const view = el<HTMLSelectElement>('view').value;
  const { fixed, moving } = inputs;
  if (!fixed) return;
  const twoD = fixed.image.dimension === 2;
  if (view === 'moving' || !result) {
    if (moving) await showLayers(b, [{ bytes: moving.nifti, name: 'moving.nii' }], moving.image.dimension === 2);
    el('caption-b').textContent = 'moving';
  } else if (view === 'checkerboard') {
    await showLayers(b, [{ bytes: result.display.checkerboard, name: 'checkerboard.nii' }], twoD);
    el('caption-b').textContent = 'checkerboard: fixed / warped moving';
  } else if (view === 'inverse') {
    if (moving) {
      await showLayers(b, [{ bytes: moving.nifti, name: 'moving.nii' }, { bytes: result.display.inverseWarped, name: 'inverse-warped.nii', colormap: 'warm', opacity: opacity() }], moving.image.dimension === 2);
    }
    el('caption-b').textContent = 'moving + fixed on the moving grid through T⁻¹ (blended)';
  } else {
    const j = result.jacobian;
    const spread = Math.max(0.05, Math.abs(1 - j.min), Math.abs(j.max - 1));
    await showLayers(b, [{ bytes: result.display.jacobian, name: 'jacobian.nii', colormap: 'plasma', calMin: 1 - spread, calMax: 1 + spread }], twoD);
    el('caption-b').textContent = 'Jacobian determinant of T (1 = volume kept, ≤ 0 = folded)';
  }
}

// ------------------------------------------------------------------------------------------- progress

function progressBars(containerId: string): (key: string, label: string, value: number, max: number) => void {
  const container = el(containerId);
  const rows = new Map<string, { bar: HTMLProgressElement; text: HTMLElement }>();
  let last: string | null = null;
  return (key, label, value, max) => {
    let row = rows.get(key);
    if (!row) {
      if (last) {
        const prev = rows.get(last)!;
        prev.bar.value = prev.bar.max;
      }
      const div = document.createElement('div');
      div.className = 'bar';
      div.dataset.key = key;
      const bar = document.createElement('progress');
      const text = document.createElement('span');
      div.append(bar, text);
      container.append(div);
      row = { bar, text };
      rows.set(key, row);
    }
    last = key;
    row.bar.max = Math.max(1, max);
    row.bar.value = Math.min(value, max);
    row.text.textContent = label;
  };
}

/** A finished run: every bar full (levels that converged early stop short of their iteration budget). */
function fillBars(containerId: string): void {
  el(containerId).querySelectorAll('progress').forEach((p) => {
    p.value = p.max;
  });
}

// ---------------------------------------------------------------------------------------- registration

let pool: WorkerPool | null = null;
let running: AbortController | null = null;

function updateRunButton(): void {
  el<HTMLButtonElement>('run').disabled = running !== null || !inputs.fixed || !inputs.moving;
  el<HTMLButtonElement>('cancel').disabled = running === null;
}

function clearResult(): void {
  result = null;
  el('result').textContent = '';
  el('transform').textContent = '';
  el('downloads').replaceChildren();
  el('jacobian-summary').textContent = '';
  el('progress').replaceChildren();
}

function downloadLink(list: HTMLElement, name: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  const li = document.createElement('li');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes.slice().buffer], { type }));
  a.download = name;
  a.textContent = name;
  a.dataset.name = name;
  li.append(a, ` (${(bytes.length / 1024).toFixed(1)} KB)`);
  list.append(li);
}

async function runRegistration(): Promise<void> {
  const { fixed, moving } = inputs;
  if (!fixed || !moving || running) return;
  clearResult();
  state.events = [];
  state.warnings = [];
  let config: RegistrationConfig;
  try {
    if (fixed.image.dimension !== moving.image.dimension) {
      throw new CoregError(moving.name, `is ${moving.image.dimension}D but the fixed image ${fixed.name} is ${fixed.image.dimension}D: register two images of the same dimension`);
    }
    const msg = tooLargeMessage(numberOfPixels(fixed.image) + numberOfPixels(moving.image), budget);
    if (msg) throw new CoregError(`${fixed.name} + ${moving.name}`, msg);
    config = readConfig();
  } catch (e) {
    showMessage('message', describeError(e, 'settings'), true);
    setBodyState('error');
    return;
  }
  running = new AbortController();
  updateRunButton();
  setBodyState('running');
  showMessage('message', 'registering…');
  const bar = progressBars('progress');
  try {
    pool ??= createBrowserWorkerPool(workerUrl, 1);
    const out = await pool.run<RegisterTaskOutput>(
      'web.register',
      { fixed: fixed.image, moving: moving.image, fixedName: fixed.name, movingName: moving.name, config },
      {
        signal: running.signal,
        onEvent: (raw) => {
          const ev = raw as RegisterTaskEvent;
          if (ev.kind === 'warn') {
            state.warnings.push(ev.message);
            showMessage('message', `warning: ${ev.message}`);
            return;
          }
          const e = ev.event;
          state.events.push(e);
          bar(`${e.stage}/${e.level}`, `stage ${e.stage + 1}/${e.stageCount} ${e.transform}/${e.metric}, level ${e.level + 1}/${e.levelCount}: iteration ${e.iteration}/${e.maxIterations}, metric ${e.value.toPrecision(6)}`, e.iteration, e.maxIterations);
        },
      },
    );
    result = out;
    state.registerSeconds = out.seconds;
    state.team = out.team;
    state.jacobian = out.jacobian;
    fillBars('progress');
    for (const f of out.files) downloadLink(el('downloads'), f.name, f.bytes, f.name.endsWith('.json') ? 'application/json' : f.name.endsWith('.tfm') ? 'text/plain' : 'application/gzip');
    const j = out.jacobian;
    el('jacobian-summary').textContent = `Jacobian determinant: min ${j.min.toPrecision(4)}, max ${j.max.toPrecision(4)}, mean ${j.mean.toPrecision(4)}, folded ${j.foldedCount} voxels (${j.foldedPercent.toPrecision(3)} %)`;
    el<HTMLSelectElement>('view').value = 'checkerboard';
    const tv = performance.now();
    await showResult();
    state.outputSeconds = out.outputSeconds;
    state.viewSeconds = (performance.now() - tv) / 1000;
    el('transform').textContent = out.transformText;
    el('result').textContent = out.resultText;
    const n = out.team.threads;
    showMessage('message', `registered in ${out.seconds.toFixed(1)} s on ${n} thread${n > 1 ? 's' : ''}${state.warnings.map((w) => `; warning: ${w}`).join('')}`);
    setBodyState('done');
  } catch (e) {
    if (isAbort(e)) {
      showMessage('message', 'registration cancelled; the page is ready for another run', true);
      setBodyState('cancelled');
    } else {
      showMessage('message', `registration failed: ${describeError(e, 'register')}`, true);
      setBodyState('error');
    }
  } finally {
    running = null;
    updateRunButton();
  }
}

// ---------------------------------------------------------------------------------------- segmentation

let segTarget: Loaded | null = null;
let segRunning: AbortController | null = null;

function addAtlasRow(): void {
  const row = document.createElement('div');
  row.className = 'row atlas';
  const n = el('atlas-list').children.length + 1;
  row.innerHTML = `<span>Atlas ${n}</span><label>image <input type="file" class="atlas-image"></label><label>labels <input type="file" class="atlas-labels"></label>`;
  el('atlas-list').append(row);
  row.querySelectorAll('input').forEach((input) => input.addEventListener('change', updateSegButton));
}

function atlasFiles(): { image: File; labels: File }[] {
  const out: { image: File; labels: File }[] = [];
  for (const row of Array.from(el('atlas-list').querySelectorAll('.atlas'))) {
    const image = (row.querySelector('.atlas-image') as HTMLInputElement).files?.[0];
    const labels = (row.querySelector('.atlas-labels') as HTMLInputElement).files?.[0];
    if (image && labels) out.push({ image, labels });
  }
  return out;
}

function updateSegButton(): void {
  el<HTMLButtonElement>('seg-run').disabled = segRunning !== null || !el<HTMLInputElement>('seg-target').files?.[0] || atlasFiles().length === 0;
  el<HTMLButtonElement>('seg-cancel').disabled = segRunning === null;
}

async function readFile(file: File): Promise<Image> {
  return decodeChecked(new Uint8Array(await file.arrayBuffer()), file.name);
}

async function runSegmentation(): Promise<void> {
  const targetFile = el<HTMLInputElement>('seg-target').files?.[0];
  const pairs = atlasFiles();
  if (!targetFile || pairs.length === 0 || segRunning) return;
  segRunning = new AbortController();
  updateSegButton();
  el('seg-progress').replaceChildren();
  el('seg-downloads').replaceChildren();
  el('seg-report').textContent = '';
  state.segmentEvents = [];
  document.body.dataset.segState = 'running';
  showMessage('seg-message', 'segmenting…');
  const bar = progressBars('seg-progress');
  let segPool: WorkerPool | null = null;
  try {
    const target = await readFile(targetFile);
    const atlases = [];
    for (const p of pairs) atlases.push({ image: await readFile(p.image), labels: await readFile(p.labels), name: p.image.name, labelsName: p.labels.name });
    const fusion = el<HTMLSelectElement>('seg-fusion').value as FusionMethod;
    if (!(FUSION_METHODS as readonly string[]).includes(fusion)) throw new CoregError('fusion', `unknown fusion ${fusion}`);
    const stages = el<HTMLInputElement>('seg-transform').value.split(',').map((s) => s.trim()) as TransformKind[];
    const config = withAtlasDefaults(validateConfig(defaultConfig(stages, ['mi']), 'stages'), target);
    segTarget = { name: targetFile.name, image: target, nifti: encodeImage(target, 'view.nii')[0].bytes };
    segPool = createBrowserWorkerPool(workerUrl, 1);
    const threads = Math.max(1, Math.min(pairs.length, navigator.hardwareConcurrency || 2));
    const t0 = performance.now();
    const out = await segPool.run<SegmentTaskOutput>('web.segment', { target, atlases, fusion, config, workerUrl: workerUrl.href, threads }, {
      signal: segRunning.signal,
      onEvent: (raw) => {
        const ev = raw as SegmentTaskEvent;
        if (ev.kind === 'warn') {
          showMessage('seg-message', `warning: ${ev.message}`);
          return;
        }
        const e = ev.event;
        state.segmentEvents.push(e);
        const r = e.registration;
        if (r) bar(`${e.atlas}`, `${e.name}: ${e.phase}, stage ${r.stage + 1}/${r.stageCount} ${r.transform}, level ${r.level + 1}/${r.levelCount}, iteration ${r.iteration}/${r.maxIterations}`, r.stage * r.levelCount + r.level + r.iteration / Math.max(1, r.maxIterations), r.stageCount * r.levelCount);
        else bar('fuse', `${e.phase}`, 0, 1);
      },
    });
    state.segmentSeconds = (performance.now() - t0) / 1000;
    fillBars('seg-progress');
    downloadLink(el('seg-downloads'), 'seg.nii.gz', out.labels, 'application/gzip');
    const reportText = JSON.stringify(out.report, null, 2) + '\n';
    downloadLink(el('seg-downloads'), 'report.json', new TextEncoder().encode(reportText), 'application/json');
    el('seg-report').textContent = reportText;
    nvSeg ??= await viewer('seg-view');
    const maxLabel = out.report.volumes.reduce((m, v) => Math.max(m, v.label), 1);
    await showLayers(
      nvSeg,
      [
        { bytes: segTarget.nifti, name: 'target.nii' },
        { bytes: out.display, name: 'labels.nii', colormap: 'random', opacity: 0.5, calMin: 0.5, calMax: maxLabel + 0.5 },
      ],
      target.dimension === 2,
    );
    showMessage('seg-message', `segmented in ${state.segmentSeconds.toFixed(1)} s: ${out.report.volumes.length} labels from ${out.report.selected.length} atlas(es), ${fusion}`);
    document.body.dataset.segState = 'done';
  } catch (e) {
    if (isAbort(e)) {
      showMessage('seg-message', 'segmentation cancelled; the page is ready for another run', true);
      document.body.dataset.segState = 'cancelled';
    } else {
      showMessage('seg-message', `segmentation failed: ${describeError(e, 'segment')}`, true);
      document.body.dataset.segState = 'error';
    }
  } finally {
    await segPool?.close();
    segRunning = null;
    updateSegButton();
  }
}

// ------------------------------------------------------------------------------------------------ start

async function start(): Promise<void> {
  wireDrop('fixed');
  wireDrop('moving');
  const presetSelect = el<HTMLSelectElement>('preset');
  const preset = params.get('preset');
  if (preset) {
    if (!PRESETS[preset]) {
      showMessage('message', `preset: unknown preset "${preset}" (expected ${Object.keys(PRESETS).join(', ')})`, true);
      setBodyState('error');
      return;
    }
    presetSelect.value = preset;
  }
  applyPreset(presetSelect.value);
  presetSelect.addEventListener('change', () => applyPreset(presetSelect.value));
  el('run').addEventListener('click', () => void runRegistration());
  el('cancel').addEventListener('click', () => running?.abort());
  el('view').addEventListener('change', () => void showRightView());
  el('opacity').addEventListener('input', () => {
    if (nvA && nvA.volumes.length > 1) nvA.setOpacity(1, opacity());
    if (nvB && nvB.volumes.length > 1 && el<HTMLSelectElement>('view').value === 'inverse') nvB.setOpacity(1, opacity());
  });
  addAtlasRow();
  el('seg-add').addEventListener('click', addAtlasRow);
  el('seg-target').addEventListener('change', updateSegButton);
  el('seg-run').addEventListener('click', () => void runSegmentation());
  el('seg-cancel').addEventListener('click', () => segRunning?.abort());

  // Scripted runs: ?fixed=URL&moving=URL&preset=…&run=1 (URLs on this origin only).
  for (const role of ['fixed', 'moving'] as Role[]) {
    const spec = params.get(role);
    if (!spec) continue;
    try {
      const { name, bytes } = await fetchSameOrigin(spec);
      await loadInput(role, name, bytes);
    } catch (e) {
      showMessage('message', `${role} image ${describeError(e, spec)}`, true);
      setBodyState('error');
      return;
    }
  }
  document.body.dataset.ready = '1';
  if (params.get('run') === '1') {
    if (!inputs.fixed || !inputs.moving) {
      if (document.body.dataset.state !== 'error') {
        showMessage('message', 'run=1 needs both ?fixed= and ?moving=', true);
        setBodyState('error');
      }
      return;
    }
    await runRegistration();
  }
}

void start();
