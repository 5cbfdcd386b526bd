/**
 * Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4 two-loop recursion) with a line search satisfying the
 * strong Wolfe conditions by bracketing and zoom with safeguarded cubic interpolation (N&W Algorithms 3.5/3.6).
 * The memory is dropped (restart with steepest descent) when the direction is not a descent direction or a line
 * search fails.
 */
import { dot, drive, norm, numberOption, runToEnd, ScaledProblem, type Stepper } from './driver.js';
import type { CostFunction, IterationInfo, LbfgsOptions, OptimizerResult } from './types.js';

/** Minimiser of the cubic through (a, fa, da) and (b, fb, db), kept at least 10% of the interval from its ends. */
function cubicStep(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  const margin = 0.1 * (hi - lo);
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (disc >= 0) {
    const d2 = Math.sign(b - a) * Math.sqrt(disc);
    const x = b - ((b - a) * (db + d2 - d1)) / (db - da + 2 * d2);
    if (Number.isFinite(x) && x >= lo + margin && x <= hi - margin) return x;
  }
  return 0.5 * (lo + hi);
}

/** 'non-finite-after-progress': a trial was non-finite, but an earlier one (now in xT, gT) decreased the cost. */
type SearchStatus = 'ok' | 'failed' | 'non-finite' | 'non-finite-after-progress';

/** Line search along d from x0; on 'ok' the accepted point, gradient and value are in xT, gT and `value`. */
class WolfeLineSearch {
  value = NaN;
  alpha = 0;
  private readonly xLo: Float64Array;
  private readonly gLo: Float64Array;

  constructor(
    private readonly problem: ScaledProblem,
    private readonly c1: number,
    private readonly c2: number,
    private readonly maxEvaluations: number,
    private readonly tolerance: number,
    readonly xT: Float64Array,
    readonly gT: Float64Array,
  ) {
    this.xLo = new Float64Array(xT.length);
    this.gLo = new Float64Array(xT.length);
  }

  /** φ(α) = f(x0 + α d), leaving x, g in xT, gT; returns NaN for a non-finite value or gradient. */
  private phi(x0: Float64Array, d: Float64Array, alpha: number): number {
    const { xT, gT } = this;
    for (let i = 0; i < xT.length; i++) xT[i] = x0[i] + alpha * d[i];
    const f = this.problem.evaluate(xT, gT);
    if (!Number.isFinite(f)) return NaN;
    for (let i = 0; i < gT.length; i++) if (!Number.isFinite(gT[i])) return NaN;
    return f;
  }

