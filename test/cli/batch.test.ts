// coreg batch: manifest parsing, status.csv, failed rows, --resume, interruption, and the Slurm backend on a real
// Slurm (skipped when `sinfo` does not answer; CI starts one with .ci/start-slurm.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { formatStatusCsv, parseCsv, parseManifest, parseScontrol, parseStatusCsv, registerArgs, rowHash, slurmAnswers, splitShellWords } from '../../src/cli/batch.js';
import { CoregError } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers.js';

const COREG = join(REPO_ROOT, 'test', 'cli', 'coreg.ts');
/** tsx's loader by absolute URL: the commands run in their own temporary folders. */
const TSX = import.meta.resolve('tsx');
const SLURM_SKIP: string | false = slurmAnswers() ? false : 'Slurm does not answer here (`sinfo` fails): run .ci/start-slurm.sh as root to test the Slurm backend';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function coreg(args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, COREG, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Two blobs and a pattern, deformed smoothly by s pixels and shifted by (dx, dy). */
function phantom(n: number, s: number, dx: number, dy: number): Image {
  const im = createImage([n, n], 'float32', { spacing: [1, 1] });
  const c = n / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const xx = x - dx + s * Math.sin(y / 15);
      const yy = y - dy + s * Math.cos(x / 17);
      im.data[y * n + x] =
        100 * Math.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (0.06 * n * n)) +
        50 * Math.exp(-((xx - 1.3 * c) ** 2 + (yy - 0.8 * c) ** 2) / (0.008 * n * n)) +
        30 * (Math.sin(xx / 5) * Math.sin(yy / 7) > 0.3 ? 1 : 0);
    }
  }
  return im;
}

/** A folder with a small manifest: rows a, b (fast), slow (a 2D SyN on 256² pixels) and optionally bad rows. */
function makeCohort(withBad: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-batch-'));
  writeImageFile(join(dir, 'f.nii.gz'), phantom(48, 0, 0, 0));
  writeImageFile(join(dir, 'm1.nii.gz'), phantom(48, 0, 1.5, -1));
  writeImageFile(join(dir, 'm2.nii.gz'), phantom(48, 0, -2, 0.5));
  writeImageFile(join(dir, 'big-f.nii.gz'), phantom(256, 0, 0, 0));
  writeImageFile(join(dir, 'big-m.nii.gz'), phantom(256, 3, 1, 0));
  writeFileSync(join(dir, 'broken.nii.gz'), 'not an image\n');
  const lines = ['id,fixed,moving,transform,metric', 'a,f.nii.gz,m1.nii.gz,translation,mse', 'b,f.nii.gz,m2.nii.gz,rigid,mse', 'slow,big-f.nii.gz,big-m.nii.gz,"rigid,syn",mse'];
  if (withBad) lines.push('missing,f.nii.gz,nowhere.nii.gz,rigid,mse', 'broken,f.nii.gz,broken.nii.gz,rigid,mse');
  writeFileSync(join(dir, 'manifest.csv'), lines.join('\n') + '\n');
  return dir;
}

function status(out: string): Map<string, { state: string; error: string; seconds: number | null }> {
  return new Map(parseStatusCsv(readFileSync(join(out, 'status.csv'), 'utf8')).map((r) => [r.id, r]));
}

function finished(out: string, id: string): string {
  return (JSON.parse(readFileSync(join(out, id, 'batch.json'), 'utf8')) as { finished: string }).finished;
}

/** Every file of a row's result, byte for byte (batch.json holds times, so it is left out). */
function resultFiles(out: string, id: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const f of readdirSync(join(out, id)).sort()) if (f !== 'batch.json') m.set(f, readFileSync(join(out, id, f)));
  return m;
}

/** result.json without what depends on the run rather than the inputs (every "seconds", peak memory, threads). */
function withoutTimes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTimes);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'seconds' && k !== 'peakMemoryMb' && k !== 'cpuSeconds' && k !== 'threads').map(([k, x]) => [k, withoutTimes(x)]));
  return v;
}

function assertSameResults(a: string, b: string, ids: string[]): void {
  for (const id of ids) {
    const x = resultFiles(a, id);
    const y = resultFiles(b, id);
    assert.deepEqual([...x.keys()], [...y.keys()], `${id}: the same files`);
    for (const [f, bytes] of x) {
      if (f === 'result.json') assert.deepEqual(withoutTimes(JSON.parse(bytes.toString())), withoutTimes(JSON.parse(y.get(f)!.toString())), `${id}/${f}`);
      else assert.ok(bytes.equals(y.get(f)!), `${id}/${f} differs between ${a} and ${b}`);
    }
  }
}

