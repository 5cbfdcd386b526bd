// BSplineRegistrationCost: its analytic gradient against central finite differences of its own value (2D and 3D;
// mse, ncc, mi, lncc; a non-identity affine after the B-spline; random non-zero control points; with bending and
// Jacobian penalties; with a moving mask), and its mapping: the moving points it samples are A(x + u(x)) + t.
// The moving image is sampled with cubic B-splines so the cost is smooth enough for finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finiteRange, physicalToIndexMatrix, type Image } from '../../src/image/image.js';
import { BSplineRegistrationCost } from '../../src/register/bspline-cost.js';
import type { MetricName } from '../../src/register/config.js';
import { packMovingSample2d, packMovingSample3d, prepareMovingSampler } from '../../src/register/linear-cost.js';
import { sampleFixedImage, type SampleSet } from '../../src/register/sampling.js';
import { createBSplineTransformForImage, type BSplineTransform } from '../../src/transform/bspline.js';
import { bendingEnergy, jacobianDeterminantPenalty } from '../../src/transform/bspline-regularizers.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { imageFromFunction, mapAbout, movingFor, rotation2d, rotation3d, scene2d, scene3d, type Grid } from './synthetic.js';

/** Deterministic uniform numbers in [0, 1) (Park–Miller). */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** A grid of `size` centred at `center`, with its own spacing and direction. */
function obliqueGrid(size: number[], spacing: number[], direction: number[], center: number[]): Grid {
  const d = size.length;
  const origin = center.slice();
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) origin[r] -= direction[r * d + c] * spacing[c] * ((size[c] - 1) / 2);
  return { size, spacing, direction, origin };
}

interface Scene {
  d: 2 | 3;
  fixed: Image;
  moving: Image;
  movingMask: Image;
  /** The linear part after the B-spline (fixed → moving). */
  affine: AffineTransform;
  /** A B-spline over the fixed image with random non-zero control points. */
  bspline: BSplineTransform;
  /** Penalty weights that make each penalty's gradient as large as the mse gradient (so neither hides in the other). */
  bendingWeight: number;
  jacobianWeight: number;
}

/** Control points uniform in ±amplitude mm, plus a pinch at one control point that makes the Jacobian penalty active. */
function randomBSpline(fixed: Image, spacingMm: number, amplitude: number, seed: number): BSplineTransform {
  const bs = createBSplineTransformForImage(fixed, spacingMm);
  const rnd = random(seed);
  const p = new Float64Array(bs.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = amplitude * (2 * rnd() - 1);
  // Two neighbouring planes of control points pushed towards each other along x compress the map between them
  // (∂u_x/∂x ≈ −1.25·0.72 = −0.9, det ≈ 0.1 give or take the random part).
  const [nx, nxy] = bs.gridStrides;
  const m = Math.floor(bs.gridSize[0] / 2);
  const nz = fixed.dimension === 3 ? bs.gridSize[2] : 1;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < bs.gridSize[1]; j++) {
      const row = k * nxy + j * nx;
      p[row + m] += 0.72 * spacingMm;
      p[row + m + 1] -= 0.72 * spacingMm;
    }
  }
  bs.setParameters(p);
  return bs;
}

function vectorNorm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Fills in the penalty weights: each penalty's gradient norm equal to the plain mse gradient's. */
function withWeights(scene: Omit<Scene, 'bendingWeight' | 'jacobianWeight'>): Scene {
  const bs = scene.bspline;
  const P = bs.numberOfParameters;
  const gb = new Float64Array(P);
  const gj = new Float64Array(P);
  bendingEnergy(bs, null, gb);
  jacobianDeterminantPenalty(bs, null, gj);
  const samples = sampleFixedImage(scene.fixed, { strategy: 'all', seed: 1 });
  const cost = new BSplineRegistrationCost(bs.clone(), scene.affine, samples, prepareMovingSampler(scene.moving, 'bspline'), {
    metric: 'mse',
    metricOptions: {},
  });
  const gm = new Float64Array(P);
  cost.evaluate(Float64Array.from(bs.parameters), gm);
  const m = vectorNorm(gm);
  return { ...scene, bendingWeight: m / vectorNorm(gb), jacobianWeight: m / vectorNorm(gj) };
}

