import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertArrayClose, assertClose } from '../helpers.js';
import { CoregError } from '../../src/errors.js';
import {
  adamSteps,
  optimize,
  optimizeAdam,
  optimizeGradientDescent,
  optimizeLbfgs,
  optimizeRegularStepGradientDescent,
  OPTIMIZER_NAMES,
  type CostFunction,
  type IterationInfo,
} from '../../src/optimize/index.js';

/** f = ½ Σ a_i (p_i − c_i)². */
function quadratic(a: number[], c: number[]): CostFunction {
  return {
    evaluate(p, g) {
      let f = 0;
      for (let i = 0; i < a.length; i++) {
        const r = p[i] - c[i];
        f += 0.5 * a[i] * r * r;
        g[i] = a[i] * r;
      }
      return f;
    },
  };
}

const rosenbrock: CostFunction = {
  evaluate(p, g) {
    const x = p[0];
    const y = p[1];
    g[0] = -2 * (1 - x) - 400 * x * (y - x * x);
    g[1] = 200 * (y - x * x);
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2;
  },
};

const illConditioned = quadratic([1, 100], [3, -2]);

test('gradient descent with a fixed learning rate solves an ill-conditioned quadratic', () => {
  const r = optimizeGradientDescent(illConditioned, [0, 0], { learningRate: 0.019, maxIterations: 1500 });
  assertArrayClose(r.parameters, [3, -2], 1e-6, 'p');
  assert.equal(r.stopReason, 'maximum iterations');
  assert.equal(r.history!.length, r.iterations + 1);
  // One step is exactly p − η·g.
  const one = optimizeGradientDescent(illConditioned, [0, 0], { learningRate: 0.01, maxIterations: 1 });
  assertArrayClose(one.parameters, [0.03, -2], 1e-15, 'one step');
});

test('regular-step gradient descent relaxes its step and reaches the minimum', () => {
  const infos: IterationInfo[] = [];
  const r = optimizeRegularStepGradientDescent(illConditioned, [0, 0], {
    initialStepLength: 1,
    minimumStepLength: 1e-7,
    maxIterations: 5000,
    onIteration: (i) => void infos.push(i),
  });
  assert.equal(r.stopReason, 'minimum step length');
  assertArrayClose(r.parameters, [3, -2], 1e-4, 'p');
  // Step lengths only ever shrink, by the relaxation factor.
  for (let k = 1; k < infos.length; k++) {
    const ratio = infos[k].stepLength / infos[k - 1].stepLength;
    assert.ok(ratio === 1 || ratio === 0.5, `step ratio ${ratio}`);
  }
});

test('Adam (with learning-rate decay) approaches the minimum of the quadratic', () => {
  const r = optimizeAdam(illConditioned, [0, 0], { learningRate: 0.1, learningRateDecay: 0.998, maxIterations: 3000 });
  assertArrayClose(r.parameters, [3, -2], 1e-3, 'p');
});

test('L-BFGS solves a badly conditioned quadratic to 1e-9', () => {
  const r = optimizeLbfgs(quadratic([1, 100, 10000], [1, 2, 3]), [0, 0, 0], { gradientTolerance: 1e-10 });
  assertArrayClose(r.parameters, [1, 2, 3], 1e-9, 'p');
  assert.equal(r.stopReason, 'gradient tolerance');
  assert.ok(r.iterations <= 30, `${r.iterations} iterations`);
});

test('Rosenbrock: L-BFGS reaches (1,1) within 1e-6 in < 100 iterations; the others approach it', () => {
  const l = optimizeLbfgs(rosenbrock, [-1.2, 1], { gradientTolerance: 1e-9, maxIterations: 100 });
  assert.equal(l.stopReason, 'gradient tolerance');
  assert.ok(l.iterations < 100);
  assertArrayClose(l.parameters, [1, 1], 1e-6, 'lbfgs');

  const a = optimizeAdam(rosenbrock, [-1.2, 1], { learningRate: 0.01, maxIterations: 8000 });
  assertArrayClose(a.parameters, [1, 1], 1e-3, 'adam');
  const s = optimizeRegularStepGradientDescent(rosenbrock, [-1.2, 1], { initialStepLength: 0.5, minimumStepLength: 1e-9, maxIterations: 30000 });
  assertArrayClose(s.parameters, [1, 1], 1e-3, 'regular step');
  const g = optimizeGradientDescent(rosenbrock, [-1.2, 1], { learningRate: 0.001, maxIterations: 20000 });
  assertArrayClose(g.parameters, [1, 1], 1e-3, 'gradient descent');
});

