import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, indexToPhysical, physicalToIndex, sameGrid, physicalBoundingBox, invertMatrix, finiteRange } from '../../src/image/image.js';

test('index ↔ physical round trip with rotated direction and anisotropic spacing', () => {
  const c = Math.cos(0.3), s = Math.sin(0.3);
  const img = createImage([5, 6, 7], 'float32', { spacing: [0.5, 1.5, 2], origin: [10, -3, 4], direction: [c, -s, 0, s, c, 0, 0, 0, -1] });
  const p = indexToPhysical(img, [1.5, 2, 3.25]);
  // p = origin + D·diag(s)·i
  assert.ok(Math.abs(p[0] - (10 + c * 0.75 - s * 3)) < 1e-12);
  assert.ok(Math.abs(p[2] - (4 - 6.5)) < 1e-12);
  const i = physicalToIndex(img, p);
  assert.deepEqual(Array.from(i, (v) => Math.round(v * 1e9) / 1e9), [1.5, 2, 3.25]);
});

test('sameGrid and bounding box', () => {
  const a = createImage([4, 4]);
  const b = createImage([4, 4], 'uint8');
  assert.ok(sameGrid(a, b));
  b.origin[0] = 0.5;
  assert.ok(!sameGrid(a, b));
  const bb = physicalBoundingBox(a);
  assert.deepEqual(bb, { min: [0, 0], max: [3, 3] });
});

test('matrix inverse and finite range', () => {
  const m = [2, 1, 0, 1, 3, 1, 0, 1, 4];
  const inv = invertMatrix(m, 3);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += m[r * 3 + k] * inv[k * 3 + c];
    assert.ok(Math.abs(s - (r === c ? 1 : 0)) < 1e-12);
  }
  assert.throws(() => invertMatrix([1, 2, 2, 4], 2), /singular/);
  assert.deepEqual(finiteRange([NaN, 3, -1, Infinity]), { min: -1, max: 3 });
  assert.equal(finiteRange([NaN]), null);
});

test('invalid geometry is refused', () => {
  assert.throws(() => createImage([0, 3]), /size/);
  assert.throws(() => createImage([3, 3], 'float32', { spacing: [0, 1] }), /spacing/);
  assert.throws(() => createImage([3, 3], 'float32', { spacing: [NaN, 1] }), /spacing/);
});
