// The browser app's Web Worker entry (bundled to web-dist/worker.js): serves the registration task and
// segmentation's atlas tasks for createBrowserWorkerPool.
import { selfWorkerPort } from '../parallel/browser.js';
import { serveTasks } from '../parallel/serve.js';
import { teamTasks } from '../parallel/team.js';
import { REGISTER_KERNELS } from '../register/kernels.js';
import { SEGMENT_TASKS } from '../segment/tasks.js';
import { WEB_TASKS } from './tasks.js';

serveTasks(selfWorkerPort(), { ...SEGMENT_TASKS, ...WEB_TASKS, ...teamTasks(REGISTER_KERNELS) });
