// The hostile-input corpus (test/hostile/corpus.ts) through the command line: every case exits with its code and
// exactly one error line, within CASE_MS and under MEMORY_MB of peak RSS for the whole run, reads no file
// outside its case folder (the sentinel files beside the cases are never read), writes no output, changes no input
// and leaves no temporary or lock file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { buildCorpus } from './corpus.js';
import type { RunnerResult } from './runner.js';
import { REPO_ROOT } from '../helpers.js';

/** Each case's wall time in the runner (startup excluded), ms: generous for a loaded 2-core machine. */
const CASE_MS = 5000;
/** Peak RSS of the runner process over all cases, MB (Node + tsx alone take ~90 MB). */
const MEMORY_MB = 400;

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // dangling link
      continue;
    }
    if (st.isDirectory()) out.push(...allFiles(p));
    else out.push(p);
  }
  return out;
}

test('hostile corpus: one error line, exit 1/2, bounded time and memory, nothing read outside, nothing written', async () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'coreg-hostile-')));
  try {
    const corpus = buildCorpus(root);
    const before = new Map<string, Buffer>();
    for (const c of corpus.cases) for (const f of c.unchanged ?? []) before.set(f, readFileSync(f));
    const control = { name: 'control-png', args: ['info', join(root, 'png-ok-check', 'a.png')] };
    // --allow-outside-paths lifts the policy for trusted layouts: the same ../ data file then reads.
    const trusted = { name: 'control-trusted', args: ['--allow-outside-paths', 'info', join(root, 'mhd-dotdot', 'a.mhd')] };
    const list = [...corpus.cases.map((c) => ({ name: c.name, args: c.args })), control, trusted];
    writeFileSync(join(root, 'cases.json'), JSON.stringify(list));
    const resultsPath = join(root, 'results.json');
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'hostile', 'runner.ts'), join(root, 'cases.json'), resultsPath], { cwd: REPO_ROOT, timeout: 120_000 }, (err, _out, stderr) =>
        err ? reject(new Error(`runner failed (a case hung or crashed): ${err.message} ${stderr}`)) : resolve(),
      );
    });
    const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as RunnerResult[];
    assert.equal(results.length, list.length);
    const byName = new Map(results.map((r) => [r.name, r]));
    const ctl = byName.get('control-png')!;
    assert.equal(ctl.code, 0, `a correct PNG still reads: ${ctl.stderr}`);
    assert.equal(byName.get('control-trusted')!.code, 0, byName.get('control-trusted')!.stderr);

    for (const c of corpus.cases) {
      const r = byName.get(c.name)!;
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `${c.name}: exactly one stderr line, got ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0], /^coreg: error: .+: .+/, `${c.name}: the contract's error line`);
      assert.match(lines[0], c.message, `${c.name}: ${lines[0]}`);
      assert.equal(r.code, c.code, `${c.name}: exit code (${lines[0]})`);
      assert.ok(r.ms < CASE_MS, `${c.name}: took ${r.ms.toFixed(0)} ms (bound ${CASE_MS} ms)`);
      assert.ok(!r.stderr.includes(corpus.sentinelText) && !r.stdout.includes(corpus.sentinelText), `${c.name}: the sentinel's content leaked`);
      // coreg's tracked reads: only files inside the corpus, never the sentinel folder.
      for (const p of r.reads) {
        const real = realpathSync(p);
        assert.ok(real.startsWith(root + sep) && !real.startsWith(corpus.outside + sep), `${c.name}: read ${real}, outside its folder`);
      }
      for (const a of c.absent ?? []) assert.ok(!existsSync(a), `${c.name}: ${a} was written`);
      for (const f of c.unchanged ?? []) assert.deepEqual(readFileSync(f), before.get(f), `${c.name}: input ${f} changed`);
    }
    const peak = Math.max(...results.map((r) => r.peakMb));
    assert.ok(peak < MEMORY_MB, `peak RSS ${peak.toFixed(0)} MB (bound ${MEMORY_MB} MB)`);
    const leftovers = allFiles(root).filter((p) => /\.tmp-\d+-|\.coreg\.lock$/.test(p));
    assert.deepEqual(leftovers, [], 'temporary or lock files left behind');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
