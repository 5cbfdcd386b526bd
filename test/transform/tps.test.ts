import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage } from '../../src/image/image.js';
import { displacementFieldOnGrid } from '../../src/landmarks/field.js';
import { fitThinPlateSpline } from '../../src/landmarks/fit.js';
import { parseLandmarkPairs } from '../../src/landmarks/pairs.js';
import { defaultTpsKernel, ThinPlateSplineTransform, type TpsKernel } from '../../src/transform/tps.js';
import { formatItkTransformFile, parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { TranslationTransform } from '../../src/transform/linear.js';
import { assertArrayClose, assertClose } from '../helpers.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPoints(rand: () => number, n: number, d: number, extent = 100): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => (rand() * 2 - 1) * extent));
}

function map(t: { transformPoint(p: ArrayLike<number>, out: number[]): void }, p: number[]): number[] {
  const out = new Array<number>(p.length);
  t.transformPoint(p, out);
  return out;
}

/** Plain Gaussian elimination (test-side, independent of the library's solver). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

const KERNELS: Record<TpsKernel, (r: number) => number> = { r: (r) => r, r2logr: (r) => (r > 1e-8 ? r * r * Math.log(r) : 0) };

for (const d of [2, 3] as const) {
  test(`${d}D: the spline passes through every landmark and reproduces affine data exactly (both kernels)`, () => {
    const rand = rng(d);
    for (const kernel of ['r', 'r2logr'] as const) {
      const fixed = randomPoints(rand, 15, d);
      const moving = fixed.map((p) => p.map((v) => v + (rand() - 0.5) * 20));
      const tps = fitThinPlateSpline(fixed, moving, { kernel });
      assert.equal(tps.kind, 'tps');
      for (let i = 0; i < fixed.length; i++) assertArrayClose(map(tps, fixed[i]), moving[i], 1e-9, `${kernel} landmark ${i}`);

      const m = Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0) + (rand() - 0.5) * 0.5);
      const o = Array.from({ length: d }, () => (rand() - 0.5) * 30);
      const affine = (p: number[]) => Array.from({ length: d }, (_, r) => o[r] + p.reduce((s, v, c) => s + m[r * d + c] * v, 0));
      const exact = fitThinPlateSpline(fixed, fixed.map(affine), { kernel });
      for (const x of randomPoints(rand, 20, d, 150)) assertArrayClose(map(exact, x), affine(x), 1e-9, `${kernel} affine at ${x}`);
      const part = exact.affinePart();
      assertArrayClose(part.matrix, m, 1e-12, 'affine part matrix');
      assertArrayClose(part.offset, o, 1e-9, 'affine part offset');
    }
  });

  test(`${d}D: the non-affine part is Σ wᵢ·G(|x − pᵢ|) with ITK's kernel and the side conditions Σw = 0, Σw·pᵀ = 0`, () => {
    const rand = rng(10 + d);
    for (const kernel of ['r', 'r2logr'] as const) {
      const n = 8;
      const fixed = randomPoints(rand, n, d);
      const moving = fixed.map((p) => p.map((v) => v + (rand() - 0.5) * 10));
      const tps = fitThinPlateSpline(fixed, moving, { kernel });
      const { matrix, offset } = tps.affinePart();
      const rest = (x: number[]) => map(tps, x).map((v, r) => v - offset[r] - x.reduce((s, xv, c) => s + matrix[r * d + c] * xv, 0));
      const g = (x: number[], p: number[]) => KERNELS[kernel](Math.hypot(...x.map((v, k) => v - p[k])));
      // Recover the weights from n probes, then predict the remainder at fresh points.
      const probes = randomPoints(rand, n, d, 120);
      const a = probes.map((z) => fixed.map((p) => g(z, p)));
      const w = Array.from({ length: d }, (_, axis) => solve(a, probes.map((z) => rest(z)[axis])));
      for (const x of randomPoints(rand, 10, d, 120)) {
        const predicted = w.map((wa) => fixed.reduce((s, p, i) => s + wa[i] * g(x, p), 0));
        assertArrayClose(rest(x), predicted, 1e-6, `${kernel} remainder`);
      }
      for (let axis = 0; axis < d; axis++) {
        assertClose(w[axis].reduce((s, v) => s + v, 0), 0, 1e-8, 'Σw');
        for (let c = 0; c < d; c++) assertClose(w[axis].reduce((s, v, i) => s + v * fixed[i][c], 0), 0, 1e-6, 'Σw·p');
      }
    }
  });
}

test('kernel defaults and ITK type names: r²·log r in 2D (ThinPlateR2LogRSpline…), r in 3D (ThinPlateSpline…)', () => {
  assert.equal(defaultTpsKernel(2), 'r2logr');
  assert.equal(defaultTpsKernel(3), 'r');
  const sq = [[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]];
  const moved = sq.map(([x, y], i) => (i === 4 ? [x + 2, y + 1] : [x, y]));
  const t2 = fitThinPlateSpline(sq, moved);
  assert.equal(t2.itkTypeName, 'ThinPlateR2LogRSplineKernelTransform_double_2_2');
  const r2 = fitThinPlateSpline(sq, moved, { kernel: 'r' });
  assert.equal(r2.itkTypeName, 'ThinPlateSplineKernelTransform_double_2_2');
  // The kernel matters away from the landmarks.
  assert.ok(Math.abs(map(t2, [2, 7])[0] - map(r2, [2, 7])[0]) > 1e-3);
  const cube = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
  assert.equal(fitThinPlateSpline(cube, cube).itkTypeName, 'ThinPlateSplineKernelTransform_double_3_3');
});

test('.tfm round trip: Parameters = fixed (source) landmarks, FixedParameters = moving (target) landmarks; same mapping back', () => {
  const rand = rng(7);
  for (const d of [2, 3] as const) {
    for (const kernel of ['r', 'r2logr'] as const) {
      const fixed = randomPoints(rand, 6, d);
      const moving = fixed.map((p) => p.map((v) => v + (rand() - 0.5) * 8));
      const tps = fitThinPlateSpline(fixed, moving, { kernel });
      const text = formatItkTransformFile([tps]);
      const lines = text.split('\n');
      assert.equal(lines[0], '#Insight Transform File V1.0');
      assert.equal(lines[2], `Transform: ${tps.itkTypeName}`);
      assert.equal(lines[3], `Parameters: ${fixed.flat().join(' ')}`);
      assert.equal(lines[4], `FixedParameters: ${moving.flat().join(' ')}`);
      const [back] = parseItkTransformFile(text, 'tps.tfm');
      assert.ok(back instanceof ThinPlateSplineTransform);
      assert.equal(back.kernel, kernel);
      for (const x of randomPoints(rand, 10, d, 150)) assert.deepEqual(map(back, x), map(tps, x));
    }
  }
});

test('reading ITK-written kernel transforms (float spelling too) and their errors', () => {
  const text = ['#Insight Transform File V1.0', '#Transform 0', 'Transform: ThinPlateSplineKernelTransform_float_2_2', 'Parameters: 0 0 10 0 0 10 10 10', 'FixedParameters: 1 1 11 1 1 11 11 11', ''].join('\n');
  const [t] = parseItkTransformFile(text, 'itk.tfm');
  assert.ok(t instanceof ThinPlateSplineTransform && t.kernel === 'r');
  assertArrayClose(map(t, [3, 4]), [4, 5], 1e-12, 'a pure translation stays one');
  const bad = (params: string, fixedParams: string) =>
    ['#Insight Transform File V1.0', 'Transform: ThinPlateSplineKernelTransform_double_2_2', `Parameters: ${params}`, `FixedParameters: ${fixedParams}`].join('\n');
  const throwsOn = (txt: string, message: RegExp) =>
    assert.throws(() => parseItkTransformFile(txt, 'x.tfm'), (e: unknown) => e instanceof CoregError && e.subject.startsWith('x.tfm') && message.test(e.message) && !e.message.includes('\n'));
  throwsOn(bad('0 0 1 0 0', '0 0 1 0 0 1'), /5 parameters are not whole 2D source landmarks/);
  throwsOn(bad('0 0 1 0 0 1', '0 0 1 0'), /2 target landmarks .* for 3 source landmarks/);
  throwsOn(bad('0 0 1 1 2 2', '0 0 1 1 2 2'), /collinear/);
});

test('displacement field on a grid: u(x) = T(x) − x, d components, the grid geometry kept', () => {
  const grid = createImage([5, 4], 'float32', { spacing: [2, 3], origin: [-1, 5], direction: [0, -1, 1, 0] });
  const shift = new TranslationTransform(2);
  shift.setParameters([2, -0.5]);
  const f = displacementFieldOnGrid(shift, grid);
  assert.equal(f.components, 2);
  assert.deepEqual(f.size, [5, 4]);
  assert.deepEqual(f.direction, [0, -1, 1, 0]);
  for (let i = 0; i < f.data.length; i += 2) assert.deepEqual([f.data[i], f.data[i + 1]], [2, -0.5]);
  // A spline whose landmark sits on voxel (2, 1): origin + D·(2·2, 3·1) = (−1 − 3, 5 + 4) = (−4, 9).
  const fixed = [[-4, 9], [-20, -20], [20, -20], [0, 30]];
  const moving = [[-2.5, 7], [-20, -20], [20, -20], [0, 30]];
  const g = displacementFieldOnGrid(fitThinPlateSpline(fixed, moving), grid);
  const at = 2 * (2 + 5 * 1);
  assertArrayClose([g.data[at], g.data[at + 1]], [1.5, -2], 1e-6, 'landmark voxel');
  assert.throws(() => displacementFieldOnGrid(shift, createImage([2, 2, 2])), (e: unknown) => e instanceof CoregError && e.subject === '--reference');
});

test('paired landmark text files: 4 or 6 numbers per line, errors with line numbers', () => {
  const p = parseLandmarkPairs('# fixed then moving\n1 2 3 4\n\n5 6 7 8\n', 'pairs.txt');
  assert.deepEqual(p, { dimension: 2, fixed: [[1, 2], [5, 6]], moving: [[3, 4], [7, 8]] });
  assert.equal(parseLandmarkPairs('1 2 3 4 5 6', 'p').dimension, 3);
  const throwsOn = (text: string, message: RegExp) =>
    assert.throws(() => parseLandmarkPairs(text, 'p.txt'), (e: unknown) => e instanceof CoregError && e.subject === 'p.txt' && message.test(e.message));
  throwsOn('1 2 3\n', /line 1: expected 4 \(2D\) or 6 \(3D\) numbers/);
  throwsOn('1 2 3 4\n1 2 3 4 5 6\n', /line 2: a 3D pair after 2D pairs/);
  throwsOn('1 2 x 4\n', /"x" is not a number/);
  throwsOn('\n# nothing\n', /no landmark pairs/);
});
