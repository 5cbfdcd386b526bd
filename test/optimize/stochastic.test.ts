import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optimizeStochasticGradientDescent } from '../../src/optimize/stochastic.js';
import { createRandom } from '../../src/random.js';

test('stochastic gradient descent converges on a quadratic with noisy gradients, reproducibly', () => {
  const target = [3, -2, 0.5];
  const run = () => {
    const rand = createRandom(7);
    let evaluations = 0;
    const cost = {
      evaluate(p: Float64Array, g: Float64Array): number {
        evaluations++;
        let v = 0;
        for (let i = 0; i < 3; i++) {
          const r = p[i] - target[i];
          v += r * r;
          g[i] = 2 * r + 0.2 * (rand() - 0.5); // a noisy subset gradient
        }
        return v;
      },
    };
    const r = optimizeStochasticGradientDescent(cost, [0, 0, 0], { maxIterations: 400, learningRate: 0.4 });
    return { r, evaluations };
  };
  const { r, evaluations } = run();
  assert.equal(r.iterations, 400);
  assert.equal(r.stopReason, 'maximum iterations');
  assert.equal(evaluations, 401);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(r.parameters[i] - target[i]) < 0.02, `p[${i}] = ${r.parameters[i]}`);
  assert.deepEqual(Array.from(run().r.parameters), Array.from(r.parameters));
});

test('stochastic gradient descent clips the largest parameter step', () => {
  const cost = {
    evaluate(p: Float64Array, g: Float64Array): number {
      g[0] = 1000;
      g[1] = 1;
      return p[0];
    },
  };
  const r = optimizeStochasticGradientDescent(cost, [0, 0], { maxIterations: 1, learningRate: 1, maximumParameterStep: 0.5 });
  assert.ok(Math.abs(r.parameters[0] + 0.5) < 1e-12);
  assert.ok(Math.abs(r.parameters[1] + 0.0005) < 1e-12);
});
