// Optimisers over parameter vectors (ITK v4 style). They see a cost function of a parameter vector only.
import { CoregError } from '../errors.js';
import { adamSteps, gradientDescentSteps, regularStepGradientDescentSteps } from './gradient-descent.js';
import { runToEnd } from './driver.js';
import { lbfgsSteps } from './lbfgs.js';
import type { AdamOptions, CostFunction, GradientDescentOptions, IterationInfo, LbfgsOptions, OptimizerResult, RegularStepOptions } from './types.js';

export * from './types.js';
export { runToEnd } from './driver.js';
export {
  adamSteps,
  gradientDescentSteps,
  optimizeAdam,
  optimizeGradientDescent,
  optimizeRegularStepGradientDescent,
  regularStepGradientDescentSteps,
} from './gradient-descent.js';
export { lbfgsSteps, optimizeLbfgs } from './lbfgs.js';
export { stochasticGradientDescentSteps, optimizeStochasticGradientDescent, type StochasticGradientOptions } from './stochastic.js';
import { stochasticGradientDescentSteps, type StochasticGradientOptions } from './stochastic.js';

export const OPTIMIZER_NAMES = ['gradient-descent', 'regular-step', 'adam', 'lbfgs', 'stochastic'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];
/** Options of every optimiser; each reads only its own and the shared ones. */
export type AnyOptimizerOptions = GradientDescentOptions & RegularStepOptions & AdamOptions & LbfgsOptions & StochasticGradientOptions;

/** The generator of the named optimiser (yields after every iteration). */
export function optimizerSteps(
  method: OptimizerName,
  cost: CostFunction,
  initial: ArrayLike<number>,
  options: AnyOptimizerOptions = {},
): Generator<IterationInfo, OptimizerResult, void> {
  switch (method) {
    case 'gradient-descent':
      return gradientDescentSteps(cost, initial, options);
    case 'regular-step':
      return regularStepGradientDescentSteps(cost, initial, options);
    case 'adam':
      return adamSteps(cost, initial, options);
    case 'lbfgs':
      return lbfgsSteps(cost, initial, options);
    case 'stochastic':
      return stochasticGradientDescentSteps(cost, initial, options);
    default:
      throw new CoregError('optimizer', `unknown optimizer '${String(method)}' (expected ${OPTIMIZER_NAMES.join(', ')})`);
  }
}

/** Runs the named optimiser to the end. */
export function optimize(method: OptimizerName, cost: CostFunction, initial: ArrayLike<number>, options: AnyOptimizerOptions = {}): OptimizerResult {
  return runToEnd(optimizerSteps(method, cost, initial, options));
}
