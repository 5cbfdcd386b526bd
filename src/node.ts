/**
 * The `coreg/node` entry: the Node-only pieces of the library, gathered from their folders — file I/O with
 * atomic writes (src/io/node.ts) and the worker-thread pool (src/parallel/node.ts, with coreg's worker script from
 * src/cli). Everything else is in the browser-safe `coreg` entry (src/index.ts).
 */
export * from './io/node.js';
export { createWorkerThreadPool, defaultThreadCount, parentWorkerPort } from './parallel/node.js';
export { createNodeTeam, createNodeWorkerPool } from './cli/worker-pool.js';
