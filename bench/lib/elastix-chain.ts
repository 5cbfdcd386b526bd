// elastix with several parameter files (-p affine -p bspline) and transformix on its result: the dense
// deformation field (-def all) for TRE, and label images warped with nearest-neighbour interpolation. Every
// result is cached in bench/cache/elastix-chain/<hash>/ by a hash of the inputs, parameters, threads and version.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashInputs, imageFileSet } from './cache.js';
import { formatElastixParameters, parseElastixParameters } from './elastix-params.js';
import { runTimed } from './process.js';

export interface ElastixChainJob {
  fixed: string;
  moving: string;
  /** The parameter files' texts, in the order elastix runs them. */
  parameters: string[];
  threads: number;
  cacheDir: string;
  version: string;
  /** Timed runs wanted (default 1); the extra runs only add timings to the cache. */
  repeat?: number;
}

export interface ElastixChainResult {
  /** The cache folder holding TransformParameters.N.txt and run.json. */
  dir: string;
  /** The last stage's transform parameters (it chains the earlier ones through InitialTransformParametersFileName). */
  lastParameters: string;
  seconds: number;
  /** Wall time of each timed run (the first is `seconds`). */
  runs: number[];
  peakRssMB?: number;
  cached: boolean;
}

interface ChainRun {
  seconds: number;
  /** Every timed run, when more than one was asked for. */
  runs?: number[];
  peakRssMB?: number;
}

function firstError(text: string, status: number): string {
  return (text.split('\n').find((l) => /error|exception/i.test(l)) ?? `exit status ${status}`).trim();
}

/**
 * The text of a transform-parameter file with its InitialTransformParametersFileName pointing into `dir`
 * (elastix writes the absolute path of its own output folder, which the cache moves).
 */
export function relocateInitialTransform(text: string, dir: string): string {
  return text.replace(/^\(InitialTransformParametersFileName\s+"([^"]*)"\)/m, (line, file: string) => {
    if (file === 'NoInitialTransform') return line;
    const base = file.split(/[\\/]/).pop() as string;
    return `(InitialTransformParametersFileName "${join(dir, base)}")`;
  });
}

/** Runs `elastix -f F -m M -p P1 -p P2 …` (or reuses the cached run); `repeat` timed runs in all. */
export function runElastixChain(job: ElastixChainJob): ElastixChainResult {
  const key = hashInputs([...imageFileSet(job.fixed), ...imageFileSet(job.moving)], [...job.parameters, String(job.threads), job.version, 'chain']);
  const dir = join(job.cacheDir, 'elastix-chain', key);
  const last = join(dir, `TransformParameters.${job.parameters.length - 1}.txt`);
  const runFile = join(dir, 'run.json');
  const repeat = job.repeat ?? 1;
  let run: ChainRun | undefined = existsSync(runFile) && existsSync(last) ? (JSON.parse(readFileSync(runFile, 'utf8')) as ChainRun) : undefined;
  const cached = run !== undefined && (run.runs ?? [run.seconds]).length >= repeat;
  while (!run || (run.runs ?? [run.seconds]).length < repeat) {
    const r = elastixOnce(job, key);
    if (!run) {
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < job.parameters.length; i++) {
        const name = `TransformParameters.${i}.txt`;
        writeFileSync(join(dir, name), relocateInitialTransform(readFileSync(join(r.work, 'out', name), 'utf8'), dir));
      }
      run = { seconds: r.seconds, peakRssMB: r.peakRssMB };
    } else run = { seconds: run.seconds, runs: [...(run.runs ?? [run.seconds]), r.seconds], peakRssMB: Math.max(run.peakRssMB ?? 0, r.peakRssMB ?? 0) || undefined };
    writeFileSync(runFile, JSON.stringify(run, null, 1));
    rmSync(r.work, { recursive: true, force: true });
  }
  const runs = (run.runs ?? [run.seconds]).slice(0, repeat);
  return { dir, lastParameters: last, seconds: run.seconds, runs, peakRssMB: run.peakRssMB, cached };
}

