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

export const TEST_KERNELS = {
  'test.square': (init: SquareInit) => square(init, true),
};

export const localSquare = (init: SquareInit): readonly BlockKernel[] => square(init, false);
