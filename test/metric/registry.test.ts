import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateMetric, METRICS, SAMPLED_METRIC_NAMES, type MetricOptions } from '../../src/metric/index.js';
import { CoregError } from '../../src/errors.js';
import { correlatedSamples, random } from './util.js';

const OPTIONS: MetricOptions = { fixedRange: { min: 0, max: 1 }, movingRange: { min: 0, max: 1 }, bins: 24 };

test('METRICS holds every sampled measure under its name', () => {
  assert.deepEqual(Object.keys(METRICS).sort(), [...SAMPLED_METRIC_NAMES].sort());
  for (const name of SAMPLED_METRIC_NAMES) assert.equal(METRICS[name].name, name);
});

test('merging blocks gives exactly the one-block value and derivative, for any split and merge order', () => {
  // values spanning several magnitudes make the order of floating-point additions matter
  const n = 3001;
  const { f, m } = correlatedSamples(n, 31);
  const rnd = random(32);
  const w = Float64Array.from({ length: n }, () => rnd() * (rnd() < 0.5 ? 1e-3 : 1e3));
  for (let i = 0; i < n; i += 7) m[i] *= 1 + 1e-9 * i;
  for (const name of SAMPLED_METRIC_NAMES) {
    const metric = METRICS[name];
    for (const weights of [null, w]) {
      const whole = metric.createState(OPTIONS);
      metric.accumulate(whole, f, m, weights, 0, n);
      const value = metric.finalize(whole);
      const expected = new Float64Array(n);
      metric.derivative(whole, f, m, weights, 0, n, expected);
      for (let trial = 0; trial < 6; trial++) {
        const cuts = [0, n];
        const blocks = 2 + Math.floor(rnd() * 12);
        for (let b = 1; b < blocks; b++) cuts.push(Math.floor(rnd() * n));
        cuts.sort((a, b) => a - b);
        const parts = [];
        for (let b = 0; b + 1 < cuts.length; b++) {
          const s = metric.createState(OPTIONS);
          metric.accumulate(s, f, m, weights, cuts[b], cuts[b + 1]);
          parts.push(s);
        }
        // odd trials merge backwards, as threads finishing in another order would
        if (trial % 2 === 1) parts.reverse();
        const merged = parts[0];
        for (let p = 1; p < parts.length; p++) metric.merge(merged, parts[p]);
        assert.equal(merged.count, n);
        assert.equal(metric.finalize(merged), value, `${name} value, cuts ${cuts}`);
        const out = new Float64Array(n);
        for (let b = 0; b + 1 < cuts.length; b++) metric.derivative(merged, f, m, weights, cuts[b], cuts[b + 1], out);
        assert.deepEqual(out, expected, `${name} derivative`);
      }
    }
  }
});

test('reset empties a state for reuse', () => {
  const { f, m } = correlatedSamples(200, 33);
  for (const name of SAMPLED_METRIC_NAMES) {
    const metric = METRICS[name];
    const s = metric.createState(OPTIONS);
    metric.accumulate(s, m, f, null, 0, 200);
    metric.finalize(s);
    metric.reset(s);
    assert.equal(s.count, 0);
    metric.accumulate(s, f, m, null, 0, 200);
    const fresh = metric.createState(OPTIONS);
    metric.accumulate(fresh, f, m, null, 0, 200);
    assert.equal(metric.finalize(s), metric.finalize(fresh), name);
  }
});

test('evaluateMetric checks its inputs', () => {
  const { f, m } = correlatedSamples(10, 34);
  const isMetricError = (pattern: RegExp) => (e: unknown) => e instanceof CoregError && e.subject === 'metric' && pattern.test(e.message);
  assert.throws(() => evaluateMetric('cc', f, m, 10), isMetricError(/unknown metric "cc"/));
  for (const name of SAMPLED_METRIC_NAMES) {
    assert.throws(() => evaluateMetric(name, f, m, 0), isMetricError(/^no samples/));
    assert.throws(() => evaluateMetric(name, f, m, 1), isMetricError(/at least 2 samples/));
    assert.throws(() => evaluateMetric(name, f, m, 11), isMetricError(/11 samples got 10 fixed/));
    assert.throws(() => evaluateMetric(name, f, m, 10, { weights: new Float64Array(5) }), isMetricError(/5 weights/));
  }
  for (const name of ['sad', 'mse', 'ncc', 'mi']) {
    assert.throws(() => evaluateMetric(name, f, m, 10, { ...OPTIONS, weights: new Float64Array(10) }), isMetricError(/^no samples/), name);
  }
  for (const name of ['ncc', 'nssd', 'mi', 'nmi', 'jointEntropy']) {
    assert.throws(() => evaluateMetric(name, f, new Float64Array(10).fill(3), 10), isMetricError(new RegExp(`^image is constant: ${name} is undefined$`)));
  }
  // sad and mse are defined for constant images
  assert.equal(evaluateMetric('mse', new Float64Array(4), new Float64Array(4).fill(2), 4).value, 4);
});