function noLeftovers(out: string): void {
  const tmp = join(out, '.batch', 'tmp');
  assert.ok(!existsSync(tmp) || readdirSync(tmp).length === 0, `no unfinished task folders in ${tmp}`);
  for (const f of readdirSync(out)) assert.ok(!/\.tmp/.test(f), `no temporary file ${f}`);
}

test('CSV and manifest parsing: quotes, relative paths, unknown columns (exit 2), duplicate ids', () => {
  assert.deepEqual(parseCsv('a,"b,c","d""e"\r\n\n1,2,3', 'x'), [['a', 'b,c', 'd"e'], ['1', '2', '3']]);
  const rows = parseManifest('id,fixed,moving,transform,grid_spacing\ns1,f.nii,sub/m.nii,"affine,bspline",8\n', '/data/man.csv');
  assert.deepEqual(rows, [{ id: 's1', values: { fixed: '/data/f.nii', moving: '/data/sub/m.nii', transform: 'affine,bspline', grid_spacing: '8' } }]);
  assert.deepEqual(registerArgs(rows[0]), ['--fixed', '/data/f.nii', '--moving', '/data/sub/m.nii', '--transform', 'affine,bspline', '--grid-spacing', '8']);
  assert.throws(() => parseManifest('id,fixed,moving,colour\na,f,m,red\n', 'm.csv'), (e: unknown) => e instanceof CoregError && e.exitCode === 2 && /colour/.test(e.message));
  assert.throws(() => parseManifest('id,fixed,moving\na,f,m\na,f,m\n', 'm.csv'), (e: unknown) => e instanceof CoregError && e.exitCode === 1 && /duplicate id 'a'/.test(e.message));
  assert.throws(() => parseManifest('id,fixed,moving\n../x,f,m\n', 'm.csv'), /must be letters/);
  assert.throws(() => parseManifest('id,fixed\na,f\n', 'm.csv'), /'moving' column/);
});

test('status.csv round trip, sbatch argument splitting, scontrol task states', () => {
  const rows = [
    { id: 'a', state: 'done' as const, seconds: 1.5, error: '' },
    { id: 'b', state: 'failed' as const, seconds: null, error: 'x.nii: no such file, "really"\nsecond line' },
  ];
  const back = parseStatusCsv(formatStatusCsv(rows));
  assert.deepEqual(back, [rows[0], { ...rows[1], error: 'x.nii: no such file, "really" second line' }]);
  assert.deepEqual(splitShellWords(` --partition=short  --comment "a b" --x='c d' e\\ f`), ['--partition=short', '--comment', 'a b', '--x=c d', 'e f']);
  const sc = parseScontrol(
    'JobId=5 ArrayJobId=4 ArrayTaskId=2 JobName=coreg-batch JobState=CANCELLED Reason=None ExitCode=0:15\n' +
      'JobId=4 ArrayJobId=4 ArrayTaskId=3-5%2 JobState=PENDING Reason=JobArrayTaskLimit ExitCode=0:0\n' +
      'JobId=6 ArrayJobId=4 ArrayTaskId=0 JobState=COMPLETED Reason=None ExitCode=0:0\n',
  );
  assert.deepEqual([...sc.keys()].sort(), [0, 2]);
  assert.equal(sc.get(2)!.state, 'CANCELLED');
  assert.equal(sc.get(2)!.exitCode, '0:15');
});

