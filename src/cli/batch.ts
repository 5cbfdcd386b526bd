/**
 * Cohort batches (`coreg batch`, `coreg template`): a manifest of registrations run N at a time by child
 * processes (local backend) or as one Slurm job array (slurm backend), with nothing lost.
 *
 * Layout of a batch folder DIR:
 *   DIR/<id>/            one row's `register` outputs plus batch.json (the input/settings hash); the folder appears
 *                        whole, by one rename of a finished temporary folder, so a folder is always complete
 *   DIR/status.csv       id,state,seconds,error (rewritten atomically as rows finish)
 *   DIR/.batch/          plan.json (what each task runs), ids, job.sh (Slurm), logs/<id>.log, status/<id>.json
 *                        (each task records its own outcome), tmp/ (unfinished task folders; removed at the end)
 *
 * A task (src/cli/batch-task.ts, `node batch-task.js PLAN INDEX`) reads its row from plan.json, runs `register`
 * into DIR/.batch/tmp/, adds batch.json, swaps the folder into DIR/<id> and writes DIR/.batch/status/<id>.json.
 * Killed anywhere before the swap, it leaves only a temporary folder; killed after it, a complete result.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoregError } from '../errors.js';
import { writeFileAtomic } from '../io/node.js';
import type { CliIO } from './common.js';

// --- manifest ------------------------------------------------------------------------------------------

/** Manifest columns that name files (relative paths resolve from the manifest's folder). */
const PATH_COLUMNS = ['fixed', 'moving', 'fixed_mask', 'moving_mask', 'initial', 'config', 'fixed_points', 'moving_points'];
/** Manifest columns that are `register` settings (column a_b is option --a-b). */
const SETTING_COLUMNS = ['transform', 'metric', 'initializer', 'iterations', 'shrink', 'smooth', 'grid_spacing', 'seed', 'optimizer', 'sampling', 'sampling_percentage', 'bins', 'radius', 'rotation_search'];
export const MANIFEST_COLUMNS = ['id', ...PATH_COLUMNS, ...SETTING_COLUMNS];

export interface BatchRow {
  id: string;
  /** Column → value (paths absolute); empty cells are left out. */
  values: Record<string, string>;
}

/** RFC 4180 CSV (quotes, doubled quotes, CRLF); blank lines skipped. */
export function parseCsv(text: string, subject: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = (): void => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0].trim() === '')) rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
    } else field += ch;
    i++;
  }
  if (quoted) throw new CoregError(subject, 'unterminated quoted field');
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A row id becomes a folder name: letters, digits, '.', '_' and '-' only. */
export function checkRowId(id: string, subject: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(id) || id.length > 200) {
    throw new CoregError(subject, `id '${id}' must be letters, digits, '.', '_' or '-' (it names the row's output folder)`);
  }
}

/**
 * Reads MANIFEST.csv: header id,fixed,moving[,…]. An unknown column is bad usage (exit 2, naming it); a
 * malformed row or a duplicate id is an error about the file (exit 1). Paths resolve from the manifest's folder.
 */
export function parseManifest(text: string, manifestPath: string): BatchRow[] {
  const table = parseCsv(text.replace(/^\uFEFF/, ''), manifestPath);
  if (table.length === 0) throw new CoregError(manifestPath, 'empty manifest (expected a header id,fixed,moving[,…])');
  const header = table[0].map((h) => h.trim().toLowerCase());
  for (const h of header) {
    if (!MANIFEST_COLUMNS.includes(h)) throw new CoregError(manifestPath, `unknown column '${h}' (known: ${MANIFEST_COLUMNS.join(', ')})`, 2);
  }
  for (const need of ['id', 'fixed', 'moving']) {
    if (!header.includes(need)) throw new CoregError(manifestPath, `the header needs an '${need}' column (id,fixed,moving[,…])`, 2);
  }
  if (new Set(header).size !== header.length) throw new CoregError(manifestPath, 'a column appears twice in the header', 2);
  const base = dirname(resolve(manifestPath));
  const rows: BatchRow[] = [];
  const seen = new Set<string>();
  for (let r = 1; r < table.length; r++) {
    const cells = table[r];
    const where = `${manifestPath}: line ${r + 1}`;
    if (cells.length !== header.length) throw new CoregError(where, `has ${cells.length} fields, the header ${header.length}`);
    const values: Record<string, string> = {};
    header.forEach((h, c) => {
      const v = cells[c].trim();
      if (v !== '') values[h] = PATH_COLUMNS.includes(h) ? (isAbsolute(v) ? v : resolve(base, v)) : v;
    });
    const id = values.id ?? '';
    checkRowId(id, where);
    if (seen.has(id)) throw new CoregError(where, `duplicate id '${id}'`);
    seen.add(id);
    for (const need of ['fixed', 'moving']) if (!values[need]) throw new CoregError(where, `row '${id}' has no ${need} image`);
    delete values.id;
    rows.push({ id, values });
  }
  if (rows.length === 0) throw new CoregError(manifestPath, 'the manifest has a header but no rows');
  return rows;
}

