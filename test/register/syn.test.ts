import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage, indexToPhysical, type Image } from '../../src/image/image.js';
import { composeFields, maxDisplacementVoxels } from '../../src/transform/dense-field.js';
import { synRegister, type SynMetric, type SynOptions, type SynProgressEvent } from '../../src/register/syn.js';
import type { LinearTransform } from '../../src/transform/transform.js';

type Vec = number[];

/** A smooth image with structure everywhere: a jittered lattice of Gaussian blobs of varied size and height. */
function blobs(d: 2 | 3, extent: number): (p: Vec) => number {
  const centres: { c: Vec; s: number; a: number }[] = [];
  const per = d === 2 ? 5 : 3;
  const stepLen = extent / per;
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const count = per ** d;
  for (let q = 0; q < count; q++) {
    const idx = [q % per, Math.floor(q / per) % per, Math.floor(q / per / per)];
    const c = Array.from({ length: d }, (_, a) => (idx[a] + 0.5) * stepLen + (rnd() - 0.5) * 0.4 * stepLen);
    centres.push({ c, s: stepLen * (0.25 + 0.15 * rnd()), a: 0.4 + 0.6 * rnd() });
  }
  return (p) => {
    let v = 0;
    for (const { c, s, a } of centres) {
      let r2 = 0;
      for (let k = 0; k < d; k++) r2 += (p[k] - c[k]) ** 2;
      v += a * Math.exp(-r2 / (2 * s * s));
    }
    return 100 * v;
  };
}

/** A smooth warp w (mm) vanishing on the border of [0, L]^d. */
function warp(d: 2 | 3, L: number, amplitude: number): (p: Vec) => Vec {
  const s = (v: number, k: number): number => Math.sin((k * Math.PI * v) / L);
  if (d === 2) return ([x, y]) => [amplitude * s(x, 1) * s(y, 2), -0.8 * amplitude * s(x, 2) * s(y, 1)];
  return ([x, y, z]) => [
    amplitude * s(x, 1) * s(y, 2) * s(z, 1),
    -0.8 * amplitude * s(x, 2) * s(y, 1) * s(z, 1),
    0.7 * amplitude * s(x, 1) * s(y, 1) * s(z, 2),
  ];
}

function imageOf(size: number[], f: (p: Vec) => number, spacing?: number[]): Image {
  const img = createImage(size, 'float32', spacing ? { spacing } : {});
  const nz = size.length === 3 ? size[2] : 1;
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++, p++) img.data[p] = f(Array.from(indexToPhysical(img, size.length === 3 ? [i, j, k] : [i, j])));
  return img;
}

interface Problem {
  fixed: Image;
  moving: Image;
  /** The moving image's intensity at a physical point. */
  movingAt: (y: Vec) => number;
  /** True forward displacement at a physical point: g⁻¹(x) − x, with g the analytic moving → fixed warp. */
  truth: (x: Vec) => Vec;
}

/**
 * fixed = B(x), moving = B(g(y)) with g(y) = y + w(y) (both analytic, no resampler), so the true fixed → moving map
 * is g⁻¹, solved per point by the contraction y ← x − w(y).
 */
function problem(d: 2 | 3, n: number, amplitude: number, spacing?: number[]): Problem {
  const size = new Array<number>(d).fill(n);
  const L = (n - 1) * (spacing?.[0] ?? 1);
  const b = blobs(d, L);
  const w = warp(d, L, amplitude);
  const movingAt = (y: Vec): number => b(y.map((v, a) => v + w(y)[a]));
  return {
    fixed: imageOf(size, b, spacing),
    moving: imageOf(size, movingAt, spacing),
    movingAt,
    truth: (x) => {
      let y = x.slice();
      for (let it = 0; it < 100; it++) y = x.map((v, a) => v - w(y)[a]);
      return y.map((v, a) => v - x[a]);
    },
  };
}