  search(x0: Float64Array, f0: number, d: Float64Array, slope0: number, alphaInit: number, alphaMax: number): SearchStatus {
    const { c1, c2, xT, gT, xLo, gLo } = this;
    const curvature = -c2 * slope0;
    let evaluations = 0;
    let prevAlpha = 0;
    let prevF = f0;
    let prevSlope = slope0;
    let alpha = alphaInit;
    // Bracketing: grow α until the interval (prev, α) must contain a strong-Wolfe point.
    let loA: number, loF: number, loS: number, hiA: number, hiF: number, hiS: number;
    // The best sufficient-decrease point so far is kept in xLo, gLo (storedA = 0: none yet).
    let storedA = 0;
    let storedF = f0;
    while (true) {
      const f = this.phi(x0, d, alpha);
      evaluations++;
      if (Number.isNaN(f)) return this.nonFinite(storedA, storedF);
      const slope = dot(gT, d);
      if (f > f0 + c1 * alpha * slope0 || (evaluations > 1 && f >= prevF)) {
        [loA, loF, loS, hiA, hiF, hiS] = [prevAlpha, prevF, prevSlope, alpha, f, slope];
        break;
      }
      if (Math.abs(slope) <= curvature) return this.accept(f, alpha);
      // α satisfies sufficient decrease: it is the best point so far.
      xLo.set(xT);
      gLo.set(gT);
      storedA = alpha;
      storedF = f;
      if (slope >= 0) {
        [loA, loF, loS, hiA, hiF, hiS] = [alpha, f, slope, prevAlpha, prevF, prevSlope];
        break;
      }
      if (alpha >= alphaMax || evaluations >= this.maxEvaluations) return this.accept(f, alpha);
      prevAlpha = alpha;
      prevF = f;
      prevSlope = slope;
      alpha = Math.min(2 * alpha, alphaMax);
    }
    // Zoom: shrink [lo, hi] keeping lo the best sufficient-decrease point and the minimiser between lo and hi, until
    // the bracket is shorter than the tolerance (in scaled units: the step α·‖d‖).
    const dNorm = norm(d);
    const minWidth = Math.max(this.tolerance / dNorm, 1e-12 * Math.max(1, Math.abs(loA)));
    while (evaluations < this.maxEvaluations && Math.abs(hiA - loA) > minWidth) {
      alpha = cubicStep(loA, loF, loS, hiA, hiF, hiS);
      const f = this.phi(x0, d, alpha);
      evaluations++;
      if (Number.isNaN(f)) return this.nonFinite(storedA, storedF);
      const slope = dot(gT, d);
      if (f > f0 + c1 * alpha * slope0 || f >= loF) {
        hiA = alpha;
        hiF = f;
        hiS = slope;
      } else {
        if (Math.abs(slope) <= curvature) return this.accept(f, alpha);
        if (slope * (hiA - loA) >= 0) {
          hiA = loA;
          hiF = loF;
          hiS = loS;
        }
        loA = alpha;
        loF = f;
        loS = slope;
        xLo.set(xT);
        gLo.set(gT);
        storedA = alpha;
        storedF = f;
      }
    }
    // No strong-Wolfe point within the budget: settle for the best decrease found, if any.
    if (storedA > 0) {
      xT.set(xLo);
      gT.set(gLo);
      return this.accept(storedF, storedA);
    }
    return 'failed';
  }

  /** A trial gave NaN/Inf: fall back to the best decrease found before it, if any, and report. */
  private nonFinite(storedA: number, storedF: number): SearchStatus {
    if (storedA === 0) return 'non-finite';
    this.xT.set(this.xLo);
    this.gT.set(this.gLo);
    this.accept(storedF, storedA);
    return 'non-finite-after-progress';
  }

  private accept(f: number, alpha: number): SearchStatus {
    this.value = f;
    this.alpha = alpha;
    return 'ok';
  }
}