function makeScene(d: 2 | 3): Scene {
  if (d === 2) {
    const fixed = imageFromFunction({ size: [40, 36], spacing: [1.1, 1.2], origin: [2, 3] }, scene2d);
    // Content of the moving image: the fixed scene under some affine; the cost below uses another one.
    const truth = mapAbout(rotation2d(0.05, 1.02), [24, 24], [0.6, -0.5]);
    const grid = obliqueGrid([60, 62], [0.9, 1.05], rotation2d((9 * Math.PI) / 180), [24, 25]);
    const moving = movingFor(grid, scene2d, truth, (v) => 0.5 + 1.3 * v);
    const movingMask = imageFromFunction(grid, (p) => ((p[0] - 25) ** 2 + (p[1] - 24) ** 2 < 14 ** 2 ? 1 : 0));
    const affine = new AffineTransform(2);
    affine.setCenter([24, 24]);
    affine.setParameters([1.04, 0.06, -0.05, 0.97, 0.8, -0.6]);
    return withWeights({ d, fixed, moving, movingMask, affine, bspline: randomBSpline(fixed, 9, 0.7, 11) });
  }
  const fixed = imageFromFunction({ size: [16, 16, 14], spacing: [1.4, 1.4, 1.6], origin: [1, 1, 0.5] }, scene3d);
  const truth = mapAbout(rotation3d(0.02, -0.03, 0.04, 1.01), [12, 12, 12], [0.4, -0.3, 0.2]);
  const grid = obliqueGrid([36, 34, 34], [0.95, 1, 1.05], rotation3d(0.08, -0.05, 0.1), [12, 12.5, 12]);
  const moving = movingFor(grid, scene3d, truth, (v) => 0.5 + 1.3 * v);
  const movingMask = imageFromFunction(grid, (p) => ((p[0] - 12.5) ** 2 + (p[1] - 12) ** 2 + (p[2] - 12) ** 2 < 9 ** 2 ? 1 : 0));
  const affine = new AffineTransform(3);
  affine.setCenter([12, 12, 12]);
  affine.setParameters([1.03, 0.04, -0.02, -0.03, 0.98, 0.05, 0.02, -0.04, 1.02, 0.5, -0.4, 0.3]);
  return withWeights({ d, fixed, moving, movingMask, affine, bspline: randomBSpline(fixed, 8, 0.6, 23) });
}

const SCENE_2D = makeScene(2);
const SCENE_3D = makeScene(3);

interface CostCase {
  metric: MetricName;
  regularized: boolean;
  movingMask: boolean;
}

function buildCost(scene: Scene, c: CostCase): { cost: BSplineRegistrationCost; samples: SampleSet; bs: BSplineTransform } {
  const samples = sampleFixedImage(scene.fixed, { strategy: 'all', seed: 1 });
  const sampler = prepareMovingSampler(scene.moving, 'bspline');
  const bs = scene.bspline.clone();
  const cost = new BSplineRegistrationCost(bs, scene.affine, samples, sampler, {
    metric: c.metric,
    metricOptions: { bins: 24, fixedRange: finiteRange(samples.values)!, movingRange: finiteRange(scene.moving.data)! },
    radius: 2,
    gridSize: scene.fixed.size,
    movingMask: c.movingMask ? scene.movingMask : undefined,
    bendingWeight: c.regularized ? scene.bendingWeight : 0,
    jacobianWeight: c.regularized ? scene.jacobianWeight : 0,
  });
  return { cost, samples, bs };
}

/** Parameters to probe: all in 2D; in 3D the 40 with the largest analytic gradient plus 20 random others. */
function probedParameters(g: Float64Array, d: 2 | 3): number[] {
  const all = Array.from(g.keys());
  if (d === 2) return all;
  const byMagnitude = all.slice().sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
  const chosen = new Set(byMagnitude.slice(0, 40));
  const rnd = random(5);
  while (chosen.size < 60) chosen.add(Math.floor(rnd() * g.length));
  return [...chosen];
}