/** One elastix process into a fresh work folder (left for the caller to read and remove). */
function elastixOnce(job: ElastixChainJob, key: string): { work: string; seconds: number; peakRssMB?: number } {
  const work = join(job.cacheDir, 'elastix-chain', `tmp-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'out'), { recursive: true });
  const args = ['-f', job.fixed, '-m', job.moving];
  job.parameters.forEach((text, i) => {
    const file = join(work, `parameters.${i}.txt`);
    writeFileSync(file, text);
    args.push('-p', file);
  });
  args.push('-out', join(work, 'out'), '-threads', String(job.threads));
  const r = runTimed('elastix', args);
  const produced = join(work, 'out', `TransformParameters.${job.parameters.length - 1}.txt`);
  if (r.status !== 0 || !existsSync(produced)) {
    const logFile = join(work, 'out', 'elastix.log');
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : r.stdout + r.stderr;
    rmSync(work, { recursive: true, force: true });
    throw new Error(`elastix failed: ${firstError(log, r.status)}`);
  }
  return { work, seconds: r.seconds, peakRssMB: r.peakRssMB };
}

function transformixInto(outDir: string, args: string[], wanted: RegExp): { file: string; seconds: number } {
  const work = `${outDir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const r = runTimed('transformix', [...args, '-out', work]);
  const name = readdirSync(work).find((n) => wanted.test(n));
  if (r.status !== 0 || !name) {
    const logFile = join(work, 'transformix.log');
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : r.stdout + r.stderr;
    rmSync(work, { recursive: true, force: true });
    throw new Error(`transformix failed: ${firstError(log, r.status)}`);
  }
  rmSync(outDir, { recursive: true, force: true });
  renameSync(work, outDir);
  writeFileSync(join(outDir, 'seconds.json'), JSON.stringify(r.seconds));
  return { file: join(outDir, name), seconds: r.seconds };
}

function cachedOutput(outDir: string, wanted: RegExp): { file: string; seconds: number } | undefined {
  if (!existsSync(join(outDir, 'seconds.json'))) return undefined;
  const name = readdirSync(outDir).find((n) => wanted.test(n));
  return name ? { file: join(outDir, name), seconds: JSON.parse(readFileSync(join(outDir, 'seconds.json'), 'utf8')) as number } : undefined;
}

const FIELD = /^deformationField\.(mhd|mha|nii|nii\.gz|nrrd)$/;
const RESULT = /^result\.(mhd|mha|nii|nii\.gz|nrrd)$/;

/**
 * The fixed → moving displacement field of a chain result on the fixed grid (LPS mm), from `transformix -def all`
 * (cached next to the result). Returns its file.
 */
export function elastixDeformationField(result: ElastixChainResult): string {
  const outDir = join(result.dir, 'field');
  return (cachedOutput(outDir, FIELD) ?? transformixInto(outDir, ['-def', 'all', '-tp', result.lastParameters], FIELD)).file;
}

/** The parameter text with nearest-neighbour resampling (order-0 B-spline; Debian's build has no NN resampler). */
export function labelResamplingParameters(text: string): string {
  const p = parseElastixParameters(text);
  p.set('FinalBSplineInterpolationOrder', [0]);
  p.set('ResultImagePixelType', ['float']);
  p.set('ResultImageFormat', ['mha']);
  return formatElastixParameters(p);
}

/** A label image warped onto the fixed grid through a chain result (nearest neighbour); its file and seconds. */
export function elastixWarpLabels(result: ElastixChainResult, labels: string): { file: string; seconds: number } {
  const key = hashInputs(imageFileSet(labels), ['labels']);
  const outDir = join(result.dir, `labels-${key}`);
  const hit = cachedOutput(outDir, RESULT);
  if (hit) return hit;
  mkdirSync(result.dir, { recursive: true });
  const tp = join(result.dir, `labels-${key}.txt`);
  writeFileSync(tp, labelResamplingParameters(readFileSync(result.lastParameters, 'utf8')));
  return transformixInto(outDir, ['-in', labels, '-tp', tp], RESULT);
}
