// The chain-rule gradient of LinearRegistrationCost against central finite differences of its own value, for
// every metric × transform in 2D and a subset in 3D, with and without masks. The moving grid has its own
// spacing and a rotated direction, so errors in the physical-gradient conversion (Nᵀ) show up too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finiteRange, physicalToIndexMatrix, type Image } from '../../src/image/image.js';
import { METRIC_NAMES, type MetricName } from '../../src/register/config.js';
import { LinearRegistrationCost, prepareMovingSampler } from '../../src/register/linear-cost.js';
import { maskAt, sampleFixedImage } from '../../src/register/sampling.js';
import { createTransform, type LinearKind, type MatrixOffsetTransform } from '../../src/transform/linear.js';
import { BLOBS_2D, BLOBS_3D, blobValue, imageFromFunction, mapAbout, movingFor, rotation2d, rotation3d, type Grid } from './synthetic.js';

type ParamType = 'mm' | 'angle' | 'scale' | 'matrix' | 'versor';

/** FD step and the typical motion (mm) one unit of the parameter causes, to compare parameters of mixed units. */
const STEP: Record<ParamType, { h: number; lever: number }> = {
  mm: { h: 1e-3, lever: 1 },
  angle: { h: 1e-4, lever: 20 },
  scale: { h: 1e-4, lever: 20 },
  matrix: { h: 1e-4, lever: 20 },
  versor: { h: 1e-4, lever: 40 },
};

/** Base parameters (near but not at the truth used to build the moving image) and each parameter's type. */
function baseParameters(kind: LinearKind, d: 2 | 3): { params: number[]; types: ParamType[] } {
  if (d === 2) {
    switch (kind) {
      case 'translation':
        return { params: [1.2, -0.8], types: ['mm', 'mm'] };
      case 'rigid':
        return { params: [0.05, 1.2, -0.8], types: ['angle', 'mm', 'mm'] };
      case 'similarity':
        return { params: [1.03, 0.05, 1.2, -0.8], types: ['scale', 'angle', 'mm', 'mm'] };
      case 'affine':
        return { params: [1.02, 0.04, -0.03, 0.97, 1.2, -0.8], types: ['matrix', 'matrix', 'matrix', 'matrix', 'mm', 'mm'] };
    }
  }
  switch (kind) {
    case 'translation':
      return { params: [1.2, -0.8, 0.5], types: ['mm', 'mm', 'mm'] };
    case 'rigid':
      return { params: [0.03, -0.04, 0.05, 1.2, -0.8, 0.5], types: ['angle', 'angle', 'angle', 'mm', 'mm', 'mm'] };
    case 'similarity':
      return { params: [0.015, -0.02, 0.025, 1.2, -0.8, 0.5, 1.03], types: ['versor', 'versor', 'versor', 'mm', 'mm', 'mm', 'scale'] };
    case 'affine':
      return {
        params: [1.02, 0.04, -0.03, -0.02, 0.97, 0.03, 0.01, -0.04, 1.01, 1.2, -0.8, 0.5],
        types: ['matrix', 'matrix', 'matrix', 'matrix', 'matrix', 'matrix', 'matrix', 'matrix', 'matrix', 'mm', 'mm', 'mm'],
      };
  }
}

/** A grid of `size` centred at `center` with its own spacing and a rotated direction. */
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
  /** The moving image plus 3: sad's derivative is sign(f − m), well defined only where no residual is near 0. */
  movingSad: Image;
  fixedMask: Image;
  movingMask: Image;
  center: number[];
}

/**
 * Blobs plus a faint texture everywhere: windows of a blob-only image far from the blobs are nearly flat, and lncc's
 * flat-window cut-off then makes its value jump between finite-difference probes.
 */
function sceneFunction(d: 2 | 3): (p: ArrayLike<number>) => number {
  const blobs = d === 2 ? BLOBS_2D : BLOBS_3D;
  if (d === 2) return (p) => blobValue(blobs, p) + 0.1 * Math.sin(0.21 * p[0] + 0.3) * Math.cos(0.17 * p[1] - 0.2);
  return (p) => blobValue(blobs, p) + 0.1 * Math.sin(0.31 * p[0] + 0.3) * Math.cos(0.27 * p[1] - 0.2) * Math.cos(0.23 * p[2] + 0.1);
}

