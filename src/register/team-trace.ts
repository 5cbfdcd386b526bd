/**
 * TEMPORARY diagnostics (COREG_TEAM_TRACE=1, Node only): per team phase, the caller's wall time, each thread's
 * busy time and blocks, the helpers' wake-up delay; per session, its open time and the helpers' CPU time; and
 * named spans of register's own steps (wall, this thread's CPU, the process' CPU). Printed on stderr at exit.
 */
interface Proc {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (name: string) => unknown;
  cpuUsage?: () => { user: number; system: number };
  on?: (event: string, f: () => void) => void;
}
const proc = (globalThis as { process?: Proc }).process;
export const TEAM_TRACE = !!proc?.env?.COREG_TEAM_TRACE;

export function absNow(): number {
  return performance.timeOrigin + performance.now();
}

let fs: { readFileSync(p: string, e: string): string } | undefined;
/** This thread's on-CPU and run-queue waiting time so far (ms). */
export function threadSched(): [number, number] {
  fs ??= proc?.getBuiltinModule?.('node:fs') as typeof fs;
  if (!fs) return [NaN, NaN];
  const [a, b] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
  return [a / 1e6, b / 1e6];
}

export function processCpu(): number {
  const u = proc?.cpuUsage?.();
  return u ? (u.user + u.system) / 1000 : NaN;
}

interface PhaseStat {
  runs: number;
  blocks: number;
  wall: number;
  callerBusy: number;
  callerBlocks: number;
  callerCpu: number;
  helperBusy: number;
  helperBlocks: number;
  wake: number;
  wakes: number;
  late: number;
  helperCpu: number;
}
interface SessionStat {
  sessions: number;
  open: number;
  helperFactory: number;
  helperCpu: number;
  helperRq: number;
  helperWall: number;
  callerCpu: number;
  callerWall: number;
}
interface SpanStat {
  n: number;
  wall: number;
  cpu: number;
  proc: number;
}
const phases = new Map<string, PhaseStat>();
const sessions = new Map<string, SessionStat>();
const spans = new Map<string, SpanStat>();
const order: string[] = [];
let registered = false;

function atExit(): void {
  if (registered || !proc?.on) return;
  registered = true;
  proc.on('exit', () => {
    const f = (x: number) => x.toFixed(1).padStart(8);
    const lines: string[] = ['team trace (ms)'];
    lines.push('spans: name n wall threadCpu processCpu');
    for (const [k, s] of spans) lines.push(`  ${k.padEnd(34)} ${String(s.n).padStart(4)} ${f(s.wall)} ${f(s.cpu)} ${f(s.proc)}`);
    lines.push('sessions: name n open callerWall callerCpu helperWall helperCpu helperRunQueue helperFactory');
    for (const [k, s] of sessions) lines.push(`  ${k.padEnd(20)} ${String(s.sessions).padStart(4)} ${f(s.open)} ${f(s.callerWall)} ${f(s.callerCpu)} ${f(s.helperWall)} ${f(s.helperCpu)} ${f(s.helperRq)} ${f(s.helperFactory)}`);
    lines.push('phases: name#phase runs blocks wall callerBusy callerCpu callerBlocks helperBusy helperBlocks meanWake helperLate(no block) helperCpu');
    for (const k of order) {
      const s = phases.get(k)!;
      lines.push(
        `  ${k.padEnd(20)} ${String(s.runs).padStart(5)} ${String(s.blocks).padStart(6)} ${f(s.wall)} ${f(s.callerBusy)} ${f(s.callerCpu)} ${String(s.callerBlocks).padStart(6)} ${f(s.helperBusy)} ${String(s.helperBlocks).padStart(6)} ${f(s.wakes ? s.wake / s.wakes : 0)} ${String(s.late).padStart(5)} ${f(s.helperCpu)}`,
      );
    }
    (globalThis as unknown as { console: Console }).console.error(lines.join('\n'));
  });
}

export function tracePhase(key: string, blocks: number, wall: number, callerBusy: number, callerCpu: number, callerBlocks: number, helperBusy: number, helperBlocks: number, wake: number, wakes: number, late: number, helperCpu = 0): void {
  atExit();
  let s = phases.get(key);
  if (!s) {
    phases.set(key, (s = { runs: 0, blocks: 0, wall: 0, callerBusy: 0, callerBlocks: 0, callerCpu: 0, helperBusy: 0, helperBlocks: 0, wake: 0, wakes: 0, late: 0, helperCpu: 0 }));
    order.push(key);
  }
  s.runs++;
  s.blocks += blocks;
  s.wall += wall;
  s.callerBusy += callerBusy;
  s.callerCpu += callerCpu;
  s.callerBlocks += callerBlocks;
  s.helperBusy += helperBusy;
  s.helperBlocks += helperBlocks;
  s.wake += wake;
  s.wakes += wakes;
  s.late += late;
  s.helperCpu += helperCpu;
}

export function traceSession(key: string, add: Partial<SessionStat>): void {
  atExit();
  let s = sessions.get(key);
  if (!s) sessions.set(key, (s = { sessions: 0, open: 0, helperFactory: 0, helperCpu: 0, helperRq: 0, helperWall: 0, callerCpu: 0, callerWall: 0 }));
  for (const [k, v] of Object.entries(add)) (s as unknown as Record<string, number>)[k] += v as number;
}

/** Times `f` under `name` (when tracing). */
export async function span<T>(name: string, f: () => Promise<T> | T): Promise<T> {
  if (!TEAM_TRACE) return f();
  atExit();
  const w = absNow();
  const c = threadSched()[0];
  const p = processCpu();
  try {
    return await f();
  } finally {
    let s = spans.get(name);
    if (!s) spans.set(name, (s = { n: 0, wall: 0, cpu: 0, proc: 0 }));
    s.n++;
    s.wall += absNow() - w;
    s.cpu += threadSched()[0] - c;
    s.proc += processCpu() - p;
  }
}

/** Times `f` under `name` (when tracing), synchronously. */
export function spanSync<T>(name: string, f: () => T): T {
  if (!TEAM_TRACE) return f();
  atExit();
  const w = absNow();
  const c = threadSched()[0];
  const p = processCpu();
  try {
    return f();
  } finally {
    let s = spans.get(name);
    if (!s) spans.set(name, (s = { n: 0, wall: 0, cpu: 0, proc: 0 }));
    s.n++;
    s.wall += absNow() - w;
    s.cpu += threadSched()[0] - c;
    s.proc += processCpu() - p;
  }
}