/** `register` arguments for a row (without --out). */
export function registerArgs(row: BatchRow): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(row.values)) {
    const flag = `--${k.replace(/_/g, '-')}`;
    if (k === 'rotation_search') {
      if (/^(1|true|yes)$/i.test(v)) args.push(flag);
      else if (!/^(0|false|no)$/i.test(v)) throw new CoregError(`row ${row.id}: rotation_search`, `expected true or false, got '${v}'`);
    } else args.push(flag, v);
  }
  return args;
}

// --- the input/settings hash ---------------------------------------------------------------------------

function hashPath(path: string, h: ReturnType<typeof createHash>): void {
  const st = statSync(path);
  if (st.isDirectory()) {
    // A DICOM series folder: every file in it, in name order.
    for (const name of readdirSync(path).sort()) {
      h.update(`\0${name}\0`);
      hashPath(join(path, name), h);
    }
  } else h.update(readFileSync(path));
}

/**
 * sha256 over the coreg version, the row's settings and the contents of its input files (not their names: the
 * same bytes under another path are the same input). Throws CoregError naming a missing or unreadable input.
 */
export function rowHash(row: BatchRow, version: string): string {
  const h = createHash('sha256');
  h.update(`coreg ${version}\n`);
  for (const k of Object.keys(row.values).sort()) {
    const v = row.values[k];
    h.update(`${k}=`);
    if (PATH_COLUMNS.includes(k)) {
      const inner = createHash('sha256');
      try {
        hashPath(v, inner);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new CoregError(v, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message);
      }
      h.update(inner.digest('hex'));
    } else h.update(v);
    h.update('\n');
  }
  return h.digest('hex');
}

// --- status --------------------------------------------------------------------------------------------

export type RowState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface RowStatus {
  id: string;
  state: RowState;
  seconds: number | null;
  error: string;
}

export function formatStatusCsv(rows: RowStatus[]): string {
  const lines = ['id,state,seconds,error'];
  for (const r of rows) lines.push([r.id, r.state, r.seconds === null ? '' : r.seconds.toFixed(2), csvField(oneLine(r.error))].join(','));
  return lines.join('\n') + '\n';
}

