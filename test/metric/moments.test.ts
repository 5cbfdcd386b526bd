import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateMetric, nccSimilarity } from '../../src/metric/index.js';
import { CoregError } from '../../src/errors.js';
import { assertClose } from '../helpers.js';
import { checkDerivative, correlatedSamples, random } from './util.js';

const INDICES = [0, 7, 23, 38, 49];

test('sad, mse, nssd and ncc derivatives match central differences', () => {
  const { f, m } = correlatedSamples(50, 1);
  for (const name of ['sad', 'mse', 'nssd', 'ncc']) checkDerivative(name, f, m, {}, INDICES);
});

test('weighted sad, mse, nssd and ncc derivatives match central differences', () => {
  const { f, m } = correlatedSamples(50, 2);
  const rnd = random(3);
  const weights = Float64Array.from({ length: 50 }, () => rnd());
  weights[23] = 0;
  for (const name of ['sad', 'mse', 'nssd', 'ncc']) checkDerivative(name, f, m, { weights }, INDICES);
});

test('NCC worked examples: identical patches give 1, a bad pair gives −1/3', () => {
  const good = [3, -1, -1, -1];
  const bad = [-1, -1, -1, 3];
  assertClose(nccSimilarity(good, good), 1, 1e-15);
  assertClose(nccSimilarity(good, bad), -1 / 3, 1e-15);
  // the same patches before mean subtraction (bright pixel on a dark background)
  assertClose(nccSimilarity([10, 6, 6, 6], [2, 2, 2, 6]), -1 / 3, 1e-15);
  // the sampled metric is the cost −NCC
  const { value } = evaluateMetric('ncc', Float64Array.from(good), Float64Array.from(bad), 4);
  assertClose(value, 1 / 3, 1e-15);
});

test('mse of a constant offset c is c², sad is |c|', () => {
  const { f } = correlatedSamples(40, 4);
  for (const c of [0.25, -1.5, 3]) {
    const m = f.map((v) => v + c);
    const mse = evaluateMetric('mse', f, m, f.length);
    assertClose(mse.value, c * c, 1e-12);
    for (const d of mse.dValue) assertClose(d, (2 * c) / f.length, 1e-12);
    const sad = evaluateMetric('sad', f, m, f.length);
    assertClose(sad.value, Math.abs(c), 1e-12);
    for (const d of sad.dValue) assertClose(d, Math.sign(c) / f.length, 1e-15);
  }
  assert.equal(evaluateMetric('mse', f, f, f.length).value, 0);
});

test('ncc and nssd are invariant to m → a·m + b with a > 0; ncc flips sign for a < 0', () => {
  const { f, m } = correlatedSamples(60, 5);
  const mapped = m.map((v) => 3.5 * v - 20);
  for (const name of ['ncc', 'nssd']) {
    assertClose(evaluateMetric(name, f, mapped, 60).value, evaluateMetric(name, f, m, 60).value, 1e-12, name);
  }
  const inverted = m.map((v) => -2 * v + 1);
  assertClose(evaluateMetric('ncc', f, inverted, 60).value, -evaluateMetric('ncc', f, m, 60).value, 1e-12);
  assertClose(evaluateMetric('ncc', f, f, 60).value, -1, 1e-14);
  assertClose(evaluateMetric('nssd', f, f, 60).value, 0, 1e-14);
});

test('nssd is the mean squared difference of z-scores, which is 2·(1 − NCC)', () => {
  const { f, m } = correlatedSamples(30, 6);
  const z = (x: Float64Array): number[] => {
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
    return Array.from(x, (v) => (v - mean) / sd);
  };
  const zf = z(f);
  const zm = z(m);
  const direct = zf.reduce((a, v, i) => a + (v - zm[i]) ** 2, 0) / f.length;
  assertClose(evaluateMetric('nssd', f, m, 30).value, direct, 1e-13);
  assertClose(direct, 2 * (1 - nccSimilarity(f, m)), 1e-13);
});

test('constant images make ncc and nssd undefined', () => {
  const { f } = correlatedSamples(20, 7);
  const flat = new Float64Array(20).fill(0.1);
  for (const name of ['ncc', 'nssd']) {
    assert.throws(() => evaluateMetric(name, f, flat, 20), (e: unknown) => e instanceof CoregError && e.subject === 'metric' && e.message === `image is constant: ${name} is undefined`);
    assert.throws(() => evaluateMetric(name, flat, f, 20), /image is constant/);
  }
  assert.throws(() => nccSimilarity([1, 1, 1], [1, 2, 3]), /image is constant: ncc is undefined/);
  assert.throws(() => nccSimilarity([1, 2], [1, 2, 3]), CoregError);
});
