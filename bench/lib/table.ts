// The report: one markdown table row per case, and the pass rule.
import type { Tre } from './affine.js';

export interface ToolResult {
  tre: Tre;
  /** Wall time of each run (s). */
  seconds: number[];
  medianSeconds: number;
  peakRssMB?: number;
}

export interface CaseResult {
  case: string;
  dimension: 2 | 3;
  metric: string;
  stages: string;
  peerNote?: string;
  target: number;
  peerMargin?: number;
  coreg?: ToolResult & { iterations: string };
  /** Why coreg has no result (failed, or not runnable here). */
  coregMissing?: string;
  elastix?: ToolResult & { cached: boolean };
  elastixMissing?: string;
  /** true/false, or null when coreg did not run here (nothing to judge). */
  pass: boolean | null;
  verdict: string;
}

/** The pass rule: coreg's mean TRE ≤ target, and (3D) ≤ elastix's mean + margin when elastix ran. */
export function judge(r: Pick<CaseResult, 'coreg' | 'coregMissing' | 'elastix' | 'target' | 'peerMargin'>, coregFailed: boolean): { pass: boolean | null; verdict: string } {
  if (!r.coreg) return coregFailed ? { pass: false, verdict: '**FAIL** (coreg error)' } : { pass: null, verdict: 'not run' };
  const mean = r.coreg.tre.mean;
  if (!(mean <= r.target)) return { pass: false, verdict: `**FAIL** (> ${r.target} mm)` };
  if (r.peerMargin !== undefined && r.elastix && !(mean <= r.elastix.tre.mean + r.peerMargin)) {
    return { pass: false, verdict: `**FAIL** (> elastix + ${r.peerMargin} mm)` };
  }
  return { pass: true, verdict: 'pass' };
}

const mm = (t: Tre): string => `${t.mean.toFixed(3)} / ${t.max.toFixed(3)}`;
const sec = (s: number): string => (s < 10 ? s.toFixed(2) : s.toFixed(1));
const rss = (v?: number): string => (v === undefined ? '?' : String(Math.round(v)));

export function markdownTable(rows: CaseResult[]): string {
  const head = ['case', 'metric', 'transform', 'coreg TRE mean / max (mm)', 'iterations', 'coreg time (s)', 'elastix TRE mean / max (mm)', 'elastix time (s)', 'time ratio coreg/elastix', 'peak RSS coreg / elastix (MB)', 'pass'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const c = r.coreg;
    const e = r.elastix;
    const transform = r.peerNote ? `${r.stages} (${r.peerNote})` : r.stages;
    lines.push(
      `| ${[
        r.case,
        r.metric,
        transform,
        c ? mm(c.tre) : (r.coregMissing ?? '—'),
        c ? c.iterations : '—',
        c ? sec(c.medianSeconds) : '—',
        e ? mm(e.tre) : (r.elastixMissing ?? '—'),
        e ? sec(e.medianSeconds) + (e.cached ? '*' : '') : '—',
        c && e ? (c.medianSeconds / e.medianSeconds).toFixed(2) : '—',
        c || e ? `${c ? rss(c.peakRssMB) : '—'} / ${e ? rss(e.peakRssMB) : '—'}` : '—',
        r.verdict,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
