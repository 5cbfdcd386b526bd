/**
 * The browser app's worker task: one registration ('web.register'), run in a Web Worker so that the page stays
 * responsive. It returns the same files the CLI's `register` writes (registrationOutputs), encoded, plus the
 * pictures the page shows (NIfTI bytes for NiiVue): fixed, warped, a checkerboard of the two and the Jacobian map.
 * The registration, the output resampling, the numeric inverses and the Jacobian map run on one team of threads
 * (Web Workers, the CLI's kernels; watched: a helper that dies mid-phase is an error, not a hang), as in the CLI.
 */
import { CoregError } from '../errors.js';
import { finiteRange, type Image } from '../image/image.js';
import { encodeImage } from '../io/image-io.js';
import { createBrowserWatch, createBrowserWorkerPool } from '../parallel/browser.js';
import type { TaskContext, TaskHandler, TaskResult } from '../parallel/serve.js';
import { createTeam, type Team } from '../parallel/team.js';
import { segment, type Atlas, type FusionMethod, type SegmentProgress, type SegmentReport } from '../segment/index.js';
import type { RegistrationConfig } from '../register/config.js';
import { registrationOutputs } from '../register/outputs.js';
import { register, type ProgressEvent } from '../register/register.js';
import { jacobianOn } from '../register/parallel-jacobian.js';
import { summarizeJacobian, type JacobianSummary } from '../transform/jacobian.js';
import { wasmKernelsAvailable } from '../wasm/kernels.js';

export interface RegisterTaskInput {
  fixed: Image;
  moving: Image;
  fixedName: string;
  movingName: string;
  config: RegistrationConfig;
}

export interface OutputFile {
  name: string;
  bytes: Uint8Array;
}

export interface RegisterTaskOutput {
  /** The CLI's files, in its writing order (result.json last). */
  files: OutputFile[];
  resultText: string;
  /** transform.tfm's text for a linear chain; else the chain's .tfm files' texts in chain order. */
  transformText: string;
  /** Uncompressed NIfTI for the viewer. */
  display: { warped: Uint8Array; checkerboard: Uint8Array; jacobian: Uint8Array; inverseWarped: Uint8Array };
  jacobian: JacobianSummary;
  /** The registration's own time (result.json's "seconds"). */
  seconds: number;
  /** Making the files and pictures after it. */
  outputSeconds: number;
  /**
   * The team: its threads (result.json's "threads"; 1 without cross-origin isolation) and the blocks its helper
   * threads did during the registration and while making the outputs (0: this worker did all of it); whether
   * the kernels are the WebAssembly SIMD ones (as in the CLI) rather than the TypeScript fallback.
   */
  team: { threads: number; registrationHelperBlocks: number; outputHelperBlocks: number; wasm: boolean };
}

export type RegisterTaskEvent = { kind: 'progress'; event: ProgressEvent } | { kind: 'warn'; message: string };

/** Why a page registers on one thread although more were asked for (null: it does not). */
export function singleThreadReason(threads: number): string | null {
  if (threads < 2) return null;
  const scope = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer !== 'function' || !scope.crossOriginIsolated) {
    return `the page is not cross-origin isolated (no COOP/COEP headers, so no SharedArrayBuffer): registering on one thread instead of ${threads}`;
  }
  return null;
}

const utf8 = new TextEncoder();

/**
 * An image file's bytes; .nii.gz through the browser's native gzip (CompressionStream) where there is one, as
 * the CLI uses Node's native zlib (the same NIfTI inside, several times faster than the pure-JS deflate).
 */
