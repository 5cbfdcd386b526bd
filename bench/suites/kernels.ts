// `npm run bench -- --only kernels`: single-core throughput of the hottest registration kernel (3D affine Mattes MI,
// value + gradient per sample: trilinear sample + gradient, joint histogram, derivative, moment matrix), as samples
// per CPU second of the evaluating thread, for the TypeScript reference, the WebAssembly SIMD kernels and a C -O3
// build of the same kernel (bench/kernels/linear-mi.c, compiled with gcc at run time). One evaluation = phase 0 +
// finalize + phase 1 over all samples, as LinearRegistrationCost runs it on one thread. Each run: one untimed
// warm-up evaluation, then E timed ones; the implementations take turns run by run (rounds, rotating order), and a
// ratio to C is the median of the per-round ratios. The WebAssembly parts are also timed one by one beside C's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, linearKernel, prepareMovingSampler, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { METRICS, type MetricState, type SampledMetric } from '../../src/metric/index.js';
import type { HistogramState } from '../../src/metric/histogram.js';
import { releaseArena, setWasmKernels, wasmArena, wasmKernelsAvailable } from '../../src/wasm/kernels.js';
import { placeSamples } from '../../src/register/wasm-measure.js';
import { median } from '../lib/process.js';

/** Parts of one evaluation, in the order they run. */
export const KERNEL_PARTS = ['sample + gradient', 'histogram', 'finalize', 'derivative', 'moments'] as const;

/** The C rows: the reference, and the same C with the WebAssembly kernel's two-pass sample loop (-DTWO_PASS). */
export const C_REFERENCE = 'C gcc -O3';
export const C_TWO_PASS = 'C gcc -O3, two-pass sample loop (-DTWO_PASS)';

/** One timed run: E evaluations after one untimed warm-up evaluation. */
export interface KernelRun {
  /** Samples per CPU second of the evaluating thread. */
  samplesPerSecond: number;
  /** Seconds per evaluation (thread CPU), and per part (KERNEL_PARTS; process CPU for the JavaScript side), when measured. */
  secondsPerEvaluation: number;
  parts?: number[];
  /** Process CPU − the evaluating thread's CPU, as a share of process CPU (other threads: GC, compilers), when measured. */
  otherThreads?: number;
}

export interface KernelRow {
  implementation: string;
  layout: SampleLayout;
  runs: KernelRun[];
  /** The last evaluation's cost and moment matrix (checked against the TypeScript reference). */
  value: number;
  G: number[];
}

export interface KernelBenchOptions {
  repoRoot: string;
  /** Rounds: each runs every implementation once, in an order that rotates from round to round (median reported). */
  rounds?: number;
  /** Timed evaluations per run (after one untimed warm-up evaluation). */
  evaluations?: number;
  samples?: number;
  /** Sample layouts to run (default both). */
  layouts?: readonly SampleLayout[];
}

const SIZE = [181, 217, 181];
const BINS = 32;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Where the samples lie: `scattered`, uniform over the volume in random order (every sample a cache miss);
 * `stratified`, as a registration's 3D linear levels draw them (parallel-sampling.ts): sample i in voxel rank
 * [N·i/n, N·(i+1)/n) in raster order, at a uniform position inside its voxel.
 */
export type SampleLayout = 'scattered' | 'stratified';
export const SAMPLE_LAYOUTS: readonly SampleLayout[] = ['scattered', 'stratified'];