export function lbfgsSteps(cost: CostFunction, initial: ArrayLike<number>, options: LbfgsOptions = {}): Generator<IterationInfo, OptimizerResult, void> {
  const n = initial.length;
  const problem = new ScaledProblem(cost, n, options.scales);
  const memory = numberOption('memory', options.memory, 7, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  const c1 = numberOption('c1', options.c1, 1e-4, (v) => v > 0 && v < 0.5, 'a number in (0, 0.5)');
  const c2 = numberOption('c2', options.c2, 0.9, (v) => v > c1 && v < 1, `a number in (c1, 1)`);
  const maxEvaluations = numberOption('maxLineSearchEvaluations', options.maxLineSearchEvaluations, 10, (v) => Number.isInteger(v) && v >= 2, 'an integer ≥ 2');
  const tolerance = numberOption('lineSearchTolerance', options.lineSearchTolerance, 1e-3, (v) => v >= 0, 'a number ≥ 0');
  const maxStep = numberOption('maximumStepLength', options.maximumStepLength, Infinity, (v) => v > 0, 'a number > 0');

  // Correction pairs in a ring buffer, newest at (head − 1).
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  for (let k = 0; k < memory; k++) {
    S.push(new Float64Array(n));
    Y.push(new Float64Array(n));
  }
  const rho = new Float64Array(memory);
  const alphas = new Float64Array(memory);
  let head = 0;
  let count = 0;
  const d = new Float64Array(n);
  const sNew = new Float64Array(n);
  const yNew = new Float64Array(n);
  const search = new WolfeLineSearch(problem, c1, c2, maxEvaluations, tolerance, new Float64Array(n), new Float64Array(n));
  /** Length (scaled units) of the last accepted step; 0 before the first. */
  let lastStep = 0;

  /** d = −H·g by the two-loop recursion (H₀ = γI with γ = sᵀy / yᵀy of the newest pair). */
  function direction(g: Float64Array): void {
    for (let i = 0; i < n; i++) d[i] = g[i];
    for (let k = 0; k < count; k++) {
      const j = (head - 1 - k + memory) % memory;
      const a = rho[j] * dot(S[j], d);
      alphas[j] = a;
      const y = Y[j];
      for (let i = 0; i < n; i++) d[i] -= a * y[i];
    }
    if (count > 0) {
      const j = (head - 1 + memory) % memory;
      const gamma = dot(S[j], Y[j]) / dot(Y[j], Y[j]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let k = count - 1; k >= 0; k--) {
      const j = (head - 1 - k + memory) % memory;
      const b = rho[j] * dot(Y[j], d);
      const s = S[j];
      const coef = alphas[j] - b;
      for (let i = 0; i < n; i++) d[i] += coef * s[i];
    }
    for (let i = 0; i < n; i++) d[i] = -d[i];
  }

  function steepest(g: Float64Array): void {
    count = 0;
    for (let i = 0; i < n; i++) d[i] = -g[i];
  }

  const stepper: Stepper = {
    step(state) {
      const { q, g } = state;
      direction(g);
      let slope = dot(d, g);
      if (!(slope < 0)) {
        steepest(g);
        slope = dot(d, g);
      }
      let status: SearchStatus;
      let retry = false;
      while (true) {
        const dNorm = norm(d);
        const alphaMax = maxStep / dNorm;
        // Without curvature information the first trial moves one scaled unit, afterwards the quasi-Newton step. The
        // steepest-descent retry after a failed search moves no further than the last accepted step: near
        // convergence a first trial of one unit (≈ 1 mm) spent the whole search budget halving back down to the
        // noise level, and failed (10 of the ~30 evaluations of a fine 3D affine level).
        const first = retry && lastStep > 0 ? Math.min(1, lastStep) : 1;
        const alphaInit = Math.min(count === 0 ? first / dNorm : 1, alphaMax);
        status = search.search(q, state.value, d, slope, alphaInit, alphaMax);
        if (status !== 'failed' || count === 0) break;
        steepest(g);
        slope = dot(d, g);
        retry = true;
      }
      if (status === 'non-finite') return 'non-finite value';
      if (status === 'failed') return 'line search failed';
      if (status === 'non-finite-after-progress') state.stopAfterStep = 'non-finite value';
      const { xT, gT } = search;
      const s = sNew;
      const y = yNew;
      for (let i = 0; i < n; i++) {
        s[i] = xT[i] - q[i];
        y[i] = gT[i] - g[i];
      }
      const sy = dot(s, y);
      // Keep the pair only with positive curvature, so the implicit inverse Hessian stays positive definite.
      if (sy > 1e-12 * norm(s) * norm(y)) {
        S[head].set(s);
        Y[head].set(y);
        rho[head] = 1 / sy;
        head = (head + 1) % memory;
        if (count < memory) count++;
      }
      const stepLength = norm(s);
      lastStep = stepLength;
      q.set(xT);
      g.set(gT);
      state.value = search.value;
      return stepLength;
    },
  };
  return drive(problem, initial, options, stepper);
}

export function optimizeLbfgs(cost: CostFunction, initial: ArrayLike<number>, options: LbfgsOptions = {}): OptimizerResult {
  return runToEnd(lbfgsSteps(cost, initial, options));
}
