// Non-rigid accuracy: the 2D ITK B-spline case, the 3D d2 case (affine + Gaussian bumps) and random 3D
// cases nr_<seed> (bench/make-nonrigid-cases.py: random affine + bumps + noise), coreg's affine,bspline and SyN
// chains beside elastix (affine + B-spline) and DIPY (affine + SyN), TRE against the known maps; for coreg also the
// folded voxels of its result, wall time and peak RSS.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImageFile } from '../../src/io/node.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { affineFromRows, foregroundPoints, type Tre } from '../lib/affine.js';
import type { BenchPaths } from '../lib/cases.js';
import { coregJacobian, runCoregChain } from '../lib/coreg.js';
import { DIPY_INSTALL_HINT, dipyVersion, runDipySyn } from '../lib/dipy.js';
import { elastixDeformationField, runElastixChain } from '../lib/elastix-chain.js';
import { affineWithBumps, bumpsFromJson, chainMap, displacementStats, itkBSpline2d, judgeNonrigid, mapTre, type PointMap, randomNonrigidTruth } from '../lib/nonrigid.js';

export interface NonrigidOptions {
  paths: BenchPaths;
  outDir: string;
  /** undefined when coreg cannot run here. */
  coregBin?: string;
  /** undefined when elastix is off or absent. */
  elastix?: string;
  elastixMissing?: string;
  /** Run DIPY: '2d' = the 2D case only (seconds), 'all' = also 3D (~11 min, cached). */
  dipy: 'off' | '2d' | 'all';
  threads: number;
  filter?: string;
  /** Seeds of the random 3D cases nr_<seed> (generated under bench/cache/nonrigid3d when missing). */
  seeds: number[];
}

export interface NonrigidRow {
  case: string;
  tool: 'coreg' | 'elastix' | 'DIPY';
  setting: string;
  tre?: Tre;
  seconds?: number;
  peakRssMB?: number;
  cached?: boolean;
  folded?: number;
  minJacobian?: number;
  iterations?: string;
  warnings?: string[];
  missing?: string;
  rule?: string;
  pass: boolean | null;
  verdict: string;
}

interface CoregSetting {
  stages: string;
  metric: string;
  /** Absolute mean TRE target (mm). */
  target: number;
  /** Peers this setting must match (mean TRE + 0.01 mm). */
  versus: ('elastix' | 'DIPY')[];
  maxRssMB?: number;
}

export interface NonrigidCase {
  /** Short and unique: names coreg's output folder. */
  id: string;
  name: string;
  dimension: 2 | 3;
  fixed: string;
  moving: string;
  foreground: number;
  gt: PointMap;
  coreg: CoregSetting[];
  elastixParams: string[];
  dipy: boolean;
  checkFolding: boolean;
}

const PEER_MARGIN = 0.01;

