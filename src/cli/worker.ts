// The worker-thread entry of coreg's Node worker pool (src/cli/worker-pool.ts starts it): serves every task the
// library defines, and the team sessions that split one registration's samples over threads (team.ts).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentWorkerPort } from '../parallel/node.js';
import { serveTasks, type TaskHandler } from '../parallel/serve.js';
import { teamTasks } from '../parallel/team.js';
import { REGISTER_KERNELS } from '../register/kernels.js';
import { SEGMENT_TASKS } from '../segment/tasks.js';

// A helper is idle between sessions and so never collects what a session left (its kernels' sample copies and
// WebAssembly memories): the memory would stay in the process' RSS while the caller goes on (e.g. writing the
// outputs). A full collection when a session ends gives it back, when the helper holds enough to matter (small
// sessions, e.g. 2D levels, skip its cost).
const WORTH_COLLECTING = 64 * 2 ** 20;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as unknown;
// The output sessions (resampling, numeric inverses) hold images on shared memory, which the heap figures do not
// count: always collect after them (once or twice per run).
const ALWAYS = new Set(['register.resample', 'register.invert']);
const collect = (kernel: unknown): void => {
  const m = process.memoryUsage();
  if (typeof gc === 'function' && (ALWAYS.has(kernel as string) || m.heapUsed + m.external > WORTH_COLLECTING)) (gc as () => void)();
};
const team = teamTasks(REGISTER_KERNELS);
const session = team['team.session'] as (input: unknown, context: unknown) => ReturnType<TaskHandler>;
team['team.session'] = ((input: { kernel?: unknown }, context: unknown) => session(input, context).finally(() => collect(input.kernel))) as TaskHandler;

serveTasks(parentWorkerPort(), { ...SEGMENT_TASKS, ...team });