test('scales make a badly scaled quadratic easy (ITK semantics: update −η·g/s)', () => {
  const cost = quadratic([1, 1e6], [2, 1]);
  // Unscaled, the stiff axis caps the learning rate, so the soft axis barely moves.
  const plain = optimizeGradientDescent(cost, [0, 0], { learningRate: 1.9e-6, maxIterations: 200 });
  assert.ok(Math.abs(plain.parameters[0] - 2) > 1.9, `unscaled p0 = ${plain.parameters[0]}`);
  // Scales equal to the curvature make one unit step exact.
  const scaled = optimizeGradientDescent(cost, [0, 0], { learningRate: 1, scales: [1, 1e6], gradientTolerance: 1e-12 });
  assertArrayClose(scaled.parameters, [2, 1], 1e-12, 'scaled');
  assert.equal(scaled.iterations, 1);
  // The same holds for L-BFGS's first (steepest-descent) step and for regular-step's direction.
  const lbfgs = optimizeLbfgs(cost, [0, 0], { scales: [1, 1e6], gradientTolerance: 1e-9 });
  assertArrayClose(lbfgs.parameters, [2, 1], 1e-9, 'lbfgs scaled');
  assert.ok(lbfgs.iterations <= 3);
});

test('maximumStepLength clips the update (in scaled units)', () => {
  const infos: IterationInfo[] = [];
  const r = optimizeGradientDescent(quadratic([1], [0]), [10], {
    learningRate: 1,
    maximumStepLength: 0.5,
    maxIterations: 2,
    onIteration: (i) => void infos.push(i),
  });
  assertClose(r.parameters[0], 9, 1e-12, 'p');
  assert.deepEqual(infos.map((i) => i.stepLength), [0.5, 0.5]);
  // With scale 4, one scaled unit is half a parameter unit.
  const s = optimizeGradientDescent(quadratic([1], [0]), [10], { learningRate: 1, scales: [4], maximumStepLength: 0.5, maxIterations: 1 });
  assertClose(s.parameters[0], 9.75, 1e-12, 'scaled clip');
  const a = optimizeAdam(quadratic([1], [0]), [10], { learningRate: 3, maximumStepLength: 0.5, maxIterations: 1 });
  assertClose(a.parameters[0], 9.5, 1e-12, 'adam clip');
});

test('gradient tolerance stops exactly when the gradient norm falls below it', () => {
  // GD with η = 0.5 on ½p² halves p (= the gradient) every iteration: 2^-10 < 1e-3 < 2^-9.
  const r = optimizeGradientDescent(quadratic([1], [0]), [1], { learningRate: 0.5, gradientTolerance: 1e-3 });
  assert.equal(r.stopReason, 'gradient tolerance');
  assert.equal(r.iterations, 10);
});

test('the convergence window stops when (max − min)/|mean| over the last W values drops below the tolerance', () => {
  const cost: CostFunction = {
    evaluate(p, g) {
      g[0] = p[0];
      return 1 + 0.5 * p[0] * p[0];
    },
  };
  const W = 5;
  const tol = 1e-6;
  const r = optimizeGradientDescent(cost, [1], { learningRate: 0.5, convergenceWindow: W, convergenceTolerance: tol, maxIterations: 100 });
  assert.equal(r.stopReason, 'convergence window');
  const h = r.history!;
  const spread = (end: number) => {
    const w = h.slice(end - W, end);
    const mean = w.reduce((s, v) => s + v, 0) / W;
    return (Math.max(...w) - Math.min(...w)) / Math.abs(mean);
  };
  assert.ok(spread(h.length) <= tol, 'converged window');
  assert.ok(spread(h.length - 1) > tol, 'not converged one iteration earlier');
});

test('a callback returning false stops; its info matches the history', () => {
  const infos: IterationInfo[] = [];
  for (const method of OPTIMIZER_NAMES) {
    infos.length = 0;
    const r = optimize(method, illConditioned, [0, 0], {
      learningRate: 0.01,
      onIteration: (info) => {
        infos.push(info);
        return info.iteration < 3;
      },
    });
    assert.equal(r.stopReason, 'stopped by callback', method);
    assert.equal(r.iterations, 3, method);
    assert.deepEqual(infos.map((i) => i.iteration), [1, 2, 3], method);
    assert.deepEqual(infos.map((i) => i.value), r.history!.slice(1), method);
    assert.equal(r.value, infos[2].value, method);
  }
});

test('an aborted signal throws AbortError("cancelled")', () => {
  const controller = new AbortController();
  let evaluations = 0;
  const counting: CostFunction = {
    evaluate(p, g) {
      evaluations++;
      return illConditioned.evaluate(p, g);
    },
  };
  for (const method of OPTIMIZER_NAMES) {
    const c = new AbortController();
    assert.throws(
      () => optimize(method, illConditioned, [0, 0], { learningRate: 0.01, signal: c.signal, onIteration: (i) => void (i.iteration === 2 && c.abort()) }),
      (e: Error) => e.name === 'AbortError' && e.message === 'cancelled',
      method,
    );
  }
  controller.abort();
  assert.throws(() => optimizeLbfgs(counting, [0, 0], { signal: controller.signal }), { name: 'AbortError', message: 'cancelled' });
  assert.equal(evaluations, 0);
});