test('the row hash follows the input contents and settings, not the file names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-hash-'));
  try {
    writeFileSync(join(dir, 'f'), 'F');
    writeFileSync(join(dir, 'm'), 'M');
    writeFileSync(join(dir, 'm2'), 'M');
    const row = (moving: string, transform = 'rigid') => ({ id: 'x', values: { fixed: join(dir, 'f'), moving: join(dir, moving), transform } });
    const h = rowHash(row('m'), '1');
    assert.equal(rowHash(row('m2'), '1'), h, 'same bytes, other name');
    assert.notEqual(rowHash(row('m', 'affine'), '1'), h, 'other settings');
    assert.notEqual(rowHash(row('m'), '2'), h, 'other coreg version');
    writeFileSync(join(dir, 'm'), 'M2');
    assert.notEqual(rowHash(row('m'), '1'), h, 'changed contents');
    assert.throws(() => rowHash(row('nowhere'), '1'), /no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local batch: failed rows are reported and not fatal; --resume skips complete rows and reruns changed ones', async () => {
  const dir = makeCohort(true);
  try {
    const r = await coreg(['batch', 'manifest.csv', '--out', 'out', '--jobs', '2'], dir);
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('coreg: error:'));
    assert.deepEqual(errors, ['coreg: error: out/status.csv: 2 of 5 rows failed (missing, broken)']);
    assert.match(r.stderr, /missing: failed: .*nowhere\.nii\.gz: no such file/);
    assert.match(r.stderr, /broken: failed: .*broken\.nii\.gz/);
    const st = status(join(dir, 'out'));
    assert.deepEqual([...st.keys()], ['a', 'b', 'slow', 'missing', 'broken'], 'manifest order');
    for (const id of ['a', 'b', 'slow']) assert.equal(st.get(id)!.state, 'done', id);
    for (const id of ['missing', 'broken']) {
      assert.equal(st.get(id)!.state, 'failed');
      assert.ok(st.get(id)!.error.length > 0 && !st.get(id)!.error.includes('\n'));
      assert.ok(!existsSync(join(dir, 'out', id)), `no folder for failed row ${id}`);
    }
    for (const f of ['warped.nii.gz', 'transform.tfm', 'result.json', 'batch.json']) assert.ok(existsSync(join(dir, 'out', 'a', f)), f);
    assert.ok(existsSync(join(dir, 'out', 'slow', 'warp.nii.gz')));
    noLeftovers(join(dir, 'out'));

    // Fix the missing input, change row b's settings: --resume runs exactly those two.
    const before = { a: finished(join(dir, 'out'), 'a'), b: finished(join(dir, 'out'), 'b'), slow: finished(join(dir, 'out'), 'slow') };
    writeImageFile(join(dir, 'nowhere.nii.gz'), phantom(48, 0, 0.5, 0.5));
    const manifest = readFileSync(join(dir, 'manifest.csv'), 'utf8').replace('b,f.nii.gz,m2.nii.gz,rigid,mse', 'b,f.nii.gz,m2.nii.gz,translation,mse').replace(/broken,.*\n/, '');
    writeFileSync(join(dir, 'manifest.csv'), manifest);
    const r2 = await coreg(['batch', 'manifest.csv', '--out', 'out', '--jobs', '2', '--resume'], dir);
    assert.equal(r2.code, 0, r2.stderr);
    const st2 = status(join(dir, 'out'));
    assert.deepEqual([...st2.values()].map((s) => s.state), ['done', 'done', 'done', 'done']);
    assert.equal(finished(join(dir, 'out'), 'a'), before.a, 'a skipped');
    assert.equal(finished(join(dir, 'out'), 'slow'), before.slow, 'slow skipped');
    assert.notEqual(finished(join(dir, 'out'), 'b'), before.b, 'b rerun (its settings changed)');
    assert.match(readFileSync(join(dir, 'out', 'b', 'transform.tfm'), 'utf8'), /TranslationTransform/);
    assert.ok(existsSync(join(dir, 'out', 'missing', 'result.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad usage: unknown backend or --slurm-args without slurm exit 2; a missing manifest exits 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-batch-usage-'));
  try {
    writeFileSync(join(dir, 'm.csv'), 'id,fixed,moving\na,f,m\n');
    const a = await coreg(['batch', 'm.csv', '--out', 'o', '--backend', 'sge'], dir);
    assert.equal(a.code, 2);
    assert.equal(a.stderr.trim(), "coreg: error: --backend: expected local or slurm, got 'sge'");
    const b = await coreg(['batch', 'm.csv', '--out', 'o', '--slurm-args', '--time=1'], dir);
    assert.equal(b.code, 2);
    const c = await coreg(['batch', 'nothere.csv', '--out', 'o'], dir);
    assert.equal(c.code, 1);
    assert.equal(c.stderr.trim(), 'coreg: error: nothere.csv: no such file');
    assert.ok(!existsSync(join(dir, 'o')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Waits until `check` holds (polling), or fails after `seconds`. */
async function waitFor(what: string, seconds: number, check: () => boolean): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('local batch interrupted with SIGINT: exit 130, one line, no partial row folder; --resume completes it', async () => {
  const dir = makeCohort(false);
  try {
    const child = spawn(process.execPath, ['--import', TSX, COREG, 'batch', 'manifest.csv', '--out', 'out', '--jobs', '1'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // Rows run one at a time: once slow's task has started, interrupt.
    await waitFor('the slow row to start', 120, () => existsSync(join(dir, 'out', '.batch', 'logs', 'slow.log')));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    const errors = stderr.split('\n').filter((l) => l.startsWith('coreg: error:'));
    assert.equal(errors.length, 1, stderr);
    assert.match(errors[0], /interrupted \(SIGINT\)/);
    assert.ok(!existsSync(join(dir, 'out', 'slow')), 'no folder for the interrupted row');
    noLeftovers(join(dir, 'out'));
    assert.equal(status(join(dir, 'out')).get('slow')!.state, 'cancelled');
    const r = await coreg(['batch', 'manifest.csv', '--out', 'out', '--resume'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'out', 'slow', 'warp.nii.gz')));
    // The same as an uninterrupted run.
    const whole = await coreg(['batch', 'manifest.csv', '--out', 'whole'], dir);
    assert.equal(whole.code, 0, whole.stderr);
    assertSameResults(join(dir, 'out'), join(dir, 'whole'), ['a', 'b', 'slow']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Slurm batch: all rows complete, identical to the local backend; a task cancelled with scancel is reported, then completed by --resume', { skip: SLURM_SKIP }, async () => {
  const dir = makeCohort(false);
  try {
    const local = await coreg(['batch', 'manifest.csv', '--out', 'local', '--jobs', '2'], dir);
    assert.equal(local.code, 0, local.stderr);
    const slurm = await coreg(['batch', 'manifest.csv', '--out', 'slurm', '--backend', 'slurm', '--jobs', '2'], dir);
    assert.equal(slurm.code, 0, slurm.stderr);
    assert.deepEqual([...status(join(dir, 'slurm')).values()].map((s) => s.state), ['done', 'done', 'done']);
    assertSameResults(join(dir, 'local'), join(dir, 'slurm'), ['a', 'b', 'slow']);
    assert.ok(existsSync(join(dir, 'slurm', '.batch', 'logs', 'slow.log')), 'per-task log');

    // Again into a new folder; cancel the slow row's task while it runs.
    mkdirSync(join(dir, 'cut'));
    const child = spawn(process.execPath, ['--import', TSX, COREG, 'batch', 'manifest.csv', '--out', 'cut', '--backend', 'slurm', '--jobs', '2'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let jobId = '';
    await waitFor('the Slurm job id', 60, () => {
      jobId = /Slurm job array (\d+)/.exec(stderr)?.[1] ?? '';
      return jobId !== '';
    });
    const slowTask = `${jobId}_2`;
    await waitFor('the slow task to run', 120, () => spawnSync('squeue', ['-h', '-r', '-j', slowTask, '-o', '%T'], { encoding: 'utf8' }).stdout.trim() === 'RUNNING');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(spawnSync('scancel', [slowTask]).status, 0);
    const code = await exited;
    assert.equal(code, 1, stderr);
    const st = status(join(dir, 'cut'));
    assert.equal(st.get('a')!.state, 'done');
    assert.equal(st.get('slow')!.state, 'failed');
    assert.match(st.get('slow')!.error, /CANCELLED/);
    assert.match(stderr, /slow: failed: .*CANCELLED/);
    assert.ok(!existsSync(join(dir, 'cut', 'slow')), 'no partial result of the cancelled task');
    noLeftovers(join(dir, 'cut'));
    const resumed = await coreg(['batch', 'manifest.csv', '--out', 'cut', '--backend', 'slurm', '--resume'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /Slurm job array \d+ \(1 tasks/);
    assertSameResults(join(dir, 'local'), join(dir, 'cut'), ['a', 'b', 'slow']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Slurm refusing the job: every row fails with the reason, exit 1', { skip: SLURM_SKIP }, async () => {
  const dir = makeCohort(false);
  try {
    const r = await coreg(['batch', 'manifest.csv', '--out', 'out', '--backend', 'slurm', '--slurm-args', '--partition=no-such-partition'], dir);
    assert.equal(r.code, 1, r.stderr);
    const st = status(join(dir, 'out'));
    for (const s of st.values()) {
      assert.equal(s.state, 'failed');
      assert.match(s.error, /not accepted: sbatch: .*partition/i);
    }
    assert.match(r.stderr, /coreg: error: out\/status.csv: 3 of 3 rows failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Slurm not available (no sbatch on PATH): every row fails with the reason, exit 1, nothing half-written', async () => {
  const dir = makeCohort(false);
  try {
    const r = await new Promise<Result>((resolve) => {
      execFile(process.execPath, ['--import', TSX, COREG, 'batch', 'manifest.csv', '--out', 'out', '--backend', 'slurm'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', PATH: join(dir, 'no-bin') } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 1, r.stderr);
    for (const s of status(join(dir, 'out')).values()) {
      assert.equal(s.state, 'failed');
      assert.match(s.error, /sbatch: not installed/);
    }
    assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['.batch', 'status.csv']);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('coreg: error:')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
