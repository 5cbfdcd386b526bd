// Interpolation: hot-loop kernels (kernels.ts, bspline.ts) and the Image-level wrapper (interpolator.ts).
export * from './kernels.js';
export * from './bspline.js';
export * from './interpolator.js';
