import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, pixelTypeOf } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { assertClose, dataPath } from '../helpers.js';
import { runCoreg as coreg } from './run-in-process.js';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-eval-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function translationTfm(t: number[]): string {
  return `#Insight Transform File V1.0\n#Transform 0\nTransform: TranslationTransform_double_${t.length}_${t.length}\nParameters: ${t.join(' ')}\nFixedParameters:\n`;
}

test(
  'eval tre on the ITK ICP points (moving = fixed + (2,2)): 0 for the true translation, known errors otherwise',
  withDir(async (dir) => {
    const fixed = dataPath('itk/IterativeClosestPointFixedPoints.txt');
    const moving = dataPath('itk/IterativeClosestPointMovingPoints.txt');
    writeFileSync(join(dir, 'good.tfm'), translationTfm([2, 2]));
    writeFileSync(join(dir, 'off.tfm'), translationTfm([5, -2]));
    let r = await coreg(['eval', 'tre', '--transform', join(dir, 'good.tfm'), '--fixed-points', fixed, '--moving-points', moving, '--json']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    let s = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(s.points, 8);
    assert.ok(s.max < 1e-12);
    // Off by (3, −4): every error is 5 mm.
    r = await coreg(['eval', 'tre', '--transform', join(dir, 'off.tfm'), '--fixed-points', fixed, '--moving-points', moving, '--json']);
    s = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ['mean', 'median', 'max', 'p95']) assertClose(s[k], 5, 1e-9, k);
    assertClose(s.std, 0, 1e-9);
    r = await coreg(['eval', 'tre', '--transform', join(dir, 'off.tfm'), '--fixed-points', fixed, '--moving-points', moving]);
    assert.match(r.stdout, /^mean\s+5 mm$/m);
  }),
);

test(
  'eval tre: mean/median/max/p95 of unequal errors; mismatched files are refused',
  withDir(async (dir) => {
    writeFileSync(join(dir, 'id.tfm'), translationTfm([0, 0, 0]));
    writeFileSync(join(dir, 'f.csv'), 'x,y,z\n0,0,0\n0,0,0\n0,0,0\n0,0,0\n');
    writeFileSync(join(dir, 'm.csv'), 'x,y,z\n1,0,0\n0,2,0\n0,0,3\n0,0,4\n');
    const r = await coreg(['eval', 'tre', '--transform', join(dir, 'id.tfm'), '--fixed-points', join(dir, 'f.csv'), '--moving-points', join(dir, 'm.csv'), '--json']);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s.mean, s.median, s.max, s.points], [2.5, 2.5, 4, 4]);
    assertClose(s.p95, 3.85, 1e-12);
    writeFileSync(join(dir, 'short.csv'), 'x,y,z\n1,0,0\n');
    const bad = await coreg(['eval', 'tre', '--transform', join(dir, 'id.tfm'), '--fixed-points', join(dir, 'f.csv'), '--moving-points', join(dir, 'short.csv')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^coreg: error: .*short\.csv: has 1 points but .*f\.csv has 4; they must correspond one to one\n$/);
  }),
);

test(
  'eval dice: JSON per label with known overlap; different grids refused',
  withDir(async (dir) => {
    const a = createImage([10, 10, 4], 'uint8', { spacing: [1, 1, 2] });
    const b = createImage([10, 10, 4], 'uint8', { spacing: [1, 1, 2] });
    for (let i = 0; i < a.data.length; i++) {
      const x = i % 10;
      a.data[i] = x < 6 ? 1 : 2;
      b.data[i] = x < 4 ? 1 : x < 8 ? 2 : 0;
    }
    writeImageFile(join(dir, 'a.nii.gz'), a);
    writeImageFile(join(dir, 'b.nii.gz'), b);
    const r = await coreg(['eval', 'dice', join(dir, 'a.nii.gz'), join(dir, 'b.nii.gz'), '--json']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const rep = JSON.parse(r.stdout) as { labels: Record<string, Record<string, number>>; mean: number };
    // Label 1: A 6 columns, B 4, overlap 4 → 8/10. Label 2: A 4 columns, B 4, overlap 2 (x = 6, 7) → 4/8.
    assertClose(rep.labels['1'].dice, 0.8, 1e-12);
    assertClose(rep.labels['2'].dice, 0.5, 1e-12);
    assert.equal(rep.labels['1'].volumeA, 6 * 10 * 4 * 2);
    assertClose(rep.mean, 0.65, 1e-12);
    assertClose(rep.labels['1'].hausdorff95, 2, 1e-9);
    const text = await coreg(['eval', 'dice', join(dir, 'a.nii.gz'), join(dir, 'b.nii.gz')]);
    assert.match(text.stdout, /^mean\s+0\.65\s+/m);
    writeImageFile(join(dir, 'c.nii.gz'), createImage([10, 10, 3], 'uint8'));
    const bad = await coreg(['eval', 'dice', join(dir, 'a.nii.gz'), join(dir, 'c.nii.gz')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /c\.nii\.gz: is not on the same grid as .*a\.nii\.gz/);
    assert.equal(bad.stderr.split('\n').filter((l) => l).length, 1);
  }),
);

test(
  'eval jacobian: a known scaling gives the product of the scales everywhere; --out writes the map',
  withDir(async (dir) => {
    writeFileSync(
      join(dir, 's.tfm'),
      '#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\nParameters: 1.5 0 0 0 0.8 0 0 0 2 0 0 0\nFixedParameters: 4 5 6\n',
    );
    writeImageFile(join(dir, 'ref.nii.gz'), createImage([6, 5, 4], 'uint8', { spacing: [1, 2, 3] }));
    const r = await coreg(['eval', 'jacobian', join(dir, 's.tfm'), '--reference', join(dir, 'ref.nii.gz'), '--json', '--out', join(dir, 'det.nii.gz')]);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assertClose(s.min, 2.4, 1e-6);
    assertClose(s.max, 2.4, 1e-6);
    assertClose(s.mean, 2.4, 1e-6);
    assert.deepEqual([s.foldedCount, s.foldedPercent], [0, 0]);
    const det = readImageFile(join(dir, 'det.nii.gz'));
    assert.equal(pixelTypeOf(det.data), 'float32');
    assert.deepEqual(det.size, [6, 5, 4]);
    // A field that folds: u = (−2·x, 0) gives det = −1 everywhere inside.
    const field = createImage([6, 5, 4], 'float32', { spacing: [1, 2, 3], components: 3 });
    for (let i = 0; i < 6 * 5 * 4; i++) field.data[3 * i] = -2 * (i % 6);
    writeImageFile(join(dir, 'u.nii.gz'), field);
    const f = await coreg(['eval', 'jacobian', join(dir, 'u.nii.gz'), '--reference', join(dir, 'ref.nii.gz'), '--json']);
    const fs = JSON.parse(f.stdout) as Record<string, number>;
    assertClose(fs.min, -1, 1e-6);
    assert.deepEqual([fs.foldedCount, fs.foldedPercent], [120, 100]);
    const miss = await coreg(['eval', 'jacobian', join(dir, 's.tfm')]);
    assert.equal(miss.code, 2);
    assert.equal(miss.stderr, 'coreg: error: --reference: required option not given\n');
  }),
);
