// The random non-rigid 3D cases: nr_<seed>.json parsing, bench/make-nonrigid-cases.py on a small
// synthetic "brain" (its moving image must satisfy M(T(x)) = I(x) with T read back in TS), the case list with
// --filter and the cache, and the no-registration rows of the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image, physicalToIndex, sameGrid } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { affineFromRows } from '../../bench/lib/affine.js';
import type { BenchPaths } from '../../bench/lib/cases.js';
import { affineWithBumps, randomNonrigidTruth } from '../../bench/lib/nonrigid.js';
import { randomCases, runNonrigid } from '../../bench/suites/nonrigid.js';
import { assertArrayClose, assertClose, REPO_ROOT } from '../helpers.js';

const PYTHON = '/usr/bin/python3';
const SKIP_NO_PYTHON: string | false = spawnSync(PYTHON, ['-c', 'import numpy, scipy, nibabel'], { encoding: 'utf8' }).status === 0 ? false : `${PYTHON} with numpy, scipy and nibabel is absent`;
const GENERATOR = join(REPO_ROOT, 'bench', 'make-nonrigid-cases.py');

const truthJson = (over: Record<string, unknown> = {}): string =>
  JSON.stringify({
    seed: 7,
    A: [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
    b: [1, 2, 3],
    bumps: [[[10, 0, 0], [1, -2, 0.5], 5]],
    nonrigid_over_brain_mm: { mean: 0.4, max: 2.3 },
    inverse_residual_mm: 2e-10,
    noise_sigma: 2.6,
    ...over,
  });

test('randomNonrigidTruth: T(x) = A·(x + u(x)) + b from nr_<seed>.json, and its errors', () => {
  const t = randomNonrigidTruth(truthJson(), 'nr_7.json');
  assert.equal(t.seed, 7);
  assert.equal(t.bumps.length, 1);
  assert.equal(t.nonrigidMax, 2.3);
  assert.equal(t.inverseResidual, 2e-10);
  const out = new Float64Array(3);
  t.gt(new Float64Array([10, 0, 0]), out); // at the bump's centre u = a
  assertArrayClose(out, [2 * 11 + 1, -2 + 2, 0.5 + 3], 1e-12, 'centre');
  t.gt(new Float64Array([100, 0, 0]), out); // far away: the affine alone
  assertArrayClose(out, [201, 2, 3], 1e-9, 'far');
  assert.throws(() => randomNonrigidTruth('{', 'nr_7.json'), /nr_7\.json: not JSON/);
  assert.throws(() => randomNonrigidTruth(truthJson({ A: [[1, 0], [0, 1]] }), 'nr_7.json'), /"A" \(3×3\)/);
  assert.throws(() => randomNonrigidTruth(truthJson({ bumps: [] }), 'nr_7.json'), /nr_7\.json: bumps is missing/);
  assert.throws(() => randomNonrigidTruth(truthJson({ bumps: [[[0, 0, 0], [1, 1, 1], 0]] }), 'nr_7.json'), /bumps\[0\] is not/);
  assert.throws(() => randomNonrigidTruth(truthJson({ inverse_residual_mm: undefined }), 'nr_7.json'), /inverse_residual_mm/);
});

// A coarse (4 mm) head-sized grid with ch2bet's axes (RAS, so LPS direction diag(−1, −1, 1)) and an ellipsoidal
// "brain" holding a smooth intensity: where the generator's inverse and resampling can be checked analytically.
const BRAIN_CENTRE = [0, 5, 0];
const BRAIN_RADII = [70, 85, 65];
const brainDepth = (p: ArrayLike<number>): number => Math.hypot((p[0] - BRAIN_CENTRE[0]) / BRAIN_RADII[0], (p[1] - BRAIN_CENTRE[1]) / BRAIN_RADII[1], (p[2] - BRAIN_CENTRE[2]) / BRAIN_RADII[2]);
const intensity = (p: ArrayLike<number>): number => 20 + 80 * Math.exp(-((p[0] - 10) ** 2 + (p[1] + 15) ** 2 + (p[2] - 8) ** 2) / (2 * 35 * 35));

function syntheticBrain(): Image {
  const img = createImage([48, 56, 48], 'float32', { spacing: [4, 4, 4], origin: [94, 110, -94], direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1] });
  const p = [0, 0, 0];
  for (let k = 0, i = 0; k < 48; k++) {
    for (let j = 0; j < 56; j++) {
      for (let x = 0; x < 48; x++, i++) {
        p[0] = 94 - 4 * x;
        p[1] = 110 - 4 * j;
        p[2] = -94 + 4 * k;
        img.data[i] = brainDepth(p) < 1 ? intensity(p) : 0;
      }
    }
  }
  return img;
}

function trilinear(img: Image, p: Float64Array): number {
  const q = physicalToIndex(img, p);
  const [nx, ny, nz] = img.size;
  const x0 = Math.floor(q[0]);
  const y0 = Math.floor(q[1]);
  const z0 = Math.floor(q[2]);
  if (x0 < 0 || y0 < 0 || z0 < 0 || x0 + 1 >= nx || y0 + 1 >= ny || z0 + 1 >= nz) return NaN;
  const fx = q[0] - x0;
  const fy = q[1] - y0;
  const fz = q[2] - z0;
  let v = 0;
  for (let c = 0; c < 8; c++) {
    const dx = c & 1;
    const dy = (c >> 1) & 1;
    const dz = c >> 2;
    v += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz) * img.data[x0 + dx + nx * (y0 + dy + ny * (z0 + dz))];
  }
  return v;
}

