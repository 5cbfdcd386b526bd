// RAS point files: a CSV header r,a[,s] or --ras means RAS coordinates in and out (MNI coordinates typed into a
// CSV are not mirrored); coreg's LPS is RAS with x and y negated.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPointSet, parsePointSet } from '../../src/landmarks/point-io.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { TranslationTransform } from '../../src/transform/linear.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-ras-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

test('a CSV header r,a,s is RAS: read as LPS (−r, −a, s), written back in RAS with the other columns', () => {
  const set = parsePointSet('label,r,a,s\np1,10,-20,30\np2,-1.5,2.5,0\n', 'mni.csv');
  assert.deepEqual(set.points, [[-10, 20, 30], [1.5, -2.5, 0]]);
  assert.equal(formatPointSet(set.points, 'out.csv', set), 'label,r,a,s\np1,10,-20,30\np2,-1.5,2.5,0\n');
  // x,y,z with --ras: the same numbers mean the same RAS points.
  const ras = parsePointSet('x,y,z\n10,-20,30\n', 'p.csv', { ras: true });
  assert.deepEqual(ras.points, [[-10, 20, 30]]);
  assert.deepEqual(parsePointSet('x,y,z\n10,-20,30\n', 'p.csv').points, [[10, -20, 30]]);
  // 2D: r,a.
  assert.deepEqual(parsePointSet('r,a\n3,4\n', 'p.csv').points, [[-3, -4]]);
  // A new CSV written in RAS gets the r,a,s header.
  assert.equal(formatPointSet([[-10, 20, 30]], 'new.csv', undefined, { ras: true }), 'r,a,s\n10,-20,30\n');
  assert.throws(() => parsePointSet('point\n1\n1 2 3\n', 'p.txt', { ras: true }), /applies to CSV point files/);
});

test('coreg points --ras: RAS in, RAS out, mapped in LPS', async () => {
  const t = new TranslationTransform(3);
  t.setParameters([1, 2, 3]); // LPS
  const tfm = join(DIR, 't.tfm');
  writeFileSync(tfm, formatItkTransformFile([t]));
  const input = join(DIR, 'in.csv');
  writeFileSync(input, 'x,y,z,name\n0,0,0,origin\n5,6,7,b\n');
  const out = join(DIR, 'out.csv');
  const r = await coreg(['points', '--transform', tfm, '--in', input, '--out', out, '--ras']);
  assert.equal(r.code, 0, r.stderr);
  // RAS (5,6,7) = LPS (−5,−6,7) → LPS (−4,−4,10) = RAS (4,4,10).
  assert.equal(readFileSync(out, 'utf8'), 'x,y,z,name\n-1,-2,3,origin\n4,4,10,b\n');
  // The header alone (r,a,s) gives the same.
  const inRas = join(DIR, 'in-ras.csv');
  writeFileSync(inRas, 'r,a,s\n5,6,7\n');
  assert.equal((await coreg(['points', '--transform', tfm, '--in', inRas, '--out', out])).code, 0);
  assert.equal(readFileSync(out, 'utf8'), 'r,a,s\n4,4,10\n');
  // eval tre with RAS files.
  const moving = join(DIR, 'm.csv');
  writeFileSync(moving, 'r,a,s\n4,4,10\n');
  assert.equal((await coreg(['eval', 'tre', '--transform', tfm, '--fixed-points', inRas, '--moving-points', moving])).code, 0);
});
