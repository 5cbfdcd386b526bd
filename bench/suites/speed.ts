// Speed and memory (issue 13): whole-process wall time, peak RSS and accuracy of coreg beside elastix (2 threads)
// and plastimatch (OpenMP) on the bench's cases, coreg's 1 → 2 thread scaling, how time and memory grow with the
// image (64³ … a 512×512×300 CT) and `coreg --version`'s start-up. Every time is the median of `repeat` runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageFile, writeImageFileAsync } from '../../src/io/node.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { affineFromRows, foregroundPoints, type Tre } from '../lib/affine.js';
import type { BenchPaths } from '../lib/cases.js';
import { runCoregChain } from '../lib/coreg.js';
import { elastixDeformationField, elastixWarpLabels, runElastixChain } from '../lib/elastix-chain.js';
import { diceScores, majorityVote } from '../lib/labels.js';
import type { Image } from '../../src/image/image.js';
import { affineWithBumps, bumpsFromJson, chainMap, mapTre, type PointMap } from '../lib/nonrigid.js';
import { PLASTIMATCH_INSTALL_HINT, plastimatchStages, plastimatchVersion, runPlastimatch } from '../lib/plastimatch.js';
import { median, runTimed } from '../lib/process.js';

export interface SpeedOptions {
  paths: BenchPaths;
  outDir: string;
  /** undefined when coreg cannot run here. */
  coregBin?: string;
  elastix?: string;
  elastixMissing?: string;
  /** Skip plastimatch (--no-peers). */
  noPeers: boolean;
  /** Runs per tool and case (medians); ≥ 1. */
  repeat: number;
  /** coreg's and the peers' thread count (the scaling column compares it with 1). */
  threads: number;
  filter?: string;
  /** The size table (64³ … the 512²×300 CT); the CT alone takes minutes per run. */
  sizes: boolean;
}

/** One tool on one case: medians over the runs. */
export interface Timing {
  seconds?: number;
  runs?: number[];
  peakRssMB?: number;
  /** coreg: the registration's own time from result.json (median). */
  registrationSeconds?: number;
  /**
   * coreg: cores its runs kept busy, the median of CPU ÷ wall time: the registration's (result.json "cpuSeconds" ÷
   * "seconds") where it reports one, else the whole process's. V8's compiler and collector threads count too.
   */
  coresBusy?: number;
  /** coreg: reading both inputs and writing warped + inverse-warped .nii.gz, measured in-process (median of 3). */
  ioSeconds?: number;
  tre?: Tre;
  dice?: number;
  cached?: boolean;
  missing?: string;
}

export interface SpeedRow {
  case: string;
  metric: string;
  coreg: Timing;
  /** coreg on 1 thread (the scaling column). */
  coreg1: Timing;
  elastix?: Timing;
  /** elastix on 1 thread (the machine's scaling for a C++ peer; the 3D affine case only). */
  elastix1?: Timing;
  plastimatch?: Timing;
}

export interface SizeRow {
  size: string;
  voxels: number;
  stages: string;
  coreg: Timing;
}

export interface SpeedResult {
  rows: SpeedRow[];
  sizes: SizeRow[];
  /** `coreg --version`, and bare `node -e 0` (what Node alone costs on this machine) run alternately with it. */
  startup?: { medianMs: number; runs: number[]; nodeMedianMs: number; nodeRuns: number[] };
  /** What a second thread gives on this machine (bench/kernels/machine-scaling.c): 2·t(1 thread) ÷ t(2 threads) per round. */
  machine?: { compute: number[]; pages: number[] };
  notes: string[];
}

interface SpeedCase {
  name: string;
  metric: 'mse' | 'mi';
  fixed: string;
  moving: string;
  stages: string;
  foreground: number;
  gt: PointMap;
  elastixParams?: string[];
  /** elastix's metric instead of the parameter files' (e.g. AdvancedMeanSquares: MSE beside MSE). */
  elastixMetric?: string;
  /** elastix on 1 thread too (its own 1 → N scaling on this machine). */
  elastixScaling?: boolean;
  plastimatch?: 'mse' | 'mi';
}

