// `npm run bench -- --only realscans` (issue 10): coreg with its defaults on real-scan-like cases made by
// bench/make-realscan-cases.py from ../shared/data/mni (an independent generator: numpy/scipy/nibabel): CT→CT on
// a clinical grid, CT↔T1, PET→T1 (rigid truths) and 2 mm subjects with skull (affine + smooth bumps, oblique LAS
// grids), the latter beside elastix's routine set-up (affine + B-spline, MI, 10 mm grid, 3 levels × 500
// iterations, 4000 random samples). TRE over the fixed points whose true image lies in ch2bet's brain; folded
// voxels = det ∂T/∂x ≤ 0 on the fixed grid.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImageFile } from '../../src/io/node.js';
import { hashInputs } from '../lib/cache.js';
import { runElastixChain } from '../lib/elastix-chain.js';
import { formatElastixParameters, parseElastixParameters } from '../lib/elastix-params.js';
import { runTimed } from '../lib/process.js';
import type { BenchPaths } from '../lib/cases.js';

export interface RealScanCase {
  name: string;
  what: string;
  /** Options besides --fixed/--moving/--out (the defaults otherwise). */
  args: string[];
  /** Target on coreg's mean TRE (mm), or 'elastix' (mean ≤ elastix's, max ≤ elastix's max, 0 folded). */
  target: number | 'elastix';
}

export const REALSCAN_CASES: RealScanCase[] = [
  { name: 'ct_ct', what: 'CT→CT, HU int16, 0.9×0.9×2.5 mm grids, rigid', args: [], target: 0.3 },
  { name: 'ct_t1', what: 'CT (fixed) ↔ T1 (moving), rigid', args: [], target: 0.8 },
  { name: 't1_ct', what: 'T1 (fixed) ↔ CT (moving), rigid', args: [], target: 0.8 },
  { name: 'pet_t1', what: 'T1 (fixed) ← PET 4 mm (moving), rigid', args: [], target: 1.5 },
  ...[1, 2, 3].map((k) => ({
    name: `sub2_${k}`,
    what: '2 mm subject with skull (oblique LAS grid) ← ch2 template, affine + bumps',
    args: ['--transform', 'affine,bspline'],
    target: 'elastix' as const,
  })),
];

export interface RealScanRow {
  case: string;
  tool: 'coreg' | 'elastix';
  mean?: number;
  max?: number;
  folded?: number;
  seconds?: number;
  cached?: boolean;
  missing?: string;
  pass: boolean | null;
  verdict: string;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 2).join(' ')}: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`);
  return r.stdout;
}

/** Generates the cases once into bench/cache/realscans/<hash of the generator and the data>/. */
export function realScanCases(paths: BenchPaths): string {
  const script = join(paths.repoRoot, 'bench', 'make-realscan-cases.py');
  const mni = join(paths.data, 'mni');
  const key = hashInputs([script, join(mni, 'ch2.nii.gz'), join(mni, 'ch2bet.nii.gz')], ['realscans']);
  const dir = join(paths.cache, 'realscans', key);
  if (existsSync(join(dir, 'done'))) return dir;
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  console.error('bench: realscans: generating the cases (/usr/bin/python3 bench/make-realscan-cases.py, ~30 s)');
  run('/usr/bin/python3', [script, mni, work]);
  writeFileSync(join(work, 'done'), '');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(paths.cache, 'realscans'), { recursive: true });
  renameSync(work, dir);
  return dir;
}

interface TreJson {
  mean: number;
  max: number;
}

/** The routine elastix set-up of issue 10: the atlas parameter files with 3 × 500 iterations and 4000 samples. */
function elastixParameters(paths: BenchPaths): string[] {
  return ['atlas_affine_mi.txt', 'atlas_bspline_mi.txt'].map((f) => {
    const p = parseElastixParameters(readFileSync(join(paths.peers, 'elastix-params', f), 'utf8'));
    p.set('NumberOfResolutions', [3]);
    p.set('MaximumNumberOfIterations', [500]);
    p.set('NumberOfSpatialSamples', [4000]);
    return formatElastixParameters(p);
  });
}

function csvPoints(file: string): number[][] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
}

function elastixRow(c: RealScanCase, dir: string, paths: BenchPaths, version: string, threads: number): RealScanRow {
  const fixed = join(dir, `${c.name}_fixed.nii.gz`);
  const e = runElastixChain({ fixed, moving: join(dir, `${c.name}_moving.nii.gz`), parameters: elastixParameters(paths), threads, cacheDir: paths.cache, version });
  const fixedPts = csvPoints(join(dir, `${c.name}_fixed.csv`));
  const truth = csvPoints(join(dir, `${c.name}_moving.csv`));
  const pointsDir = join(e.dir, 'points');
  if (!existsSync(join(pointsDir, 'outputpoints.txt'))) {
    mkdirSync(pointsDir, { recursive: true });
    writeFileSync(join(pointsDir, 'in.txt'), `point\n${fixedPts.length}\n${fixedPts.map((p) => p.join(' ')).join('\n')}\n`);
    runTimed('transformix', ['-def', join(pointsDir, 'in.txt'), '-tp', e.lastParameters, '-out', pointsDir]);
  }
  const out = readFileSync(join(pointsDir, 'outputpoints.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (/OutputPoint = \[ ([^\]]*)\]/.exec(l)?.[1] ?? '').trim().split(/\s+/).map(Number));
  if (out.length !== truth.length) throw new Error(`transformix mapped ${out.length} of ${truth.length} points`);
  let sum = 0;
  let max = 0;
  out.forEach((p, i) => {
    const err = Math.hypot(p[0] - truth[i][0], p[1] - truth[i][1], p[2] - truth[i][2]);
    sum += err;
    max = Math.max(max, err);
  });
  const jacDir = join(e.dir, 'jacobian');
  if (!existsSync(join(jacDir, 'spatialJacobian.mha'))) {
    mkdirSync(jacDir, { recursive: true });
    runTimed('transformix', ['-jac', 'all', '-tp', e.lastParameters, '-out', jacDir]);
  }
  const jac = readImageFile(join(jacDir, 'spatialJacobian.mha'));
  let folded = 0;
  for (let i = 0; i < jac.data.length; i++) if (!(jac.data[i] > 0)) folded++;
  return { case: c.name, tool: 'elastix', mean: sum / out.length, max, folded, seconds: e.seconds, cached: e.cached, pass: null, verdict: 'peer' };
}

function coregRow(c: RealScanCase, dir: string, coregBin: string, outDir: string, threads: number): RealScanRow {
  const out = join(outDir, 'realscans', c.name);
  rmSync(out, { recursive: true, force: true });
  const f = join(dir, `${c.name}_fixed.nii.gz`);
  const r = runTimed(process.execPath, [coregBin, 'register', '--fixed', f, '--moving', join(dir, `${c.name}_moving.nii.gz`), '--out', out, ...c.args, '--threads', String(threads), '--quiet']);
  if (r.status !== 0) throw new Error(`coreg register exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const tre = JSON.parse(run(process.execPath, [coregBin, 'eval', 'tre', '--transform', out, '--fixed-points', join(dir, `${c.name}_fixed.csv`), '--moving-points', join(dir, `${c.name}_moving.csv`), '--json'])) as TreJson;
  let folded: number | undefined;
  if (c.target === 'elastix') {
    folded = (JSON.parse(run(process.execPath, [coregBin, 'eval', 'jacobian', out, '--reference', f, '--json'])) as { foldedCount: number }).foldedCount;
  }
  return { case: c.name, tool: 'coreg', mean: tre.mean, max: tre.max, folded, seconds: r.seconds, pass: null, verdict: '' };
}