export function parseStatusCsv(text: string): RowStatus[] {
  const t = parseCsv(text, 'status.csv');
  return t.slice(1).map((c) => ({ id: c[0], state: c[1] as RowState, seconds: c[2] === '' ? null : Number(c[2]), error: c[3] ?? '' }));
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

// --- plan and tasks ------------------------------------------------------------------------------------

export interface BatchPlan {
  out: string;
  version: string;
  rows: { id: string; args: string[]; hash: string }[];
}

/** What a task writes into its row's folder beside the register outputs. */
export interface BatchMarker {
  id: string;
  hash: string;
  seconds: number;
  finished: string;
}

export const MARKER = 'batch.json';

/** Whether DIR/<id> holds a complete result made from the inputs and settings with this hash. */
export function completeResult(out: string, id: string, hash: string): BatchMarker | null {
  const dir = join(out, id);
  try {
    const marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as BatchMarker;
    if (marker.hash !== hash || marker.id !== id) return null;
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { transforms?: unknown };
    if (!Array.isArray(result.transforms)) return null;
    for (const f of ['warped.nii.gz', ...(result.transforms as string[])]) if (!statSync(join(dir, f)).isFile()) return null;
    return marker;
  } catch {
    return null;
  }
}

function taskStatusPath(out: string, id: string): string {
  return join(out, '.batch', 'status', `${id}.json`);
}

/** The outcome a task recorded for itself (null: it did not, e.g. it was killed). */
export function readTaskStatus(out: string, id: string): RowStatus | null {
  try {
    const s = JSON.parse(readFileSync(taskStatusPath(out, id), 'utf8')) as RowStatus;
    return s.id === id && (s.state === 'done' || s.state === 'failed') ? s : null;
  } catch {
    return null;
  }
}

/** Runs the `coreg` command line in this process (main.ts's run, passed in to keep the import one-way). */
export type CliRunner = (argv: string[], io: CliIO) => Promise<number>;

/**
 * One task: register row `index` of the plan into a temporary folder, add batch.json, swap it into DIR/<id>
 * and record the outcome in DIR/.batch/status/<id>.json. Returns the exit code (0 done, 1 failed).
 */
export async function runTask(planPath: string, index: number, runCli: CliRunner, log: CliIO): Promise<number> {
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as BatchPlan;
  const row = plan.rows[index];
  if (!row) throw new CoregError(planPath, `no row ${index} (the plan has ${plan.rows.length})`);
  const out = plan.out;
  const started = Date.now();
  let error = '';
  const tmpRoot = join(out, '.batch', 'tmp');
  const tmp = join(tmpRoot, `${row.id}.${process.pid}.${randomBytes(4).toString('hex')}`);
  let lastErr = '';
  const io: CliIO = {
    stdout: log.stdout,
    stderr: {
      write: (s: string) => {
        for (const line of s.split('\n')) if (line.trim()) lastErr = line.trim();
        return log.stderr.write(s);
      },
    },
  };
  try {
    mkdirSync(tmpRoot, { recursive: true });
    const code = await runCli(['register', ...row.args, '--out', tmp, '--quiet'], io);
    if (code !== 0) {
      error = lastErr.replace(/^coreg: error: /, '') || `register exited with code ${code}`;
    } else {
      const seconds = (Date.now() - started) / 1000;
      const marker: BatchMarker = { id: row.id, hash: row.hash, seconds, finished: new Date().toISOString() };
      writeFileAtomic(join(tmp, MARKER), JSON.stringify(marker, null, 2) + '\n');
      swapIntoPlace(tmp, join(out, row.id), tmpRoot);
    }
  } catch (e) {
    error = e instanceof CoregError ? `${e.subject}: ${e.message}` : e instanceof Error ? e.message : String(e);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  const status: RowStatus = { id: row.id, state: error ? 'failed' : 'done', seconds, error: oneLine(error) };
  mkdirSync(dirname(taskStatusPath(out, row.id)), { recursive: true });
  writeFileAtomic(taskStatusPath(out, row.id), JSON.stringify(status) + '\n');
  log.stderr.write(`coreg batch: ${row.id}: ${status.state}${error ? `: ${status.error}` : ''} (${seconds.toFixed(1)} s)\n`);
  return error ? 1 : 0;
}

/** Replaces `dest` by the finished folder `src` (an old result is moved aside first, then removed). */
function swapIntoPlace(src: string, dest: string, tmpRoot: string): void {
  let old: string | null = null;
  if (existsSync(dest)) {
    old = join(tmpRoot, `old.${randomBytes(6).toString('hex')}`);
    renameSync(dest, old);
  }
  renameSync(src, dest);
  if (old) rmSync(old, { recursive: true, force: true });
}

// --- the batch driver ----------------------------------------------------------------------------------

export type Backend = 'local' | 'slurm';

export interface BatchOptions {
  out: string;
  rows: BatchRow[];
  backend: Backend;
  /** Tasks at once (local: child processes; slurm: the array's %K throttle). */
  jobs: number;
  slurmArgs?: string[];
  resume?: boolean;
  version: string;
  /** Aborting cancels the batch (kills the children / scancels the array). */
  signal?: AbortSignal;
  /** Progress and per-row failure lines (stderr). */
  log: (line: string) => void;
  /** Seconds between Slurm polls (default 1). */
  pollSeconds?: number;
}

export interface BatchOutcome {
  rows: RowStatus[];
  cancelled: boolean;
  /** The Slurm array's job id. */
  jobId?: string;
}

/** package.json's version (part of every row's hash: a new coreg may register differently). */
export function coregVersion(): string {
  // src/cli/batch.ts and dist/cli/batch.js both sit two folders below package.json.
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/** The task entry script and how to start Node on it (from sources, tsx's loader is registered first). */
export function taskCommand(planPath: string, indices: string): { command: string; args: string[] } {
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`./batch-task.${fromSources ? 'ts' : 'js'}`, import.meta.url));
  const args = fromSources ? ['--import', import.meta.resolve('tsx'), entry] : [entry];
  return { command: process.execPath, args: [...args, planPath, indices] };
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the rows: hashes inputs (a row with a missing input fails at once), skips complete results under
 * --resume, runs the rest on the backend, and keeps DIR/status.csv current. Never throws for a row; throws only
 * when DIR itself cannot be used.
 */
export async function runBatch(opts: BatchOptions): Promise<BatchOutcome> {
  const out = resolve(opts.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
  const meta = join(out, '.batch');
  mkdirSync(join(meta, 'logs'), { recursive: true });
  mkdirSync(join(meta, 'status'), { recursive: true });
  rmSync(join(meta, 'tmp'), { recursive: true, force: true }); // leftovers of killed tasks: never results
  const statusPath = join(out, 'status.csv');
  const statuses: RowStatus[] = opts.rows.map((r) => ({ id: r.id, state: 'pending', seconds: null, error: '' }));
  const writeStatus = (): void => writeFileAtomic(statusPath, formatStatusCsv(statuses));

  const plan: BatchPlan = { out, version: opts.version, rows: [] };
  const todo: number[] = [];
  opts.rows.forEach((row, i) => {
    let hash = '';
    let args: string[] = [];
    try {
      hash = rowHash(row, opts.version);
      args = registerArgs(row);
    } catch (e) {
      const err = e instanceof CoregError ? `${e.subject}: ${e.message}` : String(e);
      statuses[i] = { id: row.id, state: 'failed', seconds: 0, error: err };
      opts.log(`coreg batch: ${row.id}: failed: ${err}`);
    }
    plan.rows.push({ id: row.id, args, hash });
    if (statuses[i].state === 'failed') return;
    const done = opts.resume ? completeResult(out, row.id, hash) : null;
    if (done) statuses[i] = { id: row.id, state: 'done', seconds: done.seconds, error: '' };
    else {
      rmSync(taskStatusPath(out, row.id), { force: true });
      todo.push(i);
    }
  });
  if (opts.resume && todo.length < opts.rows.length) opts.log(`coreg batch: --resume: ${opts.rows.length - todo.length} of ${opts.rows.length} rows already complete or failed before running`);
  writeFileAtomic(join(meta, 'plan.json'), JSON.stringify(plan, null, 1) + '\n');
  writeFileAtomic(join(meta, 'ids'), plan.rows.map((r) => r.id).join('\n') + '\n');
  writeStatus();

  let outcome: BatchOutcome;
  if (todo.length === 0) outcome = { rows: statuses, cancelled: false };
  else if (opts.backend === 'local') outcome = await runLocal(opts, out, todo, statuses, writeStatus);
  else outcome = await runSlurm(opts, out, todo, statuses, writeStatus);
  rmSync(join(meta, 'tmp'), { recursive: true, force: true });
  writeStatus();
  return outcome;
}

/** A finished task's row status: what the task recorded, else `fallback` (it died without recording). */
function collect(out: string, id: string, fallback: string, state: RowState = 'failed'): RowStatus {
  return readTaskStatus(out, id) ?? { id, state, seconds: null, error: fallback };
}

async function runLocal(opts: BatchOptions, out: string, todo: number[], statuses: RowStatus[], writeStatus: () => void): Promise<BatchOutcome> {
  const planPath = join(out, '.batch', 'plan.json');
  const running = new Map<number, ChildProcess>();
  let next = 0;
  let cancelled = false;
  await new Promise<void>((resolveAll) => {
    const onAbort = (): void => {
      cancelled = true;
      for (const child of running.values()) child.kill('SIGTERM');
      if (running.size === 0) resolveAll();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const pump = (): void => {
      while (!cancelled && running.size < opts.jobs && next < todo.length) {
        const i = todo[next++];
        const id = statuses[i].id;
        const { command, args } = taskCommand(planPath, String(i));
        const logFd = openSync(join(out, '.batch', 'logs', `${id}.log`), 'w');
        // Threads inside each registration: the cores shared among the jobs (no oversubscription by default).
        const env = { ...process.env, COREG_THREADS: process.env.COREG_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / opts.jobs))) };
        const child = spawn(command, args, { stdio: ['ignore', logFd, logFd], env });
        closeSync(logFd);
        statuses[i] = { id, state: 'running', seconds: null, error: '' };
        running.set(i, child);
        writeStatus();
        let ended = false;
        const end = (code: number | null, sig: NodeJS.Signals | null, spawnError?: Error): void => {
          if (ended) return;
          ended = true;
          running.delete(i);
          const why = spawnError ? `could not start the task: ${spawnError.message}` : sig ? `the task was killed (${sig})` : `the task exited with code ${code} without recording a result`;
          statuses[i] = cancelled && !readTaskStatus(out, id) ? { id, state: 'cancelled', seconds: null, error: 'the batch was cancelled' } : collect(out, id, why);
          report(opts, statuses[i]);
          writeStatus();
          if (running.size === 0 && (cancelled || next >= todo.length)) resolveAll();
          else pump();
        };
        child.on('error', (e) => end(null, null, e));
        child.on('exit', (code, sig) => end(code, sig));
      }
      if (running.size === 0 && next >= todo.length) resolveAll();
    };
    if (opts.signal?.aborted) onAbort();
    else pump();
  });
  for (const i of todo) if (statuses[i].state === 'pending') statuses[i] = { id: statuses[i].id, state: 'cancelled', seconds: null, error: 'the batch was cancelled' };
  return { rows: statuses, cancelled };
}

function report(opts: BatchOptions, s: RowStatus): void {
  if (s.state === 'failed') opts.log(`coreg batch: ${s.id}: failed: ${s.error}`);
}

// --- Slurm ---------------------------------------------------------------------------------------------

/** Splits --slurm-args "…" like a shell would (quotes, backslashes; no expansion). */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new CoregError('--slurm-args', 'unterminated quote', 2);
  if (inWord) words.push(cur);
  return words;
}

