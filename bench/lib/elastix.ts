// The elastix peer: run it on a case (2 threads, like the published figures), cache its result by a hash of
// the inputs, the parameter text, the thread count and the elastix version, and read its linear transform.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Affine } from './affine.js';
import { hashInputs, imageFileSet } from './cache.js';
import { elastixLinear, parseElastixParameters } from './elastix-params.js';
import { runTimed } from './process.js';

export const ELASTIX_INSTALL_HINT = 'elastix is not installed (Debian/Ubuntu: `sudo apt-get install elastix`); skipping the peer';

/** "elastix version: 5.0.1" or undefined when elastix is not on PATH. */
export function elastixVersion(): string | undefined {
  const r = spawnSync('elastix', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.trim();
}

export interface PeerResult {
  affine: Affine;
  /** Wall time of each run, in seconds. */
  seconds: number[];
  peakRssMB?: number;
  /** True when every timing came from an earlier run. */
  cached: boolean;
}

interface CachedRun {
  seconds: number[];
  peakRssMB?: number;
}

export interface ElastixJob {
  fixed: string;
  moving: string;
  /** The whole parameter file text. */
  parameters: string;
  threads: number;
  repeat: number;
  cacheDir: string;
  version: string;
}

/** Runs elastix (or reuses a cached run with the same inputs); throws with elastix's own message on failure. */
export function runElastix(job: ElastixJob): PeerResult {
  const key = hashInputs([...imageFileSet(job.fixed), ...imageFileSet(job.moving)], [job.parameters, String(job.threads), job.version]);
  const dir = join(job.cacheDir, 'elastix', key);
  const tpFile = join(dir, 'TransformParameters.0.txt');
  const runFile = join(dir, 'run.json');
  let run: CachedRun = existsSync(runFile) && existsSync(tpFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as CachedRun) : { seconds: [] };
  const cached = run.seconds.length >= job.repeat;
  while (run.seconds.length < job.repeat) {
    const work = join(job.cacheDir, 'elastix', `tmp-${key}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const paramFile = join(work, 'parameters.txt');
    writeFileSync(paramFile, job.parameters);
    const out = join(work, 'out');
    mkdirSync(out);
    const r = runTimed('elastix', ['-f', job.fixed, '-m', job.moving, '-p', paramFile, '-out', out, '-threads', String(job.threads)]);
    const produced = join(out, 'TransformParameters.0.txt');
    if (r.status !== 0 || !existsSync(produced)) {
      const log = existsSync(join(out, 'elastix.log')) ? readFileSync(join(out, 'elastix.log'), 'utf8') : r.stdout + r.stderr;
      const error = log.split('\n').find((l) => /error|exception/i.test(l)) ?? `exit status ${r.status}`;
      rmSync(work, { recursive: true, force: true });
      throw new Error(`elastix failed: ${error.trim()}`);
    }
    mkdirSync(dir, { recursive: true });
    renameSync(produced, tpFile);
    run = { seconds: [...run.seconds, r.seconds], peakRssMB: Math.max(run.peakRssMB ?? 0, r.peakRssMB ?? 0) || undefined };
    writeFileSync(runFile, JSON.stringify(run, null, 1));
    rmSync(work, { recursive: true, force: true });
  }
  const affine = elastixLinear(parseElastixParameters(readFileSync(tpFile, 'utf8')));
  return { affine, seconds: run.seconds.slice(0, job.repeat), peakRssMB: run.peakRssMB, cached };
}
