// BSplineRegistrationCost with fresh random samples at every evaluation (the 3D stochastic default).
// A finite fixed image: stratified draws made per block (sample i of n takes the candidate voxel of rank
// ⌊P·(i + U)/n⌋, P candidates in index order — every voxel, or those whose centres lie in the fixed mask — and a
// position uniform inside it, drawn again up to 8 times while outside the mask, then its centre; mulberry32 seeded
// per draw and block). NaN in the fixed image: one stream (mulberry32 from the seed; per sample x, y[, z]
// continuous indices uniform over the image — with a fixed mask, a voxel drawn uniformly from the voxels whose
// centres lie in the mask, then x, y[, z] uniform inside it; rejected outside the fixed mask or where the fixed value
// is NaN), stored sorted by B-spline cell. Either way the cost must equal, to rounding, the cost over the same
// samples given as a fixed sample set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finiteRange, indexToPhysicalMatrix, type Image } from '../../src/image/image.js';
import { interpolationPlane } from '../../src/interpolate/interpolator.js';
import { linear2d, linear3d } from '../../src/interpolate/kernels.js';
import { BSplineRegistrationCost, bsplineBlockSize } from '../../src/register/bspline-cost.js';
import type { MetricName } from '../../src/register/config.js';
import { prepareMovingSampler } from '../../src/register/linear-cost.js';
import { createRandom } from '../../src/random.js';
import { stratifiedSeed } from '../../src/register/sample-kernels.js';
import { maskAt, type SampleSet } from '../../src/register/sampling.js';
import { physicalToIndexMatrix } from '../../src/image/image.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { imageFromFunction, mapAbout, movingFor, rotation2d, rotation3d, scene2d, scene3d } from './synthetic.js';

/** The documented draw, written plainly: `count` samples in drawing order. */
function referenceDraw(image: Image, mask: Image | undefined, count: number, random: () => number): SampleSet {
  const d = image.dimension;
  const plane = interpolationPlane(image, 0);
  const M = indexToPhysicalMatrix(image);
  const maskN = mask ? physicalToIndexMatrix(mask) : null;
  const points = new Float64Array(count * d);
  const values = new Float64Array(count);
  const ci = [0, 0, 0];
  const p = new Float64Array(d);
  // With a mask: the voxels whose centres lie inside it, in index order.
  const inMask: number[][] = [];
  if (mask) {
    const nz = d === 3 ? image.size[2] : 1;
    for (let k = 0; k < nz; k++) for (let jj = 0; jj < image.size[1]; jj++) for (let i = 0; i < image.size[0]; i++) {
      const idx = d === 3 ? [i, jj, k] : [i, jj];
      for (let r = 0; r < d; r++) {
        let acc = image.origin[r];
        for (let c = 0; c < d; c++) acc += M[r * d + c] * idx[c];
        p[r] = acc;
      }
      if (maskAt(mask, maskN!, p)) inMask.push(idx);
    }
  }
  let j = 0;
  while (j < count) {
    if (mask) {
      const v = inMask[Math.min(inMask.length - 1, Math.floor(random() * inMask.length))];
      for (let a = 0; a < d; a++) ci[a] = v[a] + random() - 0.5;
    } else for (let a = 0; a < d; a++) ci[a] = random() * image.size[a] - 0.5;
    for (let r = 0; r < d; r++) {
      let acc = image.origin[r];
      for (let c = 0; c < d; c++) acc += M[r * d + c] * ci[c];
      p[r] = acc;
    }
    if (mask && !maskAt(mask, maskN!, p)) continue;
    const v = d === 2 ? linear2d(plane, image.size[0], image.size[1], ci[0], ci[1]) : linear3d(plane, image.size[0], image.size[1], image.size[2], ci[0], ci[1], ci[2]);
    if (v !== v) continue;
    points.set(p, j * d);
    values[j] = v;
    j++;
  }
  return { dimension: d, count, points, values, voxels: new Int32Array(count) };
}

/** The stratified draw number `n`, written plainly (blocks of bsplineBlockSize(count) samples, one generator each). */
function referenceStratified(image: Image, mask: Image | undefined, count: number, seed: number, n: number): SampleSet {
  const d = image.dimension;
  const plane = interpolationPlane(image, 0);
  const M = indexToPhysicalMatrix(image);
  const maskN = mask ? physicalToIndexMatrix(mask) : null;
  const nz = d === 3 ? image.size[2] : 1;
  const candidates: number[][] = [];
  const p = new Float64Array(d);
  const toPhysical = (c: number[]): void => {
    for (let r = 0; r < d; r++) {
      let acc = image.origin[r];
      for (let a = 0; a < d; a++) acc += M[r * d + a] * c[a];
      p[r] = acc;
    }
  };
  for (let k = 0; k < nz; k++) for (let jj = 0; jj < image.size[1]; jj++) for (let i = 0; i < image.size[0]; i++) {
    const idx = d === 3 ? [i, jj, k] : [i, jj];
    toPhysical(idx);
    if (!mask || maskAt(mask, maskN!, p)) candidates.push(idx);
  }
  const points = new Float64Array(count * d);
  const values = new Float64Array(count);
  const size = bsplineBlockSize(count);
  for (let b = 0; b * size < count; b++) {
    const random = createRandom(stratifiedSeed(seed, n, b));
    for (let i = b * size; i < Math.min(count, (b + 1) * size); i++) {
      const v = candidates[Math.min(candidates.length - 1, Math.floor((candidates.length / count) * (i + random())))];
      let c = v;
      for (let tries = 0; tries < 8; tries++) {
        const jittered = v.map((x) => x + random() - 0.5);
        toPhysical(jittered);
        if (!mask || maskAt(mask, maskN!, p)) {
          c = jittered;
          break;
        }
      }
      toPhysical(c);
      points.set(p, i * d);
      values[i] = d === 2 ? linear2d(plane, image.size[0], image.size[1], c[0], c[1]) : linear3d(plane, image.size[0], image.size[1], image.size[2], c[0], c[1], c[2]);
    }
  }
  return { dimension: d, count, points, values, voxels: new Int32Array(count) };
}