/** A ch2bet-sized smooth random volume, samples inside it with fixed values = a remapped volume + noise, an affine. */
function workload(n: number, layout: SampleLayout): { moving: Image; points: Float64Array; fixed: Float64Array; A: Float64Array; t: Float64Array } {
  const rnd = lcg(12345);
  const moving = createImage(SIZE, 'float32', { spacing: [1, 1, 1], origin: [-90, -126, -72] });
  const [nx, ny, nz] = SIZE;
  for (let z = 0, v = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, v++) moving.data[v] = 100 + 60 * Math.sin(0.07 * x) * Math.cos(0.05 * y + 0.02 * z) + 20 * Math.sin(0.11 * z) + 10 * rnd();
    }
  }
  const points = new Float64Array(3 * n);
  const fixed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (layout === 'scattered') {
      for (let a = 0; a < 3; a++) points[3 * i + a] = moving.origin[a] + (0.02 + 0.96 * rnd()) * (SIZE[a] - 1);
    } else {
      const v = Math.min(nx * ny * nz - 1, Math.floor(((nx * ny * nz) / n) * (i + rnd())));
      const c = [v % nx, Math.floor(v / nx) % ny, Math.floor(v / (nx * ny))];
      for (let a = 0; a < 3; a++) points[3 * i + a] = moving.origin[a] + c[a] + rnd() - 0.5;
    }
    const x = Math.round(points[3 * i] - moving.origin[0]);
    const y = Math.round(points[3 * i + 1] - moving.origin[1]);
    const z = Math.round(points[3 * i + 2] - moving.origin[2]);
    const m = moving.data[x + nx * (y + ny * z)];
    fixed[i] = 300 - 1.5 * m + 15 * rnd();
  }
  const A = Float64Array.from([1.02, 0.03, -0.01, -0.02, 0.98, 0.04, 0.01, -0.03, 1.01]);
  const t = Float64Array.from([1.3, -0.7, 2.1]);
  return { moving, points, fixed, A, t };
}

function range(a: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    if (a[i] < min) min = a[i];
    if (a[i] > max) max = a[i];
  }
  return { min, max };
}

/**
 * CPU seconds of the calling thread (Linux: /proc/thread-self/schedstat, the scheduler's runtime, which advances at
 * scheduler ticks (≈ 4 ms), so it is used only over whole runs), or null where there is no such file.
 */
function threadClock(): (() => number) | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const buf = Buffer.alloc(96);
  return () => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    return Number(buf.toString('latin1', 0, n).split(' ')[0]) / 1e9;
  };
}

/** Process CPU seconds (user + system; microsecond resolution). */
function processSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

type Workload = ReturnType<typeof workload>;

/** A run's result and the last evaluation's outputs. */
interface RunResult {
  run: KernelRun;
  value: number;
  G: number[];
}

function timedRun(n: number, evaluations: number, clock: (() => number) | null, evaluate: (parts: number[] | null) => void): KernelRun {
  evaluate(null);
  const parts = [0, 0, 0, 0, 0];
  const t0 = clock?.();
  const p0 = processSeconds();
  for (let e = 0; e < evaluations; e++) evaluate(parts);
  const p1 = processSeconds() - p0;
  const seconds = clock ? clock() - t0! : p1;
  return {
    samplesPerSecond: (n * evaluations) / seconds,
    secondsPerEvaluation: seconds / evaluations,
    parts: parts.every((x) => x === 0) ? undefined : parts.map((x) => x / evaluations),
    otherThreads: clock ? Math.max(0, p1 - seconds) / p1 : undefined,
  };
}

/**
 * The cost as a single-threaded registration runs it (sample-kernels.ts: linearKernel over BlockedMetric's blocks,
 * phase 0, finish, phase 1, the blocks' moment matrices summed), on TypeScript or WebAssembly.
 */
function kernelRun(w: Workload, wasm: boolean, evaluations: number, clock: (() => number) | null): RunResult {
  const n = w.fixed.length;
  const sampler = prepareMovingSampler(w.moving, 'linear');
  setWasmKernels(wasm);
  // (placed in an arena as LinearRegistrationCost places it)
  const placed = placeSamples(3, n, sampler.plane, { points: w.points, fixed: w.fixed });
  const blocked = new BlockedMetric(3, n, sampler, w.points, w.fixed, null, 'mi', { bins: BINS, fixedRange: range(w.fixed), movingRange: range(w.moving.data) }, undefined, placed?.packed);
  const init: LinearKernelInit = { ...blocked.init, params: sharedFloat64(13), moments: sharedFloat64(blocked.blocks * 12), wasm: placed?.wasm ?? null };
  const phases = linearKernel(init);
  setWasmKernels(undefined);
  let value = NaN;
  const G = new Array<number>(12).fill(0);
  init.params.set(w.A, 0);
  init.params.set(w.t, 9);
  let stamp = 0;
  const run = timedRun(n, evaluations, clock, () => {
    init.params[12] = stamp++;
    for (let b = 0; b < blocked.blocks; b++) phases[0](b);
    value = blocked.finish();
    for (let b = 0; b < blocked.blocks; b++) phases[1](b);
    G.fill(0);
    for (let b = 0; b < blocked.blocks; b++) for (let k = 0; k < 12; k++) G[k] += init.moments[b * 12 + k];
  });
  phases.release?.();
  if (placed) releaseArena(placed.arena);
  return { run, value, G };
}

