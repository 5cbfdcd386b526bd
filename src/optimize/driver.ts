/**
 * The iteration loop shared by every optimiser: scaling, stopping rules, callbacks, abort and the NaN guard.
 * Each optimiser only supplies a Stepper that moves the scaled parameters by one iteration.
 */
import { CoregError } from '../errors.js';
import type { CostFunction, IterationInfo, OptimizerOptions, OptimizerResult, StopReason } from './types.js';

export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

export function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/** Reads an optional numeric option, throwing CoregError(name) when it is out of range. */
export function numberOption(
  name: string,
  value: number | undefined,
  fallback: number,
  check: (v: number) => boolean,
  requirement: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || !check(value)) {
    throw new CoregError(name, `must be ${requirement}, got ${String(value)}`);
  }
  return value;
}

/**
 * The cost seen in scaled coordinates q_i = √s_i · p_i: value unchanged, gradient g_i / √s_i.
 * Owns the parameter/gradient buffers handed to the user's cost, so no evaluation allocates.
 */
export class ScaledProblem {
  readonly n: number;
  /** √s_i. */
  readonly root: Float64Array;
  /** No scales (every √s_i is 1): q is p and the gradients are the same, so no per-parameter division. */
  private readonly identity: boolean;
  evaluations = 0;
  private readonly params: Float64Array;
  private readonly gradient: Float64Array;

  constructor(
    private readonly cost: CostFunction,
    n: number,
    scales: ArrayLike<number> | undefined,
  ) {
    this.n = n;
    this.root = new Float64Array(n).fill(1);
    this.identity = scales === undefined;
    if (scales !== undefined) {
      if (scales.length !== n) throw new CoregError('scales', `need ${n} values (one per parameter), got ${scales.length}`);
      for (let i = 0; i < n; i++) {
        const s = scales[i];
        if (!(Number.isFinite(s) && s > 0)) throw new CoregError('scales', `must be finite numbers > 0, got ${s} at ${i}`);
        this.root[i] = Math.sqrt(s);
      }
    }
    this.params = new Float64Array(n);
    this.gradient = new Float64Array(n);
  }

  toScaled(p: ArrayLike<number>, q: Float64Array): void {
    for (let i = 0; i < this.n; i++) q[i] = p[i] * this.root[i];
  }

  toParameters(q: Float64Array): Float64Array {
    const p = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) p[i] = q[i] / this.root[i];
    return p;
  }

  /** Value at scaled point q; writes the scaled gradient into gq. */
  evaluate(q: Float64Array, gq: Float64Array): number {
    const n = this.n;
    const p = this.params;
    const g = this.gradient;
    const root = this.root;
    if (this.identity) {
      // x / 1 is x, bit for bit: copies instead of divisions (the same results, a fraction of the time)
      p.set(q);
      gq.fill(0);
      const value = this.cost.evaluate(p, gq);
      this.evaluations++;
      return value;
    }
    for (let i = 0; i < n; i++) p[i] = q[i] / root[i];
    g.fill(0);
    const value = this.cost.evaluate(p, g);
    this.evaluations++;
    for (let i = 0; i < n; i++) gq[i] = g[i] / root[i];
    return value;
  }
}

/** Live iteration state a Stepper updates in place. */
export interface IterationState {
  /** Scaled parameters. */
  q: Float64Array;
  /** Scaled gradient at q. */
  g: Float64Array;
  /** Cost at q. */
  value: number;
  /** Updates done so far. */
  iteration: number;
  /** Set by a stepper that took a good step but must stop after it (e.g. a line search that met a NaN). */
  stopAfterStep?: StopReason;
}

export interface Stepper {
  /**
   * Moves state.q by one iteration and refreshes state.g and state.value there. Returns the step length in
   * scaled units, or a stop reason (then state may be left anywhere; 'non-finite value' restores the last point).
   */
  step(state: IterationState): number | StopReason;
}