/** Mean and max |u(x) − truth(x)| in voxels (spacing 1 or per axis) over voxels at least `margin` from the border. */
function endpointError(field: Image<Float32Array>, truth: (x: Vec) => Vec, margin: number): { mean: number; max: number } {
  const d = field.dimension;
  const [nx, ny] = field.size;
  const nz = d === 3 ? field.size[2] : 1;
  let sum = 0;
  let max = 0;
  let count = 0;
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, p++) {
        const idx = d === 3 ? [i, j, k] : [i, j];
        if (idx.some((v, a) => v < margin || v > field.size[a] - 1 - margin)) continue;
        const t = truth(Array.from(indexToPhysical(field, idx)));
        let e2 = 0;
        for (let c = 0; c < d; c++) e2 += ((field.data[p * d + c] - t[c]) / field.spacing[c]) ** 2;
        const e = Math.sqrt(e2);
        sum += e;
        max = Math.max(max, e);
        count++;
      }
  return { mean: sum / count, max };
}

function initialError(truth: (x: Vec) => Vec, img: Image, margin: number): number {
  const zero = { ...img, components: img.dimension, data: new Float32Array(img.data.length * img.dimension) } as Image<Float32Array>;
  return endpointError(zero, truth, margin).mean;
}

const P2 = problem(2, 64, 3);
const FAST_2D: SynOptions = { shrink: [2, 1], smooth: [1, 0], iterations: [40, 25] };

for (const metric of ['mse', 'lncc', 'mi'] as SynMetric[]) {
  test(`syn 2D (${metric}) recovers an analytic warp: mean endpoint error < 0.3 voxel, no folding, inverse consistent`, async () => {
    const before = initialError(P2.truth, P2.fixed, 4);
    const result = await synRegister(P2.fixed, P2.moving, { ...FAST_2D, metric });
    const err = endpointError(result.forward, P2.truth, 4);
    assert.ok(before > 1.2, `the problem is not trivial (${before})`);
    assert.ok(err.mean < 0.3, `${metric}: mean endpoint error ${err.mean.toFixed(3)} voxel (was ${before.toFixed(3)}), max ${err.max.toFixed(3)}`);
    assert.ok(result.minJacobian > 0, `forward field folds (min det ${result.minJacobian})`);
    for (const level of result.levels) assert.ok(level.minJacobian > 0);
    // forward ∘ inverse: y ↦ y + v(y) then x ↦ x + u(x) is the identity
    const grid = result.forward;
    const roundTrip = composeFields(result.forward.data, result.inverse.data, grid);
    const inner = interiorMax(roundTrip, grid, 4);
    assert.ok(inner < 0.1, `inverse consistency ${inner} voxel`);
    assert.equal(result.forward.components, 2);
    assert.deepEqual(result.forward.size, P2.fixed.size);
    assert.equal(result.levels.length, 2);
  });
}

function interiorMax(u: Float32Array, grid: Image, margin: number): number {
  const d = grid.dimension;
  const sub = new Float32Array(u.length);
  const [nx, ny] = grid.size;
  const nz = d === 3 ? grid.size[2] : 1;
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, p++) {
        const idx = d === 3 ? [i, j, k] : [i, j];
        if (idx.some((v, a) => v < margin || v > grid.size[a] - 1 - margin)) continue;
        for (let c = 0; c < d; c++) sub[p * d + c] = u[p * d + c];
      }
  return maxDisplacementVoxels(sub, grid);
}

test('syn 3D (lncc, 24³) recovers an analytic warp without folding', async () => {
  const p3 = problem(3, 24, 1.8);
  const before = initialError(p3.truth, p3.fixed, 3);
  const result = await synRegister(p3.fixed, p3.moving, { metric: 'lncc', shrink: [1], smooth: [0], iterations: [25], gradientSigma: 2 });
  const err = endpointError(result.forward, p3.truth, 3);
  assert.ok(err.mean < 0.3 && err.mean < before / 3, `mean endpoint error ${err.mean.toFixed(3)} voxel (was ${before.toFixed(3)})`);
  assert.ok(result.minJacobian > 0);
  assert.equal(result.forward.components, 3);
});