test('a non-finite value or gradient stops with the last good parameters', () => {
  // Descends along p towards a region where the cost is NaN (value) or its gradient is Infinity.
  const nanValue: CostFunction = {
    evaluate(p, g) {
      g[0] = -1;
      return p[0] > 5.5 ? NaN : -p[0];
    },
  };
  const infGradient: CostFunction = {
    evaluate(p, g) {
      g[0] = p[0] > 5.5 ? Infinity : -1;
      return -p[0];
    },
  };
  for (const cost of [nanValue, infGradient]) {
    for (const method of OPTIMIZER_NAMES) {
      const r = optimize(method, cost, [0], { learningRate: 1, initialStepLength: 1, maxIterations: 1000 });
      assert.equal(r.stopReason, 'non-finite value', method);
      assert.ok(Number.isFinite(r.parameters[0]) && r.parameters[0] <= 5.5 && r.parameters[0] > 0, `${method}: ${r.parameters[0]}`);
      assert.equal(r.value, -r.parameters[0], method);
    }
  }
  const bad = optimizeLbfgs({ evaluate: () => NaN }, [1, 2], {});
  assert.equal(bad.stopReason, 'non-finite value');
  assert.deepEqual(Array.from(bad.parameters), [1, 2]);
  assert.equal(bad.iterations, 0);
});

test('optimisers are deterministic', () => {
  for (const method of OPTIMIZER_NAMES) {
    const run = () => optimize(method, rosenbrock, [-1.2, 1], { learningRate: 0.001, maxIterations: 200 });
    const a = run();
    const b = run();
    assert.deepEqual(Array.from(a.parameters), Array.from(b.parameters), method);
    assert.deepEqual(a.history, b.history, method);
  }
});

test('the generator API yields once per iteration and returns the same result as the sync call', () => {
  const steps = adamSteps(illConditioned, [0, 0], { learningRate: 0.05, maxIterations: 40 });
  let yields = 0;
  let r = steps.next();
  while (!r.done) {
    yields++;
    assert.equal(r.value.iteration, yields);
    r = steps.next();
  }
  const sync = optimizeAdam(illConditioned, [0, 0], { learningRate: 0.05, maxIterations: 40 });
  assert.equal(yields, 40);
  assert.deepEqual(Array.from(r.value.parameters), Array.from(sync.parameters));
});

test('returnBest gives the best parameters seen when the iterates overshoot', () => {
  // η = 2.5 on ½p² sends each iterate 1.5 times farther out: the best point is the start.
  const r = optimizeGradientDescent(quadratic([1], [0]), [1], { learningRate: 2.5, maxIterations: 5, returnBest: true });
  assert.equal(r.value, Math.min(...r.history!));
  assertClose(r.parameters[0], 1, 1e-15, 'diverging run keeps the start');
});

test('bad options are CoregErrors naming the option', () => {
  assert.throws(() => optimizeGradientDescent(illConditioned, [0, 0], { learningRate: -1 }), (e: unknown) => e instanceof CoregError && e.subject === 'learningRate');
  assert.throws(() => optimizeLbfgs(illConditioned, [0, 0], { scales: [1] }), (e: unknown) => e instanceof CoregError && e.subject === 'scales');
  assert.throws(() => optimizeAdam(illConditioned, [0, 0], { scales: [1, 0] }), (e: unknown) => e instanceof CoregError && e.subject === 'scales');
  assert.throws(() => optimizeAdam(illConditioned, [0, 0], { maxIterations: 1.5 }), (e: unknown) => e instanceof CoregError && e.subject === 'maxIterations');
  assert.throws(() => optimize('newton' as never, illConditioned, [0, 0]), (e: unknown) => e instanceof CoregError && e.subject === 'optimizer');
});

test('L-BFGS near a noisy minimum: the steepest-descent retry after a failed search starts at the last accepted step', () => {
  // f = ½ Σ a_i (p_i − c_i)² plus a rough term of amplitude 1e-7 (as a sampled image metric has): near the
  // minimum the quasi-Newton searches fail. The retry used to start one scaled unit away and spend its whole
  // budget halving back; now its first trial is no longer than the last step that was accepted.
  const a = [1, 3, 0.5, 2];
  const c = [0.3, -0.2, 0.1, 0.05];
  const trials: Float64Array[] = [];
  const cost: CostFunction = {
    evaluate(p, g) {
      trials.push(Float64Array.from(p));
      let f = 0;
      for (let i = 0; i < a.length; i++) {
        const r = p[i] - c[i];
        f += 0.5 * a[i] * r * r + 1e-7 * Math.sin(1e4 * p[i]);
        g[i] = a[i] * r + 1e-3 * Math.cos(1e4 * p[i]);
      }
      return f;
    },
  };
  const r = optimizeLbfgs(cost, [2, 2, 2, 2], { maxIterations: 200 });
  assert.equal(r.stopReason, 'line search failed');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(r.parameters[i] - c[i]) < 1e-3, `p${i} = ${r.parameters[i]}`);
  // no trial after the first few iterations jumps ~1 unit away from the optimum any more
  const far = trials.slice(10).filter((p) => Math.hypot(...Array.from(p, (v, i) => v - c[i])) > 0.1);
  assert.deepEqual(far.length, 0, `${far.length} far trials`);
  assert.ok(r.evaluations <= 40, `${r.evaluations} evaluations`);
});