interface SlurmTaskState {
  state: string;
  exitCode: string;
  reason: string;
}

/** `scontrol show job -o JOBID`: array task id → state (one line per task once it has been started). */
export function parseScontrol(text: string): Map<number, SlurmTaskState> {
  const map = new Map<number, SlurmTaskState>();
  for (const line of text.split('\n')) {
    const f = (key: string): string => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line)?.[1] ?? '';
    const task = f('ArrayTaskId');
    if (!/^\d+$/.test(task)) continue;
    map.set(Number(task), { state: f('JobState'), exitCode: f('ExitCode'), reason: f('Reason') });
  }
  return map;
}

function runTool(cmd: string, args: string[]): { ok: boolean; stdout: string; message: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return { ok: false, stdout: '', message: `${cmd}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed (is Slurm available here?)' : r.error.message}` };
  const err = oneLine(r.stderr || '');
  return { ok: r.status === 0, stdout: r.stdout, message: `${cmd}: ${err || `exit code ${r.status}`}` };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function runSlurm(opts: BatchOptions, out: string, todo: number[], statuses: RowStatus[], writeStatus: () => void): Promise<BatchOutcome> {
  const meta = join(out, '.batch');
  const planPath = join(meta, 'plan.json');
  const { command, args } = taskCommand(planPath, '$SLURM_ARRAY_TASK_ID');
  const script = [
    '#!/bin/bash',
    '# One row of a coreg batch: array task id = row index in plan.json (written by coreg batch).',
    `id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${shellQuote(join(meta, 'ids'))})`,
    `exec >${shellQuote(join(meta, 'logs'))}/"$id".log 2>&1`,
    `exec ${[command, ...args.slice(0, -1)].map(shellQuote).join(' ')} "$SLURM_ARRAY_TASK_ID"`,
    '',
  ].join('\n');
  writeFileAtomic(join(meta, 'job.sh'), script);
  const throttle = Math.max(1, opts.jobs);
  const sbatchArgs = [
    '--parsable',
    `--array=${todo.join(',')}%${throttle}`,
    '--job-name=coreg-batch',
    `--output=${join(meta, 'logs', 'slurm-%A_%a.out')}`,
    `--chdir=${out}`,
    ...(opts.slurmArgs ?? []),
    join(meta, 'job.sh'),
  ];
  const failAll = (why: string): BatchOutcome => {
    for (const i of todo) statuses[i] = { id: statuses[i].id, state: 'failed', seconds: null, error: why };
    opts.log(`coreg batch: slurm: ${why}`);
    return { rows: statuses, cancelled: false };
  };
  if (opts.signal?.aborted) {
    for (const i of todo) statuses[i] = { id: statuses[i].id, state: 'cancelled', seconds: null, error: 'the batch was cancelled' };
    return { rows: statuses, cancelled: true };
  }
  const sub = runTool('sbatch', sbatchArgs);
  if (!sub.ok) return failAll(`the job was not accepted: ${sub.message}`);
  const jobId = sub.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(jobId)) return failAll(`sbatch printed no job id: ${oneLine(sub.stdout)}`);
  opts.log(`coreg batch: Slurm job array ${jobId} (${todo.length} tasks, at most ${throttle} at once)`);
  for (const i of todo) statuses[i] = { id: statuses[i].id, state: 'pending', seconds: null, error: '' };
  writeStatus();

  let cancelled = false;
  const onAbort = (): void => {
    cancelled = true;
    runTool('scancel', [jobId]);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const pending = new Set(todo);
  let lostContact = 0;
  try {
    for (;;) {
      const q = runTool('squeue', ['-h', '-r', '-j', jobId, '-o', '%K %T']);
      let active = new Map<number, string>();
      if (q.ok) {
        lostContact = 0;
        for (const line of q.stdout.split('\n')) {
          const m = /^(\d+)\s+(\S+)/.exec(line.trim());
          if (m) active.set(Number(m[1]), m[2]);
        }
      } else if (/Invalid job id/i.test(q.message)) {
        active = new Map(); // purged: every task has ended
      } else if (++lostContact > 30) {
        // slurmctld stopped answering: report what the tasks recorded, fail the rest.
        for (const i of pending) statuses[i] = collect(out, statuses[i].id, `lost contact with Slurm (${q.message})`);
        opts.log(`coreg batch: slurm: lost contact with Slurm (${q.message}); job ${jobId} may still run`);
        return { rows: statuses, cancelled: false, jobId };
      } else {
        await sleep(1000 * (opts.pollSeconds ?? 1), opts.signal);
        continue;
      }
      let changed = false;
      const ended: number[] = [];
      for (const i of [...pending]) {
        const s = active.get(i);
        const id = statuses[i].id;
        if (s !== undefined) {
          if (s === 'RUNNING' && statuses[i].state !== 'running') {
            statuses[i] = { id, state: 'running', seconds: null, error: '' };
            changed = true;
          }
          continue;
        }
        pending.delete(i);
        ended.push(i);
        changed = true;
        const rec = readTaskStatus(out, id);
        statuses[i] = rec ?? { id, state: cancelled ? 'cancelled' : 'failed', seconds: null, error: '' };
      }
      // Tasks that ended without recording their outcome: ask scontrol why (no accounting database needed).
      const unexplained = ended.filter((i) => statuses[i].state !== 'done' && !statuses[i].error);
      if (unexplained.length > 0) {
        const sc = runTool('scontrol', ['show', 'job', '-o', jobId]);
        const states = sc.ok ? parseScontrol(sc.stdout) : new Map<number, SlurmTaskState>();
        for (const i of unexplained) {
          const st = states.get(i);
          const detail = st ? ` ${st.state}${st.exitCode && st.exitCode !== '0:0' ? ` (exit ${st.exitCode})` : ''}${st.reason && st.reason !== 'None' ? ` (${st.reason})` : ''}` : '';
          const why = `Slurm task ${jobId}_${i} ended${detail} without recording a result`;
          statuses[i] = { id: statuses[i].id, state: cancelled ? 'cancelled' : 'failed', seconds: null, error: cancelled ? `the batch was cancelled (${why})` : why };
        }
      }
      for (const i of ended) report(opts, statuses[i]);
      if (changed) writeStatus();
      if (pending.size === 0) break;
      await sleep(1000 * (opts.pollSeconds ?? 1), cancelled ? undefined : opts.signal);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { rows: statuses, cancelled, jobId };
}

/** Whether a Slurm controller answers here (for tests and the bench). */
export function slurmAnswers(): boolean {
  const r = spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10000 });
  return r.status === 0 && /idle|mixed|alloc/.test(r.stdout);
}