test('syn after an affine pre-alignment: the field composes first, T(x) = A(x + u(x))', async () => {
  const p = problem(2, 48, 2.5, [1.2, 1.2]);
  const t = [3.3, -2.1];
  // moving'(y) = moving(y − t), so moving'(A(x + u(x))) = fixed(x) with A(z) = z + t and the same u
  const shifted = imageOf(p.moving.size, (y) => p.movingAt([y[0] - t[0], y[1] - t[1]]), p.moving.spacing);
  const initial: LinearTransform = {
    kind: 'translation',
    dimension: 2,
    transformPoint: (q, out) => {
      out[0] = q[0] + t[0];
      out[1] = q[1] + t[1];
    },
    matrix: () => Float64Array.of(1, 0, 0, 1),
    offset: () => Float64Array.from(t),
  };
  const result = await synRegister(p.fixed, shifted, { metric: 'mse', shrink: [2, 1], smooth: [1, 0], iterations: [40, 25] }, { initial });
  // the shifted moving image lacks a strip along two edges, so measure away from them
  const err = endpointError(result.forward, p.truth, 6);
  assert.ok(err.mean < 0.3, `mean endpoint error ${err.mean.toFixed(3)} voxel`);
  assert.ok(result.minJacobian > 0);
});

test('syn reports progress per iteration, warns and keeps the last good fields when an update would fold', async () => {
  const events: SynProgressEvent[] = [];
  const warnings: string[] = [];
  const result = await synRegister(
    P2.fixed,
    P2.moving,
    { metric: 'mse', shrink: [2, 1], smooth: [1, 0], iterations: [5, 200], gradientSigma: 0, totalSigma: 0, stepSize: 4, convergenceWindow: 1000 },
    { onProgress: (e) => events.push(e), warn: (m) => warnings.push(m) },
  );
  assert.deepEqual(
    events.filter((e) => e.level === 0).map((e) => e.iteration),
    [1, 2, 3, 4, 5].slice(0, result.levels[0].iterations),
  );
  for (const e of events) {
    assert.equal(e.levelCount, 2);
    assert.equal(e.maxIterations, e.level === 0 ? 5 : 200);
    assert.ok(Number.isFinite(e.value));
  }
  assert.ok(result.levels.some((l) => l.stopReason === 'folding'), `stop reasons ${result.levels.map((l) => l.stopReason)}`);
  assert.ok(warnings.length >= 1 && warnings.every((w) => /fold/.test(w)), warnings.join('; '));
  for (const l of result.levels) assert.ok(l.minJacobian > 0, `level kept folded fields (${l.minJacobian})`);
  assert.ok(result.minJacobian > 0);
});

test('syn stops with an AbortError when the signal is aborted', async () => {
  const controller = new AbortController();
  let seen = 0;
  await assert.rejects(
    synRegister(P2.fixed, P2.moving, { metric: 'mse', iterations: [50, 50, 50] }, {
      signal: controller.signal,
      onProgress: () => {
        seen++;
        controller.abort();
      },
    }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.equal(seen, 1);
});

test('syn rejects bad inputs and options with CoregError', async () => {
  const img3 = createImage([4, 4, 4]);
  img3.data[0] = 1;
  const flat = createImage([64, 64]);
  const cases: [Promise<unknown>, RegExp][] = [
    [synRegister(P2.fixed, img3), /2D but the moving image is 3D/],
    [synRegister(P2.fixed, flat), /constant/],
    [synRegister(P2.fixed, P2.moving, { metric: 'nmi' as SynMetric }), /syn supports mse, lncc, mi/],
    [synRegister(P2.fixed, P2.moving, { shrink: [2, 1], iterations: [10, 10, 10] }), /one value per level/],
    [synRegister(P2.fixed, P2.moving, { stepSize: 0 }), /stepSize|must be finite and > 0/],
    [synRegister(P2.fixed, P2.moving, { radius: 1.5 }), /whole number/],
  ];
  for (const [promise, message] of cases) {
    await assert.rejects(promise, (e: Error) => e instanceof CoregError && message.test(e.message + ' ' + e.subject));
  }
});
