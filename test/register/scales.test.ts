import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertArrayClose } from '../helpers.js';
import type { ParametricTransform } from '../../src/transform/transform.js';
import { estimateScalesFromPhysicalShift } from '../../src/register/scales.js';

/** T(x) = A·x + t in 2D; parameters [a00, a01, a10, a11, t0, t1] (ITK's order). */
class Affine2D implements ParametricTransform {
  readonly kind = 'affine';
  readonly dimension = 2 as const;
  readonly numberOfParameters = 6;
  readonly parameters: Float64Array;
  readonly fixedParameters = new Float64Array(2);
  constructor(p: ArrayLike<number> = [1, 0, 0, 1, 0, 0]) {
    this.parameters = Float64Array.from(p);
  }
  setParameters(p: ArrayLike<number>): void {
    this.parameters.set(p);
  }
  transformPoint(x: ArrayLike<number>, out: Float64Array | number[]): void {
    const p = this.parameters;
    out[0] = p[0] * x[0] + p[1] * x[1] + p[4];
    out[1] = p[2] * x[0] + p[3] * x[1] + p[5];
  }
  jacobian(x: ArrayLike<number>, out: Float64Array): void {
    out.fill(0);
    out[0] = x[0];
    out[1] = x[1];
    out[4] = 1;
    out[6 + 2] = x[0];
    out[6 + 3] = x[1];
    out[6 + 5] = 1;
  }
  updateParameters(step: ArrayLike<number>): void {
    for (let i = 0; i < 6; i++) this.parameters[i] += step[i];
  }
  clone(): Affine2D {
    return new Affine2D(this.parameters);
  }
}

const points = Float64Array.from([10, 0, -4, 3, 2, -6, 0, 8]);
const meanSq = (axis: number) => {
  let s = 0;
  for (let k = 0; k < 4; k++) s += points[2 * k + axis] ** 2;
  return s / 4;
};

test('physical-shift scales of an affine: matrix entries = mean x_c², translations = 1', () => {
  const t = new Affine2D([1.1, 0.2, -0.1, 0.9, 5, -3]);
  const before = Array.from(t.parameters);
  const scales = estimateScalesFromPhysicalShift(t, points);
  const x2 = meanSq(0);
  const y2 = meanSq(1);
  assertArrayClose(scales, [x2, y2, x2, y2, 1, 1], 1e-8, 'scales');
  assert.deepEqual(Array.from(t.parameters), before, 'transform left unchanged');
});

test('a parameter that moves no point gets the smallest non-zero scale', () => {
  const onAxis = Float64Array.from([0, 2, 0, -4]); // x = 0: a00 and a10 have no effect
  const scales = estimateScalesFromPhysicalShift(new Affine2D(), onAxis);
  assertArrayClose(scales, [1, 10, 1, 10, 1, 1], 1e-8, 'scales');
  const none = estimateScalesFromPhysicalShift(new Affine2D(), Float64Array.from([0, 0]));
  assertArrayClose(none, [1, 1, 1, 1, 1, 1], 0, 'all zero');
});