/** Moving = the scene under a map a little away from every base transform, on an oblique grid of its own. */
function makeScene(d: 2 | 3): Scene {
  const fixedFn = sceneFunction(d);
  if (d === 2) {
    const fixed = imageFromFunction({ size: [48, 48] }, fixedFn);
    const truth = mapAbout(rotation2d(0.03, 1.01), [22, 26], [0.7, -0.4]);
    const movingGrid = obliqueGrid([64, 72], [1.1, 0.9], rotation2d((7 * Math.PI) / 180), [24, 24]);
    const moving = movingFor(movingGrid, fixedFn, truth, (v) => 1.3 * v);
    const movingSad = movingFor(movingGrid, fixedFn, truth, (v) => 3 + 1.3 * v);
    const fixedMask = imageFromFunction({ size: [48, 48] }, (p) => ((p[0] - 24) ** 2 + (p[1] - 24) ** 2 < 16 ** 2 ? 1 : 0));
    const movingMask = imageFromFunction(movingGrid, (p) => ((p[0] - 25) ** 2 + (p[1] - 23) ** 2 < 15 ** 2 ? 1 : 0));
    return { d, fixed, moving, movingSad, fixedMask, movingMask, center: [21.3, 26.7] };
  }
  const fixed = imageFromFunction({ size: [24, 24, 24] }, fixedFn);
  const truth = mapAbout(rotation3d(0.02, -0.03, 0.04, 1.01), [11, 13, 12], [0.5, -0.4, 0.3]);
  const movingGrid = obliqueGrid([46, 48, 46], [1.1, 0.95, 1], rotation3d(0.1, 0.05, -0.12), [12, 12, 12]);
  const moving = movingFor(movingGrid, fixedFn, truth, (v) => 1.3 * v);
  const movingSad = movingFor(movingGrid, fixedFn, truth, (v) => 3 + 1.3 * v);
  const fixedMask = imageFromFunction({ size: [24, 24, 24] }, (p) => ((p[0] - 12) ** 2 + (p[1] - 12) ** 2 + (p[2] - 12) ** 2 < 9 ** 2 ? 1 : 0));
  const movingMask = imageFromFunction(movingGrid, (p) => ((p[0] - 12.5) ** 2 + (p[1] - 11.5) ** 2 + (p[2] - 12) ** 2 < 9.5 ** 2 ? 1 : 0));
  return { d, fixed, moving, movingSad, fixedMask, movingMask, center: [11.3, 12.6, 12.2] };
}

const SCENE_2D = makeScene(2);
const SCENE_3D = makeScene(3);

type MaskCase = 'none' | 'fixed mask' | 'moving mask';

/**
 * A moving mask is looked up by nearest pixel, so a sample that crosses its edge between the ±h evaluations
 * makes the value jump. Returns true when no sample changes side for any of the finite-difference probes.
 */
function movingMaskStable(t: MatrixOffsetTransform, base: number[], steps: number[], points: Float64Array, count: number, mask: Image): boolean {
  const d = t.dimension;
  const N = physicalToIndexMatrix(mask);
  const probe = t.clone();
  const inside = (params: number[]): Uint8Array => {
    probe.setParameters(params);
    const y = new Float64Array(d);
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      probe.transformPoint(points.subarray(i * d, i * d + d), y);
      out[i] = maskAt(mask, N, y) ? 1 : 0;
    }
    return out;
  };
  const ref = inside(base);
  for (let k = 0; k < base.length; k++) {
    for (const sign of [-1, 1]) {
      const p = base.slice();
      p[k] += sign * steps[k];
      const got = inside(p);
      for (let i = 0; i < count; i++) if (got[i] !== ref[i]) return false;
    }
  }
  return true;
}

/**
 * Largest gradient error relative to the largest gradient component, both weighted by each parameter's lever
 * (so a rad and a mm count alike).
 */
