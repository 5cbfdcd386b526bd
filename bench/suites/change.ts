// `npm run bench -- --only change`: volume change over time (issue 14). Follow-ups of ch2bet with one AAL structure
// shrunk by a known smooth deformation, a small rigid motion and noise, made by bench/make-change-cases.py with
// scipy (an independent resampler); `coreg change` forward (baseline → follow-up, the structure's baseline mask)
// and swapped (follow-up as baseline, the structure's mask carried into the follow-up by the generator).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTimed } from '../lib/process.js';

export interface ChangeRow {
  case: number;
  label: number;
  truth: number;
  forward?: number;
  forwardLabelCount?: number;
  swapped?: number;
  /** |forward − truth| in percentage points. */
  error?: number;
  /** |swapped − the inverse ratio of forward|, percentage points. */
  swapError?: number;
  seconds?: number;
  swappedSeconds?: number;
  /** CPU time (user + system) of the forward run. */
  cpuSeconds?: number;
  peakRssMB?: number;
  failure?: string;
}

interface CaseJson {
  cases: { case: number; label: number; truePercentChange: number }[];
}

/**
 * heldout: the generator's held-out set (bench/cache/change-heldout: other structures, changes, motions and noise), to
 * check a change of method on cases it was not chosen on.
 */
export function runChange(opts: { data: string; repoRoot: string; outDir: string; coregBin: string; cases?: number[]; heldout?: boolean }): ChangeRow[] {
  const caseDir = join(opts.repoRoot, 'bench', 'cache', opts.heldout ? 'change-heldout' : 'change-cases');
  const casesFile = join(caseDir, 'cases.json');
  if (!existsSync(casesFile)) {
    console.error('bench change: generating the follow-ups with /usr/bin/python3 + scipy (a few minutes)…');
    const g = spawnSync('/usr/bin/python3', [join(opts.repoRoot, 'bench', 'make-change-cases.py'), join(opts.data, 'mni'), caseDir, '--set', opts.heldout ? 'heldout' : 'bench'], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('bench change: make-change-cases.py failed (needs Debian python3-nibabel and python3-scipy)');
  }
  const cases = (JSON.parse(readFileSync(casesFile, 'utf8')) as CaseJson).cases.filter((c) => !opts.cases || opts.cases.includes(c.case));
  const baseline = join(opts.data, 'mni', 'ch2bet.nii.gz');
  const rows: ChangeRow[] = [];
  for (const c of cases) {
    const row: ChangeRow = { case: c.case, label: c.label, truth: c.truePercentChange };
    const sub = opts.heldout ? 'change-heldout' : 'change';
    const out = join(opts.outDir, sub, `case${c.case}`);
    const outSwapped = join(opts.outDir, sub, `case${c.case}-swapped`);
    rmSync(out, { recursive: true, force: true });
    rmSync(outSwapped, { recursive: true, force: true });
    mkdirSync(join(opts.outDir, sub), { recursive: true });
    const follow = join(caseDir, `followup_${c.case}.nii.gz`);
    const f = runTimed(process.execPath, [opts.coregBin, 'change', '--baseline', baseline, '--followup', follow, '--mask', join(caseDir, `mask_${c.case}.nii.gz`), '--out', out, '--json']);
    if (f.status !== 0) {
      row.failure = f.stderr.trim().split('\n').pop();
      rows.push(row);
      continue;
    }
    const fj = JSON.parse(f.stdout) as { percentChange: number; percentChangeLabelCount: number };
    row.forward = fj.percentChange;
    row.forwardLabelCount = fj.percentChangeLabelCount;
    row.error = Math.abs(fj.percentChange - c.truePercentChange);
    row.seconds = f.seconds;
    row.cpuSeconds = f.cpuSeconds;
    row.peakRssMB = f.peakRssMB;
    const s = runTimed(process.execPath, [opts.coregBin, 'change', '--baseline', follow, '--followup', baseline, '--mask', join(caseDir, `followup_mask_${c.case}.nii.gz`), '--out', outSwapped, '--json']);
    if (s.status === 0) {
      const sj = JSON.parse(s.stdout) as { percentChange: number };
      row.swapped = sj.percentChange;
      row.swappedSeconds = s.seconds;
      const inverse = 100 * (1 / (1 + fj.percentChange / 100) - 1);
      row.swapError = Math.abs(sj.percentChange - inverse);
    } else row.failure = `swapped: ${s.stderr.trim().split('\n').pop()}`;
    rows.push(row);
    console.error(`bench change: case ${c.case} truth ${c.truePercentChange.toFixed(3)} %, coreg ${row.forward?.toFixed(3)} %, swapped ${row.swapped?.toFixed(3)} %`);
  }
  return rows;
}

const f3 = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(3));

export function changeTable(rows: ChangeRow[]): string {
  const lines = [
    '| case (AAL label) | true change % | coreg change % | error (points) | label count % | swapped % | swap error (points) | time (s) | swapped time (s) | CPU time (s) | peak RSS (MB) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.case} (${r.label}) | ${f3(r.truth)} | ${f3(r.forward)} | ${f3(r.error)}${r.error !== undefined && r.error > 0.3 ? ' FAIL' : ''} | ${f3(r.forwardLabelCount)} | ${f3(r.swapped)} | ${f3(r.swapError)}${r.swapError !== undefined && r.swapError > 0.1 ? ' FAIL' : ''} | ${r.seconds?.toFixed(1) ?? '–'} | ${r.swappedSeconds?.toFixed(1) ?? '–'} | ${r.cpuSeconds?.toFixed(1) ?? '–'} | ${r.peakRssMB?.toFixed(0) ?? '–'} |${r.failure ? ` ${r.failure}` : ''}`);
  }
  const errors = rows.flatMap((r) => (r.error === undefined ? [] : [r.error]));
  const swaps = rows.flatMap((r) => (r.swapError === undefined ? [] : [r.swapError]));
  if (errors.length > 1) {
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    lines.push('', `error over ${errors.length} cases: mean ${f3(mean(errors))}, max ${f3(Math.max(...errors))} points; swap error: mean ${f3(swaps.length ? mean(swaps) : undefined)}, max ${f3(swaps.length ? Math.max(...swaps) : undefined)} points`);
  }
  return lines.join('\n');
}
