// `npm run bench`: registration accuracy (TRE against known ground truths) and speed, coreg beside elastix (and
// DIPY for SyN). Linear cases by default (bench/out/results.json); the non-rigid cases (bench/out/nonrigid.json)
// and atlas segmentation (bench/out/atlas.json) with --only nonrigid|atlas or --all. See docs/bench.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Image } from '../src/image/image.js';
import { readImageFile } from '../src/io/node.js';
import { foregroundPoints, targetRegistrationError } from './lib/affine.js';
import { type BenchCase, type BenchPaths, cases2d, cases3d } from './lib/cases.js';
import { coregUnavailable, defaultCoregBin, distIsStale, runCoreg } from './lib/coreg.js';
import { ELASTIX_INSTALL_HINT, elastixVersion, runElastix } from './lib/elastix.js';
import { HAVE_GNU_TIME, median } from './lib/process.js';
import { type CaseResult, judge, markdownTable } from './lib/table.js';
import { summarize } from './lib/atlas-table.js';
import { atlasReport, DEFAULT_TARGETS, runAtlas, SUBJECTS } from './suites/atlas.js';
import { nonrigidTable, runNonrigid } from './suites/nonrigid.js';
import { realScansTable, runRealScans } from './suites/realscans.js';
import { changeTable, runChange } from './suites/change.js';
import { autoLandmarksTable, runAutoLandmarks } from './suites/autolandmarks.js';
import { runSpeed, speedTables } from './suites/speed.js';

const USAGE = `usage: npm run bench -- [--only 2d|3d|nonrigid|atlas|realscans|template|change|speed|kernels|autolandmarks] [--sizes] [--all] [--no-peers] [--dipy] [--cases N] [--no-d1]
                         [--loo | --targets LIST] [--repeat R] [--threads T] [--filter TEXT] [--out DIR] [--coreg FILE]
  (default: the linear 2D and 3D cases)
  --only 2d|3d   run only the linear 2D ITK slices or only the linear 3D ch2bet cases
  --only nonrigid  the non-rigid cases (2D B-spline, 3D d2, random 3D nr_1..nr_3): coreg, elastix, DIPY (2D; d2 with --dipy)
  --only realscans  CT→CT, CT↔T1, PET→T1 and 2 mm subjects with skull (bench/make-realscan-cases.py), defaults only; elastix beside on the 2 mm subjects
  --only template  coreg template of 8 ch2bet subjects at 3 mm, local and Slurm backends, N = 2, 4, 8 (not in --all)
  --only change  volume change over time: ch2bet follow-ups with a known structure shrinkage (3 cases, each run forward and swapped)
  --heldout      change: the held-out set instead (6 other structures, changes and motions; bench/cache/change-heldout)
  --only speed   speed and memory (issue 13): 2D affine, 3D affine MI, 3D affine + B-spline MI and MSE, 5 atlases;
                 coreg beside elastix and plastimatch, 1 vs 2 threads, \`coreg --version\` start-up (--repeat default 3)
  --sizes        speed: also time and memory vs image size, 64³ … a 512×512×300 CT (the CT takes minutes per run)
  --only kernels  single-core kernel throughput (3D affine MI value + gradient): TypeScript, WebAssembly SIMD, C -O3 (gcc);
                 --repeat R rounds (default 7)
  --only autolandmarks  far starting poses (ch2 turned 60–180° + 30–60 mm, cropped, CT-like; 2D slices turned): register
                 --transform rigid from the default initialiser and from --initializer landmarks (not in --all)
  --only atlas   atlas segmentation (5 atlases → 1 target): coreg segment fusions/selection, elastix (target 6, ~8 min)
  --loo          atlas: leave-one-out, each of the 6 subjects segmented from the other 5 (~45–55 min on 2 cores)
  --targets LIST atlas: these targets only, e.g. 2,6 (default 6)
  --all          linear, non-rigid and atlas (about an hour on 2 cores the first time; peers are cached)
  --no-peers     do not run elastix or DIPY
  --dipy         also run DIPY's 3D SyN on the d2 case (about 11 minutes, single-threaded; cached)
  --cases N      number of random 3D cases, seeds 1..N: affine (default 4) and non-rigid nr_<seed> (default 3)
  --no-d1        leave out the shared 3D d1 case
  --repeat R     runs per tool and case for the linear cases; times are medians (default 1)
  --threads T    threads for coreg and elastix (default 2)
  --filter TEXT  only cases whose name, metric or transform contains TEXT
  --out DIR      where results.json and coreg's outputs go (default bench/out)
  --coreg FILE   the coreg entry script to measure (default bin/coreg.js, which runs dist/: \`npm run build\` first)`;

