import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { createNodeWorkerPool } from '../../src/cli/worker-pool.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import { segment } from '../../src/segment/segment.js';
import { phantom2d } from './phantom.js';
import { type Atlas, type SegmentProgress } from '../../src/segment/atlas.js';

const AFFINE: RegistrationConfig = {
  stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 2, smooth: 1, iterations: 40 }, { shrink: 1, smooth: 0, iterations: 40 }] }],
  initializer: 'moments',
  seed: 3,
};

const target = phantom2d(24, 24);
const atlases: Atlas[] = [
  [21, 25],
  [26, 22],
  [25, 27],
  [23, 21],
].map(([x, y], i) => ({ ...phantom2d(x, y), name: `atlas${i + 1}` }));

test('segment() in worker threads gives exactly the in-thread result, with selection, events and a failing atlas', async () => {
  const flat = createImage([48, 48], 'float32');
  flat.data.fill(7);
  const inputs: Atlas[] = [...atlases, { image: flat, labels: createImage([48, 48], 'uint8'), name: 'flat' }];
  const options = { fusion: 'jlf' as const, select: 4, config: AFFINE, keepWarpedImages: true };
  const local = await segment(target.image, inputs, options);
  const pool = createNodeWorkerPool(2);
  try {
    const events: SegmentProgress[] = [];
    const warnings: string[] = [];
    const remote = await segment(target.image, inputs, { ...options, pool, onProgress: (e) => events.push(e), warn: (m) => warnings.push(m) });
    assert.deepEqual([...remote.labels.data], [...local.labels.data]);
    assert.equal(remote.labels.data.constructor, local.labels.data.constructor);
    assert.deepEqual(remote.report.selected, local.report.selected);
    assert.deepEqual(remote.report.ranking!.map((r) => [r.name, r.score]), local.report.ranking!.map((r) => [r.name, r.score]));
    assert.deepEqual(remote.report.failed, local.report.failed);
    assert.equal(remote.warped.length, local.warped.length);
    for (const [k, w] of remote.warped.entries()) {
      assert.deepEqual([...w.labels.data], [...local.warped[k].labels.data]);
      assert.deepEqual([...w.image!.data], [...local.warped[k].image!.data]);
      assert.deepEqual(w.labels.size, target.image.size);
    }
    for (const phase of ['select', 'register'] as const) {
      assert.ok(events.some((e) => e.phase === phase && e.registration && e.registration.iteration > 0), `${phase} progress from the workers`);
    }
    // The constant atlas fails selection in its worker and is left out, as in this thread.
    assert.equal(remote.report.failed.length, 1);
    assert.equal(remote.report.failed[0].name, 'flat');
    assert.ok(warnings.some((w) => w.includes('flat')));
  } finally {
    await pool.close();
  }
});

test('an aborted segment() in worker threads rejects with AbortError', async () => {
  const pool = createNodeWorkerPool(2);
  try {
    const controller = new AbortController();
    const run = segment(target.image, atlases, {
      fusion: 'majority',
      config: AFFINE,
      pool,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.registration && e.registration.iteration > 2) controller.abort();
      },
    });
    await assert.rejects(run, (e: unknown) => e instanceof Error && e.name === 'AbortError');
  } finally {
    await pool.close();
  }
});
