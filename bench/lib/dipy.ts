// The DIPY peer (Debian python3-dipy): affine + SyN through bench/dipy-syn.py, its fixed → moving displacement
// field cached in bench/cache/dipy/<hash>/ by a hash of the inputs, the script and DIPY's version.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashInputs, imageFileSet } from './cache.js';
import { runTimed } from './process.js';

const PYTHON = '/usr/bin/python3';
export const DIPY_INSTALL_HINT = 'DIPY is not installed (Debian/Ubuntu: `sudo apt-get install python3-dipy`)';

/** DIPY's version under Debian's python, or undefined when it cannot be imported. */
export function dipyVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const r = spawnSync(PYTHON, ['-c', 'import dipy; print(dipy.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface DipyRun {
  /** Displacement field of T(x) = x + u(x) on the fixed grid, LPS mm (MetaImage). */
  field: string;
  seconds: number;
  peakRssMB?: number;
  cached: boolean;
}

/** Runs bench/dipy-syn.py on a pair once (single-threaded; ~10 s in 2D, ~11 min in 3D) or reuses the cache. */
export function runDipySyn(job: { fixed: string; moving: string; script: string; cacheDir: string; version: string }): DipyRun {
  const key = hashInputs([...imageFileSet(job.fixed), ...imageFileSet(job.moving), job.script], [job.version]);
  const dir = join(job.cacheDir, 'dipy', key);
  const field = join(dir, 'field.mha');
  const runFile = join(dir, 'run.json');
  if (existsSync(field) && existsSync(runFile)) {
    const run = JSON.parse(readFileSync(runFile, 'utf8')) as { seconds: number; peakRssMB?: number };
    return { field, seconds: run.seconds, peakRssMB: run.peakRssMB, cached: true };
  }
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `field.tmp-${process.pid}.mha`);
  const r = runTimed(PYTHON, [job.script, job.fixed, job.moving, tmp]);
  if (r.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true });
    throw new Error(`DIPY failed: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`}`);
  }
  renameSync(tmp, field);
  writeFileSync(runFile, JSON.stringify({ seconds: r.seconds, peakRssMB: r.peakRssMB, stdout: r.stdout.trim() }, null, 1));
  return { field, seconds: r.seconds, peakRssMB: r.peakRssMB, cached: false };
}
