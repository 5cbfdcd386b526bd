// `npm run bench` end to end on the 2D translation cases, with a stand-in for coreg (a script writing a known
// translation), so that the harness (case set, .tfm reading, TRE, table, pass rule, results.json) is checked
// without the registration engine or elastix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, SKIP_NO_DATA } from '../helpers.js';

const FAKE_COREG = `import { mkdirSync, writeFileSync } from 'node:fs';
const a = process.argv.slice(2);
if (a.includes('--help')) { console.log('--fixed F --moving M --out DIR'); process.exit(0); }
const out = a[a.indexOf('--out') + 1];
mkdirSync(out, { recursive: true });
writeFileSync(out + '/transform.tfm', '#Insight Transform File V1.0\\n#Transform 0\\nTransform: TranslationTransform_double_2_2\\nParameters: ' + process.env.FAKE_SHIFT + '\\nFixedParameters:\\n');
writeFileSync(out + '/result.json', JSON.stringify({ stages: [{ levels: [{ iterations: 7 }, { iterations: 3 }] }] }));
`;

function bench(shift: string, dir: string): { stdout: string; results: { results: { case: string; metric: string; pass: boolean; coreg: { tre: { mean: number }; iterations: string } }[] } } {
  const fake = join(dir, 'fake-coreg.mjs');
  writeFileSync(fake, FAKE_COREG);
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', '2d', '--no-peers', '--filter', 'translation Shifted13x17y', '--coreg', fake, '--out', out], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, FAKE_SHIFT: shift },
  });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, results: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) };
}

test('bench: the exact translation passes, 0.1 mm off fails (and still exits 0)', { skip: SKIP_NO_DATA }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-bench-run-'));
  try {
    const good = bench('13 17', dir);
    assert.deepEqual(good.results.results.map((r) => r.metric), ['mse', 'ncc', 'mi']);
    for (const r of good.results.results) {
      assert.equal(r.pass, true);
      assert.equal(r.coreg.tre.mean, 0);
      assert.equal(r.coreg.iterations, '7/3');
    }
    assert.match(good.stdout, /^\| case \| metric \| transform \| coreg TRE/m);
    assert.match(good.stdout, /3 pass, 0 FAIL/);

    const off = bench('13.1 17', dir);
    for (const r of off.results.results) {
      assert.equal(r.pass, false);
      assert.ok(Math.abs(r.coreg.tre.mean - 0.1) < 1e-9);
    }
    assert.match(off.stdout, /\*\*FAIL\*\*/);
    assert.match(off.stdout, /0 pass, 3 FAIL/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench: bad options exit 2 with a usage line', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', '4d'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 2);
  // the list grows with the suites (speed, kernels, …): check its stable start and that the bad value is named
  assert.match(r.stderr, /--only must be 2d, 3d, nonrigid, atlas, realscans, template,? (or )?change\b.*got "4d"/);
});