/**
 * The WebAssembly kernels' parts one at a time, each over all samples as one block (the C reference's structure),
 * to compare each with the C's same part: sample + gradient + pack, histogram, finalize (TypeScript, as in the
 * kernel), derivative, moments. Parts are timed with process CPU (fine-grained); the total with thread CPU.
 */
function wasmPartsRun(w: Workload, evaluations: number, clock: (() => number) | null): RunResult {
  const n = w.fixed.length;
  const sampler = prepareMovingSampler(w.moving, 'linear');
  const plane = sampler.plane as Float32Array;
  const metric = METRICS.mi as SampledMetric<MetricState>;
  const state = metric.createState({ bins: BINS, fixedRange: range(w.fixed), movingRange: range(w.moving.data) }) as HistogramState;
  const BB = BINS * BINS;
  setWasmKernels(true);
  const wk = wasmArena();
  setWasmKernels(undefined);
  const k = wk?.instance();
  if (!wk || !k) throw new Error('WebAssembly kernels unavailable');
  const pPlane = wk.alloc(plane.byteLength);
  const pPoints = wk.alloc(24 * n);
  const pFixed = wk.alloc(8 * n);
  const pValues = wk.alloc(8 * n);
  const pGrads = wk.alloc(24 * n);
  const pIndex = wk.alloc(4 * n);
  const pFixedPacked = wk.alloc(8 * n);
  const pDValue = wk.alloc(8 * n);
  const pPar = wk.alloc(8 * 24);
  const pHist = wk.alloc(8 * 4);
  const pSums = wk.alloc(8 * 2 * (BB + 1));
  const pTable = wk.alloc(8 * BB);
  const pG = wk.alloc(8 * 12);
  if (wk.failed) throw new Error('WebAssembly memory');
  wk.f32(pPlane, plane.length).set(plane);
  wk.f64(pPoints, 3 * n).set(w.points);
  wk.f64(pFixed, n).set(w.fixed);
  const par = wk.f64(pPar, 24);
  par.set(w.A, 0);
  par.set(w.t, 9);
  par.set(sampler.N, 12);
  par.set(sampler.origin, 21);
  wk.f64(pHist, 4).set([state.fixedMin, state.fixedScale, state.movingMin, state.movingScale]);
  const sums = wk.f64(pSums, 2 * (BB + 1));
  const table = wk.f64(pTable, BB);
  const Gv = wk.f64(pG, 12);
  const [nx, ny, nz] = sampler.size;
  let value = NaN;
  const run = timedRun(n, evaluations, clock, (parts) => {
    const c0 = processSeconds();
    const valid = k.sampleLinear3dF32(pPlane, nx, ny, nz, pPar, pPoints, pFixed, 0, n, pValues, pGrads, pIndex, pFixedPacked);
    const c1 = processSeconds();
    sums.fill(0);
    k.histogramAccumulate(BINS, pHist, pFixedPacked, pValues, 0, valid, pSums);
    const c2 = processSeconds();
    metric.reset(state);
    state.sums.set(sums);
    state.count = valid;
    value = metric.finalize(state);
    table.set(state.table);
    const c3 = processSeconds();
    k.histogramDerivative(BINS, pHist, pTable, pFixedPacked, pValues, 0, valid, pDValue);
    const c4 = processSeconds();
    k.moments3d(0, valid, pDValue, pGrads, pIndex, pPoints, pG);
    const c5 = processSeconds();
    if (parts) {
      parts[0] += c1 - c0;
      parts[1] += c2 - c1;
      parts[2] += c3 - c2;
      parts[3] += c4 - c3;
      parts[4] += c5 - c4;
    }
  });
  const G = Array.from(Gv);
  releaseArena(wk);
  return { run, value, G };
}

