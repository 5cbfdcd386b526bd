import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateMetric, METRICS, type HistogramState } from '../../src/metric/index.js';
import { CoregError } from '../../src/errors.js';
import { assertClose } from '../helpers.js';
import { checkDerivative, correlatedSamples, random } from './util.js';

const RANGES = { fixedRange: { min: -0.05, max: 1.05 }, movingRange: { min: -0.1, max: 1.1 } };
const INDICES = [0, 13, 404, 999, 1500, 1999];

function shuffled(x: Float64Array, seed: number): Float64Array {
  const rnd = random(seed);
  const y = x.slice();
  for (let i = y.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = y[i];
    y[i] = y[j];
    y[j] = t;
  }
  return y;
}

test('mi, nmi and jointEntropy derivatives match central differences', () => {
  const { f, m } = correlatedSamples(2000, 11);
  for (const name of ['mi', 'nmi', 'jointEntropy']) checkDerivative(name, f, m, RANGES, INDICES);
});

test('weighted histogram derivatives with 16 bins match central differences', () => {
  const { f, m } = correlatedSamples(2000, 12);
  const rnd = random(13);
  const weights = Float64Array.from({ length: 2000 }, () => 0.2 + rnd());
  for (const name of ['mi', 'nmi', 'jointEntropy']) checkDerivative(name, f, m, { ...RANGES, bins: 16, weights }, INDICES);
});

test('MI of a discrete image with itself equals its marginal entropy', () => {
  // four levels whose moving B-spline windows do not overlap: H(F,M) = H(M), so MI = H(F)
  const rnd = random(14);
  const levels = [0, 1 / 3, 2 / 3, 1];
  const counts = [0, 0, 0, 0];
  const f = new Float64Array(1000);
  for (let i = 0; i < f.length; i++) {
    const l = Math.min(3, Math.floor(rnd() * rnd() * 4.5));
    counts[l]++;
    f[i] = levels[l];
  }
  let entropy = 0;
  for (const c of counts) if (c > 0) entropy -= (c / f.length) * Math.log(c / f.length);
  const mi = METRICS.mi;
  const state = mi.createState({ fixedRange: { min: 0, max: 1 }, movingRange: { min: 0, max: 1 } }) as HistogramState;
  mi.accumulate(state, f, f, null, 0, f.length);
  const value = mi.finalize(state);
  assertClose(state.fixedEntropy, entropy, 1e-12, 'H(F)');
  assertClose(-value, entropy, 1e-12, 'MI');
  // MI with a shuffled copy is much smaller
  assert.ok(-evaluateMetric('mi', f, shuffled(f, 15), f.length).value < 0.05 * entropy);
});

test('continuous MI with itself is largest, and at most the fixed marginal entropy', () => {
  const { f } = correlatedSamples(3000, 16);
  const ranges = { fixedRange: { min: 0, max: 1 }, movingRange: { min: 0, max: 1 } };
  const self = evaluateMetric('mi', f, f, f.length, ranges).value;
  const other = evaluateMetric('mi', f, shuffled(f, 17), f.length, ranges).value;
  assert.ok(self < other - 1, `−MI(f,f) = ${self} should be far below −MI(f,shuffled) = ${other}`);
  const state = METRICS.mi.createState(ranges) as HistogramState;
  METRICS.mi.accumulate(state, f, f, null, 0, f.length);
  METRICS.mi.finalize(state);
  assert.ok(-self <= state.fixedEntropy + 1e-12 && -self > 0.5 * state.fixedEntropy);
  const jeSelf = evaluateMetric('jointEntropy', f, f, f.length, ranges).value;
  const jeOther = evaluateMetric('jointEntropy', f, shuffled(f, 17), f.length, ranges).value;
  assert.ok(jeSelf < jeOther, 'joint entropy is lowest for aligned images');
});

test('NMI lies in [1, 2] and is largest for identical images', () => {
  const { f, m } = correlatedSamples(2000, 18);
  const values = [f, m, shuffled(f, 19)].map((x) => -evaluateMetric('nmi', f, x, f.length, RANGES).value);
  for (const v of values) assert.ok(v >= 1 && v <= 2, `NMI ${v}`);
  assert.ok(values[0] > values[1] && values[1] > values[2], `NMI order ${values}`);
});

test('moving values outside the range are clamped and get zero derivative', () => {
  const { f, m } = correlatedSamples(500, 20);
  m[3] = 5;
  m[4] = -5;
  const { dValue } = evaluateMetric('mi', f, m, 500, RANGES);
  assert.equal(dValue[3], 0);
  assert.equal(dValue[4], 0);
  const m2 = m.slice();
  m2[3] = 7;
  assert.equal(evaluateMetric('mi', f, m2, 500, RANGES).value, evaluateMetric('mi', f, m, 500, RANGES).value);
});

test('histogram options are checked', () => {
  const { f, m } = correlatedSamples(100, 21);
  assert.throws(() => evaluateMetric('mi', f, m, 100, { ...RANGES, bins: 4 }), (e: unknown) => e instanceof CoregError && /bins/.test(e.message));
  assert.throws(() => evaluateMetric('nmi', f, m, 100, { ...RANGES, bins: 32.5 }), /bins/);
  assert.throws(() => evaluateMetric('mi', f, m, 100, { fixedRange: { min: 1, max: 1 }, movingRange: RANGES.movingRange }), /image is constant: mi is undefined/);
  assert.throws(() => evaluateMetric('jointEntropy', new Float64Array(100).fill(2), m, 100), /image is constant: jointEntropy is undefined/);
  assert.throws(() => evaluateMetric('mi', f, m, 100, { fixedRange: { min: 0, max: Infinity }, movingRange: RANGES.movingRange }), /not finite/);
  assert.throws(() => METRICS.mi.createState({}), /needs the fixed intensity range/);
});
