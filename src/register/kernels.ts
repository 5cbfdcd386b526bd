// The kernels a team's helpers serve (src/cli/worker.ts and src/web/worker.ts pass this table to teamTasks).
import type { KernelFactory } from './parallel-for.js';
import { foldKernel } from './parallel-fold.js';
import { invertKernel } from './parallel-invert.js';
import { jacobianKernel } from './parallel-jacobian.js';
import { resampleKernel } from './parallel-resample.js';
import { prefetchKernel, shrinkKernel, smoothKernel } from './parallel-smooth.js';
import { statsKernel } from './parallel-stats.js';
import { drawKernel } from './parallel-sampling.js';
import { jitterKernel } from './parallel-jitter.js';
import { levelPrepKernel } from './level-prep.js';
import { bsplineKernel, linearKernel } from './sample-kernels.js';

export const REGISTER_KERNELS: Readonly<Record<string, KernelFactory>> = {
  'register.linear': linearKernel as KernelFactory,
  'register.bspline': bsplineKernel as KernelFactory,
  'register.smooth': smoothKernel as KernelFactory,
  'register.shrink': shrinkKernel as KernelFactory,
  'register.prefetch': prefetchKernel as KernelFactory,
  'register.resample': resampleKernel as KernelFactory,
  'register.invert': invertKernel as KernelFactory,
  'register.stats': statsKernel as KernelFactory,
  'register.draw': drawKernel as KernelFactory,
  'register.jacobian': jacobianKernel as KernelFactory,
  'register.jitter': jitterKernel as KernelFactory,
  'register.levelPrep': levelPrepKernel as KernelFactory,
  'register.fold': foldKernel as KernelFactory,
};