export async function encodeFile(img: Image, name: string): Promise<Uint8Array> {
  if (name.toLowerCase().endsWith('.nii.gz') && typeof CompressionStream !== 'undefined') {
    const raw = encodeImage(img, name.slice(0, -3))[0].bytes;
    const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return encodeImage(img, name)[0].bytes;
}

function niftiBytes(img: Image): Uint8Array {
  return encodeImage(img, 'view.nii')[0].bytes;
}

/** Fixed and warped (same grid), each scaled to [0, 1], alternating in squares (8 across the largest side). */
export function checkerboard(fixed: Image, warped: Image): Image<Float32Array> {
  if (fixed.data.length !== warped.data.length) throw new CoregError('checkerboard', 'the images must share a grid');
  const out = new Float32Array(fixed.data.length);
  const rf = finiteRange(fixed.data) ?? { min: 0, max: 1 };
  const rw = finiteRange(warped.data) ?? { min: 0, max: 1 };
  const sf = rf.max > rf.min ? 1 / (rf.max - rf.min) : 0;
  const sw = rw.max > rw.min ? 1 / (rw.max - rw.min) : 0;
  const [nx, ny] = fixed.size;
  const nz = fixed.dimension === 3 ? fixed.size[2] : 1;
  const tile = Math.max(1, Math.ceil(Math.max(...fixed.size) / 8));
  for (let z = 0, i = 0; z < nz; z++) {
    const tz = Math.floor(z / tile);
    for (let y = 0; y < ny; y++) {
      const ty = Math.floor(y / tile);
      for (let x = 0; x < nx; x++, i++) {
        const useFixed = (Math.floor(x / tile) + ty + tz) % 2 === 0;
        out[i] = useFixed ? (fixed.data[i] - rf.min) * sf : (warped.data[i] - rw.min) * sw;
      }
    }
  }
  return { ...fixed, components: 1, data: out };
}

/**
 * Threads inside the registration (config.threads, default every core): helpers are more workers of this same
 * script, started from this worker (Atomics.wait is allowed here). Only on cross-origin-isolated pages (shared
 * memory); elsewhere the registration runs in this worker alone.
 */
function registrationTeam(threads: number): Team | undefined {
  const scope = globalThis as { location?: { href: string } };
  if (threads < 2 || singleThreadReason(threads) !== null || !scope.location) return undefined;
  return createTeam(createBrowserWorkerPool(scope.location.href, threads - 1), threads, { watch: createBrowserWatch() });
}

async function registerTask(input: RegisterTaskInput, context: TaskContext): Promise<TaskResult> {
  const { fixed, moving, config } = input;
  const threads = config.threads ?? Math.max(1, navigator.hardwareConcurrency || 2);
  const warn = (message: string): void => context.emit({ kind: 'warn', message } satisfies RegisterTaskEvent);
  const fallback = singleThreadReason(threads);
  if (fallback) warn(fallback);
  const team = registrationTeam(threads);
  try {
    const result = await register(fixed, moving, config, {
      signal: context.signal,
      onProgress: (event) => context.emit({ kind: 'progress', event } satisfies RegisterTaskEvent),
      warn,
      parallel: team,
    });
    const registrationHelperBlocks = team?.helperBlocks ?? 0;
    const t0 = performance.now();
    // As the CLI: with inverse-warped.nii.gz (the fixed image on the moving grid through the inverted chain), the
    // images resampled and the chain inverted on the same team.
    const { files } = await registrationOutputs(fixed, moving, result, { fixed: input.fixedName, moving: input.movingName, config }, { inverse: true, parallel: team });
    const det = await jacobianOn(team, result.transforms, fixed);
    const outputHelperBlocks = (team?.helperBlocks ?? 0) - registrationHelperBlocks;
    const encoded: OutputFile[] = [];
    let resultText = '';
    const tfmTexts: string[] = [];
    let warped: Image | null = null;
    let inverseWarped: Image | null = null;
    for (const f of files) {
      if ('text' in f) {
        encoded.push({ name: f.name, bytes: utf8.encode(f.text) });
        if (f.name === 'result.json') resultText = f.text;
        else if (f.name.endsWith('.tfm')) tfmTexts.push(f.text);
      } else if ('image' in f) {
        encoded.push({ name: f.name, bytes: await encodeFile(f.image, f.name) });
        if (f.name === 'warped.nii.gz') warped = f.image;
        else if (f.name === 'inverse-warped.nii.gz') inverseWarped = f.image;
      }
    }
    if (!warped || !inverseWarped) throw new Error('registrationOutputs gave no warped or inverse-warped image');
    const output: RegisterTaskOutput = {
      files: encoded,
      resultText,
      transformText: tfmTexts.join(''),
      display: { warped: niftiBytes(warped), checkerboard: niftiBytes(checkerboard(fixed, warped)), jacobian: niftiBytes(det), inverseWarped: niftiBytes(inverseWarped) },
      jacobian: summarizeJacobian(det.data),
      seconds: result.seconds,
      outputSeconds: (performance.now() - t0) / 1000,
      team: { threads: result.threads, registrationHelperBlocks, outputHelperBlocks, wasm: wasmKernelsAvailable() },
    };
    const transfer = [...encoded.map((f) => f.bytes.buffer), output.display.warped.buffer, output.display.checkerboard.buffer, output.display.jacobian.buffer, output.display.inverseWarped.buffer];
    return { output, transfer: [...new Set(transfer)] as Transferable[] };
  } finally {
    await team?.close();
  }
}

export interface SegmentTaskInput {
  target: Image;
  atlases: Atlas[];
  fusion: FusionMethod;
  config: RegistrationConfig;
  /** The worker script, for the pool of workers that register the atlases (nested workers). */
  workerUrl: string;
  threads: number;
}

export interface SegmentTaskOutput {
  /** seg.nii.gz, as the CLI writes it. */
  labels: Uint8Array;
  /** Uncompressed NIfTI of the labels, for the viewer. */
  display: Uint8Array;
  report: SegmentReport;
}

export type SegmentTaskEvent = { kind: 'progress'; event: SegmentProgress } | { kind: 'warn'; message: string };

/** The whole segment() in a worker (fusion included, so the page never blocks), atlases on a nested pool. */
async function segmentTask(input: SegmentTaskInput, context: TaskContext): Promise<TaskResult> {
  const pool = createBrowserWorkerPool(input.workerUrl, input.threads);
  try {
    const out = await segment(input.target, input.atlases, {
      fusion: input.fusion,
      config: input.config,
      pool,
      signal: context.signal,
      onProgress: (event) => context.emit({ kind: 'progress', event } satisfies SegmentTaskEvent),
      warn: (message) => context.emit({ kind: 'warn', message } satisfies SegmentTaskEvent),
    });
    const output: SegmentTaskOutput = { labels: await encodeFile(out.labels, 'seg.nii.gz'), display: niftiBytes(out.labels), report: out.report };
    return { output, transfer: [output.labels.buffer, output.display.buffer] as Transferable[] };
  } finally {
    await pool.close();
  }
}

export const WEB_TASKS: Readonly<Record<string, TaskHandler>> = {
  'web.register': registerTask as TaskHandler,
  'web.segment': segmentTask as TaskHandler,
};
