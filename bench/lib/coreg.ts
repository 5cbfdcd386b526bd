// coreg under test: `node bin/coreg.js register …` as a whole process, then its transform.tfm and result.json.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readTextFile } from '../../src/io/node.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { composeLinear } from '../../src/transform/linear.js';
import { isLinear, type Transform } from '../../src/transform/transform.js';
import { runTimed } from './process.js';
import { loadTransformChain } from '../../src/io/chain-io.js';

/** The command the bench measures unless told otherwise: this checkout's bin/coreg.js (runs dist/). */
export function defaultCoregBin(repoRoot: string): string {
  return join(repoRoot, 'bin', 'coreg.js');
}

export interface CoregRun {
  transform: Transform;
  seconds: number;
  peakRssMB?: number;
  /** Iterations per level, levels joined by '/', stages by ' + ' (from result.json). */
  iterations: string;
}

/** Why `coreg register` cannot run here (not built, or no such command yet), or undefined when it can. */
export function coregUnavailable(repoRoot: string, coregBin: string): string | undefined {
  if (coregBin === defaultCoregBin(repoRoot) && !existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) return 'coreg is not built (run `npm run build`)';
  if (!existsSync(coregBin)) return `${coregBin} does not exist`;
  const r = spawnSync(process.execPath, [coregBin, 'register', '--help'], { encoding: 'utf8' });
  // An unknown command may still print the general help and exit 0: look for register's own options.
  if (r.status !== 0 || !r.stdout.includes('--fixed')) return '`coreg register` is not available yet (`node bin/coreg.js register --help` does not list --fixed)';
  return undefined;
}

/** Newest modification time (ms) of the .ts files under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (name.endsWith('.ts')) newest = Math.max(newest, s.mtimeMs);
  }
  return newest;
}

/** True when some file in src/ changed after dist/ was built (the bench would measure stale code). */
export function distIsStale(repoRoot: string): boolean {
  const main = join(repoRoot, 'dist', 'cli', 'main.js');
  return existsSync(main) && newestSource(join(repoRoot, 'src')) > statSync(main).mtimeMs;
}

interface ResultJson {
  stages?: { levels?: { iterations?: number }[] }[];
}

function iterationsOf(resultFile: string): string {
  if (!existsSync(resultFile)) return '?';
  const r = JSON.parse(readFileSync(resultFile, 'utf8')) as ResultJson;
  return (r.stages ?? []).map((s) => (s.levels ?? []).map((l) => String(l.iterations ?? '?')).join('/')).join(' + ');
}

/** The transform(s) in a .tfm file as one fixed → moving map (a linear chain is composed). */
export function readTransformChain(file: string): Transform {
  const chain = parseItkTransformFile(readTextFile(file), file);
  if (chain.length === 1) return chain[0];
  if (chain.every(isLinear)) return composeLinear(chain);
  throw new Error(`${file}: a chain of ${chain.length} transforms with non-linear parts`);
}

export interface CoregJob {
  /** The coreg entry script run with this Node (bin/coreg.js). */
  coregBin: string;
  fixed: string;
  moving: string;
  stages: string;
  metric: string;
  threads: number;
  seed: number;
  outDir: string;
}

/** Runs `coreg register` once; throws with coreg's one-line error when it fails. */
export function runCoreg(job: CoregJob): CoregRun {
  rmSync(job.outDir, { recursive: true, force: true });
  const args = [
    job.coregBin, 'register',
    '--fixed', job.fixed, '--moving', job.moving, '--out', job.outDir,
    '--transform', job.stages, '--metric', job.metric,
    '--seed', String(job.seed), '--threads', String(job.threads), '--quiet',
  ];
  const r = runTimed(process.execPath, args);
  const tfm = join(job.outDir, 'transform.tfm');
  if (r.status !== 0 || !existsSync(tfm)) {
    const line = (r.stderr.trim().split('\n').find((l) => l.startsWith('coreg: error')) ?? r.stderr.trim().split('\n').pop()) || `exit status ${r.status}`;
    throw new Error(`coreg failed: ${line}`);
  }
  return { transform: readTransformChain(tfm), seconds: r.seconds, peakRssMB: r.peakRssMB, iterations: iterationsOf(join(job.outDir, 'result.json')) };
}

export interface CoregChainJob extends CoregJob {
  /** --grid-spacing (mm) for B-spline stages, when not coreg's default. */
  gridSpacing?: number;
}

export interface CoregChainRun {
  /** The whole result as first-first chain (result.json's "transforms"). */
  chain: Transform[];
  seconds: number;
  peakRssMB?: number;
  /** The whole process's CPU time (user + system, all threads), where GNU time measured it. */
  cpuSeconds?: number;
  iterations: string;
  /** coreg's warnings (e.g. a folding guard that stopped a level). */
  warnings: string[];
}

/** Runs `coreg register` with any stages (non-rigid too) and loads the chain its result.json lists. */
export function runCoregChain(job: CoregChainJob): CoregChainRun {
  rmSync(job.outDir, { recursive: true, force: true });
  const args = [
    job.coregBin, 'register',
    '--fixed', job.fixed, '--moving', job.moving, '--out', job.outDir,
    '--transform', job.stages, '--metric', job.metric,
    '--seed', String(job.seed), '--threads', String(job.threads), '--quiet',
  ];
  if (job.gridSpacing !== undefined) args.push('--grid-spacing', String(job.gridSpacing));
  const r = runTimed(process.execPath, args);
  const result = join(job.outDir, 'result.json');
  if (r.status !== 0 || !existsSync(result)) {
    const line = (r.stderr.trim().split('\n').find((l) => l.startsWith('coreg: error')) ?? r.stderr.trim().split('\n').pop()) || `exit status ${r.status}`;
    throw new Error(`coreg failed: ${line}`);
  }
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('coreg: warning')).map((l) => l.trim());
  return { chain: loadTransformChain(job.outDir, nodeTransformFiles), seconds: r.seconds, peakRssMB: r.peakRssMB, cpuSeconds: r.cpuSeconds, iterations: iterationsOf(result), warnings };
}

export interface JacobianSummary {
  min: number;
  max: number;
  foldedCount: number;
  foldedPercent: number;
}

/** `coreg eval jacobian RESULT --reference FIXED --json`: the determinant's range and folded voxels. */
export function coregJacobian(coregBin: string, result: string, reference: string): JacobianSummary {
  const r = spawnSync(process.execPath, [coregBin, 'eval', 'jacobian', result, '--reference', reference, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`coreg eval jacobian failed: ${(r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`}`);
  return JSON.parse(r.stdout) as JacobianSummary;
}
