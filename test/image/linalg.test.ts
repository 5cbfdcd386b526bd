import { test } from 'node:test';
import assert from 'node:assert/strict';
import { determinant, matMul, nearestRotation, polarDecomposition, svd, symmetricEigen, transpose, invertMatrixOrNull } from '../../src/image/linalg.js';
import { assertArrayClose, assertClose } from '../helpers.js';

const I3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

test('svd reconstructs full-rank and rank-deficient matrices with orthogonal factors', () => {
  for (const a of [[2, -1, 0.5, 0.3, 4, 1, -2, 0.1, 3], [1, 2, 3, 2, 4, 6, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0]]) {
    const { u, s, v } = svd(a, 3);
    assert.ok(s[0] >= s[1] && s[1] >= s[2] && s[2] >= 0);
    const us = matMul(u, [s[0], 0, 0, 0, s[1], 0, 0, 0, s[2]], 3, 3, 3);
    assertArrayClose(matMul(us, transpose(v, 3), 3, 3, 3), a, 1e-13, 'U·S·Vᵀ');
    assertArrayClose(matMul(transpose(u, 3), u, 3, 3, 3), I3, 1e-13, 'UᵀU');
    assertArrayClose(matMul(transpose(v, 3), v, 3, 3, 3), I3, 1e-13, 'VᵀV');
  }
  const { s } = svd([3, 0, 0, -2], 2);
  assertArrayClose(s, [3, 2], 1e-15);
});

test('symmetric eigen-decomposition: descending values, A·v = λ·v', () => {
  const a = [4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 1];
  const { values, vectors } = symmetricEigen(a, 3);
  assert.ok(values[0] >= values[1] && values[1] >= values[2]);
  for (let c = 0; c < 3; c++) {
    const v = [vectors[c], vectors[3 + c], vectors[6 + c]];
    assertArrayClose(matMul(a, v, 3, 3, 1), v.map((x) => x * values[c]), 1e-13);
  }
  assertClose(values[0] + values[1] + values[2], 8, 1e-13, 'trace');
});

test('polar decomposition, nearest rotation (reflections excluded) and inverse', () => {
  const a = [2, -1, 0.5, 0.3, 4, 1, -2, 0.1, 3];
  const { orthogonal, stretch } = polarDecomposition(a, 3);
  assertArrayClose(matMul(orthogonal, stretch, 3, 3, 3), a, 1e-13);
  assertArrayClose(stretch, transpose(stretch, 3), 1e-13, 'S symmetric');
  const mirror = [-1, 0, 0, 0, 1, 0, 0, 0, 1];
  const r = nearestRotation(mirror, 3);
  assert.ok(Math.abs(determinant(r, 3) - 1) < 1e-13);
  assertArrayClose(matMul(r, transpose(r, 3), 3, 3, 3), I3, 1e-13);
  assertArrayClose(matMul(a, invertMatrixOrNull(a, 3)!, 3, 3, 3), I3, 1e-13);
  assert.equal(invertMatrixOrNull([1, 2, 2, 4], 2), null);
});
