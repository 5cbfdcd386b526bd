import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFieldInversion, fieldInversionReport } from '../../src/transform/inverse.js';

test("a numeric inverse's report: max, mean and the 99th percentile (by rank among float32-rounded residuals) of the points and cells that have one", () => {
  const inv = createFieldInversion(3, { dimension: 3, size: [23, 19, 11], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
  const all: number[] = [];
  let seed = 7;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  let unconverged = 0;
  for (let p = 0; p < inv.pointResidual.length; p++) {
    const ok = next() > 0.05;
    inv.ok[p] = ok ? 1 : 0;
    if (!ok) unconverged++;
    inv.pointResidual[p] = ok ? next() ** 4 : NaN;
    if (ok) all.push(inv.pointResidual[p]);
  }
  for (let q = 0; q < inv.cellResidual.length; q++) {
    inv.cellResidual[q] = next() > 0.1 ? 2 * next() ** 3 : NaN;
    if (!Number.isNaN(inv.cellResidual[q])) all.push(inv.cellResidual[q]);
  }
  const report = fieldInversionReport('bspline', inv);
  const sorted = Float32Array.from(all).sort();
  assert.equal(report.p99Residual, sorted[Math.floor(0.99 * sorted.length)]);
  assert.equal(report.maxResidual, Math.max(...all));
  assert.ok(Math.abs(report.meanResidual - all.reduce((a, b) => a + b, 0) / all.length) < 1e-12);
  assert.equal(report.unconverged, unconverged);
  assert.deepEqual(report.size, [23, 19, 11]);
});