export function runRealScans(o: { paths: BenchPaths; outDir: string; coregBin?: string; elastix?: string; elastixMissing?: string; threads: number; filter?: string }): { rows: RealScanRow[]; notes: string[] } {
  const notes: string[] = [];
  const rows: RealScanRow[] = [];
  if (!existsSync(join(o.paths.data, 'mni', 'ch2.nii.gz'))) return { rows, notes: ['realscans skipped: ../shared/data/mni/ch2.nii.gz is absent'] };
  if (!existsSync('/usr/bin/python3')) return { rows, notes: ['realscans skipped: /usr/bin/python3 (Debian python3-numpy, -scipy, -nibabel) is absent'] };
  const dir = realScanCases(o.paths);
  for (const c of REALSCAN_CASES) {
    if (o.filter && !`${c.name} ${c.what}`.toLowerCase().includes(o.filter)) continue;
    let peer: RealScanRow | undefined;
    if (c.target === 'elastix') {
      if (o.elastix) {
        console.error(`bench: realscans ${c.name} | elastix`);
        try {
          peer = elastixRow(c, dir, o.paths, o.elastix, o.threads);
          rows.push(peer);
        } catch (e) {
          rows.push({ case: c.name, tool: 'elastix', missing: `error: ${(e as Error).message}`, pass: null, verdict: 'peer' });
        }
      } else rows.push({ case: c.name, tool: 'elastix', missing: o.elastixMissing ?? 'not run', pass: null, verdict: 'peer' });
    }
    if (!o.coregBin) {
      rows.push({ case: c.name, tool: 'coreg', missing: 'not run', pass: null, verdict: '' });
      continue;
    }
    console.error(`bench: realscans ${c.name} | coreg ${c.args.join(' ') || '(defaults)'}`);
    let row: RealScanRow;
    try {
      row = coregRow(c, dir, o.coregBin, o.outDir, o.threads);
    } catch (e) {
      rows.push({ case: c.name, tool: 'coreg', missing: `error: ${(e as Error).message}`, pass: false, verdict: 'FAIL (error)' });
      continue;
    }
    if (typeof c.target === 'number') {
      row.pass = row.mean! <= c.target;
      row.verdict = `${row.pass ? 'pass' : 'FAIL'} (mean ≤ ${c.target} mm)`;
    } else if (peer && peer.mean !== undefined) {
      const why: string[] = [];
      if (row.mean! > peer.mean) why.push('mean > elastix');
      if (row.max! > peer.max!) why.push('max > elastix');
      if (row.folded !== 0) why.push('folds');
      row.pass = why.length === 0;
      row.verdict = row.pass ? 'pass (mean, max ≤ elastix; 0 folded)' : `FAIL (${why.join(', ')})`;
    } else {
      row.pass = row.folded === 0 ? null : false;
      row.verdict = row.folded === 0 ? 'not judged (no elastix)' : 'FAIL (folds)';
    }
    rows.push(row);
    console.error(`bench:     ${row.mean!.toFixed(3)} / ${row.max!.toFixed(3)} mm: ${row.verdict}`);
  }
  return { rows, notes };
}

export function realScansTable(rows: RealScanRow[]): string {
  const f = (v: number | undefined, d = 3): string => (v === undefined ? '—' : v.toFixed(d));
  const lines = ['| case | tool | mean TRE (mm) | max TRE (mm) | folded voxels | seconds | verdict |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    if (r.missing) lines.push(`| ${r.case} | ${r.tool} | ${r.missing} | | | | ${r.verdict} |`);
    else lines.push(`| ${r.case} | ${r.tool} | ${f(r.mean)} | ${f(r.max)} | ${r.folded ?? '—'} | ${f(r.seconds, 1)}${r.cached ? '*' : ''} | ${r.verdict} |`);
  }
  return lines.join('\n');
}
