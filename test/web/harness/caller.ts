// The team's calling thread in the browser team-watch test: a Web Worker (Atomics.wait is not allowed on a page)
// whose pool's workers are the page's helpers, reached through MessagePorts. It opens a session of the kernel the
// page names, runs phase 0 over `blocks` blocks and reports the outcome (or the error's message) to the page.
import { createBrowserWatch } from '../../../src/parallel/browser.js';
import { createWorkerPool, type WorkerEndpoint } from '../../../src/parallel/pool.js';
import { createTeam } from '../../../src/parallel/team.js';
import type { BlockKernel } from '../../../src/register/parallel-for.js';
import { LOCAL_KERNELS } from './kernels.js';

interface Job {
  ports: MessagePort[];
  kernel: keyof typeof LOCAL_KERNELS;
  init: never;
  blocks: number;
  watch: boolean;
}

self.onmessage = async (e: MessageEvent) => {
  const job = e.data as Job;
  let next = 0;
  const pool = createWorkerPool((): WorkerEndpoint => {
    const port = job.ports[next++];
    return {
      postMessage: (m, t) => port.postMessage(m, t ?? []),
      onMessage: (h) => {
        port.onmessage = (ev) => h(ev.data);
      },
      onError: () => undefined,
      terminate: () => port.close(),
    };
  }, job.ports.length);
  const watch = job.watch ? createBrowserWatch() : undefined;
  const team = createTeam(pool, job.ports.length + 1, { watch });
  const t0 = performance.now();
  try {
    const local = (LOCAL_KERNELS[job.kernel] as (init: never) => readonly BlockKernel[])(job.init);
    const session = await team.open(job.kernel, job.init, local);
    try {
      session.run(0, job.blocks);
    } finally {
      session.close();
    }
    postMessage({ ok: true, ms: performance.now() - t0, helperBlocks: team.helperBlocks, watched: watch !== undefined });
  } catch (err) {
    postMessage({ ok: false, ms: performance.now() - t0, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), subject: (err as { subject?: string }).subject, watched: watch !== undefined });
  } finally {
    await team.close();
  }
};