function sharedCases(p: BenchPaths, dipy: NonrigidOptions['dipy'], skipped: string[]): NonrigidCase[] {
  const out: NonrigidCase[] = [];
  const dir = join(p.cache, 'cases');
  const truthFile = join(dir, 'cases_gt.json');
  const script = join(p.peers, 'cases', 'make_cases.py');
  if (!existsSync(truthFile) || !existsSync(join(dir, 'BrainPD_Border20_BSplineDisplacements1.mha')) || !existsSync(join(dir, 'ch2bet_d2_affine_nonrigid.nii.gz'))) {
    if (!existsSync(script)) {
      skipped.push(`${script} is absent`);
      return out;
    }
    console.error('bench: generating the shared cases (make_cases.py, once; cached under bench/cache/cases) …');
    const r = spawnPython([script, dir, p.data]);
    if (r) {
      skipped.push(r);
      return out;
    }
  }
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as { affine_3d: { A: number[][]; b: number[] }; bumps_3d: unknown };
  const coefficients = join(p.data, 'itk', 'BSplineDisplacements1.txt');
  if (existsSync(coefficients)) {
    out.push({
      id: '2d',
      name: '2D B-spline (Border20 warped by BSplineDisplacements1)',
      dimension: 2,
      fixed: join(dir, 'BrainPD_Border20_BSplineDisplacements1.mha'),
      moving: join(p.data, 'itk', 'BrainProtonDensitySliceBorder20.png'),
      foreground: 20,
      gt: itkBSpline2d(readFileSync(coefficients, 'utf8'), coefficients),
      coreg: [
        { stages: 'affine,bspline', metric: 'mse', target: 0.03, versus: ['elastix', 'DIPY'] },
        { stages: 'affine,syn', metric: 'mse,lncc', target: 0.171, versus: ['DIPY'] },
        { stages: 'affine,syn', metric: 'mse,mse', target: 0.171, versus: ['DIPY'] },
      ],
      elastixParams: ['2d_affine_ms.txt', '2d_bspline_ms.txt'],
      dipy: dipy !== 'off',
      checkFolding: true,
    });
  } else skipped.push(`${coefficients} is absent`);
  const ch2bet = join(p.data, 'mni', 'ch2bet.nii.gz');
  if (existsSync(ch2bet)) {
    out.push({
      id: 'd2',
      name: '3D d2 (ch2bet, affine + bumps ≤ 5.2 mm)',
      dimension: 3,
      fixed: ch2bet,
      moving: join(dir, 'ch2bet_d2_affine_nonrigid.nii.gz'),
      foreground: 0,
      gt: affineWithBumps(affineFromRows(truth.affine_3d.A, truth.affine_3d.b), bumpsFromJson(truth.bumps_3d)),
      coreg: [
        { stages: 'affine,bspline', metric: 'mi', target: 0.08, versus: ['elastix'] },
        { stages: 'rigid,affine,syn', metric: 'mi,mi,lncc', target: 0.12, versus: ['DIPY'], maxRssMB: 1536 },
      ],
      elastixParams: ['3d_affine_mi.txt', '3d_bspline_mi.txt'],
      dipy: dipy === 'all',
      checkFolding: true,
    });
  } else skipped.push(`${ch2bet} is absent`);
  return out;
}

const RANDOM_STAGES = 'affine,bspline affine,syn';
const randomCaseName = (seed: number): string => `nr_${seed} (ch2bet, random affine + bumps ≤ 6 mm, noise)`;

/** Whether a case (its name and coreg's stage lists) passes --filter. */
function selected(name: string, stages: string, filter: string | undefined): boolean {
  return !filter || `${name} ${stages}`.toLowerCase().includes(filter);
}

/**
 * The random 3D cases nr_<seed> that pass `filter`: ch2bet against bench/make-nonrigid-cases.py's moving images
 * (generated for missing seeds, cached in bench/cache/nonrigid3d), judged by the absolute targets in docs/bench.md.
 */
export function randomCases(p: BenchPaths, seeds: readonly number[], filter: string | undefined, skipped: string[]): NonrigidCase[] {
  const wanted = seeds.filter((s) => selected(randomCaseName(s), RANDOM_STAGES, filter));
  if (wanted.length === 0) return [];
  const ch2bet = join(p.data, 'mni', 'ch2bet.nii.gz');
  if (!existsSync(ch2bet)) {
    skipped.push(`${ch2bet} is absent`);
    return [];
  }
  const dir = join(p.cache, 'nonrigid3d');
  const missing = wanted.filter((s) => !existsSync(join(dir, `nr_${s}.nii.gz`)) || !existsSync(join(dir, `nr_${s}.json`)));
  if (missing.length > 0) {
    console.error(`bench: generating the random non-rigid cases nr_${missing.join(', nr_')} (about 40 s each, once; cached under bench/cache/nonrigid3d) …`);
    const r = spawnPython([join(p.repoRoot, 'bench', 'make-nonrigid-cases.py'), ch2bet, dir, ...missing.map(String)]);
    if (r) {
      skipped.push(`${r} (needs Debian's python3-numpy, python3-scipy, python3-nibabel)`);
      return [];
    }
  }
  return wanted.map((seed) => {
    const file = join(dir, `nr_${seed}.json`);
    const truth = randomNonrigidTruth(readFileSync(file, 'utf8'), file);
    return {
      id: `nr_${seed}`,
      name: randomCaseName(seed),
      dimension: 3,
      fixed: ch2bet,
      moving: join(dir, `nr_${seed}.nii.gz`),
      foreground: 0,
      gt: truth.gt,
      coreg: [
        { stages: 'affine,bspline', metric: 'mi', target: 0.08, versus: [] },
        { stages: 'affine,syn', metric: 'mi,lncc', target: 0.12, versus: [], maxRssMB: 1536 },
      ],
      elastixParams: ['3d_affine_mi.txt', '3d_bspline_mi.txt'],
      dipy: false,
      checkFolding: true,
    };
  });
}