interface ResultJson {
  seconds?: number;
  cpuSeconds?: number;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** What one timed run of coreg gives: its wall time and peak RSS, and what it reports of itself. */
interface RunOutcome {
  seconds: number;
  peakRssMB?: number;
  /** The registration's own time (result.json "seconds", segment: its report's timings.totalSeconds). */
  registrationSeconds?: number;
  /** CPU ÷ wall time (see Timing.coresBusy). */
  coresBusy?: number;
  tre?: Tre;
  dice?: number;
}

/** The thread counts coreg is timed on: the bench's, then 1 (for the scaling column). */
const threadCounts = (o: SpeedOptions): number[] => (o.threads === 1 ? [1] : [o.threads, 1]);

/**
 * `run` for `repeat` rounds, each round once on every thread count of `counts` in turn: per thread count, the median
 * wall time and registration time, the largest peak RSS, and the last run's TRE or Dice. The counts alternate so that
 * a machine whose speed drifts during the bench (a shared host) weighs on both sides of the 1 → N thread ratio alike,
 * instead of on all of one count's runs. A count whose run throws is reported missing and not run again.
 */
function alternateThreadCounts(repeat: number, counts: readonly number[], run: (threads: number, k: number) => RunOutcome): Map<number, Timing> {
  const acc = counts.map((threads) => ({ threads, runs: [] as number[], reg: [] as number[], cores: [] as number[], peak: 0, last: undefined as RunOutcome | undefined, failed: undefined as string | undefined }));
  for (let k = 0; k < repeat; k++) {
    for (const a of acc) {
      if (a.failed) continue;
      try {
        const r = run(a.threads, k);
        a.runs.push(r.seconds);
        a.peak = Math.max(a.peak, r.peakRssMB ?? 0);
        if (r.registrationSeconds !== undefined) a.reg.push(r.registrationSeconds);
        if (r.coresBusy !== undefined) a.cores.push(r.coresBusy);
        a.last = r;
      } catch (e) {
        a.failed = `error: ${(e as Error).message}`;
      }
    }
  }
  const out = new Map<number, Timing>();
  for (const a of acc) {
    out.set(
      a.threads,
      a.failed ? { missing: a.failed } : { seconds: median(a.runs), runs: a.runs, peakRssMB: a.peak || undefined, registrationSeconds: a.reg.length ? median(a.reg) : undefined, coresBusy: a.cores.length ? median(a.cores) : undefined, tre: a.last?.tre, dice: a.last?.dice },
    );
  }
  return out;
}

/**
 * coreg register on each of `counts` threads, alternately (alternateThreadCounts), TRE from the last run, with the
 * run's .nii.gz I/O measured after (ioSeconds).
 */
async function timeCoreg(o: SpeedOptions, c: { fixed: string; moving: string; stages: string; metric: string }, counts: number[], id: string, points?: Float64Array, gt?: PointMap, label?: string): Promise<Map<number, Timing>> {
  const outDir = (threads: number): string => join(o.outDir, 'runs', 'speed', slug(`${id}-${threads}t`));
  const timings = alternateThreadCounts(o.repeat, counts, (threads, k) => {
    if (label) console.error(`bench: speed | ${label}, ${threads} thread(s), run ${k + 1}/${o.repeat}`);
    const r = runCoregChain({ coregBin: o.coregBin!, fixed: c.fixed, moving: c.moving, stages: c.stages, metric: c.metric, threads, seed: 1, outDir: outDir(threads) });
    const j = JSON.parse(readFileSync(join(outDir(threads), 'result.json'), 'utf8')) as ResultJson;
    const tre = k === o.repeat - 1 && points && gt ? mapTre(points, r.chain[0].dimension, chainMap(r.chain), gt) : undefined;
    const coresBusy = typeof j.cpuSeconds === 'number' && typeof j.seconds === 'number' && j.seconds > 0 ? j.cpuSeconds / j.seconds : r.cpuSeconds !== undefined ? r.cpuSeconds / r.seconds : undefined;
    return { seconds: r.seconds, peakRssMB: r.peakRssMB, registrationSeconds: typeof j.seconds === 'number' ? j.seconds : undefined, coresBusy, tre };
  });
  for (const [threads, t] of timings) {
    if (t.missing) continue;
    try {
      t.ioSeconds = await ioSeconds(c.fixed, c.moving, outDir(threads));
    } catch (e) {
      timings.set(threads, { missing: `error: ${(e as Error).message}` });
    }
  }
  return timings;
}

/**
 * What the run's .nii.gz input and output cost (the part of the whole-process time that is file I/O): reading the
 * two inputs and writing its warped.nii.gz and inverse-warped.nii.gz (read back, written again) as coreg register
 * does (compressed in pieces on libuv's threads: writeImageFileAsync), one after the other, median of 3.
 */
async function ioSeconds(fixed: string, moving: string, outDir: string): Promise<number | undefined> {
  const outputs = ['warped.nii.gz', 'inverse-warped.nii.gz'].map((n) => join(outDir, n)).filter((f) => existsSync(f));
  if (!fixed.endsWith('.nii.gz') || !moving.endsWith('.nii.gz') || outputs.length === 0) return undefined;
  const images = outputs.map((f) => readImageFile(f));
  const tmp = join(outDir, 'io-check.nii.gz');
  const runs: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    readImageFile(fixed);
    readImageFile(moving);
    for (const img of images) await writeImageFileAsync(tmp, img);
    runs.push((performance.now() - t) / 1000);
  }
  rmSync(tmp, { force: true });
  return median(runs);
}

