// Atlas segmentation (issue 6): make_atlas_cases.py's six subjects (2 mm, AAL labels), atlases 1–5 → target 6.
// coreg segment with each fusion, affine-only, and --select K, beside elastix (affine + B-spline per atlas,
// labels warped by transformix with order-0 interpolation, majority vote here); mean Dice over the target's labels.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../../src/image/image.js';
import { readImageFile } from '../../src/io/node.js';
import type { BenchPaths } from '../lib/cases.js';
import { elastixWarpLabels, runElastixChain } from '../lib/elastix-chain.js';
import { diceScores, majorityVote } from '../lib/labels.js';
import { runTimed } from '../lib/process.js';

export interface AtlasOptions {
  paths: BenchPaths;
  outDir: string;
  coregBin?: string;
  elastix?: string;
  elastixMissing?: string;
  threads: number;
  /** --select K runs for these K (default 1…5). */
  selectK: number[];
}

export interface AtlasRow {
  group: 'no registration' | 'single atlas' | 'fusion' | 'selection';
  tool: 'coreg' | 'elastix' | '—';
  method: string;
  dice?: number;
  seconds?: number;
  peakRssMB?: number;
  cached?: boolean;
  missing?: string;
}

export interface AtlasJudgement {
  check: string;
  pass: boolean | null;
  detail: string;
}

/** elastix's published majority-vote Dice on this set (shared/peers/README.md), used when elastix is absent. */
export const ELASTIX_PUBLISHED_MAJORITY = 0.894;
const ATLASES = [1, 2, 3, 4, 5];
const TARGET = 6;

