// The worker-thread entry of coreg's Node worker pool (src/cli/worker-pool.ts starts it): serves every task the
// library defines.
import { parentWorkerPort } from '../parallel/node.js';
import { serveTasks } from '../parallel/serve.js';
import { SEGMENT_TASKS } from '../segment/tasks.js';

serveTasks(parentWorkerPort(), { ...SEGMENT_TASKS });