/** Runs Debian's python on a generator script; a reason on failure. */
function spawnPython(args: string[]): string | undefined {
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `/usr/bin/python3 ${args[0]} failed: ${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || `exit ${r.status}`}`;
  return undefined;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const fmt = (t?: Tre): string => (t ? `${t.mean.toFixed(3)} / ${t.max.toFixed(3)}` : '—');

/** Runs every non-rigid case; returns the rows (peers first, then coreg's judged settings) and notes. */
export function runNonrigid(o: NonrigidOptions): { rows: NonrigidRow[]; notes: string[]; baseline: { case: string; tre: Tre }[] } {
  const notes: string[] = [];
  const skipped: string[] = [];
  const shared = sharedCases(o.paths, o.dipy, skipped).filter((c) => selected(c.name, c.coreg.map((s) => s.stages).join(' '), o.filter));
  const list = [...shared, ...randomCases(o.paths, o.seeds, o.filter, skipped)];
  for (const s of skipped) notes.push(`non-rigid case skipped: ${s}`);
  const dipy = o.dipy !== 'off' ? dipyVersion() : undefined;
  if (o.dipy !== 'off' && !dipy) notes.push(`DIPY not run: ${DIPY_INSTALL_HINT}`);
  if (o.dipy !== 'all') notes.push('DIPY 3D SyN not run (about 11 minutes; add --dipy)');
  const rows: NonrigidRow[] = [];
  const baseline: { case: string; tre: Tre }[] = [];
  for (const c of list) {
    const fixed = readImageFile(c.fixed);
    const points = foregroundPoints(fixed, c.foreground);
    baseline.push({ case: c.name, tre: displacementStats(points, c.dimension, c.gt) });
    const peers = new Map<string, number>();
    if (o.elastix) {
      const setting = `${c.elastixParams.map((f) => f.replace(/\.txt$/, '')).join(' + ')}`;
      console.error(`bench: ${c.name} | elastix ${setting}`);
      try {
        const parameters = c.elastixParams.map((f) => readFileSync(join(o.paths.peers, 'elastix-params', f), 'utf8'));
        const e = runElastixChain({ fixed: c.fixed, moving: c.moving, parameters, threads: o.threads, cacheDir: o.paths.cache, version: o.elastix });
        const field = elastixDeformationField(e);
        const tre = mapTre(points, c.dimension, chainMap([new DisplacementFieldTransform(readImageFile(field), field)]), c.gt);
        peers.set('elastix', tre.mean);
        rows.push({ case: c.name, tool: 'elastix', setting, tre, seconds: e.seconds, peakRssMB: e.peakRssMB, cached: e.cached, pass: null, verdict: 'peer' });
      } catch (e) {
        rows.push({ case: c.name, tool: 'elastix', setting, missing: `error: ${(e as Error).message}`, pass: null, verdict: 'peer' });
      }
    } else rows.push({ case: c.name, tool: 'elastix', setting: c.elastixParams.join(' + '), missing: o.elastixMissing ?? 'not run', pass: null, verdict: 'peer' });
    if (c.dipy && dipy) {
      console.error(`bench: ${c.name} | DIPY affine + SyN (CC)`);
      try {
        const d = runDipySyn({ fixed: c.fixed, moving: c.moving, script: join(o.paths.repoRoot, 'bench', 'dipy-syn.py'), cacheDir: o.paths.cache, version: dipy });
        const tre = mapTre(points, c.dimension, chainMap([new DisplacementFieldTransform(readImageFile(d.field), d.field)]), c.gt);
        peers.set('DIPY', tre.mean);
        rows.push({ case: c.name, tool: 'DIPY', setting: 'affine (MI) + SyN (CC), 1 thread', tre, seconds: d.seconds, peakRssMB: d.peakRssMB, cached: d.cached, pass: null, verdict: 'peer' });
      } catch (e) {
        rows.push({ case: c.name, tool: 'DIPY', setting: 'affine + SyN', missing: `error: ${(e as Error).message}`, pass: null, verdict: 'peer' });
      }
    }
    for (const s of c.coreg) {
      const setting = `${s.stages} (${s.metric})`;
      const versus = s.versus.filter((n) => peers.has(n)).map((n) => ({ name: n, mean: peers.get(n) as number }));
      const ruleText = [`≤ ${s.target} mm`, ...versus.map((v) => `≤ ${v.name} + ${PEER_MARGIN}`), ...(c.checkFolding ? ['0 folded'] : []), ...(s.maxRssMB ? [`RSS ≤ ${s.maxRssMB} MB`] : [])].join(', ');
      const rule = { target: s.target, peers: versus, margin: PEER_MARGIN, maxFolded: c.checkFolding ? 0 : undefined, maxRssMB: s.maxRssMB };
      const row: NonrigidRow = { case: c.name, tool: 'coreg', setting, rule: ruleText, pass: null, verdict: '' };
      let failed = false;
      if (o.coregBin) {
        console.error(`bench: ${c.name} | coreg ${setting}`);
        const outDir = join(o.outDir, 'runs', slug(`nonrigid-${c.id}-${s.stages}-${s.metric}`));
        try {
          const r = runCoregChain({ coregBin: o.coregBin, fixed: c.fixed, moving: c.moving, stages: s.stages, metric: s.metric, threads: o.threads, seed: 1, outDir });
          Object.assign(row, { tre: mapTre(points, c.dimension, chainMap(r.chain), c.gt), seconds: r.seconds, peakRssMB: r.peakRssMB, iterations: r.iterations, warnings: r.warnings });
          if (c.checkFolding) {
            const j = coregJacobian(o.coregBin, outDir, c.fixed);
            row.folded = j.foldedCount;
            row.minJacobian = j.min;
          }
        } catch (e) {
          failed = true;
          row.missing = `error: ${(e as Error).message}`;
        }
      } else row.missing = 'not run';
      Object.assign(row, judgeNonrigid(row, rule, failed));
      console.error(`bench:     ${fmt(row.tre)} mm${row.seconds !== undefined ? ` in ${row.seconds.toFixed(1)} s` : ''}${row.folded !== undefined ? `, ${row.folded} folded` : ''}: ${row.verdict}`);
      rows.push(row);
    }
  }
  return { rows, notes, baseline };
}

const sec = (s?: number): string => (s === undefined ? '—' : s < 10 ? s.toFixed(2) : s.toFixed(1));

export function nonrigidTable(rows: NonrigidRow[], baseline: { case: string; tre: Tre }[]): string {
  const head = ['case', 'tool', 'transform (metric)', 'TRE mean / max (mm)', 'time (s)', 'peak RSS (MB)', 'folded voxels (min det J)', 'target', 'pass'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const b of baseline) lines.push(`| ${b.case} | (no registration) | identity | ${fmt(b.tre)} | — | — | — | — | — |`);
  for (const r of rows) {
    lines.push(
      `| ${[
        r.case,
        r.tool,
        r.setting,
        r.tre ? fmt(r.tre) : (r.missing ?? '—'),
        r.seconds !== undefined ? sec(r.seconds) + (r.cached ? '*' : '') : '—',
        r.peakRssMB !== undefined ? String(Math.round(r.peakRssMB)) : '—',
        r.folded !== undefined ? `${r.folded} (${(r.minJacobian ?? NaN).toFixed(3)})` : '—',
        r.rule ?? '—',
        r.verdict,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
