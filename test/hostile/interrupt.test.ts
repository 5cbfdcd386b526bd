// Interrupted runs: SIGINT/SIGTERM at several points of a small registration leave the output folder either
// without anything coreg wrote or with a complete result (the earlier one or the new one), never a mix, never a
// temporary or lock file; the command says it was interrupted (one line, exit 130/143). A second run into a
// folder in use is refused; a closed stdout ends quietly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { REPO_ROOT } from '../helpers.js';

const COREG = join(REPO_ROOT, 'test', 'cli', 'coreg.ts');
const DIR = mkdtempSync(join(tmpdir(), 'coreg-interrupt-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

const FIXED = join(DIR, 'fixed.nii');
const MOVING = join(DIR, 'moving.nii');
{
  const blob = (cx: number, cy: number) => {
    const img = createImage([96, 96], 'float32');
    for (let y = 0; y < 96; y++) for (let x = 0; x < 96; x++) img.data[y * 96 + x] = 100 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2 / 2) / 200) + 20 * Math.sin(x / 7) * Math.cos(y / 9);
    return img;
  };
  writeImageFile(FIXED, blob(48, 46));
  writeImageFile(MOVING, blob(51, 44));
}
// Long enough to be interrupted: no convergence test stops it early.
const CONFIG = join(DIR, 'slow.json');
writeFileSync(CONFIG, JSON.stringify({ stages: [{ transform: 'affine', metric: 'mi', convergenceTolerance: 0, gradientTolerance: 0, optimizer: 'gradient-descent', levels: [{ shrink: 1, smooth: 0, iterations: 3000 }] }], initializer: 'none' }));
const FAST = join(DIR, 'fast.json');
writeFileSync(FAST, JSON.stringify({ stages: [{ transform: 'translation', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 5 }] }], initializer: 'none' }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], opts: { closeStdout?: boolean } = {}): { child: ReturnType<typeof spawn>; done: Promise<Run> } {
  const child = spawn(process.execPath, ['--import', 'tsx', COREG, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  if (opts.closeStdout) child.stdout!.destroy();
  else child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(path: string, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (existsSync(path)) return true;
    await sleep(20);
  }
  return false;
}

/** The folder holds nothing coreg wrote (only `keep`), or one complete result; no temporaries or lock. */
function assertCompleteOrAbsent(out: string, keep: string[], what: string): 'absent' | 'complete' {
  const names = existsSync(out) ? readdirSync(out) : [];
  assert.deepEqual(names.filter((n) => /\.tmp-|\.coreg\.lock/.test(n)), [], `${what}: temporaries or lock left: ${names}`);
  const written = names.filter((n) => !keep.includes(n));
  if (written.length === 0) return 'absent';
  assert.ok(names.includes('result.json'), `${what}: files without result.json: ${written}`);
  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { transforms: string[] };
  for (const f of [...json.transforms, 'warped.nii.gz']) assert.ok(names.includes(f), `${what}: result.json names ${f}, which is missing`);
  readImageFile(join(out, 'warped.nii.gz'));
  return 'complete';
}

test('SIGINT/SIGTERM at several points of a registration: folder complete or without coreg files, one line, 130/143', { timeout: 120_000 }, async () => {
  // Delays after the run has taken its output lock (the work has started), with and without an earlier result.
  const plans: { signal: 'SIGINT' | 'SIGTERM'; delay: number; earlier: boolean }[] = [
    { signal: 'SIGINT', delay: 0, earlier: false },
    { signal: 'SIGTERM', delay: 300, earlier: false },
    { signal: 'SIGINT', delay: 900, earlier: true },
    { signal: 'SIGTERM', delay: 0, earlier: true },
  ];
  const outcomes: string[] = [];
  await Promise.all(
    plans.map(async (plan, i) => {
      const out = join(DIR, `run${i}`);
      mkdirSync(out);
      writeFileSync(join(out, 'notes.txt'), 'not coreg\n');
      if (plan.earlier) {
        const first = await start(['register', '--fixed', FIXED, '--moving', MOVING, '--out', out, '--config', FAST, '--quiet']).done;
        assert.equal(first.code, 0, first.stderr);
      }
      const earlierJson = plan.earlier ? readFileSync(join(out, 'result.json'), 'utf8') : '';
      const { child, done } = start(['register', '--fixed', FIXED, '--moving', MOVING, '--out', out, '--config', CONFIG, '--quiet']);
      assert.ok(await waitFor(join(out, '.coreg.lock'), 60_000), 'the run never started its work');
      await sleep(plan.delay);
      child.kill(plan.signal);
      const r = await done;
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      if (r.code === 0) {
        outcomes.push(`${plan.signal}+${plan.delay}: finished first`);
      } else {
        assert.equal(r.code, plan.signal === 'SIGINT' ? 130 : 143, `${plan.signal}: ${r.stderr}`);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], new RegExp(`^coreg: error: ${plan.signal}: interrupted`));
      }
      const state = assertCompleteOrAbsent(out, ['notes.txt'], `${plan.signal} after ${plan.delay} ms`);
      assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'not coreg\n', 'a file coreg did not write was touched');
      // A signal that lands during the final (synchronous) renames is handled after them: the new result is then
      // complete. Either way: the earlier result or the complete new one, never a mix (assertCompleteOrAbsent).
      if (plan.earlier) assert.equal(state, 'complete', 'the earlier result (or the new one) must be there');
      const kept = plan.earlier && readFileSync(join(out, 'result.json'), 'utf8') === earlierJson;
      outcomes.push(`${plan.signal}+${plan.delay}${plan.earlier ? ' (earlier result)' : ''}: exit ${r.code}, ${state}${kept ? ' (earlier kept)' : ''}`);
    }),
  );
  console.log(outcomes.join('; '));
});

test('a second run into a folder in use is refused; the first is unaffected', { timeout: 120_000 }, async () => {
  const out = join(DIR, 'locked');
  const first = start(['register', '--fixed', FIXED, '--moving', MOVING, '--out', out, '--config', CONFIG, '--quiet']);
  assert.ok(await waitFor(join(out, '.coreg.lock'), 60_000));
  const second = await start(['register', '--fixed', FIXED, '--moving', MOVING, '--out', out, '--config', FAST, '--quiet']).done;
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^coreg: error: .*locked: in use by another coreg run \(process \d+\)/);
  first.child.kill('SIGTERM');
  const r = await first.done;
  assert.ok(r.code === 143 || r.code === 0, r.stderr);
  assertCompleteOrAbsent(out, [], 'after the locked run');
  // A stale lock (its process is gone) does not block the next run.
  writeFileSync(join(out, '.coreg.lock'), '999999999\n');
  const third = await start(['register', '--fixed', FIXED, '--moving', MOVING, '--out', out, '--config', FAST, '--quiet']).done;
  assert.equal(third.code, 0, third.stderr);
  assert.equal(assertCompleteOrAbsent(out, [], 'after a stale lock'), 'complete');
});

test('a closed stdout (coreg info x | head -1) ends quietly', { timeout: 60_000 }, async () => {
  const r = await start(['info', FIXED], { closeStdout: true }).done;
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
});
