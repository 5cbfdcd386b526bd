// Running a command as a whole process: wall time, exit status, and peak memory through GNU time when present.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = existsSync(GNU_TIME);

export interface ProcessRun {
  /** Wall clock of the whole process, in seconds. */
  seconds: number;
  /** Peak resident set size in MB (from `/usr/bin/time -v`), when measurable. */
  peakRssMB?: number;
  /** User + system CPU time in seconds (from `/usr/bin/time -v`), when measurable: steadier than wall time on a busy machine. */
  cpuSeconds?: number;
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args…` to completion (no shell); stderr has GNU time's report removed. */
export function runTimed(command: string, args: string[], opts: { cwd?: string; timeoutSeconds?: number } = {}): ProcessRun {
  const argv = HAVE_GNU_TIME ? [GNU_TIME, '-v', command, ...args] : [command, ...args];
  const start = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: (opts.timeoutSeconds ?? 3600) * 1000,
  });
  const seconds = (performance.now() - start) / 1000;
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  let stderr = r.stderr ?? '';
  let peakRssMB: number | undefined;
  let cpuSeconds: number | undefined;
  if (HAVE_GNU_TIME) {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
    if (m) peakRssMB = Number(m[1]) / 1024;
    const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
    const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
    if (user && sys) cpuSeconds = Number(user[1]) + Number(sys[1]);
    // GNU time appends its report (starting with "Command being timed" or "Command exited with …") to stderr.
    const at = stderr.search(/^\s*(Command exited with non-zero status|Command terminated by signal|Command being timed)/m);
    if (at >= 0) stderr = stderr.slice(0, at);
  }
  return { seconds, peakRssMB, cpuSeconds, status: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr };
}

/** The median of a non-empty list. */
export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
