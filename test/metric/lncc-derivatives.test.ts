import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lnccDense, lnccDenseDerivatives, type LnccWorkspace } from '../../src/metric/lncc.js';
import { assertClose } from '../helpers.js';
import { random } from './util.js';

function grids(size: number[], seed: number): { f: Float64Array; m: Float64Array } {
  const rnd = random(seed);
  const n = size.reduce((a, b) => a * b, 1);
  const f = Float64Array.from({ length: n }, () => rnd());
  const m = Float64Array.from(f, (v) => 0.6 * v + 0.4 * rnd());
  return { f, m };
}

test('lnccDenseDerivatives: ∂/∂fixed matches central differences (3D, mask) and ∂/∂moving equals lnccDense', () => {
  const size = [6, 5, 7];
  const { f, m } = grids(size, 61);
  const rnd = random(62);
  const mask = Uint8Array.from({ length: f.length }, () => (rnd() < 0.85 ? 1 : 0));
  const dF = new Float32Array(f.length);
  const dM = new Float64Array(f.length);
  const workspace: LnccWorkspace = { buffers: [] };
  const value = lnccDenseDerivatives(f, m, mask, size, [1, 2, 1], dF, dM, workspace);
  const reference = new Float64Array(f.length);
  assertClose(lnccDense(f, m, mask, size, [1, 2, 1], reference), value, 1e-14);
  for (let i = 0; i < f.length; i++) assertClose(dM[i], reference[i], 1e-15);
  let scale = 0;
  for (const v of dF) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0);
  const h = 1e-5;
  for (const i of [0, 13, 57, 101, 209]) {
    const keep = f[i];
    f[i] = keep + h;
    const plus = lnccDenseDerivatives(f, m, mask, size, [1, 2, 1], null, null, workspace);
    f[i] = keep - h;
    const minus = lnccDenseDerivatives(f, m, mask, size, [1, 2, 1], null, null, workspace);
    f[i] = keep;
    // dF is float32: compare to its precision
    assertClose(dF[i], (plus - minus) / (2 * h), 1e-6 * scale, `∂lncc/∂f[${i}]`);
    if (!mask[i]) assert.equal(dF[i], 0);
  }
});

test('lnccDenseDerivatives is symmetric: swapping the images swaps the derivatives (2D)', () => {
  const size = [12, 9];
  const { f, m } = grids(size, 63);
  const a = new Float64Array(f.length);
  const b = new Float64Array(f.length);
  const c = new Float64Array(f.length);
  const e = new Float64Array(f.length);
  const v1 = lnccDenseDerivatives(f, m, null, size, 2, a, b);
  const v2 = lnccDenseDerivatives(m, f, null, size, 2, c, e);
  assertClose(v1, v2, 1e-14);
  for (let i = 0; i < f.length; i++) {
    assertClose(a[i], e[i], 1e-12);
    assertClose(b[i], c[i], 1e-12);
  }
});
