// Node-only: a full garbage collection on demand, for the points where a registration has just dropped a level's
// buffers (samples, costs, kernels' copies). Those live mostly outside the JavaScript heap (ArrayBuffers,
// SharedArrayBuffers), where V8 collects late: without a collection, one level's dead buffers are still resident
// while the next level allocates its own, and the process' peak RSS counts both (issue 13).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as unknown;

/** Below this much heap + external memory a collection would cost more time than the memory it can give back. */
export const WORTH_COLLECTING = 64 * 2 ** 20;

/** Collects now when this thread holds at least `threshold` bytes (heap + external), or always with threshold 0. */
export function collectGarbage(threshold = WORTH_COLLECTING): void {
  if (typeof gc !== 'function') return;
  if (threshold > 0) {
    const m = process.memoryUsage();
    if (m.heapUsed + m.external < threshold) return;
  }
  (gc as () => void)();
}

/**
 * Whether V8's young generation may grow (V8's default: doubling up to 8 MB under many short-lived allocations) or
 * stays at its first size. Small jobs (a 2D registration) hold less that way: 2D affine −7 MB of peak RSS at the
 * same CPU time. Large jobs keep the default: there objects promoted early grow the old generation instead (3D
 * affine + B-spline MI: +10–15 MB of peak RSS and a few % more CPU). Process-wide. It must be off from the process'
 start to matter (loading the modules already grows it): bin/coreg.js turns it off for `register`, which turns it
 back on once its images show a large job.
 */
export function youngGenerationGrows(grows: boolean): void {
  setFlagsFromString(`--semi-space-growth-factor=${grows ? 2 : 1}`);
}
