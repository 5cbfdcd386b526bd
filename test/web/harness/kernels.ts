// Kernels of the browser team-watch test (test/web/team-watch.test.ts), built the same way in the calling worker
// (caller.ts, `local`) and in the helpers (helper.ts).
import type { BlockKernel } from '../../../src/register/parallel-for.js';

export interface StallInit {
  /** [0]: 1 + the page's number of the helper that is inside a block (and stays there); [1]: blocks done. */
  flags: Int32Array;
}

/**
 * Phase 0: the first helper that takes a block says so and never leaves it (until its worker is terminated); the
 * calling thread holds its first block until a helper is stalled, so that a helper surely holds one.
 */
function stall(init: StallInit, helper: boolean): readonly BlockKernel[] {
  return [
    (b) => {
      if (helper && Atomics.compareExchange(init.flags, 3, 0, 1) === 0) {
        Atomics.store(init.flags, 0, 1 + (globalThis as unknown as { helperId: number }).helperId);
        Atomics.notify(init.flags, 0);
        for (;;) Atomics.wait(init.flags, 2, 0);
      }
      if (b === 0) Atomics.wait(init.flags, 0, 0, 20_000);
      Atomics.add(init.flags, 1, 1);
    },
  ];
}

/** Phase 0: block 3 throws in whichever thread takes it. */
function fail(): readonly BlockKernel[] {
  return [
    (b) => {
      if (b === 3) throw new Error(`block ${b} failed on purpose`);
    },
  ];
}

/** Phase 0: out[b] = b² (to check that a team with a watch still computes). */
function square(init: { out: Float64Array }): readonly BlockKernel[] {
  return [(b) => void (init.out[b] = b * b)];
}

export const HELPER_KERNELS = {
  'test.stall': (init: StallInit) => stall(init, true),
  'test.fail': fail,
  'test.square': square,
};

export const LOCAL_KERNELS = {
  'test.stall': (init: StallInit) => stall(init, false),
  'test.fail': fail,
  'test.square': square,
};