function windowConverged(history: number[], window: number, tolerance: number): boolean {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = history.length - window; i < history.length; i++) {
    const v = history[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const spread = max - min;
  if (spread === 0) return true;
  return spread <= tolerance * Math.abs(sum / window);
}

/** Runs `stepper` under the shared stopping rules, yielding after every iteration. */
export function* drive(
  problem: ScaledProblem,
  initial: ArrayLike<number>,
  options: OptimizerOptions,
  stepper: Stepper,
): Generator<IterationInfo, OptimizerResult, void> {
  const n = problem.n;
  const maxIterations = numberOption('maxIterations', options.maxIterations, 100, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const gradientTolerance = numberOption('gradientTolerance', options.gradientTolerance, 0, (v) => v >= 0, 'a number ≥ 0');
  const window = numberOption('convergenceWindow', options.convergenceWindow, 0, (v) => Number.isInteger(v) && v >= 0 && v !== 1, 'an integer ≥ 2 (or 0 to disable)');
  const convergenceTolerance = numberOption('convergenceTolerance', options.convergenceTolerance, 1e-6, (v) => v >= 0, 'a number ≥ 0');
  const relativeGradientTolerance = numberOption('relativeGradientTolerance', options.relativeGradientTolerance, 0, (v) => v >= 0, 'a number ≥ 0');
  const { onIteration, signal } = options;

  const state: IterationState = { q: new Float64Array(n), g: new Float64Array(n), value: NaN, iteration: 0 };
  const { q, g } = state;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(initial[i])) throw new CoregError('initial parameters', `must be finite, got ${initial[i]} at ${i}`);
  }
  problem.toScaled(initial, q);
  const lastQ = new Float64Array(n);
  const bestQ = options.returnBest ? new Float64Array(n) : null;

  throwIfAborted(signal);
  state.value = problem.evaluate(q, g);
  if (!Number.isFinite(state.value) || !allFinite(g)) {
    return { parameters: Float64Array.from(initial), value: NaN, iterations: 0, stopReason: 'non-finite value', history: [], evaluations: problem.evaluations };
  }
  const history = [state.value];
  let bestValue = state.value;
  bestQ?.set(q);

  let reason: StopReason;
  // ‖g‖ at the current point (one pass per iteration, shared by the stopping rule and the iteration's info)
  let gNorm = norm(g);
  // A gradient tolerance relative to the first gradient does not depend on the units of the cost.
  const gradientStop = Math.max(gradientTolerance, relativeGradientTolerance * gNorm);
  while (true) {
    if (gNorm <= gradientStop && (state.iteration > 0 || gradientTolerance > 0 || gNorm === 0)) {
      reason = 'gradient tolerance';
      break;
    }
    if (state.iteration >= maxIterations) {
      reason = 'maximum iterations';
      break;
    }
    throwIfAborted(signal);
    lastQ.set(q);
    const lastValue = state.value;
    const outcome = stepper.step(state);
    gNorm = norm(g);
    // a finite ‖g‖ means every component is finite (one that is not makes the sum NaN or ∞); only an infinite or
    // NaN norm needs the look at each (a sum that overflows from finite components)
    const nonFinite = outcome === 'non-finite value' || (typeof outcome === 'number' && (!Number.isFinite(state.value) || !(Number.isFinite(gNorm) || allFinite(g))));
    if (nonFinite) {
      q.set(lastQ);
      state.value = lastValue;
      reason = 'non-finite value';
      break;
    }
    if (typeof outcome === 'string') {
      reason = outcome;
      break;
    }
    state.iteration++;
    history.push(state.value);
    if (bestQ && state.value < bestValue) {
      bestValue = state.value;
      bestQ.set(q);
    }
    const info: IterationInfo = { iteration: state.iteration, value: state.value, gradientNorm: gNorm, stepLength: outcome };
    if (onIteration && onIteration(info) === false) {
      reason = 'stopped by callback';
      break;
    }
    yield info;
    if (state.stopAfterStep) {
      reason = state.stopAfterStep;
      break;
    }
    throwIfAborted(signal);
    if (window > 0 && state.iteration >= window && windowConverged(history, window, convergenceTolerance)) {
      reason = 'convergence window';
      break;
    }
  }
  const useBest = bestQ !== null && bestValue < state.value;
  return {
    parameters: problem.toParameters(useBest ? bestQ : q),
    value: useBest ? bestValue : state.value,
    iterations: state.iteration,
    stopReason: reason,
    history,
    evaluations: problem.evaluations,
  };
}

/** Drains an optimiser generator and returns its result. */
export function runToEnd(steps: Generator<IterationInfo, OptimizerResult, void>): OptimizerResult {
  while (true) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