function usage(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function positiveInt(v: string | undefined, name: string, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      only: { type: 'string' },
      'no-peers': { type: 'boolean' },
      all: { type: 'boolean' },
      dipy: { type: 'boolean' },
      cases: { type: 'string' },
      loo: { type: 'boolean' },
      targets: { type: 'string' },
      'no-d1': { type: 'boolean' },
      repeat: { type: 'string' },
      sizes: { type: 'boolean' },
      heldout: { type: 'boolean' },
      threads: { type: 'string' },
      filter: { type: 'string' },
      coreg: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (e) {
  usage((e as Error).message);
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}
const ONLY = ['2d', '3d', 'nonrigid', 'atlas', 'realscans', 'template', 'change', 'speed', 'kernels', 'autolandmarks'] as const;
type Only = (typeof ONLY)[number];
if (parsed.only !== undefined && !(ONLY as readonly string[]).includes(parsed.only)) usage(`--only must be 2d, 3d, nonrigid, atlas, realscans, template, change, speed or kernels (or autolandmarks), got "${parsed.only}"`);
if (parsed.only !== undefined && parsed.all) usage('--only and --all exclude each other');
const only = parsed.only as Only | undefined;
const runLinear = parsed.all || only === undefined || only === '2d' || only === '3d';
const runNonrigidSuite = parsed.all || only === 'nonrigid';
const runAtlasSuite = parsed.all || only === 'atlas';
const runRealScansSuite = parsed.all || only === 'realscans';
const runTemplateSuite = only === 'template';
const runChangeSuite = only === 'change';
const runSpeedSuite = only === 'speed';
const runKernelsSuite = only === 'kernels';
const runAutoLandmarksSuite = only === 'autolandmarks';
const nSeeds = positiveInt(parsed.cases, '--cases', 4, 0);
const nNonrigidSeeds = positiveInt(parsed.cases, '--cases', 3, 0);
const repeat = positiveInt(parsed.repeat, '--repeat', 1);
const threads = positiveInt(parsed.threads, '--threads', 2);
if (parsed.loo && parsed.targets !== undefined) usage('--loo and --targets exclude each other');
const atlasTargets = parsed.loo ? SUBJECTS : parsed.targets === undefined ? DEFAULT_TARGETS : [...new Set(parsed.targets.split(',').map((v) => positiveInt(v.trim(), '--targets', 1)))];
if (!atlasTargets.every((t) => SUBJECTS.includes(t))) usage(`--targets must list subjects ${SUBJECTS.join(', ')}, got "${parsed.targets}"`);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
// ../shared beside the repository; COREG_SHARED_DATA=DIR/data points elsewhere, as for the tests (test/helpers.ts).
const shared = process.env.COREG_SHARED_DATA ? join(process.env.COREG_SHARED_DATA, '..') : join(repoRoot, '..', 'shared');
const paths: BenchPaths = {
  repoRoot,
  data: join(shared, 'data'),
  peers: join(shared, 'peers'),
  cache: join(repoRoot, 'bench', 'cache'),
};
const outDir = parsed.out ? resolve(parsed.out) : join(repoRoot, 'bench', 'out');
const notes: string[] = [];

const cases: BenchCase[] = [];
if (runLinear && only !== '3d') {
  const c = cases2d(paths);
  if (typeof c === 'string') notes.push(`2D cases skipped: ${c}`);
  else cases.push(...c);
}
if (runLinear && only !== '2d') {
  const seeds = Array.from({ length: nSeeds }, (_, i) => i + 1);
  const c = cases3d(paths, seeds, !parsed['no-d1']);
  for (const s of c.skipped) notes.push(`3D cases skipped: ${s}`);
  cases.push(...c.cases);
}
const filter = parsed.filter?.toLowerCase();
const selected = filter ? cases.filter((c) => `${c.name} ${c.metric} ${c.stages}`.toLowerCase().includes(filter)) : cases;

const coregBin = parsed.coreg ? resolve(parsed.coreg) : defaultCoregBin(repoRoot);
const coregMissing = coregUnavailable(repoRoot, coregBin);
if (coregMissing) notes.push(`coreg not run: ${coregMissing}`);
else if (!parsed.coreg && distIsStale(repoRoot)) notes.push('warning: src/ changed after the last `npm run build`; dist/ (what bin/coreg.js runs) may be stale');
let elastix: string | undefined;
let elastixMissing: string | undefined;
if (parsed['no-peers']) elastixMissing = 'off (--no-peers)';
else if (!existsSync(join(paths.peers, 'elastix-params'))) elastixMissing = `${join(paths.peers, 'elastix-params')} is absent`;
else if (!(elastix = elastixVersion())) elastixMissing = ELASTIX_INSTALL_HINT;
if (elastixMissing && !parsed['no-peers']) notes.push(`elastix not run: ${elastixMissing}`);
if (!HAVE_GNU_TIME) notes.push('peak memory not measured: /usr/bin/time is absent (Debian package `time`)');
for (const n of notes) console.error(`bench: ${n}`);

const fixedCache = new Map<string, { image: Image; points: Float64Array }>();
function fixedOf(c: BenchCase): { image: Image; points: Float64Array } {
  const key = `${c.fixed}|${c.foreground}`;
  let f = fixedCache.get(key);
  if (!f) {
    const image = readImageFile(c.fixed);
    f = { image, points: foregroundPoints(image, c.foreground) };
    fixedCache.set(key, f);
  }
  return f;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const results: CaseResult[] = [];
for (const [i, c] of selected.entries()) {
  const label = `${c.name} | ${c.metric} | ${c.stages}`;
  console.error(`bench: [${i + 1}/${selected.length}] ${label}`);
  const { image, points } = fixedOf(c);
  const gt = c.groundTruth(image);
  const r: CaseResult = { case: c.name, dimension: c.dimension, metric: c.metric, stages: c.stages, peerNote: elastixMissing ? undefined : c.peerNote, target: c.target, peerMargin: c.peerMargin, pass: null, verdict: '' };

  if (elastix) {
    try {
      const parameters = readFileSync(join(paths.peers, 'elastix-params', c.elastixParams), 'utf8');
      const e = runElastix({ fixed: c.fixed, moving: c.moving, parameters, threads, repeat, cacheDir: paths.cache, version: elastix });
      r.elastix = { tre: targetRegistrationError(points, e.affine, gt), seconds: e.seconds, medianSeconds: median(e.seconds), peakRssMB: e.peakRssMB, cached: e.cached };
    } catch (e) {
      r.elastixMissing = `error: ${(e as Error).message}`;
    }
  } else r.elastixMissing = elastixMissing === ELASTIX_INSTALL_HINT ? 'not installed' : elastixMissing;

  let coregFailed = false;
  if (!coregMissing) {
    try {
      const seconds: number[] = [];
      let last;
      for (let k = 0; k < repeat; k++) {
        last = runCoreg({ coregBin, fixed: c.fixed, moving: c.moving, stages: c.stages, metric: c.metric, threads, seed: 1, outDir: join(outDir, 'runs', slug(`${c.name}-${c.metric}-${c.stages}`)) });
        seconds.push(last.seconds);
      }
      r.coreg = { tre: targetRegistrationError(points, last!.transform, gt), seconds, medianSeconds: median(seconds), peakRssMB: last!.peakRssMB, iterations: last!.iterations };
    } catch (e) {
      coregFailed = true;
      r.coregMissing = `error: ${(e as Error).message}`;
    }
  } else r.coregMissing = 'not run';

  Object.assign(r, judge(r, coregFailed));
  const fmt = (t?: { tre: { mean: number }; medianSeconds: number }): string => (t ? `${t.tre.mean.toFixed(3)} mm in ${t.medianSeconds.toFixed(2)} s` : '—');
  console.error(`bench:     coreg ${fmt(r.coreg)}, elastix ${fmt(r.elastix)}: ${r.verdict}`);
  results.push(r);
}

mkdirSync(outDir, { recursive: true });
const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, elastix: elastix ?? null };
if (runLinear) {
  console.log(markdownTable(results));
  console.log('');
  console.log('TRE = |T_est(x) − T_true(x)| over the fixed foreground (2D: pixels > 20; 3D: ch2bet > 0), LPS mm. Times: wall clock of the whole process' + (repeat > 1 ? `, median of ${repeat}` : '') + `; ${threads} threads.` + (results.some((r) => r.elastix?.cached) ? ' * = elastix time from its cached run (bench/cache).' : ''));
  for (const n of notes) console.log(`- ${n}`);
  const failed = results.filter((r) => r.pass === false).length;
  const passed = results.filter((r) => r.pass === true).length;
  console.log(`\n${passed} pass, ${failed} FAIL, ${results.length - passed - failed} not judged (of ${results.length} cases)${failed ? '  <-- FAIL' : ''}`);

  writeFileSync(
    join(outDir, 'results.json'),
    JSON.stringify({ ...meta, options: { only: only ?? null, repeat, threads, seeds: nSeeds, d1: !parsed['no-d1'], peers: !parsed['no-peers'], filter: parsed.filter ?? null, coreg: coregBin }, notes, results }, null, 1) + '\n',
  );
  console.error(`bench: wrote ${join(outDir, 'results.json')}`);
}

const peerOptions = { elastix, elastixMissing: elastixMissing === ELASTIX_INSTALL_HINT ? 'not installed' : elastixMissing };
if (runNonrigidSuite) {
  const dipy = parsed['no-peers'] ? 'off' : parsed.dipy ? 'all' : '2d';
  const seeds = Array.from({ length: nNonrigidSeeds }, (_, i) => i + 1);
  const nr = runNonrigid({ paths, outDir, coregBin: coregMissing ? undefined : coregBin, ...peerOptions, dipy, threads, filter, seeds });
  console.log('\n## Non-rigid registration\n');
  console.log(nonrigidTable(nr.rows, nr.baseline));
  console.log('');
  console.log('TRE = |T_est(x) − T_true(x)| over the fixed foreground (2D: pixels > 20; 3D: ch2bet > 0), LPS mm; elastix and DIPY through their dense fixed → moving fields (transformix -def all; DIPY P(x + b(x))). Folded = voxels with det ∂T/∂x ≤ 0 (`coreg eval jacobian`). Times: wall clock of the whole registration process; * = from the peer cache.');
  for (const n of nr.notes) console.log(`- ${n}`);
  const judged = nr.rows.filter((r) => r.tool === 'coreg');
  const bad = judged.filter((r) => r.pass === false).length;
  console.log(`\nnon-rigid: ${judged.filter((r) => r.pass === true).length} pass, ${bad} FAIL, ${judged.filter((r) => r.pass === null).length} not judged${bad ? '  <-- FAIL' : ''}`);
  writeFileSync(join(outDir, 'nonrigid.json'), JSON.stringify({ ...meta, options: { threads, dipy, filter: parsed.filter ?? null, seeds: nNonrigidSeeds, coreg: coregBin }, notes: nr.notes, noRegistration: nr.baseline, rows: nr.rows }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'nonrigid.json')}`);
}
if (runRealScansSuite) {
  const rs = runRealScans({ paths, outDir, coregBin: coregMissing ? undefined : coregBin, ...peerOptions, threads, filter });
  console.log('\n## Real-scan-like cases, defaults only (issue 10)\n');
  console.log(realScansTable(rs.rows));
  console.log('\nTRE over fixed points whose true image lies in ch2bet\'s brain (every 3rd voxel), LPS mm; folded = det ∂T/∂x ≤ 0 on the fixed grid (coreg eval jacobian; elastix: transformix -jac all). elastix: affine + B-spline, MI, 10 mm grid, 3 levels × 500 iterations, 4000 random samples. * = from the peer cache.');
  for (const n of rs.notes) console.log(`- ${n}`);
  const bad = rs.rows.filter((r) => r.pass === false).length;
  console.log(`\nrealscans: ${rs.rows.filter((r) => r.pass === true).length} pass, ${bad} FAIL${bad ? '  <-- FAIL' : ''}`);
  writeFileSync(join(outDir, 'realscans.json'), JSON.stringify({ ...meta, options: { threads, filter: parsed.filter ?? null, coreg: coregBin }, notes: rs.notes, rows: rs.rows }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'realscans.json')}`);
}
if (runAtlasSuite) {
  const at = await runAtlas({ paths, outDir, coregBin: coregMissing ? undefined : coregBin, ...peerOptions, threads, targets: atlasTargets });
  console.log(`\n## Atlas segmentation (AAL, 2 mm; each target from the other 5 subjects: ${atlasTargets.map((t) => `subj${t}`).join(', ')})\n`);
  console.log(atlasReport(at, threads));
  writeFileSync(join(outDir, 'atlas.json'), JSON.stringify({ ...meta, options: { threads, targets: atlasTargets, coreg: coregBin }, notes: at.notes, targets: at.targets, summary: summarize(at.targets) }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'atlas.json')}`);
}
if (runTemplateSuite) {
  const { runTemplateBench } = await import('./suites/template.js');
  const tb = runTemplateBench({ repoRoot, ch2bet: join(paths.data, 'mni', 'ch2bet.nii.gz'), outDir, coregBin, iterations: 3, sizes: [2, 4, 8], slurm: true });
  console.log('\n## Population template\n');
  console.log(tb.report);
  writeFileSync(join(outDir, 'template.json'), JSON.stringify({ ...meta, runs: tb.runs }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'template.json')}`);
}
if (runChangeSuite) {
  if (coregMissing) usage(coregMissing);
  const rows = runChange({ data: paths.data, repoRoot, outDir, coregBin, cases: parsed.cases === undefined ? undefined : Array.from({ length: nNonrigidSeeds }, (_, i) => i + 1), heldout: Boolean(parsed.heldout) });
  console.log(`\n## Volume change over time${parsed.heldout ? ' (held-out set)' : ''} (ch2bet, one AAL structure shrunk by a known smooth deformation + rigid motion + noise)\n`);
  console.log(changeTable(rows));
  console.log('\nTarget: |error| ≤ 0.3 percentage points; swapped run within 0.1 points of the inverse ratio 100(1/(1 + p/100) − 1). Times: wall clock of the whole `coreg change` process; CPU time = user + system of the forward run (GNU time).');
  const changeJson = join(outDir, parsed.heldout ? 'change-heldout.json' : 'change.json');
  writeFileSync(changeJson, JSON.stringify({ ...meta, rows }, null, 1) + '\n');
  console.error(`bench: wrote ${changeJson}`);
}
if (runSpeedSuite) {
  const speedRepeat = positiveInt(parsed.repeat, '--repeat', 3);
  const sp = await runSpeed({ paths, outDir, coregBin: coregMissing ? undefined : coregBin, ...peerOptions, noPeers: Boolean(parsed['no-peers']), repeat: speedRepeat, threads, filter, sizes: Boolean(parsed.sizes) });
  console.log('\n## Speed and memory (issue 13)\n');
  console.log(speedTables(sp, threads, speedRepeat));
  writeFileSync(join(outDir, 'speed.json'), JSON.stringify({ ...meta, options: { threads, repeat: speedRepeat, filter: parsed.filter ?? null, sizes: Boolean(parsed.sizes), coreg: coregBin }, ...sp }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'speed.json')}`);
}
if (runKernelsSuite) {
  const { runKernelBench, kernelTable } = await import('./suites/kernels.js');
  const rounds = repeat < 3 ? 7 : repeat;
  const kb = runKernelBench({ repoRoot, rounds });
  console.log(`\n## Kernel throughput, one core (3D affine Mattes MI: sample + gradient, histogram, derivative, moments; 2^17 samples in a 181×217×181 float32 volume; thread CPU time; ${rounds} rounds, each implementation once per round in rotating order, 30 timed evaluations per run after 1 untimed)\n`);
  console.log(kernelTable(kb.rows));
  for (const note of kb.notes) console.log(`\n${note}`);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'kernels.json'), JSON.stringify({ ...meta, rows: kb.rows, notes: kb.notes }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'kernels.json')}`);
}
if (runAutoLandmarksSuite) {
  if (coregMissing) usage(coregMissing);
  const rows = runAutoLandmarks({ data: paths.data, repoRoot, outDir, coregBin, filter: parsed.filter });
  console.log('\n## Automated landmarks: far starting poses (register --transform rigid; default initialiser vs --initializer landmarks)\n');
  console.log(autoLandmarksTable(rows));
  console.log('\nTargets (landmarks run): mean TRE ≤ 0.05 mm mono-modal, ≤ 1 mm multi-modal. "detect + match": keypoint detection in both images, then description, matching, RANSAC and refinement, seconds of wall clock inside the run. Times: wall clock of the whole `coreg register` process.');
  writeFileSync(join(outDir, 'autolandmarks.json'), JSON.stringify({ ...meta, rows }, null, 1) + '\n');
  console.error(`bench: wrote ${join(outDir, 'autolandmarks.json')}`);
}
