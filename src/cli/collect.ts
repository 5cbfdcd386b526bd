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
 * Whether V8's young generation may grow (its default: doubling, up to 16 MB, while many objects survive) or stays
 * at its present size. Process-wide (a V8 flag read at each collection). `register` keeps it for small jobs: in 2D,
 * together with a collection before the outputs, peak RSS −4 MB (issue 13).
 */
export function youngGenerationGrows(grows: boolean): void {
  setFlagsFromString(`--semi-space-growth-factor=${grows ? 2 : 1}`);
}
