import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, indexToPhysical } from '../../src/image/image.js';
import { CoregError } from '../../src/errors.js';
import { createInterpolator, INTERPOLATION_KINDS, type InterpolationKind } from '../../src/interpolate/index.js';
import { assertClose } from '../helpers.js';

const c = Math.cos(0.4);
const s = Math.sin(0.4);

/** A 2D image with rotated axes, anisotropic spacing and an offset origin holding f(p) = a·p + b per component. */
function affineImage2d(type: 'float32' | 'int16' | 'float64', components = 1) {
  const img = createImage([30, 25], type, { spacing: [0.8, 1.3], origin: [-5, 12], direction: [c, -s, s, c], components });
  const p = [0, 0];
  for (let j = 0; j < 25; j++) {
    for (let i = 0; i < 30; i++) {
      indexToPhysical(img, [i, j], p);
      for (let k = 0; k < components; k++) img.data[(i + 30 * j) * components + k] = Math.round(100 + (k + 1) * (2 * p[0] - 3 * p[1]));
    }
  }
  return img;
}

test('physical gradient and value of an affine function through a rotated, anisotropic grid', () => {
  // Values are rounded to integers in affineImage2d, so use the exact affine through the stored samples instead:
  const img = createImage([20, 16], 'float64', { spacing: [0.8, 1.3], origin: [-5, 12], direction: [c, -s, s, c] });
  const p = [0, 0];
  const f = (q: ArrayLike<number>) => 7 + 0.5 * q[0] - 1.5 * q[1];
  for (let j = 0; j < 16; j++) {
    for (let i = 0; i < 20; i++) {
      indexToPhysical(img, [i, j], p);
      img.data[i + 20 * j] = f(p);
    }
  }
  const g = new Float64Array(2);
  for (const kind of ['linear', 'barycentric'] as InterpolationKind[]) {
    const it = createInterpolator(img, kind);
    for (const idx of [[3.3, 4.7], [10.1, 2.2], [15.9, 13.4]]) {
      const q = indexToPhysical(img, idx);
      assertClose(it.gradientAtPoint(q, g), f(q), 1e-9, `${kind} value`);
      assert.equal(it.inside, true);
      assertClose(g[0], 0.5, 1e-9, `${kind} ∂/∂x`);
      assertClose(g[1], -1.5, 1e-9, `${kind} ∂/∂y`);
      assertClose(it.valueAtPoint(q), f(q), 1e-9);
    }
  }
});

test('3D physical gradient (B-spline, interior) of an affine function', () => {
  const img = createImage([26, 26, 26], 'float32', { spacing: [1, 2, 0.5], origin: [3, -4, 8], direction: [0, 1, 0, -1, 0, 0, 0, 0, 1] });
  const p = [0, 0, 0];
  const f = (q: ArrayLike<number>) => 1 + 0.25 * q[0] + 0.5 * q[1] - q[2];
  for (let k = 0; k < 26; k++) for (let j = 0; j < 26; j++) for (let i = 0; i < 26; i++) {
    indexToPhysical(img, [i, j, k], p);
    img.data[i + 26 * (j + 26 * k)] = f(p);
  }
  const it = createInterpolator(img, 'bspline');
  const g = new Float64Array(3);
  const q = indexToPhysical(img, [12.3, 13.6, 12.9]);
  assertClose(it.gradientAtPoint(q, g), f(q), 1e-4);
  assertClose(g[0], 0.25, 1e-5);
  assertClose(g[1], 0.5, 1e-5);
  assertClose(g[2], -1, 1e-5);
});

test('outside: default value, inside flag false, zero gradient', () => {
  const img = affineImage2d('int16');
  for (const kind of INTERPOLATION_KINDS) {
    const it = createInterpolator(img, kind, { defaultValue: -7 });
    const g = new Float64Array([1, 1]);
    assert.equal(it.evaluate([-0.6, 3], g), -7, kind);
    assert.equal(it.inside, false);
    assert.deepEqual([...g], [0, 0]);
    assertClose(it.valueAtIndex([2, 3]), img.data[2 + 30 * 3], 1e-9, `${kind} at a pixel`);
    assert.equal(it.inside, true);
    assert.equal(it.valueAtIndex([29.5, 24.5]) !== -7, true);
    assert.equal(it.valueAtIndex([29.51, 3]), -7);
    assert.equal(it.inside, false);
    const far = indexToPhysical(img, [40, -3]);
    assert.equal(it.valueAtPoint(far), -7);
    assert.equal(createInterpolator(img, kind).valueAtPoint(far), 0, 'default value is 0');
  }
});

test('vector images are interpolated per component', () => {
  const img = affineImage2d('float32', 3);
  for (const kind of INTERPOLATION_KINDS) {
    const it = createInterpolator(img, kind);
    for (let k = 0; k < 3; k++) assertClose(it.valueAtIndex([4, 5], k), img.data[(4 + 30 * 5) * 3 + k], 1e-9, `${kind} component ${k}`);
    // Component k holds 100 + (k+1)·g(p), so component 2 − 100 is three times component 0 − 100 (up to rounding).
    const v0 = it.valueAtIndex([7.4, 9.2], 0);
    const v2 = it.valueAtIndex([7.4, 9.2], 2);
    assertClose(v2 - 100, 3 * (v0 - 100), 2.5, kind);
  }
  const it = createInterpolator(img, 'linear');
  assert.throws(() => it.valueAtIndex([1, 1], 3), RangeError);
});

test('an unknown kind is a CoregError', () => {
  const img = affineImage2d('float64');
  assert.throws(() => createInterpolator(img, 'cubic' as InterpolationKind), CoregError);
});
