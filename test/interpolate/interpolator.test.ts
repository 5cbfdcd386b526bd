import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { interpolationPlane } from '../../src/interpolate/interpolator.js';

test('interpolationPlane: a float scalar image is its own plane; components are split; wide types stay float64', () => {
  const f = createImage([3, 2], 'float32');
  assert.equal(interpolationPlane(f), f.data);
  const rgb = createImage([2, 2], 'uint8', { components: 3 });
  for (let i = 0; i < rgb.data.length; i++) rgb.data[i] = i;
  const g = interpolationPlane(rgb, 1);
  assert.ok(g instanceof Float32Array);
  assert.deepEqual(Array.from(g), [1, 4, 7, 10]);
  const wide = createImage([2, 1], 'int32');
  wide.data.set([2 ** 30 + 1, -(2 ** 30) - 1]);
  const w = interpolationPlane(wide);
  assert.ok(w instanceof Float64Array);
  assert.deepEqual(Array.from(w), [2 ** 30 + 1, -(2 ** 30) - 1]);
});