interface Case {
  d: 2 | 3;
  metric: MetricName;
  /** Put NaN into part of the fixed image (the draw must reject it: values interpolated while drawing). */
  nanFixed: boolean;
  fixedMask: boolean;
}

function scene(c: Case) {
  let fixed: Image;
  let moving: Image;
  let fixedMask: Image | undefined;
  const affine = new AffineTransform(c.d);
  if (c.d === 2) {
    fixed = imageFromFunction({ size: [40, 36], spacing: [1.1, 1.2], origin: [2, 3] }, scene2d);
    moving = movingFor({ size: [50, 50], spacing: [1, 1], origin: [0, 0] }, scene2d, mapAbout(rotation2d(0.05, 1.02), [24, 24], [0.6, -0.5]));
    if (c.fixedMask) fixedMask = imageFromFunction({ size: [40, 36], spacing: [1.1, 1.2], origin: [2, 3] }, (p) => ((p[0] - 24) ** 2 + (p[1] - 24) ** 2 < 12 ** 2 ? 1 : 0));
    affine.setCenter([24, 24]);
    affine.setParameters([1.04, 0.06, -0.05, 0.97, 0.8, -0.6]);
  } else {
    const grid = { size: [18, 16, 14], spacing: [1.4, 1.5, 1.7], origin: [0.5, 1, 0.5] };
    fixed = imageFromFunction(grid, scene3d);
    moving = movingFor({ size: [30, 30, 30], spacing: [1, 1, 1], origin: [-2, -2, -2] }, scene3d, mapAbout(rotation3d(0.02, -0.03, 0.04, 1.01), [12, 12, 12], [0.4, -0.3, 0.2]));
    if (c.fixedMask) fixedMask = imageFromFunction(grid, (p) => ((p[0] - 12) ** 2 + (p[1] - 12) ** 2 + (p[2] - 12) ** 2 < 8 ** 2 ? 1 : 0));
    affine.setCenter([12, 12, 12]);
    affine.setParameters([1.03, 0.04, -0.02, -0.03, 0.98, 0.05, 0.02, -0.04, 1.02, 0.5, -0.4, 0.3]);
  }
  if (c.nanFixed) for (let i = 0; i < fixed.data.length; i += 7) fixed.data[i] = NaN;
  const bs = createBSplineTransformForImage(fixed, c.d === 2 ? 9 : 6);
  let s = 5;
  const params = new Float64Array(bs.numberOfParameters);
  for (let i = 0; i < params.length; i++) params[i] = 1.2 * ((s = (s * 16807) % 2147483647) / 2147483647) - 0.6;
  return { fixed, moving, fixedMask, affine, bs, params };
}

for (const c of [
  { d: 3, metric: 'mi', nanFixed: false, fixedMask: false },
  { d: 3, metric: 'mse', nanFixed: true, fixedMask: true },
  { d: 2, metric: 'mi', nanFixed: false, fixedMask: true },
  { d: 2, metric: 'ncc', nanFixed: true, fixedMask: false },
] as Case[]) {
  const what = `${c.d}D ${c.metric}${c.nanFixed ? ', NaN in the fixed image' : ''}${c.fixedMask ? ', fixed mask' : ''}`;
  test(`${what}: fresh draws give the cost of the same samples in drawing order, draw after draw`, () => {
    const { fixed, moving, fixedMask, affine, bs, params } = scene(c);
    const count = 1500;
    const seed = 77;
    const sampler = prepareMovingSampler(moving, 'bspline');
    const base = { metric: c.metric, metricOptions: { bins: 20, fixedRange: finiteRange(fixed.data)!, movingRange: finiteRange(moving.data)! } };
    const empty: SampleSet = { dimension: c.d, count: 0, points: new Float64Array(0), values: new Float64Array(0), voxels: new Int32Array(0) };
    const fresh = new BSplineRegistrationCost(bs.clone(), affine, empty, sampler, { ...base, fresh: { image: fixed, mask: fixedMask, count, seed } });
    const random = createRandom(seed);
    const P = bs.numberOfParameters;
    for (let draw = 0; draw < 3; draw++) {
      const reference = c.nanFixed ? referenceDraw(fixed, fixedMask, count, random) : referenceStratified(fixed, fixedMask, count, seed, draw);
      const plain = new BSplineRegistrationCost(bs.clone(), affine, reference, sampler, base);
      const g = new Float64Array(P);
      const gRef = new Float64Array(P);
      const value = fresh.evaluate(params, g);
      const valueRef = plain.evaluate(params, gRef);
      assert.ok(Math.abs(value - valueRef) <= 1e-12 * Math.max(1, Math.abs(valueRef)), `draw ${draw}: value ${value} vs ${valueRef}`);
      assert.equal(fresh.lastValidCount, plain.lastValidCount, `draw ${draw}: valid samples`);
      let largest = 0;
      for (let p = 0; p < P; p++) largest = Math.max(largest, Math.abs(gRef[p]));
      assert.ok(largest > 0, 'the gradient is not zero');
      for (let p = 0; p < P; p++) assert.ok(Math.abs(g[p] - gRef[p]) <= 1e-11 * largest, `draw ${draw}: gradient[${p}] ${g[p]} vs ${gRef[p]}`);
    }
  });
}