/**
 * Largest |analytic − numeric| over the probed parameters, relative to the largest gradient component. With a moving
 * mask (looked up by nearest pixel) a probe whose set of valid samples changes is discarded and counted.
 */
function gradientError(scene: Scene, c: CostCase): { error: number; worst: string; discarded: number; probed: number } {
  const { cost, bs } = buildCost(scene, c);
  const base = Float64Array.from(bs.parameters);
  const P = base.length;
  const g = new Float64Array(P);
  const scratch = new Float64Array(P);
  cost.evaluate(Float64Array.from(base), g);
  const validAtBase = cost.lastValidCount;
  // lncc's dense path holds moving values as float32: a larger step keeps its rounding out of the differences.
  const h = c.metric === 'lncc' ? (c.movingMask ? 1e-3 : 2e-3) : c.movingMask ? 1e-4 : 1e-3;
  let largest = 0;
  let worstDiff = 0;
  let worst = '';
  let discarded = 0;
  const probes = probedParameters(g, scene.d);
  for (const k of probes) {
    const plus = Float64Array.from(base);
    const minus = Float64Array.from(base);
    plus[k] += h;
    minus[k] -= h;
    const vp = cost.evaluate(plus, scratch);
    const validPlus = cost.lastValidCount;
    const vm = cost.evaluate(minus, scratch);
    if (c.movingMask && (validPlus !== validAtBase || cost.lastValidCount !== validAtBase)) {
      discarded++;
      continue;
    }
    const numeric = (vp - vm) / (2 * h);
    largest = Math.max(largest, Math.abs(numeric), Math.abs(g[k]));
    const diff = Math.abs(numeric - g[k]);
    if (diff > worstDiff) {
      worstDiff = diff;
      worst = `parameter ${k}: analytic ${g[k].toPrecision(8)}, numeric ${numeric.toPrecision(8)}`;
    }
  }
  assert.ok(largest > 0, 'the gradient is zero: the check would prove nothing');
  return { error: worstDiff / largest, worst, discarded, probed: probes.length };
}

function check(scene: Scene, c: CostCase): void {
  // lncc's dense path rounds moving values to float32: its differences carry ~1e-8/h of noise.
  const tol = c.metric === 'lncc' ? 1.5e-3 : 2e-5;
  const { error, worst, discarded, probed } = gradientError(scene, c);
  const label = `${scene.d}D ${c.metric}${c.regularized ? ' + bending + Jacobian penalty' : ''}${c.movingMask ? ', moving mask' : ''}`;
  assert.ok(discarded <= 0.1 * probed, `${label}: ${discarded} of ${probed} probes crossed the moving mask's edge`);
  assert.ok(error < tol, `${label}: relative gradient error ${error.toExponential(2)} ≥ ${tol} (worst ${worst})`);
}

const METRICS: MetricName[] = ['mse', 'ncc', 'mi', 'lncc'];

test('the scenes exercise every term: non-zero bending energy and an active Jacobian penalty', () => {
  for (const scene of [SCENE_2D, SCENE_3D]) {
    const be = bendingEnergy(scene.bspline, null, null);
    const jp = jacobianDeterminantPenalty(scene.bspline, null, null);
    assert.ok(be > 0, `${scene.d}D bending energy ${be}`);
    assert.ok(jp > 0, `${scene.d}D Jacobian penalty ${jp}: no sample point has det < 0.1`);
    assert.ok(Number.isFinite(scene.bendingWeight) && Number.isFinite(scene.jacobianWeight));
  }
});

for (const metric of METRICS) {
  test(`2D ${metric}: B-spline cost gradient matches central differences (plain, regularised, moving mask)`, () => {
    check(SCENE_2D, { metric, regularized: false, movingMask: false });
    check(SCENE_2D, { metric, regularized: true, movingMask: false });
    check(SCENE_2D, { metric, regularized: false, movingMask: true });
  });
}

