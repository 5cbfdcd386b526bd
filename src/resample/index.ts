// Resampling onto a reference grid through a chain of fixed → moving transforms.
export * from './resample.js';
export * from './grid.js';
