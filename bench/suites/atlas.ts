// Atlas segmentation as a leave-one-out study on make_atlas_cases.py's six subjects (2 mm, AAL labels):
// each target subject is segmented from the other five. Which targets: `npm run bench -- --only atlas` runs
// target 6 only (the peers' set-up, ~8 min on 2 cores); `--loo` runs all six (~45–55 min the first time, when
// elastix is not cached yet; ~40 min after); `--targets 2,6` any list.
//
// Per target, registrations happen once:
// - ONE timed `coreg segment --fusion jlf --keep-warped DIR --report R.json`: its wall time and peak RSS are the
//   figures set beside elastix's; the kept warped atlases give every single atlas' Dice and, fused in-process
//   with the library, majority / weighted / STAPLE (time ≈ that run's registrations + the fusion, marked ~);
// - `--select K` for K = 1…5 from the same warps: ranking by rankAtlases in-process (as `segment` ranks), time ≈
//   ranking + the K registrations' seconds from the report (divided by how much the JLF run overlapped them) +
//   JLF; one real `--select 2` run (target 6, or the first target without it) checks that estimate;
// - one `coreg segment --transform affine --fusion majority` run; no registration (labels as they are);
// - elastix (when present): the cached affine + B-spline chain per atlas, labels by transformix, majority vote.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../../src/image/image.js';
import { readImageFile } from '../../src/io/node.js';
import { rankAtlases } from '../../src/segment/select.js';
import { KEY, judgeTarget, summaryTable, targetTable, type AtlasRow, type TargetResult } from '../lib/atlas-table.js';
import { fuseKept, readKeptWarped, selectionTradeoff } from '../lib/atlas-warped.js';
import type { BenchPaths } from '../lib/cases.js';
import { elastixWarpLabels, runElastixChain } from '../lib/elastix-chain.js';
import { diceScores, majorityVote } from '../lib/labels.js';
import { runTimed } from '../lib/process.js';

export const SUBJECTS = [1, 2, 3, 4, 5, 6];
/** The peers' target (atlases 1–5 → 6), the default. */
export const DEFAULT_TARGETS = [6];
/** K of the one measured `--select K` run. */
const MEASURED_SELECT = 2;

export interface AtlasOptions {
  paths: BenchPaths;
  outDir: string;
  coregBin?: string;
  elastix?: string;
  elastixMissing?: string;
  threads: number;
  /** Subjects to segment, each from the other five (default [6]). */
  targets?: number[];
}

export interface AtlasResult {
  targets: TargetResult[];
  notes: string[];
}

/** What `coreg segment --report` writes that the bench reads. */
interface SegmentReportJson {
  selected: string[];
  timings: { selectionSeconds: number; registrations: { name: string; seconds: number }[]; fusionSeconds: number; totalSeconds: number };
}

interface SegmentRun {
  labels: ArrayLike<number>;
  seconds: number;
  peakRssMB?: number;
  report: SegmentReportJson;
}