function ensureCases(p: BenchPaths): { dir: string } | string {
  const dir = join(p.cache, 'atlas', 'cases');
  const want = [...ATLASES, TARGET].flatMap((s) => [`subj${s}_t1.nii.gz`, `subj${s}_aal.nii.gz`]);
  if (want.every((f) => existsSync(join(dir, f)))) return { dir };
  const script = join(p.peers, 'cases', 'make_atlas_cases.py');
  if (!existsSync(script)) return `${script} is absent`;
  if (!existsSync(join(p.data, 'mni', 'aal.nii.gz'))) return `${join(p.data, 'mni', 'aal.nii.gz')} is absent`;
  console.error('bench: generating the atlas set (make_atlas_cases.py, once; cached under bench/cache/atlas) …');
  const r = spawnSync('/usr/bin/python3', [script, dir, p.data], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `/usr/bin/python3 ${script} failed: ${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || `exit ${r.status}`}`;
  return { dir };
}

interface SegmentJob {
  fusion: string;
  select?: number;
  transform?: string;
  keepWarped?: string;
}

/** Runs AAL atlas segmentation; returns the rows, the checks against the targets, and notes. */
export function runAtlas(o: AtlasOptions): { rows: AtlasRow[]; checks: AtlasJudgement[]; notes: string[] } {
  const notes: string[] = [];
  const rows: AtlasRow[] = [];
  const cases = ensureCases(o.paths);
  if (typeof cases === 'string') return { rows, checks: [], notes: [`atlas suite skipped: ${cases}`] };
  const f = (s: number, kind: 't1' | 'aal'): string => join(cases.dir, `subj${s}_${kind}.nii.gz`);
  const truth = readImageFile(f(TARGET, 'aal'));
  const dice = (labels: ArrayLike<number>): number => diceScores(labels, truth.data).mean;

  // Without registration (all subjects share one grid): the floor every method must clear.
  const raw: Image[] = ATLASES.map((s) => readImageFile(f(s, 'aal')));
  raw.forEach((img, i) => rows.push({ group: 'no registration', tool: '—', method: `atlas ${ATLASES[i]} as is`, dice: dice(img.data) }));
  rows.push({ group: 'no registration', tool: '—', method: 'majority of the unregistered atlases', dice: dice(majorityVote(raw)) });

  let elastixMajority: number | undefined;
  if (o.elastix) {
    const parameters = ['atlas_affine_mi.txt', 'atlas_bspline_mi.txt'].map((n) => readFileSync(join(o.paths.peers, 'elastix-params', n), 'utf8'));
    const warped: Image[] = [];
    let seconds = 0;
    let peak = 0;
    let allCached = true;
    try {
      for (const s of ATLASES) {
        console.error(`bench: atlas | elastix atlas ${s} → target`);
        const e = runElastixChain({ fixed: f(TARGET, 't1'), moving: f(s, 't1'), parameters, threads: o.threads, cacheDir: o.paths.cache, version: o.elastix });
        const l = elastixWarpLabels(e, f(s, 'aal'));
        const img = readImageFile(l.file);
        warped.push(img);
        seconds += e.seconds + l.seconds;
        peak = Math.max(peak, e.peakRssMB ?? 0);
        allCached &&= e.cached;
        rows.push({ group: 'single atlas', tool: 'elastix', method: `atlas ${s} (affine + B-spline, MI)`, dice: dice(img.data), seconds: e.seconds + l.seconds, peakRssMB: e.peakRssMB, cached: e.cached });
      }
      const t = performance.now();
      const vote = majorityVote(warped);
      seconds += (performance.now() - t) / 1000;
      elastixMajority = dice(vote);
      rows.push({ group: 'fusion', tool: 'elastix', method: 'majority (5 × elastix + transformix, vote in TS)', dice: elastixMajority, seconds, peakRssMB: peak || undefined, cached: allCached });
    } catch (e) {
      rows.push({ group: 'fusion', tool: 'elastix', method: 'majority', missing: `error: ${(e as Error).message}` });
    }
  } else rows.push({ group: 'fusion', tool: 'elastix', method: 'majority', missing: o.elastixMissing ?? 'not run' });

  const results = new Map<string, number>();
  let bestSingle: number | undefined;
  if (o.coregBin) {
    const coregBin = o.coregBin;
    const runDir = join(o.outDir, 'runs', 'atlas');
    mkdirSync(runDir, { recursive: true });
    const segment = (job: SegmentJob, group: AtlasRow['group'], method: string): number | undefined => {
      const name = `${job.transform ?? 'default'}-${job.fusion}${job.select ? `-select${job.select}` : ''}`.replace(/[^a-z0-9-]+/gi, '-');
      const out = join(runDir, `${name}.nii.gz`);
      const args = [coregBin, 'segment', '--target', f(TARGET, 't1'), ...ATLASES.flatMap((s) => ['--atlas', `${f(s, 't1')},${f(s, 'aal')}`]), '--out', out, '--fusion', job.fusion, '--report', join(runDir, `${name}.json`), '--quiet'];
      if (job.select) args.push('--select', String(job.select));
      if (job.transform) args.push('--transform', job.transform);
      if (job.keepWarped) {
        rmSync(job.keepWarped, { recursive: true, force: true });
        args.push('--keep-warped', job.keepWarped);
      }
      console.error(`bench: atlas | coreg segment ${method}`);
      rmSync(out, { force: true });
      const r = runTimed(process.execPath, args);
      if (r.status !== 0 || !existsSync(out)) {
        const line = (r.stderr.trim().split('\n').find((l) => l.startsWith('coreg: error')) ?? r.stderr.trim().split('\n').pop()) || `exit status ${r.status}`;
        rows.push({ group, tool: 'coreg', method, missing: `error: coreg failed: ${line}` });
        return undefined;
      }
      const d = dice(readImageFile(out).data);
      rows.push({ group, tool: 'coreg', method, dice: d, seconds: r.seconds, peakRssMB: r.peakRssMB });
      console.error(`bench:     Dice ${d.toFixed(4)} in ${r.seconds.toFixed(1)} s`);
      return d;
    };
    const warpedDir = join(runDir, 'warped');
    for (const fusion of ['majority', 'weighted', 'staple', 'jlf']) {
      const d = segment({ fusion, keepWarped: fusion === 'majority' ? warpedDir : undefined }, 'fusion', `${fusion} (affine,bspline)`);
      if (d !== undefined) results.set(fusion, d);
    }
    // Each atlas alone, as the majority run warped it (its --keep-warped labels).
    if (existsSync(warpedDir)) {
      const files = readdirSync(warpedDir).filter((n) => /_labels\.nii(\.gz)?$/.test(n)).sort();
      for (const n of files) {
        const d = dice(readImageFile(join(warpedDir, n)).data);
        bestSingle = Math.max(bestSingle ?? -Infinity, d);
        rows.push({ group: 'single atlas', tool: 'coreg', method: `${n.replace(/_labels\.nii(\.gz)?$/, '')} (affine,bspline, MI)`, dice: d });
      }
    }
    const affineOnly = segment({ fusion: 'majority', transform: 'affine' }, 'fusion', 'majority (affine only)');
    if (affineOnly !== undefined) results.set('affine majority', affineOnly);
    for (const k of o.selectK) segment({ fusion: 'majority', select: k }, 'selection', `--select ${k}, majority (affine,bspline)`);
  } else rows.push({ group: 'fusion', tool: 'coreg', method: 'segment', missing: 'not run' });

  const checks: AtlasJudgement[] = [];
  const majority = results.get('majority');
  const jlf = results.get('jlf');
  const peerMajority = elastixMajority ?? ELASTIX_PUBLISHED_MAJORITY;
  const peerName = elastixMajority !== undefined ? 'elastix majority (measured)' : 'elastix majority (published)';
  const check = (name: string, a: number | undefined, b: number | undefined, strict: boolean, what: string): void => {
    if (a === undefined || b === undefined) checks.push({ check: name, pass: null, detail: 'not run' });
    else checks.push({ check: name, pass: strict ? a > b : a >= b, detail: `${a.toFixed(4)} ${strict ? '>' : '≥'} ${b.toFixed(4)} (${what})` });
  };
  check('coreg majority ≥ elastix majority', majority, peerMajority, false, peerName);
  check('coreg JLF > coreg majority', jlf, majority, true, 'coreg majority');
  check('coreg JLF > best single atlas', jlf, bestSingle, true, 'best coreg single atlas');
  return { rows, checks, notes };
}

export function atlasTable(rows: AtlasRow[], checks: AtlasJudgement[]): string {
  const head = ['group', 'tool', 'method', 'mean Dice', 'time (s)', 'peak RSS (MB)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${[
        r.group,
        r.tool,
        r.method,
        r.dice !== undefined ? r.dice.toFixed(4) : (r.missing ?? '—'),
        r.seconds !== undefined ? r.seconds.toFixed(1) + (r.cached ? '*' : '') : '—',
        r.peakRssMB !== undefined ? String(Math.round(r.peakRssMB)) : '—',
      ].join(' | ')} |`,
    );
  }
  lines.push('', '| check | result | pass |', '|---|---|---|');
  for (const c of checks) lines.push(`| ${c.check} | ${c.detail} | ${c.pass === null ? 'not judged' : c.pass ? 'pass' : '**FAIL**'} |`);
  return lines.join('\n');
}