const CASES_3D: CostCase[] = [
  { metric: 'mse', regularized: true, movingMask: false },
  { metric: 'ncc', regularized: false, movingMask: true },
  { metric: 'mi', regularized: true, movingMask: false },
  { metric: 'lncc', regularized: false, movingMask: false },
];
for (const c of CASES_3D) {
  test(`3D ${c.metric}${c.regularized ? ' + penalties' : ''}${c.movingMask ? ', moving mask' : ''}: B-spline cost gradient matches central differences`, () => {
    check(SCENE_3D, c);
  });
}

/**
 * The mse the cost should report when sample x_i is looked up at map(x_i): the mean of (f_i − M(map(x_i)))² over
 * the samples that land inside the moving image (and mask).
 */
function expectedMse(scene: Scene, samples: SampleSet, map: (x: Float64Array, out: Float64Array) => void, useMask: boolean): number {
  const d = scene.d;
  const n = samples.count;
  const Y = new Float64Array(n * d);
  const x = new Float64Array(d);
  const y = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) x[a] = samples.points[i * d + a];
    map(x, y);
    Y.set(y, i * d);
  }
  const values = new Float64Array(n);
  const grads = new Float64Array(n * d);
  const index = new Int32Array(n);
  const sampler = prepareMovingSampler(scene.moving, 'bspline');
  const mask = useMask ? scene.movingMask : null;
  const maskN = mask ? physicalToIndexMatrix(mask) : null;
  const g = new Float64Array(6);
  let valid = 0;
  for (let i = 0; i < n; i++) {
    valid =
      scene.d === 2
        ? packMovingSample2d(sampler, Y[2 * i], Y[2 * i + 1], i, valid, values, grads, index, mask, maskN, g)
        : packMovingSample3d(sampler, Y[3 * i], Y[3 * i + 1], Y[3 * i + 2], i, valid, values, grads, index, mask, maskN, g);
  }
  let sum = 0;
  for (let k = 0; k < valid; k++) sum += (samples.values[index[k]] - values[k]) ** 2;
  return sum / valid;
}

for (const scene of [SCENE_2D, SCENE_3D]) {
  test(`${scene.d}D: the cost samples the moving image at A(x + u(x)) + t, as BSplineTransform.transformPoint and the affine give`, () => {
    for (const useMask of [false, true]) {
      const { cost, samples, bs } = buildCost(scene, { metric: 'mse', regularized: false, movingMask: useMask });
      const value = cost.evaluate(Float64Array.from(bs.parameters), new Float64Array(bs.numberOfParameters));
      const d = scene.d;
      const mid = new Float64Array(d);
      const chain = (x: Float64Array, out: Float64Array): void => {
        bs.transformPoint(x, mid);
        scene.affine.transformPoint(mid, out);
      };
      const expected = expectedMse(scene, samples, chain, useMask);
      // The cost keeps its B-spline weights in float32: points agree to ~1e-7 mm, the value to ~1e-7 relative.
      const tol = 1e-6 * expected;
      assert.ok(Math.abs(value - expected) <= tol, `${d}D mse ${value} vs ${expected} from transformPoint (mask ${useMask})`);
      // The same check would catch the other composition order A·x + t + u(x).
      const ax = new Float64Array(d);
      const wrong = expectedMse(
        scene,
        samples,
        (x, out) => {
          scene.affine.transformPoint(x, ax);
          bs.transformPoint(x, mid);
          for (let a = 0; a < d; a++) out[a] = ax[a] + mid[a] - x[a];
        },
        useMask,
      );
      assert.ok(Math.abs(wrong - expected) > 50 * tol, `the order of composition changes the mse by only ${Math.abs(wrong - expected)}`);
      if (useMask) {
        // The mask really drops samples (otherwise this case would test nothing new).
        assert.ok(cost.lastValidCount < 0.9 * samples.count && cost.lastValidCount > 0.2 * samples.count, `${cost.lastValidCount} of ${samples.count} valid`);
      }
    }
  });
}