function ensureCases(p: BenchPaths): { dir: string } | string {
  const dir = join(p.cache, 'atlas', 'cases');
  const want = SUBJECTS.flatMap((s) => [`subj${s}_t1.nii.gz`, `subj${s}_aal.nii.gz`]);
  if (want.every((f) => existsSync(join(dir, f)))) return { dir };
  const script = join(p.peers, 'cases', 'make_atlas_cases.py');
  if (!existsSync(script)) return `${script} is absent`;
  if (!existsSync(join(p.data, 'mni', 'aal.nii.gz'))) return `${join(p.data, 'mni', 'aal.nii.gz')} is absent`;
  console.error('bench: generating the atlas set (make_atlas_cases.py, once; cached under bench/cache/atlas) …');
  const r = spawnSync('/usr/bin/python3', [script, dir, p.data], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `/usr/bin/python3 ${script} failed: ${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || `exit ${r.status}`}`;
  return { dir };
}

const subjectOf = (name: string): number => Number(/subj(\d+)/.exec(name)?.[1] ?? NaN);

/** Runs the study; one target's failure is reported in its rows and the others still run. */
export async function runAtlas(o: AtlasOptions): Promise<AtlasResult> {
  const notes: string[] = [];
  const cases = ensureCases(o.paths);
  if (typeof cases === 'string') return { targets: [], notes: [`atlas suite skipped: ${cases}`] };
  const file = (s: number, kind: 't1' | 'aal'): string => join(cases.dir, `subj${s}_${kind}.nii.gz`);
  const targets = o.targets ?? DEFAULT_TARGETS;
  const measuredSelectTarget = targets.includes(6) ? 6 : targets[0];

  let threadArgs: string[] = [];
  if (o.coregBin) {
    const help = spawnSync(process.execPath, [o.coregBin, 'segment', '--help'], { encoding: 'utf8' });
    if (help.stdout?.includes('--threads')) threadArgs = ['--threads', String(o.threads)];
    else notes.push(`\`coreg segment\` has no --threads option yet: it ran with its own default, not ${o.threads} threads`);
  }

  const results: TargetResult[] = [];
  for (const target of targets) {
    const atlases = SUBJECTS.filter((s) => s !== target);
    const truth = readImageFile(file(target, 'aal'));
    const dice = (labels: ArrayLike<number>): number => diceScores(labels, truth.data).mean;
    const runDir = join(o.outDir, 'runs', 'atlas', `target${target}`);
    mkdirSync(runDir, { recursive: true });
    const t: TargetResult = { target, atlases, rows: [], checks: [], notes: [] };
    const singles: AtlasRow[] = [];
    const fusions: AtlasRow[] = [];
    const selection: AtlasRow[] = [];
    const best = (rows: AtlasRow[]): number | undefined => (rows.length ? Math.max(...rows.map((r) => r.dice ?? -Infinity)) : undefined);

    // Without registration (all subjects share one grid): the floor every method must clear.
    const raw: Image[] = atlases.map((s) => readImageFile(file(s, 'aal')));
    const rawRows: AtlasRow[] = raw.map((img, i) => ({ group: 'no registration', tool: '—', method: `atlas ${atlases[i]} as is`, dice: dice(img.data) }));
    rawRows.push({ key: 'none:single:best', group: 'no registration', tool: '—', method: 'best single atlas as is', dice: best(rawRows) });
    rawRows.push({ key: 'none:majority', group: 'no registration', tool: '—', method: 'majority of the unregistered atlases', dice: dice(majorityVote(raw)) });

    if (o.elastix) {
      try {
        const parameters = ['atlas_affine_mi.txt', 'atlas_bspline_mi.txt'].map((n) => readFileSync(join(o.paths.peers, 'elastix-params', n), 'utf8'));
        const warped: Image[] = [];
        const rows: AtlasRow[] = [];
        let seconds = 0;
        let peak = 0;
        let allCached = true;
        for (const s of atlases) {
          console.error(`bench: atlas target ${target} | elastix atlas ${s}`);
          const e = runElastixChain({ fixed: file(target, 't1'), moving: file(s, 't1'), parameters, threads: o.threads, cacheDir: o.paths.cache, version: o.elastix });
          const l = elastixWarpLabels(e, file(s, 'aal'));
          const img = readImageFile(l.file);
          warped.push(img);
          seconds += e.seconds + l.seconds;
          peak = Math.max(peak, e.peakRssMB ?? 0);
          allCached &&= e.cached;
          rows.push({ group: 'single atlas', tool: 'elastix', method: `atlas ${s} (affine + B-spline, MI)`, dice: dice(img.data), seconds: e.seconds + l.seconds, peakRssMB: e.peakRssMB, cached: e.cached });
        }
        const start = performance.now();
        const vote = majorityVote(warped);
        seconds += (performance.now() - start) / 1000;
        singles.push(...rows, { key: 'elastix:single:best', group: 'single atlas', tool: 'elastix', method: 'best single atlas', dice: best(rows) });
        fusions.push({ key: KEY.elastixMajority, group: 'fusion', tool: 'elastix', method: 'majority (5 × elastix + transformix, vote in TS)', dice: dice(vote), seconds, peakRssMB: peak || undefined, cached: allCached });
      } catch (e) {
        fusions.push({ key: KEY.elastixMajority, group: 'fusion', tool: 'elastix', method: 'majority', missing: `error: ${(e as Error).message}` });
      }
    } else fusions.push({ key: KEY.elastixMajority, group: 'fusion', tool: 'elastix', method: 'majority', missing: o.elastixMissing ?? 'not run' });

    if (o.coregBin) {
      const coregBin = o.coregBin;
      const segment = (name: string, extra: string[], what: string, keepWarped?: string): SegmentRun | string => {
        const out = join(runDir, `${name}.nii.gz`);
        const report = join(runDir, `${name}.json`);
        const args = [coregBin, 'segment', '--target', file(target, 't1'), ...atlases.flatMap((s) => ['--atlas', `${file(s, 't1')},${file(s, 'aal')}`])];
        args.push('--out', out, '--report', report, '--quiet', ...threadArgs, ...extra);
        if (keepWarped) {
          rmSync(keepWarped, { recursive: true, force: true });
          args.push('--keep-warped', keepWarped);
        }
        console.error(`bench: atlas target ${target} | coreg segment ${what}`);
        rmSync(out, { force: true });
        const r = runTimed(process.execPath, args);
        if (r.status !== 0 || !existsSync(out) || !existsSync(report)) {
          const lines = r.stderr.trim().split('\n');
          return `error: coreg failed: ${(lines.find((l) => l.startsWith('coreg: error')) ?? lines.pop()) || `exit status ${r.status}`}`;
        }
        const labels = readImageFile(out).data as ArrayLike<number>;
        console.error(`bench:     Dice ${dice(labels).toFixed(4)} in ${r.seconds.toFixed(1)} s`);
        return { labels, seconds: r.seconds, peakRssMB: r.peakRssMB, report: JSON.parse(readFileSync(report, 'utf8')) as SegmentReportJson };
      };

      const warpedDir = join(runDir, 'warped');
      const jlf = segment('jlf', ['--fusion', 'jlf'], 'JLF (the timed run; keeps the warped atlases)', warpedDir);
      if (typeof jlf === 'string') {
        singles.push({ key: KEY.coregBestSingle, group: 'single atlas', tool: 'coreg', method: 'best single atlas', missing: jlf });
        fusions.push({ key: KEY.coregJlf, group: 'fusion', tool: 'coreg', method: 'JLF: `coreg segment`', missing: jlf });
      } else {
        const kept = readKeptWarped(warpedDir);
        const registrationSeconds = kept.map((a) => jlf.report.timings.registrations.find((r) => subjectOf(r.name) === a.subject)?.seconds ?? NaN);
        const rows: AtlasRow[] = kept.map((a, i) => ({ group: 'single atlas', tool: 'coreg', method: `atlas ${a.subject} (affine,bspline, MI)`, dice: dice(a.labels), seconds: registrationSeconds[i] }));
        singles.push(...rows, { key: KEY.coregBestSingle, group: 'single atlas', tool: 'coreg', method: 'best single atlas', dice: best(rows) });

        const targetImage = readImageFile(file(target, 't1'));
        const registrationsOnly = jlf.seconds - jlf.report.timings.fusionSeconds;
        const names = { majority: 'majority', weighted: 'locally weighted vote', staple: 'STAPLE' } as const;
        for (const f of fuseKept(kept, targetImage, ['majority', 'weighted', 'staple'])) {
          const key = f.method === 'majority' ? KEY.coregMajority : `coreg:${f.method}`;
          fusions.push({ key, group: 'fusion', tool: 'coreg', method: `${names[f.method as keyof typeof names]} (affine,bspline; fused from the JLF run's warps)`, dice: dice(f.labels), seconds: registrationsOnly + f.seconds, estimated: true });
        }
        fusions.push({ key: KEY.coregJlf, group: 'fusion', tool: 'coreg', method: `JLF: \`coreg segment\` (${kept.length} atlases, affine,bspline)`, dice: dice(jlf.labels), seconds: jlf.seconds, peakRssMB: jlf.peakRssMB });

        // --select K from the same warps, ranked as `segment --select` ranks.
        const start = performance.now();
        const ranking = await rankAtlases(targetImage, atlases.map((s) => ({ image: readImageFile(file(s, 't1')), name: `subj${s}` })));
        const rankingSeconds = (performance.now() - start) / 1000;
        const order = ranking.filter((r) => r.score !== null).map((r) => kept.findIndex((a) => a.subject === atlases[r.index])).filter((i) => i >= 0);
        t.notes.push(`ranking (NCC after a cheap affine, in-process, ${rankingSeconds.toFixed(1)} s): ${ranking.map((r) => `subj${atlases[r.index]} ${r.score?.toFixed(4) ?? 'failed'}`).join(', ')}`);
        // With --threads, `segment` registers atlases concurrently: how much they overlapped in the measured run.
        const { timings } = jlf.report;
        const concurrency = timings.registrations.reduce((s, r) => s + r.seconds, 0) / (timings.totalSeconds - timings.fusionSeconds - timings.selectionSeconds);
        const points = selectionTradeoff(kept, targetImage, order, registrationSeconds, rankingSeconds, dice, concurrency);
        for (const p of points) {
          const what = `--select ${p.k}`;
          selection.push({ key: `select:${p.k}:majority`, group: 'selection', tool: 'coreg', method: `${what}, majority`, dice: p.majorityDice, seconds: p.majoritySeconds, estimated: true });
          selection.push({ key: `select:${p.k}:jlf`, group: 'selection', tool: 'coreg', method: `${what}, JLF`, dice: p.jlfDice, seconds: p.jlfSeconds, estimated: true });
        }
        t.notes.push(`--select K keeps atlases (best first): ${points.map((p) => `K=${p.k}: ${p.subjects.join(',')}`).join('; ')}; registrations overlapped ${concurrency.toFixed(2)}-fold in the JLF run`);
        const all = points[points.length - 1];
        if (all.k === kept.length) t.notes.push(`in-process JLF of all ${all.k} kept warps: Dice ${all.jlfDice.toFixed(4)} (the \`coreg segment\` run's: ${dice(jlf.labels).toFixed(4)}; they should agree)`);

        if (target === measuredSelectTarget && kept.length > MEASURED_SELECT) {
          const k = MEASURED_SELECT;
          const real = segment(`select${k}-jlf`, ['--fusion', 'jlf', '--select', String(k)], `--select ${k} --fusion jlf (checks the estimate)`);
          const estimate = points[k - 1];
          if (typeof real === 'string') selection.push({ key: `select:${k}:jlf:measured`, group: 'selection', tool: 'coreg', method: `--select ${k}, JLF: measured run`, missing: real });
          else {
            const d = dice(real.labels);
            selection.push({ key: `select:${k}:jlf:measured`, group: 'selection', tool: 'coreg', method: `--select ${k}, JLF: \`coreg segment\` measured`, dice: d, seconds: real.seconds, peakRssMB: real.peakRssMB });
            const chose = real.report.selected.map(subjectOf);
            const same = chose.slice().sort().join(',') === estimate.subjects.slice().sort().join(',');
            t.notes.push(
              `measured --select ${k}: atlases ${chose.join(',')} (${same ? 'as estimated' : `estimate kept ${estimate.subjects.join(',')}`}), Dice ${d.toFixed(4)} vs ${estimate.jlfDice.toFixed(4)} estimated, ` +
                `${real.seconds.toFixed(1)} s vs ~${estimate.jlfSeconds.toFixed(1)} s (ranking ${real.report.timings.selectionSeconds.toFixed(1)} s in the CLI vs ${rankingSeconds.toFixed(1)} s in-process)`,
            );
          }
        }
      }

      const affine = segment('affine-majority', ['--fusion', 'majority', '--transform', 'affine'], 'majority, affine only');
      fusions.push(
        typeof affine === 'string'
          ? { key: 'coreg:affine-majority', group: 'fusion', tool: 'coreg', method: 'majority (affine only)', missing: affine }
          : { key: 'coreg:affine-majority', group: 'fusion', tool: 'coreg', method: 'majority (affine only): `coreg segment`', dice: dice(affine.labels), seconds: affine.seconds, peakRssMB: affine.peakRssMB },
      );
    } else fusions.push({ key: KEY.coregJlf, group: 'fusion', tool: 'coreg', method: 'segment', missing: 'not run' });

    t.rows = [...rawRows, ...singles, ...fusions, ...selection];
    t.checks = judgeTarget(target, t.rows);
    results.push(t);
  }
  return { targets: results, notes };
}

/** The per-target tables, the summary over the targets and the legend, as markdown. */
export function atlasReport(r: AtlasResult, threads: number): string {
  const parts: string[] = [];
  for (const t of r.targets) parts.push(`### Target subj${t.target} (atlases ${t.atlases.join(', ')})\n`, targetTable(t), '');
  if (r.targets.length > 1) parts.push(`### Summary: leave-one-out over targets ${r.targets.map((t) => t.target).join(', ')}\n`, summaryTable(r.targets), '');
  parts.push(
    "Dice = mean over the target's labels (other than 0) of 2|A∩B|/(|A|+|B|). Times in seconds on " +
      `${threads} threads: measured = the whole \`coreg segment\` process (registrations, label warping, fusion, I/O); ` +
      "~ = estimated from one run's registration times + an in-process fusion (and, for --select K, the in-process ranking); " +
      "elastix: 5 elastix + 5 transformix processes + the vote; * = from the peer cache. 'best single atlas' is the best of the rows above it.",
  );
  for (const n of r.notes) parts.push(`- ${n}`);
  return parts.join('\n');
}
