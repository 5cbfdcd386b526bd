import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { CoregError } from '../../src/errors.js';
import { createWorkerPool, type WorkerEndpoint } from '../../src/parallel/pool.js';
import { serveTasks, type TaskContext, type TaskHandler } from '../../src/parallel/serve.js';
import { shareImage, sharePixels, transferables } from '../../src/parallel/shared.js';
import { createImage } from '../../src/image/image.js';

/** Workers in this thread: each is a MessageChannel whose far end serves `handlers`, so the protocol is real. */
function channelSpawner(handlers: Record<string, TaskHandler>): { spawn: () => WorkerEndpoint; spawned: () => number; terminated: () => number } {
  let spawned = 0;
  let terminated = 0;
  return {
    spawned: () => spawned,
    terminated: () => terminated,
    spawn: () => {
      spawned++;
      const { port1, port2 } = new MessageChannel();
      serveTasks({ postMessage: (m, t) => port2.postMessage(m, t as never), onMessage: (h) => void port2.on('message', h) }, handlers);
      let onError: (e: Error) => void = () => {};
      const endpoint: WorkerEndpoint = {
        postMessage: (m, t) => {
          if ((m as { task?: string }).task === 'crash') {
            setTimeout(() => onError(new Error('boom')), 1);
            return;
          }
          port1.postMessage(m, t as never);
        },
        onMessage: (h) => void port1.on('message', h),
        onError: (h) => (onError = h),
        terminate: () => {
          terminated++;
          port1.close();
          port2.close();
        },
      };
      return endpoint;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the pool runs tasks in at most `size` workers, returns outputs in order, forwards events', async () => {
  let running = 0;
  let most = 0;
  const handlers: Record<string, TaskHandler> = {
    square: (async (x: number, ctx: TaskContext) => {
      running++;
      most = Math.max(most, running);
      ctx.emit({ got: x });
      await sleep(5 + (x % 3) * 5);
      running--;
      return { output: x * x };
    }) as TaskHandler,
  };
  const workers = channelSpawner(handlers);
  const pool = createWorkerPool(workers.spawn, 3);
  assert.equal(pool.size, 3);
  const events: unknown[] = [];
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.run<number>('square', i, { onEvent: (e) => events.push(e) })));
  assert.deepEqual(out, Array.from({ length: 10 }, (_, i) => i * i));
  assert.equal(most, 3, 'never more than size at once, and size used');
  assert.equal(workers.spawned(), 3, 'workers are reused');
  assert.equal(events.length, 10);
  await pool.close();
  assert.equal(workers.terminated(), 3);
  await assert.rejects(pool.run('square', 1), /closed/);
});

test('errors come back as errors (CoregError keeps subject and exit code); unknown tasks and dead workers fail their task only', async () => {
  const handlers: Record<string, TaskHandler> = {
    fail: (async () => {
      throw new CoregError('atlas.nii.gz', 'is constant', 2);
    }) as TaskHandler,
    plain: (async () => {
      throw new RangeError('out of range');
    }) as TaskHandler,
    ok: (async (x: string) => ({ output: x })) as TaskHandler,
  };
  const workers = channelSpawner(handlers);
  const pool = createWorkerPool(workers.spawn, 1);
  await assert.rejects(pool.run('fail', null), (e: unknown) => e instanceof CoregError && e.subject === 'atlas.nii.gz' && e.exitCode === 2 && e.message === 'is constant');
  await assert.rejects(pool.run('plain', null), (e: unknown) => e instanceof Error && e.name === 'RangeError' && /out of range/.test(e.message));
  await assert.rejects(pool.run('nope', null), /unknown task "nope"/);
  await assert.rejects(pool.run('crash', null), /a worker failed: boom/);
  assert.equal(await pool.run('ok', 'still works'), 'still works');
  assert.equal(workers.spawned(), 2, 'the dead worker was replaced');
  await pool.close();
  assert.throws(() => createWorkerPool(workers.spawn, 0), CoregError);
});

test('aborting rejects at once; the worker stops and only then takes the next task', async () => {
  const log: string[] = [];
  const handlers: Record<string, TaskHandler> = {
    wait: (async (name: string, ctx: TaskContext) => {
      log.push(`start ${name}`);
      for (let i = 0; i < 200 && !ctx.signal.aborted; i++) await sleep(2);
      log.push(`end ${name}`);
      if (ctx.signal.aborted) throw Object.assign(new Error('stopped'), { name: 'AbortError' });
      return { output: name };
    }) as TaskHandler,
  };
  const pool = createWorkerPool(channelSpawner(handlers).spawn, 1);
  const controller = new AbortController();
  const first = pool.run('wait', 'a', { signal: controller.signal });
  const second = pool.run('wait', 'b');
  await sleep(10);
  controller.abort();
  await assert.rejects(first, (e: unknown) => e instanceof Error && e.name === 'AbortError');
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(pool.run('wait', 'c', { signal: aborted.signal }), (e: unknown) => (e as Error).name === 'AbortError');
  assert.equal(await second, 'b');
  assert.deepEqual(log.slice(0, 3), ['start a', 'end a', 'start b']);
  await pool.close();
});

test('shareImage puts pixels on shared memory without changing them; transferables skips shared buffers', () => {
  const img = createImage([4, 3], 'int16');
  for (let i = 0; i < 12; i++) img.data[i] = i * 7 - 20;
  const s = shareImage(img);
  assert.ok(s.data.buffer instanceof SharedArrayBuffer);
  assert.ok(s.data instanceof Int16Array);
  assert.deepEqual([...s.data], [...img.data]);
  assert.deepEqual(s.size, img.size);
  assert.equal(sharePixels(s.data), s.data, 'already shared: the same array');
  assert.deepEqual(transferables([img, s, undefined, img]), [img.data.buffer]);
});
