// Groupwise template arithmetic: the mean map of the subjects' transforms, its inverse as the shape correction,
// and `coreg template` end to end on a small 2D group (local backend; Slurm identical when Slurm answers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { AffineTransform, TranslationTransform } from '../../src/transform/linear.js';
import { fieldTransform } from '../../src/transform/dense-field.js';
import { averageImages, meanDisplacementNorm, meanMapDisplacement, relativeChange, shapeCorrect } from '../../src/register/template.js';
import { slurmAnswers } from '../../src/cli/batch.js';
import { REPO_ROOT } from '../helpers.js';

const COREG = join(REPO_ROOT, 'test', 'cli', 'coreg.ts');
const TSX = import.meta.resolve('tsx');

function blob(n: number, cx: number, cy: number): Image {
  const im = createImage([n, n], 'float32', { spacing: [1, 1] });
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    im.data[y * n + x] = 100 * Math.exp(-((x - cx) ** 2 / 30 + (y - cy) ** 2 / 60)) + 60 * Math.exp(-((x - cx - 8) ** 2 + (y - cy + 5) ** 2) / 15);
  }
  return im;
}

function translation(dx: number, dy: number): TranslationTransform {
  const t = new TranslationTransform(2);
  t.setParameters([dx, dy]);
  return t;
}

test('mean map of affine chains and fields is the mean of the points', () => {
  const grid = createImage([7, 5], 'float32', { spacing: [2, 3], origin: [-4, 1] });
  const a = new AffineTransform(2);
  a.setParameters([1.1, 0.2, -0.1, 0.9, 3, -2]);
  const u = new Float32Array(7 * 5 * 2).map((_, i) => Math.sin(i));
  const field = fieldTransform(u, grid);
  const chains = [[a], [translation(1, 2), field], []];
  const d = meanMapDisplacement(chains, grid);
  const p = [-4 + 2 * 3, 1 + 3 * 2]; // voxel (3, 2)
  const v = 2 * 7 + 3;
  const q1 = [1.1 * p[0] + 0.2 * p[1] + 3, -0.1 * p[0] + 0.9 * p[1] - 2];
  const q2 = [0, 0];
  field.transformPoint([p[0] + 1, p[1] + 2], q2);
  for (let c = 0; c < 2; c++) assert.ok(Math.abs(d[v * 2 + c] - ((q1[c] + q2[c] + p[c]) / 3 - p[c])) < 1e-5);
  assert.ok(Math.abs(meanDisplacementNorm(new Float32Array([3, 4, 0, 0]), 2, null) - 2.5) < 1e-12);
  assert.equal(meanDisplacementNorm(new Float32Array([3, 4, 0, 0]), 2, new Uint8Array([0, 1])), 0);
});

test('shape correction moves the average to the centre of the group: translations average to zero next time', () => {
  // The template is the blob at (20, 24); subjects are at shifts s_i; registered, T_i(x) = x + s_i.
  const n = 48;
  const shifts = [[3, 1], [1, -2], [2, 2.5], [0, 0.5]];
  const average = blob(n, 20, 24);
  const d = meanMapDisplacement(shifts.map(([x, y]) => [translation(x, y)]), average);
  const mean = [1.5, 0.5];
  for (let v = 0; v < n * n; v++) for (let c = 0; c < 2; c++) assert.ok(Math.abs(d[v * 2 + c] - mean[c]) < 1e-5);
  const { template, inverse } = shapeCorrect(average, d);
  assert.equal(inverse.unconverged, 0);
  // new(y) = average(M⁻¹(y)) = the blob moved by the mean shift.
  const expected = blob(n, 21.5, 24.5);
  let err = 0;
  for (let y = 6; y < n - 6; y++) for (let x = 6; x < n - 6; x++) err = Math.max(err, Math.abs(template.data[y * n + x] - expected.data[y * n + x]));
  assert.ok(err < 2, `largest difference ${err} (of 160; linear interpolation of a half-pixel shift)`);
  // Subjects registered to the new template: T_i'(y) = y + s_i − mean, whose mean is the identity.
  const d2 = meanMapDisplacement(shifts.map(([x, y]) => [translation(x - mean[0], y - mean[1])]), template);
  assert.ok(meanDisplacementNorm(d2, 2, null) < 1e-5);
  assert.ok(relativeChange(template.data, template.data) === 0 && relativeChange(template.data, average.data) > 0.01);
  assert.deepEqual(Array.from(averageImages([blob(8, 2, 2), blob(8, 2, 2)]).data), Array.from(blob(8, 2, 2).data));
});

function coreg(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, COREG, ...args], { cwd }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

test('coreg template: 4 shifted images, translation/MSE: centred template, convergence.csv, images/<i>/; Slurm identical', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-template-'));
  try {
    const shifts = [[-1.5, 1], [-0.5, 0.3], [0.5, -0.4], [1.5, -0.9]];
    shifts.forEach(([x, y], i) => writeImageFile(join(dir, `s${i}.nii.gz`), blob(48, 20 + x, 24 + y)));
    const images = shifts.map((_, i) => `s${i}.nii.gz`).join(',');
    const r = await coreg(['template', '--images', images, '--out', 'T', '--iterations', '2', '--transform', 'translation', '--metric', 'mse', '--jobs', '2'], dir);
    assert.equal(r.code, 0, r.stderr);
    const conv = readFileSync(join(dir, 'T', 'convergence.csv'), 'utf8').trim().split('\n');
    assert.equal(conv[0], 'iteration,template_change,mean_displacement_mm,mean_metric,images,seconds');
    assert.equal(conv.length, 3);
    for (const line of conv.slice(1)) assert.ok(Number(line.split(',')[2]) < 0.01, line);
    for (let i = 1; i <= 4; i++) for (const f of ['warped.nii.gz', 'transform.tfm', 'result.json']) assert.ok(existsSync(join(dir, 'T', 'images', String(i), f)), `${i}/${f}`);
    // The registrations find each subject's shift relative to the group mean (0, 0).
    const tfm = readFileSync(join(dir, 'T', 'images', '1', 'transform.tfm'), 'utf8');
    const p = /Parameters: (\S+) (\S+)/.exec(tfm)!;
    assert.ok(Math.abs(Number(p[1]) + 1.5) < 0.02 && Math.abs(Number(p[2]) - 1) < 0.02, tfm);
    const template = readImageFile(join(dir, 'T', 'template.nii.gz'));
    const centred = blob(48, 20, 24);
    let err = 0;
    for (let v = 0; v < 48 * 48; v++) err = Math.max(err, Math.abs(template.data[v] - centred.data[v]));
    assert.ok(err < 3, `template vs the blob at the group's mean position: ${err}`);
    if (slurmAnswers()) {
      const s = await coreg(['template', '--images', images, '--out', 'S', '--iterations', '2', '--transform', 'translation', '--metric', 'mse', '--backend', 'slurm'], dir);
      assert.equal(s.code, 0, s.stderr);
      assert.ok(readFileSync(join(dir, 'S', 'template.nii.gz')).equals(readFileSync(join(dir, 'T', 'template.nii.gz'))), 'Slurm template = local template');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
