/**
 * Stochastic gradient descent with a Robbins–Monro decaying gain, for costs that change their samples every
 * evaluation (elastix's (A)SGD habit for B-spline registration): p ← p − a_k g/s with a_k = a / (1 + k/A)^α.
 * No line search and no value-based stopping (values of different sample subsets are not comparable): it runs
 * maxIterations steps.
 */
import { drive, numberOption, runToEnd, ScaledProblem, type Stepper } from './driver.js';
import type { CostFunction, IterationInfo, OptimizerOptions, OptimizerResult } from './types.js';

export interface StochasticGradientOptions extends OptimizerOptions {
  /** Initial gain a (scaled units per unit of scaled gradient). Default 1. */
  learningRate?: number;
  /** A: iterations over which the gain halves roughly (default 20, elastix's SP_A). */
  decayOffset?: number;
  /** α: decay exponent (default 0.602, elastix's SP_alpha). */
  decayExponent?: number;
  /** Largest change of any single (scaled) parameter in one step (default unlimited). */
  maximumParameterStep?: number;
  /**
   * Return the average of the iterates over this final fraction of the iterations (Polyak–Ruppert averaging:
   * the noise of the single iterates averages out). Default 0 (the last iterate).
   */
  averageFraction?: number;
}

/** The descent's settings, checked and defaulted (shared with the B-spline cost's team-run descent). */
export interface StochasticSettings {
  a: number;
  A: number;
  alpha: number;
  maxParam: number;
  total: number;
  /** First iteration (1-based) whose iterate enters the average; Infinity for none. */
  averageFrom: number;
}

export function stochasticSettings(options: StochasticGradientOptions): StochasticSettings {
  const a = numberOption('learningRate', options.learningRate, 1, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const A = numberOption('decayOffset', options.decayOffset, 20, (v) => v > 0, 'a number > 0');
  const alpha = numberOption('decayExponent', options.decayExponent, 0.602, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const maxParam = numberOption('maximumParameterStep', options.maximumParameterStep, Infinity, (v) => v > 0, 'a number > 0');
  const fraction = numberOption('averageFraction', options.averageFraction, 0, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const total = numberOption('maxIterations', options.maxIterations, 100, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const averageFrom = fraction > 0 ? Math.max(1, Math.floor(total * (1 - fraction))) : Infinity;
  return { a, A, alpha, maxParam, total, averageFrom };
}

export function stochasticGradientDescentSteps(
  cost: CostFunction,
  initial: ArrayLike<number>,
  options: StochasticGradientOptions = {},
): Generator<IterationInfo, OptimizerResult, void> {
  const problem = new ScaledProblem(cost, initial.length, options.scales);
  const { a, A, alpha, maxParam, total, averageFrom } = stochasticSettings(options);
  const average = new Float64Array(initial.length);
  let averaged = 0;
  let k = 0;
  const stepper: Stepper = {
    step(state) {
      const { q, g } = state;
      const gain = a / Math.pow(1 + k / A, alpha);
      k++;
      let largest = 0;
      for (let i = 0; i < g.length; i++) largest = Math.max(largest, Math.abs(g[i]));
      const factor = gain * largest > maxParam ? maxParam / largest : gain;
      let length = 0;
      if (k >= averageFrom) {
        // the step and the running average in one pass over the parameters
        averaged++;
        for (let i = 0; i < q.length; i++) {
          const step = factor * g[i];
          const qi = q[i] - step;
          q[i] = qi;
          length += step * step;
          average[i] += (qi - average[i]) / averaged;
        }
        if (k === total) {
          // The last step returns the averaged iterate.
          length = 0;
          for (let i = 0; i < q.length; i++) {
            length += (average[i] - q[i]) ** 2;
            q[i] = average[i];
          }
        }
      } else {
        for (let i = 0; i < q.length; i++) {
          const step = factor * g[i];
          q[i] -= step;
          length += step * step;
        }
      }
      state.value = problem.evaluate(q, g);
      return Math.sqrt(length);
    },
  };
  return drive(problem, initial, { ...options, convergenceWindow: 0, returnBest: false }, stepper);
}

export function optimizeStochasticGradientDescent(cost: CostFunction, initial: ArrayLike<number>, options: StochasticGradientOptions = {}): OptimizerResult {
  return runToEnd(stochasticGradientDescentSteps(cost, initial, options));
}
