// The atlas benchmark's rows, its three checks per target, the leave-one-out summary (mean of each row over the
// targets, and how many targets pass each check) and their markdown tables. No I/O: the suite fills the rows.

export type AtlasGroup = 'no registration' | 'single atlas' | 'fusion' | 'selection';

export interface AtlasRow {
  /** Same for the same method on every target, so the summary can average it; absent for per-atlas rows. */
  key?: string;
  group: AtlasGroup;
  tool: 'coreg' | 'elastix' | '—';
  method: string;
  dice?: number;
  seconds?: number;
  /** The time is derived (a measured run's registrations + an in-process fusion), not one timed process. */
  estimated?: boolean;
  peakRssMB?: number;
  /** elastix's time comes from its cached run. */
  cached?: boolean;
  /** Why there is no result. */
  missing?: string;
}

export interface AtlasJudgement {
  check: string;
  pass: boolean | null;
  detail: string;
}

export interface TargetResult {
  target: number;
  atlases: number[];
  rows: AtlasRow[];
  checks: AtlasJudgement[];
  /** Shown under the target's table (ranking, the measured --select run beside its estimate). */
  notes: string[];
}

/** Row keys the checks read. */
export const KEY = {
  elastixMajority: 'elastix:majority',
  coregMajority: 'coreg:majority',
  coregJlf: 'coreg:jlf',
  coregBestSingle: 'coreg:single:best',
} as const;

export const CHECKS = ['coreg majority ≥ elastix majority', 'coreg JLF > coreg majority', 'coreg JLF > best single coreg atlas'] as const;

/** elastix's published majority-vote Dice for atlases 1–5 → subject 6 (shared/peers/README.md). */
export const ELASTIX_PUBLISHED_MAJORITY = 0.894;
export const PUBLISHED_TARGET = 6;

function diceOf(rows: readonly AtlasRow[], key: string): number | undefined {
  return rows.find((r) => r.key === key)?.dice;
}

/**
 * The three checks of one target. coreg's majority is held against elastix's measured majority, or, for the
 * published set-up (target 6) only, against the published figure when elastix did not run.
 */
export function judgeTarget(target: number, rows: readonly AtlasRow[]): AtlasJudgement[] {
  const majority = diceOf(rows, KEY.coregMajority);
  const jlf = diceOf(rows, KEY.coregJlf);
  const measured = diceOf(rows, KEY.elastixMajority);
  const peer = measured ?? (target === PUBLISHED_TARGET ? ELASTIX_PUBLISHED_MAJORITY : undefined);
  const peerName = measured !== undefined ? 'elastix majority, measured' : 'elastix majority, published';
  const judge = (check: string, a: number | undefined, b: number | undefined, strict: boolean, what: string): AtlasJudgement => {
    if (a === undefined || b === undefined) return { check, pass: null, detail: 'not run' };
    return { check, pass: strict ? a > b : a >= b, detail: `${a.toFixed(4)} ${strict ? '>' : '≥'} ${b.toFixed(4)} (${what})` };
  };
  return [
    judge(CHECKS[0], majority, peer, false, peerName),
    judge(CHECKS[1], jlf, majority, true, 'coreg majority'),
    judge(CHECKS[2], jlf, diceOf(rows, KEY.coregBestSingle), true, 'best single coreg atlas'),
  ];
}

export interface SummaryRow extends Omit<AtlasRow, 'key' | 'missing' | 'cached' | 'dice' | 'seconds' | 'peakRssMB'> {
  key: string;
  /** Targets that have this row with a Dice. */
  targets: number;
  dice?: number;
  seconds?: number;
  peakRssMB?: number;
}

export interface CheckCount {
  check: string;
  pass: number;
  fail: number;
  notJudged: number;
}

function mean(xs: number[]): number | undefined {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : undefined;
}

/** Mean of every keyed row over the targets that have it (in first-seen order), and the check counts. */
export function summarize(results: readonly TargetResult[]): { rows: SummaryRow[]; checks: CheckCount[] } {
  const byKey = new Map<string, AtlasRow[]>();
  for (const t of results) for (const r of t.rows) if (r.key) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const rows: SummaryRow[] = [];
  for (const [key, list] of byKey) {
    const scored = list.filter((r) => r.dice !== undefined);
    const seconds = list.filter((r) => r.seconds !== undefined).map((r) => r.seconds!);
    const rss = list.filter((r) => r.peakRssMB !== undefined).map((r) => r.peakRssMB!);
    const { group, tool, method } = list[0];
    rows.push({
      key,
      group,
      tool,
      method,
      targets: scored.length,
      dice: mean(scored.map((r) => r.dice!)),
      seconds: mean(seconds),
      estimated: list.some((r) => r.estimated) || undefined,
      peakRssMB: rss.length ? Math.max(...rss) : undefined,
    });
  }
  const checks = CHECKS.map((check) => {
    const all = results.map((t) => t.checks.find((c) => c.check === check)?.pass ?? null);
    return { check, pass: all.filter((p) => p === true).length, fail: all.filter((p) => p === false).length, notJudged: all.filter((p) => p === null).length };
  });
  return { rows, checks };
}

const HEAD = ['group', 'tool', 'method', 'mean Dice', 'time (s)', 'peak RSS (MB)'];

function markdownRows(head: string[], cells: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...cells.map((c) => `| ${c.join(' | ')} |`)];
}

const secondsCell = (r: { seconds?: number; estimated?: boolean; cached?: boolean }): string =>
  r.seconds === undefined ? '—' : `${r.estimated ? '~' : ''}${r.seconds.toFixed(1)}${r.cached ? '*' : ''}`;
const rssCell = (v?: number): string => (v === undefined ? '—' : String(Math.round(v)));
const verdict = (p: boolean | null): string => (p === null ? 'not judged' : p ? 'pass' : '**FAIL**');

/** One target's rows and checks. */
export function targetTable(t: TargetResult): string {
  const cells = t.rows.map((r) => [r.group, r.tool, r.method, r.dice !== undefined ? r.dice.toFixed(4) : (r.missing ?? '—'), secondsCell(r), rssCell(r.peakRssMB)]);
  const checks = t.checks.map((c) => [c.check, c.detail, verdict(c.pass)]);
  return [...markdownRows(HEAD, cells), '', ...markdownRows(['check', 'result', 'pass'], checks), ...(t.notes.length ? ['', ...t.notes.map((n) => `- ${n}`)] : [])].join('\n');
}

/** The mean over the targets of each row, and per check how many targets pass. */
export function summaryTable(results: readonly TargetResult[]): string {
  const s = summarize(results);
  const n = results.length;
  const cells = s.rows.map((r) => [r.group, r.tool, r.method, r.dice !== undefined ? r.dice.toFixed(4) + (r.targets < n ? ` (${r.targets} of ${n})` : '') : '—', secondsCell(r), rssCell(r.peakRssMB)]);
  const head = [...HEAD.slice(0, 3), `mean Dice over ${n} target${n === 1 ? '' : 's'}`, 'mean time (s)', 'max peak RSS (MB)'];
  const checks = s.checks.map((c) => [c.check, `${c.pass} of ${n}`, String(c.fail), String(c.notJudged), c.fail ? '**FAIL**' : c.pass ? 'pass' : 'not judged']);
  return [...markdownRows(head, cells), '', ...markdownRows(['check', 'targets passing', 'failing', 'not judged', 'verdict'], checks)].join('\n');
}
