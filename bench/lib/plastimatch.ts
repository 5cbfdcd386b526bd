// The plastimatch peer (Debian `plastimatch`): affine then B-spline with its own OpenMP implementation, as the
// peers' figures were measured (../shared/peers/README.md: impl=plastimatch threading=openmp optim=lbfgsb, grids
// 40/20/10 mm, no regulariser). Its vf_out is the fixed → moving displacement u on the fixed grid: T(x) = x + u(x).
// Results are cached in bench/cache/plastimatch/<hash>/ by a hash of the inputs, the command file and the version.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashInputs, imageFileSet } from './cache.js';
import { runTimed } from './process.js';

export const PLASTIMATCH_INSTALL_HINT = 'plastimatch is not installed (Debian/Ubuntu: `sudo apt-get install plastimatch`); skipping the peer';

/** "plastimatch version 1.9.4" or undefined when plastimatch is not on PATH. */
export function plastimatchVersion(): string | undefined {
  const r = spawnSync('plastimatch', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.trim();
}

/** The [STAGE] blocks of an affine + B-spline registration with one metric ('mse' or 'mi'). */
export function plastimatchStages(metric: 'mse' | 'mi'): string {
  const m = `metric=${metric}\n`;
  const affine = (res: string, its: number): string => `[STAGE]\nxform=affine\nimpl=itk\noptim=rsg\n${m}max_its=${its}\nres=${res}\n`;
  const bspline = (res: string, grid: number, its: number): string =>
    `[STAGE]\nxform=bspline\nimpl=plastimatch\nthreading=openmp\noptim=lbfgsb\n${m}max_its=${its}\ngrid_spac=${grid} ${grid} ${grid}\nres=${res}\nregularization_lambda=0\n`;
  return ['[STAGE]\nxform=align_center\n', affine('4 4 4', 100), affine('2 2 2', 50), bspline('4 4 4', 40, 50), bspline('2 2 2', 20, 50), bspline('1 1 1', 10, 30)].join('\n');
}

export interface PlastimatchJob {
  fixed: string;
  moving: string;
  stages: string;
  repeat: number;
  cacheDir: string;
  version: string;
  /** OMP_NUM_THREADS. */
  threads: number;
}

export interface PlastimatchResult {
  /** The displacement field (fixed → moving, LPS mm, fixed grid, .mha). */
  field: string;
  seconds: number[];
  peakRssMB?: number;
  cached: boolean;
}

/** Runs `plastimatch register` `repeat` times (or reuses cached runs); throws with its last output line on failure. */
export function runPlastimatch(job: PlastimatchJob): PlastimatchResult {
  const key = hashInputs([...imageFileSet(job.fixed), ...imageFileSet(job.moving)], [job.stages, String(job.threads), job.version]);
  const dir = join(job.cacheDir, 'plastimatch', key);
  const field = join(dir, 'vf.mha');
  const runFile = join(dir, 'run.json');
  let run: { seconds: number[]; peakRssMB?: number } = existsSync(runFile) && existsSync(field) ? JSON.parse(readFileSync(runFile, 'utf8')) : { seconds: [] };
  const cached = run.seconds.length >= job.repeat;
  while (run.seconds.length < job.repeat) {
    const work = join(job.cacheDir, 'plastimatch', `tmp-${key}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const vf = join(work, 'vf.mha');
    const cmd = join(work, 'register.txt');
    writeFileSync(cmd, `[GLOBAL]\nfixed=${job.fixed}\nmoving=${job.moving}\nvf_out=${vf}\n\n${job.stages}`);
    const prev = process.env.OMP_NUM_THREADS;
    process.env.OMP_NUM_THREADS = String(job.threads);
    let r;
    try {
      r = runTimed('plastimatch', ['register', cmd]);
    } finally {
      if (prev === undefined) delete process.env.OMP_NUM_THREADS;
      else process.env.OMP_NUM_THREADS = prev;
    }
    if (r.status !== 0 || !existsSync(vf)) {
      const last = (r.stderr.trim() || r.stdout.trim()).split('\n').pop() || `exit status ${r.status}`;
      rmSync(work, { recursive: true, force: true });
      throw new Error(`plastimatch failed: ${last}`);
    }
    mkdirSync(dir, { recursive: true });
    renameSync(vf, field);
    run = { seconds: [...run.seconds, r.seconds], peakRssMB: Math.max(run.peakRssMB ?? 0, r.peakRssMB ?? 0) || undefined };
    writeFileSync(runFile, JSON.stringify(run, null, 1));
    rmSync(work, { recursive: true, force: true });
  }
  return { field, seconds: run.seconds.slice(0, job.repeat), peakRssMB: run.peakRssMB, cached };
}
