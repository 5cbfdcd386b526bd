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
// outputs). A full collection when each session ends gives it back (a few ms).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as unknown;
const collect = typeof gc === 'function' ? (gc as () => void) : () => undefined;
const team = teamTasks(REGISTER_KERNELS);
const session = team['team.session'] as (input: unknown, context: unknown) => ReturnType<TaskHandler>;
team['team.session'] = ((input: unknown, context: unknown) => session(input, context).finally(collect)) as TaskHandler;

serveTasks(parentWorkerPort(), { ...SEGMENT_TASKS, ...team });