function gradientError(
  scene: Scene,
  metric: MetricName,
  kind: LinearKind,
  maskCase: MaskCase,
  interpolation: 'linear' | 'bspline',
): { error: number; analytic: number[]; numeric: number[] } {
  const { d, fixed } = scene;
  const moving = metric === 'sad' ? scene.movingSad : scene.moving;
  const samples = sampleFixedImage(fixed, { strategy: 'all', seed: 1, mask: maskCase === 'fixed mask' ? scene.fixedMask : undefined });
  const sampler = prepareMovingSampler(moving, interpolation);
  const t = createTransform(kind, d);
  t.setCenter(scene.center);
  const { params, types } = baseParameters(kind, d);
  // With a moving mask, smaller steps make it rare that a sample crosses the mask edge between probes (the
  // cost is computed in double precision, so rounding stays far below the tolerance). Not for lncc, whose dense
  // path holds moving values as float32: tiny steps would drown in that rounding.
  const shrinkSteps = maskCase === 'moving mask' && metric !== 'lncc';
  const steps = types.map((ty) => STEP[ty].h * (shrinkSteps ? 0.01 : 1));
  const base = params.slice();
  if (maskCase === 'moving mask') {
    // Nudge the base translation until no sample sits on the mask's edge (deterministic, a few tries at most).
    const ti = types.indexOf('mm');
    let tries = 0;
    while (!movingMaskStable(t, base, steps, samples.points, samples.count, scene.movingMask)) {
      base[ti] += 0.0137;
      assert.ok(++tries < 50, 'could not find a base point away from the moving mask edge');
    }
  }
  const cost = new LinearRegistrationCost(t, samples, sampler, {
    metric,
    metricOptions: { fixedRange: finiteRange(samples.values)!, movingRange: finiteRange(moving.data)! },
    radius: 2,
    gridSize: fixed.size,
    movingMask: maskCase === 'moving mask' ? scene.movingMask : undefined,
  });
  const P = t.numberOfParameters;
  const g = new Float64Array(P);
  const scratch = new Float64Array(P);
  cost.evaluate(Float64Array.from(base), g);
  if (maskCase === 'moving mask') {
    assert.ok(cost.lastValidCount > samples.count * 0.15, `${cost.lastValidCount} of ${samples.count} samples valid`);
  } else {
    // The moving grid covers every fixed sample: no sample can leave it between probes.
    assert.equal(cost.lastValidCount, samples.count);
  }
  const numeric: number[] = [];
  for (let k = 0; k < P; k++) {
    const plus = Float64Array.from(base);
    const minus = Float64Array.from(base);
    plus[k] += steps[k];
    minus[k] -= steps[k];
    numeric.push((cost.evaluate(plus, scratch) - cost.evaluate(minus, scratch)) / (2 * steps[k]));
  }
  let largest = 0;
  let worst = 0;
  for (let k = 0; k < P; k++) {
    const lever = STEP[types[k]].lever;
    largest = Math.max(largest, Math.abs(numeric[k]) * lever, Math.abs(g[k]) * lever);
    worst = Math.max(worst, Math.abs(numeric[k] - g[k]) * lever);
  }
  assert.ok(largest > 0, 'the gradient is zero: the test would prove nothing');
  return { error: worst / largest, analytic: Array.from(g), numeric };
}

const KINDS: LinearKind[] = ['translation', 'rigid', 'similarity', 'affine'];
const MASKS: MaskCase[] = ['none', 'fixed mask', 'moving mask'];

function check(scene: Scene, metric: MetricName, kind: LinearKind, maskCase: MaskCase, interpolation: 'linear' | 'bspline', tol: number): void {
  const { error, analytic, numeric } = gradientError(scene, metric, kind, maskCase, interpolation);
  assert.ok(
    error < tol,
    `${scene.d}D ${metric} ${kind} (${maskCase}, ${interpolation}): relative error ${error.toExponential(2)} ≥ ${tol}\n` +
      `  analytic ${analytic.map((v) => v.toPrecision(6)).join(', ')}\n  numeric  ${numeric.map((v) => v.toPrecision(6)).join(', ')}`,
  );
}

/** lncc's dense path rounds moving values to float32, which shows in its finite differences. */
function tolerance(metric: MetricName): number {
  return metric === 'lncc' ? 2e-4 : 2e-5;
}

for (const metric of METRIC_NAMES) {
  test(`2D ${metric}: gradient matches central differences for every transform, with and without masks`, () => {
    for (const kind of KINDS) for (const maskCase of MASKS) check(SCENE_2D, metric, kind, maskCase, 'bspline', tolerance(metric));
  });
}

test('3D gradients match central differences (subset of metric × transform × mask)', () => {
  const cases: [MetricName, LinearKind, MaskCase][] = [
    ['mse', 'translation', 'none'],
    ['mse', 'rigid', 'moving mask'],
    ['ncc', 'similarity', 'none'],
    ['ncc', 'affine', 'fixed mask'],
    ['mi', 'rigid', 'fixed mask'],
    ['mi', 'affine', 'none'],
    ['nmi', 'similarity', 'moving mask'],
    ['jointEntropy', 'rigid', 'none'],
    ['nssd', 'affine', 'moving mask'],
    ['sad', 'similarity', 'fixed mask'],
    ['lncc', 'rigid', 'none'],
    ['lncc', 'affine', 'fixed mask'],
  ];
  for (const [metric, kind, maskCase] of cases) check(SCENE_3D, metric, kind, maskCase, 'bspline', tolerance(metric));
});

test('with linear interpolation the gradient still matches central differences loosely (kinks at voxel edges)', () => {
  check(SCENE_2D, 'mse', 'affine', 'none', 'linear', 5e-3);
  check(SCENE_2D, 'mi', 'rigid', 'none', 'linear', 5e-3);
});
