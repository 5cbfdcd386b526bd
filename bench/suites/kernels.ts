// `npm run bench -- --only kernels`: single-core throughput of the hottest registration kernel (3D affine Mattes MI,
// value + gradient per sample: trilinear sample + gradient, joint histogram, derivative, moment matrix), as samples
// per CPU second, for the TypeScript reference, the WebAssembly SIMD kernels and a C -O3 build of the same kernel
// (bench/kernels/linear-mi.c, compiled with gcc at run time). One evaluation = phase 0 + finalize + phase 1 over all
// samples, as LinearRegistrationCost runs it on one thread. CPU time (process.cpuUsage / clock()), median of runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, linearKernel, prepareMovingSampler, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { setWasmKernels, wasmKernelsAvailable } from '../../src/wasm/kernels.js';
import { median } from '../lib/process.js';

export interface KernelRow {
  implementation: string;
  samplesPerSecond: number[];
  /** The last evaluation's cost and moment matrix (checked against the TypeScript reference). */
  value: number;
  G: number[];
}

export interface KernelBenchOptions {
  repoRoot: string;
  /** Runs per implementation (median reported). */
  runs?: number;
  evaluations?: number;
  samples?: number;
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

/** A ch2bet-sized smooth random volume, samples inside it with fixed values = a remapped volume + noise, an affine. */
function workload(n: number): { moving: Image; points: Float64Array; fixed: Float64Array; A: Float64Array; t: Float64Array } {
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
    for (let a = 0; a < 3; a++) points[3 * i + a] = moving.origin[a] + (0.02 + 0.96 * rnd()) * (SIZE[a] - 1);
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

function runJs(w: ReturnType<typeof workload>, wasm: boolean, evaluations: number): { samplesPerSecond: number; value: number; G: number[] } {
  const n = w.fixed.length;
  const sampler = prepareMovingSampler(w.moving, 'linear');
  const blocked = new BlockedMetric(3, n, sampler, w.points, w.fixed, null, 'mi', { bins: BINS, fixedRange: range(w.fixed), movingRange: range(w.moving.data) });
  const init: LinearKernelInit = { ...blocked.init, params: sharedFloat64(14), moments: sharedFloat64(blocked.blocks * 12) };
  setWasmKernels(wasm);
  const phases = linearKernel(init);
  setWasmKernels(undefined);
  let value = NaN;
  const G = new Array<number>(12).fill(0);
  init.params.set(w.A, 0);
  init.params.set(w.t, 9);
  // one thread: the cost as a single-threaded registration runs it
  init.params[13] = 1;
  const c0 = process.cpuUsage();
  for (let e = 0; e < evaluations; e++) {
    init.params[12] = e;
    for (let b = 0; b < blocked.blocks; b++) phases[0](b);
    value = blocked.finish();
    for (let b = 0; b < blocked.blocks; b++) phases[1](b);
    G.fill(0);
    for (let b = 0; b < blocked.blocks; b++) for (let k = 0; k < 12; k++) G[k] += init.moments[b * 12 + k];
  }
  const c1 = process.cpuUsage(c0);
  return { samplesPerSecond: (n * evaluations) / ((c1.user + c1.system) / 1e6), value, G };
}

function cInput(w: ReturnType<typeof workload>, evaluations: number): Buffer {
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

/** Runs the three implementations; a missing gcc or wasm leaves its row out with a note. */
export function runKernelBench(opts: KernelBenchOptions): { rows: KernelRow[]; notes: string[] } {
  const runs = opts.runs ?? 3;
  const evaluations = opts.evaluations ?? 20;
  const n = opts.samples ?? 1 << 17;
  const w = workload(n);
  const rows: KernelRow[] = [];
  const notes: string[] = [];
  const js = (name: string, wasm: boolean): void => {
    const row: KernelRow = { implementation: name, samplesPerSecond: [], value: NaN, G: [] };
    // one untimed evaluation first (JIT, module instantiation)
    runJs(w, wasm, 1);
    for (let r = 0; r < runs; r++) {
      const res = runJs(w, wasm, evaluations);
      row.samplesPerSecond.push(res.samplesPerSecond);
      row.value = res.value;
      row.G = res.G;
    }
    rows.push(row);
  };
  js('TypeScript', false);
  if (wasmKernelsAvailable()) js('WebAssembly SIMD', true);
  else notes.push('WebAssembly SIMD: not available here (or COREG_WASM=0)');
  const dir = mkdtempSync(join(tmpdir(), 'coreg-kernels-'));
  try {
    const exe = join(dir, 'linear-mi');
    const cc = spawnSync('gcc', ['-O3', '-o', exe, join(opts.repoRoot, 'bench', 'kernels', 'linear-mi.c'), '-lm'], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      notes.push(`C -O3: gcc failed or is missing (Debian package gcc): ${cc.error?.message ?? cc.stderr.trim()}`);
    } else {
      const input = join(dir, 'input.bin');
      writeFileSync(input, cInput(w, evaluations));
      const row: KernelRow = { implementation: 'C gcc -O3', samplesPerSecond: [], value: NaN, G: [] };
      for (let r = 0; r < runs; r++) {
        const p = spawnSync(exe, [input], { encoding: 'utf8' });
        const m = /evaluations (\d+) samples (\d+) cpu_seconds (\S+) value (\S+) g (.*)/.exec(p.stdout ?? '');
        if (p.status !== 0 || !m) throw new Error(`linear-mi failed: ${p.stderr}`);
        row.samplesPerSecond.push((Number(m[1]) * Number(m[2])) / Number(m[3]));
        row.value = Number(m[4]);
        row.G = m[5].trim().split(/\s+/).map(Number);
      }
      rows.push(row);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // every implementation computes the same thing: the cost and the moment matrix agree with the reference
  const ref = rows[0];
  for (const r of rows.slice(1)) {
    const scale = Math.max(...ref.G.map(Math.abs));
    const gErr = Math.max(...r.G.map((g, k) => Math.abs(g - ref.G[k]))) / scale;
    const vErr = Math.abs(r.value - ref.value) / Math.abs(ref.value);
    if (!(gErr <= 1e-9 && vErr <= 1e-9)) throw new Error(`${r.implementation} disagrees with TypeScript: value ${r.value} vs ${ref.value}, moments relative error ${gErr}`);
  }
  return { rows, notes };
}

export function kernelTable(rows: KernelRow[]): string {
  const c = rows.find((r) => r.implementation.startsWith('C'));
  const lines = ['| kernel (3D affine MI, value + gradient) | samples/s per core, median | each run | time ÷ C -O3 time |', '|---|---|---|---|'];
  for (const r of rows) {
    const s = median(r.samplesPerSecond);
    const ratio = c ? median(c.samplesPerSecond) / s : NaN;
    lines.push(`| ${r.implementation} | ${(s / 1e6).toFixed(2)} M | ${r.samplesPerSecond.map((x) => (x / 1e6).toFixed(2)).join(', ')} | ${c ? ratio.toFixed(2) + '×' : '–'} |`);
  }
  return lines.join('\n');
}