function cInput(w: Workload, evaluations: number): Buffer {
  const n = w.fixed.length;
  const sampler = prepareMovingSampler(w.moving, 'linear');
  const fr = range(w.fixed);
  const mr = range(w.moving.data);
  const header = Int32Array.from([SIZE[0], SIZE[1], SIZE[2], n, BINS, evaluations]);
  const par = new Float64Array(28);
  par.set(w.A, 0);
  par.set(w.t, 9);
  par.set(sampler.N, 12);
  par.set(sampler.origin, 21);
  par.set([fr.min, BINS / (fr.max - fr.min), mr.min, (BINS - 3) / (mr.max - mr.min)], 24);
  const plane = sampler.plane as Float32Array;
  return Buffer.concat([header, par, plane, w.points, w.fixed].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
}

function cRun(exe: string, input: string): RunResult {
  const p = spawnSync(exe, [input], { encoding: 'utf8' });
  const m = /evaluations (\d+) samples (\d+) cpu_seconds (\S+) value (\S+) g (.*) parts (.*)/.exec(p.stdout ?? '');
  if (p.status !== 0 || !m) throw new Error(`linear-mi failed: ${p.stderr}`);
  const evaluations = Number(m[1]);
  const seconds = Number(m[3]);
  return {
    run: {
      samplesPerSecond: (evaluations * Number(m[2])) / seconds,
      secondsPerEvaluation: seconds / evaluations,
      parts: m[6].trim().split(/\s+/).map((x) => Number(x) / evaluations),
    },
    value: Number(m[4]),
    G: m[5].trim().split(/\s+/).map(Number),
  };
}

/**
 * Runs the implementations in rounds (each round runs each once; the order rotates, so none always runs first or
 * after the same neighbour), checks that all compute the same cost and moments, and returns their rows. A missing
 * gcc or WebAssembly leaves its rows out with a note.
 */
export function runKernelBench(opts: KernelBenchOptions): { rows: KernelRow[]; notes: string[] } {
  const rounds = opts.rounds ?? 7;
  const evaluations = opts.evaluations ?? 30;
  const n = opts.samples ?? 1 << 17;
  const layouts = opts.layouts ?? SAMPLE_LAYOUTS;
  const notes: string[] = [];
  const clock = threadClock();
  if (!clock) notes.push('No /proc/thread-self/schedstat: JavaScript totals are process CPU time.');
  const impls: { row: KernelRow; run: () => RunResult }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'coreg-kernels-'));
  try {
    const exe = join(dir, 'linear-mi');
    const exe2 = join(dir, 'linear-mi-two-pass');
    const source = join(opts.repoRoot, 'bench', 'kernels', 'linear-mi.c');
    let cc = spawnSync('gcc', ['-O3', '-o', exe, source, '-lm'], { encoding: 'utf8' });
    if (!(cc.error || cc.status !== 0)) cc = spawnSync('gcc', ['-O3', '-DTWO_PASS', '-o', exe2, source, '-lm'], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) notes.push(`C -O3: gcc failed or is missing (Debian package gcc): ${cc.error?.message ?? cc.stderr.trim()}`);
    if (!wasmKernelsAvailable()) notes.push('WebAssembly SIMD: not available here (or COREG_WASM=0)');
    for (const layout of layouts) {
      const w = workload(n, layout);
      const add = (implementation: string, run: () => RunResult): void => {
        impls.push({ row: { implementation, layout, runs: [], value: NaN, G: [] }, run });
      };
      add('TypeScript', () => kernelRun(w, false, evaluations, clock));
      if (wasmKernelsAvailable()) {
        add('WebAssembly SIMD', () => kernelRun(w, true, evaluations, clock));
        add('WebAssembly SIMD, parts as one block', () => wasmPartsRun(w, evaluations, clock));
      }
      if (!(cc.error || cc.status !== 0)) {
        const input = join(dir, `input-${layout}.bin`);
        writeFileSync(input, cInput(w, evaluations));
        add(C_REFERENCE, () => cRun(exe, input));
        add(C_TWO_PASS, () => cRun(exe2, input));
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < impls.length; j++) {
        const impl = impls[(r + j) % impls.length];
        const res = impl.run();
        impl.row.runs.push(res.run);
        impl.row.value = res.value;
        impl.row.G = res.G;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = impls.map((i) => i.row);
  // every implementation computes the same thing: the cost and the moment matrix agree with the reference
  for (const r of rows) {
    const ref = rows.find((x) => x.layout === r.layout)!;
    const scale = Math.max(...ref.G.map(Math.abs));
    const gErr = Math.max(...r.G.map((g, k) => Math.abs(g - ref.G[k]))) / scale;
    const vErr = Math.abs(r.value - ref.value) / Math.abs(ref.value);
    if (!(gErr <= 1e-9 && vErr <= 1e-9)) throw new Error(`${r.implementation} disagrees with TypeScript: value ${r.value} vs ${ref.value}, moments relative error ${gErr}`);
  }
  return { rows, notes };
}

const fmt = (x: number, digits = 2): string => x.toFixed(digits);

/** Median and range of a list, as "median (min–max)". */
function spread(xs: number[], digits = 2): string {
  return `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
}

/**
 * Two tables: each implementation's throughput with its time ÷ C's as the median (and range) of the per-round
 * ratios; and each part's time per evaluation, WebAssembly (one block) beside C.
 */
export function kernelTable(all: KernelRow[]): string {
  return [...new Set(all.map((r) => r.layout))].map((layout) => layoutTable(layout, all.filter((r) => r.layout === layout))).join('\n\n');
}

function layoutTable(layout: SampleLayout, rows: KernelRow[]): string {
  const c = rows.find((r) => r.implementation === C_REFERENCE);
  const c2 = rows.find((r) => r.implementation === C_TWO_PASS);
  const ratio = (r: KernelRow, to: KernelRow | undefined): string => (to ? spread(r.runs.map((x, k) => to.runs[k].samplesPerSecond / x.samplesPerSecond)) + '×' : '–');
  const lines = [
    `| kernel (3D affine MI, value + gradient), ${layout} samples | samples/s per core: median (min–max) | time ÷ C -O3 time: median of rounds (min–max) | time ÷ two-pass C time | other threads' CPU |`,
    '|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const sps = r.runs.map((x) => x.samplesPerSecond / 1e6);
    const other = r.runs.map((x) => x.otherThreads).filter((x): x is number => x !== undefined);
    lines.push(`| ${r.implementation} | ${spread(sps)} M | ${ratio(r, c)} | ${ratio(r, c2)} | ${other.length ? fmt(100 * median(other), 1) + ' %' : '–'} |`);
  }
  const parted = rows.filter((r) => r.runs.every((x) => x.parts));
  if (parted.length) {
    const others = c ? parted.filter((r) => r !== c) : [];
    lines.push('', `| part (ms per evaluation: median (min–max)) | ${parted.map((r) => r.implementation).join(' | ')} |${others.map((r) => ` ${r.implementation} ÷ C -O3, median of rounds |`).join('')}`);
    lines.push(`|---|${'---|'.repeat(parted.length + (c ? parted.length - 1 : 0))}`);
    for (let p = 0; p < KERNEL_PARTS.length; p++) {
      const cells = parted.map((r) => spread(r.runs.map((x) => 1e3 * x.parts![p])));
      const ratios = others.map((r) => fmt(median(r.runs.map((x, k) => x.parts![p] / c!.runs[k].parts![p]))) + '×');
      lines.push(`| ${KERNEL_PARTS[p]} | ${cells.join(' | ')} |${ratios.map((x) => ` ${x} |`).join('')}`);
    }
  }
  return lines.join('\n');
}