function cases(o: SpeedOptions, notes: string[]): SpeedCase[] {
  const p = o.paths;
  const out: SpeedCase[] = [];
  const itk = join(p.data, 'itk');
  const truth2d = join(p.peers, 'cases', 'gt_itk2d.json');
  if (existsSync(itk) && existsSync(truth2d)) {
    const t = (JSON.parse(readFileSync(truth2d, 'utf8')) as Record<string, { fitted_A: number[][]; fitted_b: number[] }>).BrainProtonDensitySliceR10X13Y17S12;
    const A = affineFromRows(t.fitted_A, t.fitted_b);
    out.push({
      name: '2D affine R10X13Y17S12',
      metric: 'mse',
      fixed: join(itk, 'BrainProtonDensitySliceBorder20.png'),
      moving: join(itk, 'BrainProtonDensitySliceR10X13Y17S12.png'),
      stages: 'affine',
      foreground: 20,
      gt: (x, y) => {
        y[0] = A.A[0] * x[0] + A.A[1] * x[1] + A.b[0];
        y[1] = A.A[2] * x[0] + A.A[3] * x[1] + A.b[1];
      },
      elastixParams: ['2d_affine_ms.txt'],
    });
  } else notes.push(`2D case skipped: ${existsSync(itk) ? truth2d : itk} is absent`);

  const ch2bet = join(p.data, 'mni', 'ch2bet.nii.gz');
  const dir = join(p.cache, 'cases');
  const gtFile = join(dir, 'cases_gt.json');
  const script = join(p.peers, 'cases', 'make_cases.py');
  if (!existsSync(ch2bet)) notes.push(`3D cases skipped: ${ch2bet} is absent`);
  else {
    if (!existsSync(gtFile) || !existsSync(join(dir, 'ch2bet_d1_affine.nii.gz')) || !existsSync(join(dir, 'ch2bet_d2_affine_nonrigid.nii.gz'))) {
      console.error('bench: generating the shared cases (make_cases.py, once; cached under bench/cache/cases) …');
      const r = spawnSync('/usr/bin/python3', [script, dir, p.data], { encoding: 'utf8' });
      if (r.error || r.status !== 0) notes.push(`3D cases skipped: /usr/bin/python3 ${script} failed (needs Debian's python3-numpy, python3-scipy, python3-nibabel)`);
    }
    if (existsSync(gtFile)) {
      const gt = JSON.parse(readFileSync(gtFile, 'utf8')) as { affine_3d: { A: number[][]; b: number[] }; bumps_3d: unknown };
      const affine = affineFromRows(gt.affine_3d.A, gt.affine_3d.b);
      const d2 = { fixed: ch2bet, moving: join(dir, 'ch2bet_d2_affine_nonrigid.nii.gz'), stages: 'affine,bspline', foreground: 0, gt: affineWithBumps(affine, bumpsFromJson(gt.bumps_3d)) };
      out.push({ name: '3D affine (ch2bet d1)', metric: 'mi', fixed: ch2bet, moving: join(dir, 'ch2bet_d1_affine.nii.gz'), stages: 'affine', foreground: 0, gt: affineWithBumps(affine, []), elastixParams: ['3d_affine_mi.txt'], elastixScaling: true });
      out.push({ name: '3D affine + B-spline (ch2bet d2)', metric: 'mi', ...d2, elastixParams: ['3d_affine_mi.txt', '3d_bspline_mi.txt'] });
      // MSE beside MSE: plastimatch, and elastix with the MI row's parameter files on AdvancedMeanSquares.
      out.push({ name: '3D affine + B-spline (ch2bet d2)', metric: 'mse', ...d2, plastimatch: 'mse', elastixParams: ['3d_affine_mi.txt', '3d_bspline_mi.txt'], elastixMetric: 'AdvancedMeanSquares' });
    }
  }
  const f = o.filter?.toLowerCase();
  return f ? out.filter((c) => `${c.name} ${c.metric}`.toLowerCase().includes(f)) : out;
}

