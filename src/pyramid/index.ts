// Multi-resolution pyramids: Gaussian smoothing in mm, ITK-style shrinking, schedules and their CLI parsing.
export { gaussianKernel, gaussianSmooth } from './smooth.js';
export { shrinkImage, shrinkMask, shrunkGeometry, smoothAndShrink, type ShrunkGeometry } from './shrink.js';
export {
  buildPyramid,
  defaultSchedule,
  MIN_SHRUNK_SIZE,
  parseLevels,
  parseSmoothing,
  scheduleFromLevels,
  type PyramidSchedule,
} from './schedule.js';
