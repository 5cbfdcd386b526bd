// A team helper owned by the test page (so that the page can terminate it mid-phase): it serves team sessions on
// the MessagePort the page gives it (the other end is in the calling worker's pool).
import { serveTasks } from '../../../src/parallel/serve.js';
import { teamTasks } from '../../../src/parallel/team.js';
import type { KernelFactory } from '../../../src/register/parallel-for.js';
import { HELPER_KERNELS } from './kernels.js';

self.onmessage = (e: MessageEvent) => {
  const port = e.data.port as MessagePort;
  (globalThis as unknown as { helperId: number }).helperId = e.data.id as number;
  self.onmessage = null;
  serveTasks(
    {
      postMessage: (m, t) => port.postMessage(m, t ?? []),
      onMessage: (h) => {
        port.onmessage = (ev) => h(ev.data);
      },
    },
    teamTasks(HELPER_KERNELS as unknown as Record<string, KernelFactory>),
  );
};
