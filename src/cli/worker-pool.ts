// coreg's Node worker pool: worker threads running src/cli/worker.ts (dist/cli/worker.js when built), which
// serves every task the library defines.
import { createThreadWatch, createWorkerThreadPool, defaultThreadCount } from '../parallel/node.js';
import type { WorkerPool } from '../parallel/pool.js';
import { createTeam, type Team } from '../parallel/team.js';

/** The worker script next to this module: dist/cli/worker.js when built, src/cli/worker.ts from sources. */
export function coregWorkerEntry(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./worker${ext}`, import.meta.url);
}

/**
 * A pool of `threads` worker threads (default: every core) running coreg's tasks. Workers start on first use;
 * `close()` it when done.
 */
export function createNodeWorkerPool(threads = defaultThreadCount()): WorkerPool {
  return createWorkerThreadPool(coregWorkerEntry(), threads);
}

/**
 * A team of `threads` threads for one registration (src/parallel/team.ts): this thread and threads − 1 worker
 * threads (the workers of `pool` when given, threads − 1 of them, else a new pool's; the team closes it). `close()` it
 * when done (idle helpers never keep the process alive).
 */
export function createNodeTeam(threads = defaultThreadCount(), pool?: WorkerPool): Team {
  // A watchdog thread turns a helper that dies mid-phase into an error instead of a hang.
  return threads > 1 ? createTeam(pool ?? createNodeWorkerPool(threads - 1), threads, { watch: createThreadWatch() }) : createTeam(null, threads);
}
