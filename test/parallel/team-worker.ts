// A worker entry for test/parallel/team.test.ts: serves team sessions of test kernels.
import { CoregError } from '../../src/errors.js';
import { parentWorkerPort } from '../../src/parallel/node.js';
import { serveTasks } from '../../src/parallel/serve.js';
import { teamTasks } from '../../src/parallel/team.js';
import { TEST_KERNELS } from './team-kernels.js';

serveTasks(
  parentWorkerPort(),
  teamTasks({
    ...TEST_KERNELS,
    // Throws in the helpers only (the calling thread builds its kernel from TEST_KERNELS['test.square']).
    'test.fail-in-helper': (init: { out: Float64Array; failAt: number }) => [
      (b: number) => {
        if (b >= init.failAt) throw new CoregError('test kernel', `block ${b} failed in a helper`);
        init.out[b] = b * b;
      },
    ],
    // The helper's thread ends in the middle of a block (as an out-of-memory stop would end it).
    'test.die-in-helper': (init: { started: Int32Array }) => [
      () => {
        Atomics.store(init.started, 0, 1);
        Atomics.notify(init.started, 0);
        process.exit(9);
      },
    ],
    'test.bad-factory': () => {
      throw new Error('the factory refused');
    },
  }),
);
