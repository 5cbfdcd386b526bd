// Kernels for test/parallel/team.test.ts, built the same way in the test and in its worker (team-worker.ts).
import type { BlockKernel } from '../../src/register/parallel-for.js';

export interface SquareInit {
  out: Float64Array;
  /** Per block: the thread that did it (0 = the calling thread, 1 = a helper). */
  who: Int32Array;
  /** Busy work per block, so that the helpers get some of the blocks. */
  spin: number;
}

function square(init: SquareInit, helper: boolean): readonly BlockKernel[] {
  return [
    (b) => {
      let x = 0;
      for (let i = 0; i < init.spin; i++) x += Math.sqrt(i + b);
      init.out[b] = b * b + (x < 0 ? 1 : 0);
      init.who[b] = helper ? 1 : 0;
    },
    (b) => {
      init.out[b] = -b;
    },
  ];
}

export interface CountInit {
  /** Per block: how many times a phase ran it. */
  count: Int32Array;
  /** Per block: the thread that did it last (0 = the calling thread, else a helper's session id). */
  who: Int32Array;
  spin: number;
}

/** Phases 0 and 1: count the block, note the thread (`id`) and spin. */
function count(init: CountInit, id: number): readonly BlockKernel[] {
  const phase = (b: number): void => {
    let x = 0;
    for (let i = 0; i < init.spin; i++) x += Math.sqrt(i + b);
    Atomics.add(init.count, b, x < 0 ? 2 : 1);
    Atomics.store(init.who, b, id);
  };
  return [phase, phase];
}

export const TEST_KERNELS = {
  'test.square': (init: SquareInit) => square(init, true),
  'test.count': (init: CountInit) => count(init, 1 + Math.floor(Math.random() * 1e9)),
};

export const localCount = (init: CountInit): readonly BlockKernel[] => count(init, 0);

export const localSquare = (init: SquareInit): readonly BlockKernel[] => square(init, false);