/** Mean |M(map(x)) − I(x)| over fixed voxels deep inside the brain. */
function meanMismatch(fixed: Image, moving: Image, map: (p: Float64Array, out: Float64Array) => void): number {
  const p = new Float64Array(3);
  const y = new Float64Array(3);
  let sum = 0;
  let n = 0;
  for (let k = 0, i = 0; k < 48; k++) {
    for (let j = 0; j < 56; j++) {
      for (let x = 0; x < 48; x++, i++) {
        p[0] = 94 - 4 * x;
        p[1] = 110 - 4 * j;
        p[2] = -94 + 4 * k;
        if (brainDepth(p) > 0.7) continue;
        map(p, y);
        sum += Math.abs(trilinear(moving, y) - fixed.data[i]);
        n++;
      }
    }
  }
  assert.ok(n > 1000, `${n} deep brain voxels`);
  return sum / n;
}

test('make-nonrigid-cases.py: M(T(x)) = I(x) with the recorded T, the case list, --filter and the suite rows', { skip: SKIP_NO_PYTHON }, () => {
  const root = mkdtempSync(join(tmpdir(), 'coreg-nr-cases-'));
  try {
    const paths: BenchPaths = { repoRoot: REPO_ROOT, data: join(root, 'data'), peers: join(root, 'peers'), cache: join(root, 'cache') };
    mkdirSync(join(paths.data, 'mni'), { recursive: true });
    const fixedPath = join(paths.data, 'mni', 'ch2bet.nii.gz');
    writeImageFile(fixedPath, syntheticBrain());
    const dir = join(paths.cache, 'nonrigid3d');
    // Seed 1 without noise, straight from the script (the suite then finds it cached).
    const r = spawnSync(PYTHON, [GENERATOR, fixedPath, dir, '1', '--noise', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const raw = JSON.parse(readFileSync(join(dir, 'nr_1.json'), 'utf8')) as { nonrigid_over_brain_mm: { max: number }; max_grad_u: number; inverse_residual_mm: number; gt_displacement_over_brain_mm: { mean: number } };
    assert.ok(raw.nonrigid_over_brain_mm.max >= 4 && raw.nonrigid_over_brain_mm.max <= 6, `max |u| ${raw.nonrigid_over_brain_mm.max}`);
    assert.ok(raw.max_grad_u < 0.5, `max |grad u| ${raw.max_grad_u}`);
    assert.ok(raw.inverse_residual_mm < 1e-4, `inverse residual ${raw.inverse_residual_mm}`);

    const fixed = readImageFile(fixedPath);
    const moving = readImageFile(join(dir, 'nr_1.nii.gz'));
    assert.ok(sameGrid(fixed, moving), 'the moving image is on the fixed grid');
    const truthFile = join(dir, 'nr_1.json');
    const truth = randomNonrigidTruth(readFileSync(truthFile, 'utf8'), truthFile);
    const right = meanMismatch(fixed, moving, truth.gt);
    const j = JSON.parse(readFileSync(truthFile, 'utf8')) as { A: number[][]; b: number[] };
    const affineOnly = affineWithBumps(affineFromRows(j.A, j.b), [{ centre: [0, 0, 0], amplitude: [0, 0, 0], sigma: 1 }]);
    const wrong = meanMismatch(fixed, moving, affineOnly);
    assert.ok(right < 0.25, `mean |M(T(x)) − I(x)| = ${right} (trilinear read-back of a smooth image on a 4 mm grid)`);
    assert.ok(wrong > 4 * right, `without the bumps the mismatch must grow: ${wrong} vs ${right}`);

    // The suite: --filter picks seed 2 only and generates it (with noise); seed 3 is never made.
    const skipped: string[] = [];
    const picked = randomCases(paths, [1, 2, 3], 'nr_2', skipped);
    assert.deepEqual(skipped, []);
    assert.deepEqual(picked.map((c) => c.id), ['nr_2']);
    assert.ok(existsSync(join(dir, 'nr_2.nii.gz')));
    assert.ok(!existsSync(join(dir, 'nr_3.nii.gz')), 'a filtered-out seed is not generated');
    const noisy = JSON.parse(readFileSync(join(dir, 'nr_2.json'), 'utf8')) as { noise_sigma: number; noise_fraction: number };
    assert.equal(noisy.noise_fraction, 0.02);
    assertClose(noisy.noise_sigma, 0.02 * 80, 0.02 * 2, 'noise sigma = 2 % of the brain range (about 20..100)');
    const m2 = readImageFile(join(dir, 'nr_2.nii.gz'));
    assert.equal(m2.data[0], 0, 'no noise outside the brain');
    assert.deepEqual(randomCases(paths, [1, 2], 'no such case', skipped), []);

    // The suite's rows without coreg or peers: the shared cases are skipped (no ../shared/peers here), the random
    // ones listed with their targets, and the no-registration error agrees with the generator's own statistics.
    const nr = runNonrigid({ paths, outDir: join(root, 'out'), dipy: 'off', threads: 1, filter: 'nr_', seeds: [1] });
    assert.ok(nr.notes.some((n) => /make_cases\.py is absent/.test(n)), nr.notes.join('\n'));
    assert.equal(nr.baseline.length, 1);
    assertClose(nr.baseline[0].tre.mean, raw.gt_displacement_over_brain_mm.mean, 1e-9, 'mean |T(x) − x| over the brain');
    assert.deepEqual(nr.rows.map((row) => `${row.tool} ${row.setting}`), ['elastix 3d_affine_mi.txt + 3d_bspline_mi.txt', 'coreg affine,bspline (mi)', 'coreg affine,syn (mi,lncc)']);
    assert.match(nr.rows[1].rule ?? '', /≤ 0.08 mm, 0 folded/);
    assert.match(nr.rows[2].rule ?? '', /≤ 0.12 mm, 0 folded, RSS ≤ 1536 MB/);
    assert.ok(nr.rows.every((row) => row.pass === null && row.case.startsWith('nr_1 ')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