/** The peers on one case. */
function peers(o: SpeedOptions, c: SpeedCase, points: Float64Array, plastimatch: string | undefined, plastimatchMissing: string | undefined): Pick<SpeedRow, 'elastix' | 'elastix1' | 'plastimatch'> {
  const row: Pick<SpeedRow, 'elastix' | 'elastix1' | 'plastimatch'> = {};
  const d = c.fixed.endsWith('.png') ? 2 : 3;
  const fieldTre = (file: string): Tre => mapTre(points, d, chainMap([new DisplacementFieldTransform(readImageFile(file), file)]), c.gt);
  if (c.elastixParams) {
    if (!o.elastix) row.elastix = { missing: o.elastixMissing ?? 'not run' };
    else {
      try {
        console.error(`bench: speed | ${c.name} | elastix`);
        const parameters = c.elastixParams
          .map((n) => readFileSync(join(o.paths.peers, 'elastix-params', n), 'utf8'))
          .map((text) => (c.elastixMetric ? text.replace(/^\(Metric "[^"]*"\)/m, `(Metric "${c.elastixMetric}")`) : text));
        const e = runElastixChain({ fixed: c.fixed, moving: c.moving, parameters, threads: o.threads, cacheDir: o.paths.cache, version: o.elastix, repeat: o.repeat });
        row.elastix = { seconds: median(e.runs), runs: e.runs, peakRssMB: e.peakRssMB, cached: e.cached, tre: fieldTre(elastixDeformationField(e)) };
        if (c.elastixScaling && o.threads > 1) {
          console.error(`bench: speed | ${c.name} | elastix, 1 thread`);
          const e1 = runElastixChain({ fixed: c.fixed, moving: c.moving, parameters, threads: 1, cacheDir: o.paths.cache, version: o.elastix, repeat: o.repeat });
          row.elastix1 = { seconds: median(e1.runs), runs: e1.runs, peakRssMB: e1.peakRssMB, cached: e1.cached };
        }
      } catch (e) {
        row.elastix = { missing: `error: ${(e as Error).message}` };
      }
    }
  }
  if (c.plastimatch) {
    if (!plastimatch) row.plastimatch = { missing: plastimatchMissing ?? 'not run' };
    else {
      try {
        console.error(`bench: speed | ${c.name} | plastimatch`);
        const r = runPlastimatch({ fixed: c.fixed, moving: c.moving, stages: plastimatchStages(c.plastimatch), repeat: o.repeat, cacheDir: o.paths.cache, version: plastimatch, threads: o.threads });
        row.plastimatch = { seconds: median(r.seconds), runs: r.seconds, peakRssMB: r.peakRssMB, cached: r.cached, tre: fieldTre(r.field) };
      } catch (e) {
        row.plastimatch = { missing: `error: ${(e as Error).message}` };
      }
    }
  }
  return row;
}

/** 5 atlases → target 6 (majority vote, as the peers' figure): coreg segment beside the cached elastix chains. */
function atlasRow(o: SpeedOptions, notes: string[]): SpeedRow | undefined {
  const dir = join(o.paths.cache, 'atlas', 'cases');
  const file = (s: number, kind: 't1' | 'aal'): string => join(dir, `subj${s}_${kind}.nii.gz`);
  if (![1, 2, 3, 4, 5, 6].every((s) => existsSync(file(s, 't1')) && existsSync(file(s, 'aal')))) {
    const script = join(o.paths.peers, 'cases', 'make_atlas_cases.py');
    console.error('bench: generating the atlas set (make_atlas_cases.py, once; cached under bench/cache/atlas) …');
    const r = spawnSync('/usr/bin/python3', [script, dir, o.paths.data], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      notes.push(`5-atlas case skipped: /usr/bin/python3 ${script} failed`);
      return undefined;
    }
  }
  const atlases = [1, 2, 3, 4, 5];
  const truth = readImageFile(file(6, 'aal')).data;
  const row: SpeedRow = { case: '5-atlas segmentation (AAL, 2 mm, majority)', metric: 'mi', coreg: {}, coreg1: {} };
  if (o.elastix) {
    try {
      const parameters = ['atlas_affine_mi.txt', 'atlas_bspline_mi.txt'].map((n) => readFileSync(join(o.paths.peers, 'elastix-params', n), 'utf8'));
      // The elastix runs one after another, as the peers' figure (147 s) was taken; labels by transformix are not timed.
      const perRun: number[][] = [];
      let peak = 0;
      let cached = true;
      const warped: Image[] = [];
      for (const s of atlases) {
        console.error(`bench: speed | atlas | elastix atlas ${s}`);
        const e = runElastixChain({ fixed: file(6, 't1'), moving: file(s, 't1'), parameters, threads: o.threads, cacheDir: o.paths.cache, version: o.elastix, repeat: o.repeat });
        perRun.push(e.runs);
        peak = Math.max(peak, e.peakRssMB ?? 0);
        cached &&= e.cached;
        warped.push(readImageFile(elastixWarpLabels(e, file(s, 'aal')).file));
      }
      const totals = perRun[0].map((_, k) => perRun.reduce((a, r) => a + r[k], 0));
      row.elastix = { seconds: median(totals), runs: totals, peakRssMB: peak || undefined, cached, dice: diceScores(majorityVote(warped), truth).mean };
    } catch (e) {
      row.elastix = { missing: `error: ${(e as Error).message}` };
    }
  } else row.elastix = { missing: o.elastixMissing ?? 'not run' };
  if (o.coregBin) {
    // the thread counts alternate run by run (alternateThreadCounts)
    mkdirSync(join(o.outDir, 'runs', 'speed'), { recursive: true });
    const timings = alternateThreadCounts(o.repeat, threadCounts(o), (threads, k) => {
      const out = join(o.outDir, 'runs', 'speed', `atlas-${threads}t.nii.gz`);
      const report = join(o.outDir, 'runs', 'speed', `atlas-${threads}t.json`);
      console.error(`bench: speed | atlas | coreg segment, ${threads} thread(s), run ${k + 1}/${o.repeat}`);
      const args = [o.coregBin!, 'segment', '--target', file(6, 't1'), ...atlases.flatMap((s) => ['--atlas', `${file(s, 't1')},${file(s, 'aal')}`]), '--out', out, '--report', report, '--fusion', 'majority', '--threads', String(threads), '--quiet'];
      const r = runTimed(process.execPath, args);
      if (r.status !== 0) throw new Error(`coreg failed: ${r.stderr.trim().split('\n').pop()}`);
      const rep = JSON.parse(readFileSync(report, 'utf8')) as { timings?: { totalSeconds?: number } };
      const dice = diceScores(readImageFile(out).data as ArrayLike<number>, truth).mean;
      return { seconds: r.seconds, peakRssMB: r.peakRssMB, registrationSeconds: typeof rep.timings?.totalSeconds === 'number' ? rep.timings.totalSeconds : undefined, coresBusy: r.cpuSeconds !== undefined ? r.cpuSeconds / r.seconds : undefined, dice };
    });
    row.coreg = timings.get(o.threads)!;
    row.coreg1 = timings.get(1)!;
  } else row.coreg = { missing: 'not run' };
  return row;
}

/** The size table's cases (bench/make-size-cases.py; generated once into bench/cache/size). */
const SIZES = [
  { id: 'cube64', label: '64³ (ch2bet)', voxels: 64 ** 3 },
  { id: 'cube128', label: '128³ (ch2bet)', voxels: 128 ** 3 },
  { id: 'cube256', label: '256³ (ch2bet)', voxels: 256 ** 3 },
  { id: 'ct512', label: '512×512×300 CT (int16)', voxels: 512 * 512 * 300 },
];

async function sizeRows(o: SpeedOptions, notes: string[]): Promise<SizeRow[]> {
  const dir = join(o.paths.cache, 'size');
  const missing = SIZES.filter((s) => !existsSync(join(dir, `${s.id}.json`)));
  if (missing.length) {
    console.error(`bench: generating the size cases ${missing.map((s) => s.id).join(', ')} (once; the CT takes about a minute; cached under bench/cache/size) …`);
    const r = spawnSync('/usr/bin/python3', [join(o.paths.repoRoot, 'bench', 'make-size-cases.py'), join(o.paths.data, 'mni'), dir, ...missing.map((s) => s.id)], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      notes.push(`size table skipped: bench/make-size-cases.py failed (needs Debian's python3-numpy, python3-scipy, python3-nibabel): ${(r.stderr ?? '').trim().split('\n').pop()}`);
      return [];
    }
  }
  const rows: SizeRow[] = [];
  for (const s of SIZES) {
    const fixed = join(dir, `${s.id}_fixed.nii.gz`);
    const moving = join(dir, `${s.id}_moving.nii.gz`);
    const t = JSON.parse(readFileSync(join(dir, `${s.id}.json`), 'utf8')) as { A: number[][]; b: number[] };
    const gt = affineWithBumps(affineFromRows(t.A, t.b), []);
    // TRE over every 4th voxel of the head/brain (the CT: above −500 HU), enough for a mean.
    const f = readImageFile(fixed);
    const all = foregroundPoints(f, s.id === 'ct512' ? -500 : 0);
    const points = all.filter((_, i) => Math.floor(i / 3) % 4 === 0);
    for (const stages of ['affine', 'affine,bspline']) {
      console.error(`bench: speed | size ${s.label} | coreg ${stages}`);
      const coreg = (await timeCoreg(o, { fixed, moving, stages, metric: 'mi' }, [o.threads], `size-${s.id}-${stages}`, points, gt)).get(o.threads)!;
      console.error(`bench:     ${coreg.missing ?? `${sec(coreg.seconds)} s, ${mb(coreg.peakRssMB)} MB, ${quality(coreg)}`}`);
      rows.push({ size: s.label, voxels: s.voxels, stages, coreg });
    }
  }
  return rows;
}

/** One finished row on stderr (the table comes at the end; a long run shows its figures as they come). */
function logRow(row: SpeedRow): void {
  const one = (name: string, t?: Timing): string => (t ? `${name} ${t.missing ?? `${sec(t.seconds)} s, ${quality(t)}, ${mb(t.peakRssMB)} MB${t.registrationSeconds !== undefined ? `, registration ${sec(t.registrationSeconds)} s` : ''}${t.coresBusy !== undefined ? `, ${t.coresBusy.toFixed(2)} cores busy` : ''}`}` : '');
  console.error(`bench:     ${[one('coreg', row.coreg), one('coreg 1 thread', row.coreg1), one('elastix', row.elastix), one('elastix 1 thread', row.elastix1), one('plastimatch', row.plastimatch)].filter(Boolean).join('; ')}`);
}

/** `node bin/coreg.js --version`: median wall time of 11 runs (after one warm-up). */
function startup(coregBin: string): NonNullable<SpeedResult['startup']> {
  const runs: number[] = [];
  const nodeRuns: number[] = [];
  const time = (args: string[]): number => {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: exit ${r.status}`);
    return ms;
  };
  // (the first of each warms the file cache)
  for (let k = 0; k < 12; k++) {
    const ms = time([coregBin, '--version']);
    const node = time(['-e', '0']);
    if (k > 0) {
      runs.push(ms);
      nodeRuns.push(node);
    }
  }
  return { medianMs: median(runs), runs, nodeMedianMs: median(nodeRuns), nodeRuns };
}

/** Runs the speed suite. */
export async function runSpeed(o: SpeedOptions): Promise<SpeedResult> {
  const notes: string[] = [];
  const plastimatch = o.noPeers ? undefined : plastimatchVersion();
  const plastimatchMissing = o.noPeers ? 'off (--no-peers)' : plastimatch ? undefined : PLASTIMATCH_INSTALL_HINT;
  if (!o.noPeers && !plastimatch) notes.push(`plastimatch not run: ${PLASTIMATCH_INSTALL_HINT}`);
  const rows: SpeedRow[] = [];
  for (const c of cases(o, notes)) {
    const fixed = readImageFile(c.fixed);
    const points = foregroundPoints(fixed, c.foreground);
    const row: SpeedRow = { case: c.name, metric: c.metric, coreg: {}, coreg1: {}, ...peers(o, c, points, plastimatch, plastimatchMissing) };
    if (o.coregBin) {
      const timings = await timeCoreg(o, c, threadCounts(o), `${c.name}-${c.metric}`, points, c.gt, `${c.name} | coreg ${c.stages} (${c.metric})`);
      row.coreg = timings.get(o.threads)!;
      row.coreg1 = timings.get(1)!;
    } else row.coreg = { missing: 'not run' };
    logRow(row);
    rows.push(row);
  }
  if (!o.filter || 'atlas segmentation'.includes(o.filter.toLowerCase())) {
    const a = atlasRow(o, notes);
    if (a) {
      logRow(a);
      rows.push(a);
    }
  }
  const sizes = o.sizes && o.coregBin ? await sizeRows(o, notes) : [];
  if (!o.sizes) notes.push('size table not run (add --sizes; the 512×512×300 CT takes minutes per run)');
  const machine = o.threads > 1 ? machineScaling(o, notes) : undefined;
  let start: SpeedResult['startup'];
  if (o.coregBin) {
    try {
      start = startup(o.coregBin);
    } catch (e) {
      notes.push(`start-up not measured: ${(e as Error).message}`);
    }
  }
  return { rows, sizes, startup: start, machine, notes };
}

/**
 * What a second thread gives on this machine to C code (bench/kernels/machine-scaling.c, gcc -O2): independent
 * arithmetic, and taking fresh memory page by page (which a registration does whenever it makes a new image or
 * sample array). 1 and 2 threads alternately, 5 rounds; per round 2·t(1) ÷ t(2) (2.0: a second thread doubles the
 * work done). Undefined (with a note) without gcc.
 */
function machineScaling(o: SpeedOptions, notes: string[]): SpeedResult['machine'] {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-machine-'));
  try {
    const exe = join(dir, 'machine-scaling');
    const cc = spawnSync('gcc', ['-O2', '-pthread', '-o', exe, join(o.paths.repoRoot, 'bench', 'kernels', 'machine-scaling.c')], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      notes.push(`machine scaling not measured: gcc failed or is missing (Debian package gcc): ${cc.error?.message ?? cc.stderr.trim()}`);
      return undefined;
    }
    console.error('bench: speed | this machine: 1 vs 2 threads of C (compute, fresh pages)');
    const time = (mode: string, threads: number): number => {
      const r = spawnSync(exe, [mode, String(threads)], { encoding: 'utf8' });
      if (r.error || r.status !== 0) throw new Error(`machine-scaling ${mode} ${threads} failed: ${r.error?.message ?? r.stderr}`);
      return Number(r.stdout.trim());
    };
    const out = { compute: [] as number[], pages: [] as number[] };
    for (let k = 0; k < 5; k++) {
      for (const mode of ['compute', 'pages'] as const) {
        const one = time(mode, 1);
        out[mode].push((2 * one) / time(mode, 2));
      }
    }
    return out;
  } catch (e) {
    notes.push(`machine scaling not measured: ${(e as Error).message}`);
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const spreadX = (xs: number[]): string => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×)`;
const sec = (s?: number): string => (s === undefined ? '—' : s < 10 ? s.toFixed(2) : s.toFixed(1));
const mb = (v?: number): string => (v === undefined ? '—' : String(Math.round(v)));
const quality = (t?: Timing): string => (!t ? '' : t.missing ? t.missing : t.dice !== undefined ? `Dice ${t.dice.toFixed(3)}` : t.tre ? `${t.tre.mean.toFixed(3)} / ${t.tre.max.toFixed(3)}` : '—');
const time = (t?: Timing): string => (!t ? '' : t.missing ? '—' : sec(t.seconds) + (t.cached ? '*' : ''));

/** The two tables and the start-up line, as markdown. */
export function speedTables(r: SpeedResult, threads: number, repeat: number): string {
  const head = ['case', 'metric', 'coreg (s)', 'elastix (s)', 'plastimatch (s)', 'coreg / fastest peer', 'TRE mean / max (mm) or Dice: coreg', 'elastix', 'plastimatch', 'peak RSS (MB) coreg / elastix / plastimatch', `coreg 1 → ${threads} threads: registration (s)`, 'whole process (s)', `cores busy: coreg on 1 → ${threads} threads`, `elastix 1 → ${threads} threads (s)`, 'coreg .nii.gz I/O (s)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of r.rows) {
    const peerTimes = [row.elastix?.seconds, row.plastimatch?.seconds].filter((v): v is number => v !== undefined);
    const fastest = peerTimes.length ? Math.min(...peerTimes) : undefined;
    const ratio = fastest !== undefined && row.coreg.seconds !== undefined ? `${(row.coreg.seconds / fastest).toFixed(2)}×` : '—';
    const a = row.coreg1.registrationSeconds;
    const b = row.coreg.registrationSeconds;
    const scaling = a !== undefined && b !== undefined ? `${sec(a)} → ${sec(b)} (${(a / b).toFixed(2)}×)` : '—';
    const whole = row.coreg1.seconds !== undefined && row.coreg.seconds !== undefined ? `${sec(row.coreg1.seconds)} → ${sec(row.coreg.seconds)} (${(row.coreg1.seconds / row.coreg.seconds).toFixed(2)}×)` : '—';
    const cores = row.coreg1.coresBusy !== undefined && row.coreg.coresBusy !== undefined ? `${row.coreg1.coresBusy.toFixed(2)} → ${row.coreg.coresBusy.toFixed(2)}` : '—';
    const e1 = row.elastix1?.seconds;
    const e2 = row.elastix?.seconds;
    const elastixScaling = e1 !== undefined && e2 !== undefined ? `${sec(e1)} → ${sec(e2)} (${(e1 / e2).toFixed(2)}×)` : '—';
    lines.push(`| ${[row.case, row.metric, row.coreg.missing ?? time(row.coreg), time(row.elastix) || 'n/a', time(row.plastimatch) || 'n/a', ratio, quality(row.coreg), quality(row.elastix) || 'n/a', quality(row.plastimatch) || 'n/a', `${mb(row.coreg.peakRssMB)} / ${row.elastix ? mb(row.elastix.peakRssMB) : 'n/a'} / ${row.plastimatch ? mb(row.plastimatch.peakRssMB) : 'n/a'}`, scaling, whole, cores, elastixScaling, sec(row.coreg.ioSeconds)].join(' | ')} |`);
  }
  const out = [lines.join('\n'), '', `Times: wall clock of the whole process, median of ${repeat} run(s), ${threads} threads (elastix \`-threads ${threads}\`, plastimatch OMP_NUM_THREADS=${threads}); * = peer timings from bench/cache. Ratio against the fastest peer run on the same metric. TRE = |T_est(x) − T_true(x)| over the fixed foreground, LPS mm; peers through their dense fields. The B-spline MSE row's elastix: the MI row's parameter files with AdvancedMeanSquares. The 5-atlas row: coreg segment --fusion majority vs 5 × elastix (affine + B-spline) one after another, labels by transformix (untimed) and the same vote. Registration time: result.json "seconds" (segment: report timings.totalSeconds). Cores busy: CPU time ÷ wall time of the registration (result.json "cpuSeconds" ÷ "seconds"; segment: of the whole process), median, V8's compiler and collector threads included: on 2 cores, a 1-thread run that keeps c cores busy can gain at most 2 ÷ c from a second thread. elastix 1 → N: its whole process, on the 3D affine case only. .nii.gz I/O: reading the two inputs and writing warped.nii.gz and inverse-warped.nii.gz as coreg writes them (compressed in pieces on libuv's threads), timed in-process (the bench's own Node), median of 3.`];
  if (r.sizes.length) {
    const h = ['image', 'voxels', 'transform (MI)', 'coreg time (s)', 'registration (s)', '.nii.gz I/O (s)', 'peak RSS (MB)', 'TRE mean / max (mm) vs the known affine'];
    out.push('', '### Time and memory vs image size (coreg)', '', `| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`);
    for (const s of r.sizes) out.push(`| ${[s.size, (s.voxels / 1e6).toFixed(2) + ' M', s.stages, s.coreg.missing ?? sec(s.coreg.seconds), sec(s.coreg.registrationSeconds), sec(s.coreg.ioSeconds), mb(s.coreg.peakRssMB), quality(s.coreg)].join(' | ')} |`);
    out.push('', 'The moving images are the fixed ones under a known affine (bench/make-size-cases.py), so affine,bspline TRE measures how much the B-spline stage disturbs an exact affine result.');
  }
  if (r.machine) {
    const m = r.machine;
    out.push('', `This machine, C code (bench/kernels/machine-scaling.c, gcc -O2), what a second thread gives (2·t(1 thread) ÷ t(2 threads) for the same work per thread; 2.00 = doubled): independent arithmetic ${spreadX(m.compute)}; taking fresh memory page by page (mmap, touch, munmap) ${spreadX(m.pages)}; median (min–max) of ${m.compute.length} alternated rounds.`);
  }
  if (r.startup) {
    const env = process.env.NODE_EXTRA_CA_CERTS ? ' This environment sets NODE_EXTRA_CA_CERTS, whose certificates Node loads at every start.' : '';
    out.push('', `\`coreg --version\` start-up: ${r.startup.medianMs.toFixed(0)} ms (median of ${r.startup.runs.length}; target < 150 ms); bare \`node -e 0\` ${r.startup.nodeMedianMs.toFixed(0)} ms, run alternately with it.${env}`);
  }
  for (const n of r.notes) out.push(`- ${n}`);
  return out.join('\n');
}
