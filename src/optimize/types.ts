/**
 * Optimiser contracts (ITK v4 style): an optimiser never sees images, only a cost function over a parameter vector.
 */

/** A function to MINIMISE (callers negate similarities). */
export interface CostFunction {
  /**
   * Returns the value at `params` and writes ∂value/∂params into `gradient` (same length).
   * Both arrays are reused by the optimiser between calls: copy them to keep them.
   */
  evaluate(params: Float64Array, gradient: Float64Array): number;
}

export type StopReason =
  | 'maximum iterations'
  | 'gradient tolerance'
  | 'convergence window'
  | 'minimum step length'
  | 'line search failed'
  | 'stopped by callback'
  | 'non-finite value';

export interface IterationInfo {
  /** Number of parameter updates done so far (1 after the first). */
  iteration: number;
  /** Cost at the new parameters. */
  value: number;
  /** ‖gradient‖ at the new parameters, in scaled space (see OptimizerOptions.scales). */
  gradientNorm: number;
  /** Length of the update just taken, in scaled units. */
  stepLength: number;
}

export interface OptimizerResult {
  parameters: Float64Array;
  /** Cost at `parameters` (NaN only when even the initial parameters gave a non-finite value). */
  value: number;
  /** Number of parameter updates. */
  iterations: number;
  stopReason: StopReason;
  /** Cost at the initial parameters followed by the cost after each iteration (length iterations + 1). */
  history?: number[];
  /** Number of cost evaluations (line searches make several per iteration). */
  evaluations: number;
}

export interface OptimizerOptions {
  /** Default 100. */
  maxIterations?: number;
  /** Stop when ‖gradient‖ in scaled space is ≤ this. Default 0 (only an exactly zero gradient stops). */
  gradientTolerance?: number;
  /** Stop when ‖gradient‖ ≤ this × the initial ‖gradient‖ (unit-free; checked from the first iteration on). Default 0. */
  relativeGradientTolerance?: number;
  /**
   * Window W (iterations) of the convergence test; 0 (default) disables it. The test: over the last W cost values,
   * (max − min) / |mean| ≤ convergenceTolerance. Checked once at least W iterations have been done.
   */
  convergenceWindow?: number;
  /** Default 1e-6. */
  convergenceTolerance?: number;
  /**
   * Per-parameter scales with ITK semantics: the update direction of parameter i is g_i / s_i, exactly as ITK's
   * optimisers divide the gradient by the scales. Internally the optimiser works on q_i = √s_i · p_i, where the
   * gradient is g_i/√s_i and a step Δq moves p_i by Δq_i/√s_i; step lengths and maximumStepLength are measured in
   * q. With scales from estimateScalesFromPhysicalShift (mean squared shift per unit parameter), one scaled unit
   * along a single parameter moves the sample points by 1 mm RMS, so rotations and millimetres become comparable.
   */
  scales?: ArrayLike<number>;
  /** Largest length of one update, in scaled units (default unlimited). */
  maximumStepLength?: number;
  /** Return the best parameters seen instead of the last ones (default false). */
  returnBest?: boolean;
  /** Called after every iteration; returning false stops with 'stopped by callback'. */
  onIteration?: (info: IterationInfo) => boolean | void;
  /** Aborting throws an Error named 'AbortError' with the message 'cancelled'. */
  signal?: AbortSignal;
}

/** Fixed learning rate: p ← p − η · g / s (scaled), i.e. q ← q − η · ∇_q. */
export interface GradientDescentOptions extends OptimizerOptions {
  /** η, default 1. */
  learningRate?: number;
}

/** ITK's RegularStepGradientDescent: a step of fixed length along the normalised (scaled) gradient. */
export interface RegularStepOptions extends OptimizerOptions {
  /** First step length in scaled units, default 1 (clipped to maximumStepLength). */
  initialStepLength?: number;
  /** Stop with 'minimum step length' once the relaxed step falls below this. Default 1e-4. */
  minimumStepLength?: number;
  /** Step length factor applied when the gradient turns by more than 90°. Default 0.5, in (0, 1). */
  relaxationFactor?: number;
}

export interface AdamOptions extends OptimizerOptions {
  /** α, default 0.01 (scaled units per iteration, roughly). */
  learningRate?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Exponential learning-rate decay: iteration t (from 1) uses α · decay^(t−1). Default 1 (none), in (0, 1]. */
  learningRateDecay?: number;
}

export interface LbfgsOptions extends OptimizerOptions {
  /** Number of correction pairs kept, default 7. */
  memory?: number;
  /** Sufficient-decrease constant of the strong Wolfe conditions, default 1e-4. */
  c1?: number;
  /** Curvature constant of the strong Wolfe conditions, default 0.9 (c1 < c2 < 1). */
  c2?: number;
  /** Cost evaluations allowed per line search, default 10 (as scipy's strong-Wolfe search). */
  maxLineSearchEvaluations?: number;
  /**
   * The zoom stops once the bracket is shorter than this, in scaled units (for registration ≈ mm of point motion),
   * default 1e-3: below it the cost's differences are sampling noise, and chasing them cost a near-converged level
   * dozens of evaluations for nothing.
   */
  lineSearchTolerance?: number;
}
