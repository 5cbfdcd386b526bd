/**
 * First-order optimisers: fixed-rate gradient descent, ITK's regular-step gradient descent and Adam.
 * Each comes as a generator (`…Steps`, yields after every iteration so a caller can interleave progress) and as
 * a synchronous `optimize…` that runs it to the end.
 */
import { drive, norm, numberOption, runToEnd, ScaledProblem, type IterationState, type Stepper } from './driver.js';
import type { AdamOptions, CostFunction, GradientDescentOptions, IterationInfo, OptimizerResult, RegularStepOptions } from './types.js';

type Steps = Generator<IterationInfo, OptimizerResult, void>;

function maximumStep(options: { maximumStepLength?: number }): number {
  return numberOption('maximumStepLength', options.maximumStepLength, Infinity, (v) => v > 0, 'a number > 0');
}

/** q ← q − factor · g, then re-evaluates. */
function moveAndEvaluate(problem: ScaledProblem, state: IterationState, factor: number): void {
  const { q, g } = state;
  for (let i = 0; i < q.length; i++) q[i] -= factor * g[i];
  state.value = problem.evaluate(q, g);
}

/**
 * Gradient descent with a fixed learning rate η: θ ← θ − η ∇E (a cost is minimised by stepping against its
 * gradient). With scales the update is p_i ← p_i − η g_i / s_i.
 */
export function gradientDescentSteps(cost: CostFunction, initial: ArrayLike<number>, options: GradientDescentOptions = {}): Steps {
  const problem = new ScaledProblem(cost, initial.length, options.scales);
  const learningRate = numberOption('learningRate', options.learningRate, 1, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const maxStep = maximumStep(options);
  const stepper: Stepper = {
    step(state) {
      const gradientNorm = norm(state.g);
      const factor = learningRate * gradientNorm > maxStep ? maxStep / gradientNorm : learningRate;
      moveAndEvaluate(problem, state, factor);
      return factor * gradientNorm;
    },
  };
  return drive(problem, initial, options, stepper);
}

export function optimizeGradientDescent(cost: CostFunction, initial: ArrayLike<number>, options: GradientDescentOptions = {}): OptimizerResult {
  return runToEnd(gradientDescentSteps(cost, initial, options));
}

/**
 * ITK's RegularStepGradientDescent: each iteration moves a fixed step length along the normalised (scaled)
 * gradient; when the gradient turns by more than 90° from the previous one (we stepped over a valley) the step
 * length is multiplied by the relaxation factor; stops with 'minimum step length' once it is below the minimum.
 */
export function regularStepGradientDescentSteps(cost: CostFunction, initial: ArrayLike<number>, options: RegularStepOptions = {}): Steps {
  const n = initial.length;
  const problem = new ScaledProblem(cost, n, options.scales);
  const maxStep = maximumStep(options);
  let stepLength = Math.min(
    maxStep,
    numberOption('initialStepLength', options.initialStepLength, 1, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0'),
  );
  const minimumStepLength = numberOption('minimumStepLength', options.minimumStepLength, 1e-4, (v) => v >= 0, 'a number ≥ 0');
  const relaxation = numberOption('relaxationFactor', options.relaxationFactor, 0.5, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const previousGradient = new Float64Array(n);
  let havePrevious = false;
  const stepper: Stepper = {
    step(state) {
      const g = state.g;
      if (havePrevious) {
        let turn = 0;
        for (let i = 0; i < n; i++) turn += g[i] * previousGradient[i];
        if (turn < 0) stepLength *= relaxation;
      }
      if (stepLength < minimumStepLength) return 'minimum step length';
      previousGradient.set(g);
      havePrevious = true;
      moveAndEvaluate(problem, state, stepLength / norm(g));
      return stepLength;
    },
  };
  return drive(problem, initial, options, stepper);
}

export function optimizeRegularStepGradientDescent(cost: CostFunction, initial: ArrayLike<number>, options: RegularStepOptions = {}): OptimizerResult {
  return runToEnd(regularStepGradientDescentSteps(cost, initial, options));
}

/** Adam (Kingma & Ba) in scaled space, with bias correction and optional exponential learning-rate decay. */
export function adamSteps(cost: CostFunction, initial: ArrayLike<number>, options: AdamOptions = {}): Steps {
  const n = initial.length;
  const problem = new ScaledProblem(cost, n, options.scales);
  const maxStep = maximumStep(options);
  const learningRate = numberOption('learningRate', options.learningRate, 0.01, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const beta1 = numberOption('beta1', options.beta1, 0.9, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const beta2 = numberOption('beta2', options.beta2, 0.999, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  const epsilon = numberOption('epsilon', options.epsilon, 1e-8, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const decay = numberOption('learningRateDecay', options.learningRateDecay, 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const update = new Float64Array(n);
  let t = 0;
  const stepper: Stepper = {
    step(state) {
      t++;
      const g = state.g;
      const rate = learningRate * Math.pow(decay, t - 1);
      const correction1 = 1 - Math.pow(beta1, t);
      const correction2 = 1 - Math.pow(beta2, t);
      for (let i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        update[i] = (rate * (m[i] / correction1)) / (Math.sqrt(v[i] / correction2) + epsilon);
      }
      let length = norm(update);
      const clip = length > maxStep ? maxStep / length : 1;
      if (clip < 1) length = maxStep;
      const q = state.q;
      for (let i = 0; i < n; i++) q[i] -= clip * update[i];
      state.value = problem.evaluate(q, g);
      return length;
    },
  };
  return drive(problem, initial, options, stepper);
}

export function optimizeAdam(cost: CostFunction, initial: ArrayLike<number>, options: AdamOptions = {}): OptimizerResult {
  return runToEnd(adamSteps(cost, initial, options));
}
