// The test page: starts `helpers` helper workers (owned here) and a calling worker, wires them with MessagePorts
// and runs one session (window.runTeam); with `terminate`, terminates the helper that stalled in a block.
export interface Outcome {
  ok: boolean;
  ms: number;
  error?: string;
  subject?: string;
  helperBlocks?: number;
  watched: boolean;
  terminatedAfterMs?: number;
}

async function runTeam(opts: { kernel: string; helpers: number; blocks: number; terminate: boolean; watch: boolean; timeoutMs: number }): Promise<Outcome | 'timeout'> {
  const helpers: Worker[] = [];
  const callerPorts: MessagePort[] = [];
  for (let h = 0; h < opts.helpers; h++) {
    const w = new Worker('helper.js', { type: 'module' });
    const ch = new MessageChannel();
    w.postMessage({ port: ch.port1, id: h }, [ch.port1]);
    callerPorts.push(ch.port2);
    helpers.push(w);
  }
  const flags = new Int32Array(new SharedArrayBuffer(16));
  const out = new Float64Array(new SharedArrayBuffer(8 * opts.blocks));
  const init = opts.kernel === 'test.stall' ? { flags } : opts.kernel === 'test.square' ? { out } : {};
  const caller = new Worker('caller.js', { type: 'module' });
  const t0 = performance.now();
  let terminatedAt = -1;
  if (opts.terminate) {
    const poll = setInterval(() => {
      const stalled = Atomics.load(flags, 0);
      if (stalled > 0) {
        clearInterval(poll);
        terminatedAt = performance.now();
        helpers[stalled - 1].terminate();
      }
    }, 20);
  }
  const result = await new Promise<Outcome | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), opts.timeoutMs);
    caller.onmessage = (e) => {
      clearTimeout(timer);
      resolve(e.data as Outcome);
    };
    caller.postMessage({ ports: callerPorts, kernel: opts.kernel, init, blocks: opts.blocks, watch: opts.watch }, callerPorts);
  });
  caller.terminate();
  for (const w of helpers) w.terminate();
  if (result !== 'timeout') {
    if (terminatedAt >= 0) result.terminatedAfterMs = performance.now() - terminatedAt;
    if (opts.kernel === 'test.square') for (let b = 0; b < opts.blocks; b++) if (out[b] !== b * b) return { ...result, ok: false, error: `out[${b}] = ${out[b]}` };
  }
  void t0;
  return result;
}

(globalThis as unknown as { runTeam: typeof runTeam }).runTeam = runTeam;
document.body.dataset.ready = '1';
