// The worker-thread entry of coreg's Node worker pool (src/cli/worker-pool.ts starts it): serves every task the
// library defines, and the team sessions that split one registration's samples over threads (team.ts).
import { parentWorkerPort } from '../parallel/node.js';
import { serveTasks } from '../parallel/serve.js';
import { teamTasks } from '../parallel/team.js';
import { REGISTER_KERNELS } from '../register/kernels.js';
import { SEGMENT_TASKS } from '../segment/tasks.js';

serveTasks(parentWorkerPort(), { ...SEGMENT_TASKS, ...teamTasks(REGISTER_KERNELS) });
