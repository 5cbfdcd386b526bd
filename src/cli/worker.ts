// The worker-thread entry of coreg's Node worker pool (src/cli/worker-pool.ts starts it): serves every task the
// library defines, and the team sessions that split one registration's samples over threads (team.ts).
import { parentWorkerPort } from '../parallel/node.js';
import { serveTasks, type TaskContext, type TaskHandler } from '../parallel/serve.js';
import { teamTasks } from '../parallel/team.js';
import { REGISTER_KERNELS } from '../register/kernels.js';
import { segmentTasks, type AtlasTaskEvent } from '../segment/tasks.js';
import { collectGarbage } from './collect.js';

// A helper is idle between sessions and so never collects what a session left (its kernels' sample copies and
// WebAssembly memories, and its references to the session's shared buffers): the memory would stay in the
// process' RSS while the caller goes on. The shared buffers are the caller's: they count in neither this thread's
// heap nor its external memory, yet stay allocated while this thread still references them (a team kept every
// registration's level buffers of a 5-atlas segmentation alive: +20 MB per atlas). So a full collection follows
// every session: at once after a long one (a level, the output sessions) and after the output sessions
// (resampling, numeric inverses, holding images); after a short one only once the helper has been idle for a
// moment (a collection between back-to-back small sessions would keep the helper from its share of the next one).
const ALWAYS = new Set(['register.resample', 'register.invert']);
// The sessions of a registration's start (the pyramid made ahead, then the levels' samples and ranges): the caller
// opens the next one at once, and a collection between them only delayed this helper's share of it (by 10–30 ms,
// 3D affine MI); the first level's session collects after them.
const NEXT_AT_ONCE = new Set(['register.prefetch', 'register.levelPrep']);
const IDLE_MS = 30;
const LONG_MS = 20;
let pending: ReturnType<typeof setTimeout> | undefined;
const collectSoon = (): void => {
  clearTimeout(pending);
  pending = setTimeout(() => {
    pending = undefined;
    collectGarbage(0);
  }, IDLE_MS);
};
const team = teamTasks(REGISTER_KERNELS);
const session = team['team.session'] as (input: unknown, context: unknown) => ReturnType<TaskHandler>;
team['team.session'] = ((input: { kernel?: unknown }, context: unknown) => {
  clearTimeout(pending);
  pending = undefined;
  const start = performance.now();
  // a session that worked for a while (a level, a one-off gradient over a level's samples) is followed by the
  // caller's next allocations: collect at once; a short one maybe by another short one: wait until idle
  const now = (): boolean => ALWAYS.has(input.kernel as string) || (performance.now() - start >= LONG_MS && !NEXT_AT_ONCE.has(input.kernel as string));
  // after the reply has gone out (the caller need not wait for the collection to start its next session; this
  // thread still collects before it takes that one up)
  const result = session(input, context);
  const after = (): void => {
    const long = now();
    setImmediate(() => (long ? collectGarbage(0) : collectSoon()));
  };
  result.then(after, after);
  return result;
}) as TaskHandler;

// An atlas registration in this worker: a collection when a new level starts (the previous level's samples, costs
// and kernel copies, dead by then, would otherwise stay resident beside the new level's: two atlases run at once,
// each in its worker) and when the atlas is done; and where the registration drops buffers between its levels (its
// collect hook: RegisterOptions.collect).
const SEGMENT_TASKS = segmentTasks(() => collectGarbage(0));
const atlasTask = SEGMENT_TASKS['segment.atlas'] as (input: unknown, context: TaskContext) => ReturnType<TaskHandler>;
const segment = { ...SEGMENT_TASKS };
segment['segment.atlas'] = ((input: unknown, context: TaskContext) => {
  let level = '';
  const emit = (event: unknown): void => {
    const e = event as AtlasTaskEvent;
    if (e.kind === 'progress') {
      const key = `${e.event.stage}/${e.event.level}`;
      if (key !== level) {
        level = key;
        collectGarbage(0);
      }
    }
    context.emit(event);
  };
  return atlasTask(input, { ...context, emit }).finally(() => collectGarbage(0));
}) as TaskHandler;

serveTasks(parentWorkerPort(), { ...segment, ...team });
