import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import { createNodeTeam, createNodeWorkerPool } from '../../src/cli/worker-pool.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import { segment } from '../../src/segment/segment.js';
import type { Atlas } from '../../src/segment/atlas.js';
import type { WorkerPool } from '../../src/parallel/pool.js';

// Large enough (48 × 44 × 40 = 84 480 voxels, all sampled) for the registrations to run on the team's threads.
const SIZE = [48, 44, 40];

/** A 3D phantom: an ellipsoid (label 1) holding a ball (2) and a box (3), centred at (cx, cy, cz) mm. */
function phantom3d(cx: number, cy: number, cz: number): { image: Image; labels: Image } {
  const image = createImage(SIZE, 'float32');
  const labels = createImage(SIZE, 'uint8');
  const [nx, ny, nz] = SIZE;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const dz = z - cz;
        let label = 0;
        if ((dx / 17) ** 2 + (dy / 13) ** 2 + (dz / 11) ** 2 <= 1) label = 1;
        if ((dx + 6) ** 2 + dy ** 2 + dz ** 2 <= 25) label = 2;
        if (dx >= 5 && dx <= 10 && dy >= -4 && dy <= 3 && dz >= -3 && dz <= 3) label = 3;
        const v = x + nx * (y + ny * z);
        labels.data[v] = label;
        image.data[v] = [10, 90, 170, 250][label] + 8 * Math.sin(dx / 3) * Math.cos(dy / 4) * Math.cos(dz / 5);
      }
    }
  }
  return { image, labels };
}

const CONFIG: RegistrationConfig = {
  stages: [
    { transform: 'affine', metric: 'mi', sampling: 'all', levels: [{ shrink: 1, smooth: 0, iterations: 10 }] },
    { transform: 'bspline', metric: 'mi', gridSpacing: 16, subsetSize: 2000, levels: [{ shrink: 1, smooth: 0, iterations: 10 }] },
  ],
  initializer: 'moments',
  seed: 5,
};

const target = phantom3d(24, 22, 20);
const atlases: Atlas[] = [
  [22, 23, 21],
  [26, 21, 19],
  [24, 24, 22],
].map(([x, y, z], i) => ({ ...phantom3d(x, y, z), name: `atlas${i + 1}` }));
const options = { fusion: 'majority' as const, config: CONFIG };
// the labels of one thread, which every other way must give (made once for both tests)
let localRun: ReturnType<typeof segment> | undefined;
const oneThread = (): ReturnType<typeof segment> => (localRun ??= segment(target.image, atlases, options));

test('segment() with a team (atlases one after another, each registration on 2 or 3 threads) gives exactly the labels of one thread and of concurrent atlas workers', async () => {
  const local = await oneThread();
  const team = createNodeTeam(2);
  const pool = createNodeWorkerPool(2);
  try {
    const teamed = await segment(target.image, atlases, { ...options, parallel: team });
    assert.ok(team.helperBlocks > 0, 'the helper thread did part of the registrations');
    const concurrent = await segment(target.image, atlases, { ...options, pool });
    const three = createNodeTeam(3);
    try {
      // (and releasing the atlases as they are done: a copy of each, since the runs above and below read them)
      const teamed3 = await segment(target.image, atlases.map((a) => ({ ...a })), { ...options, parallel: three, releaseAtlases: true });
      assert.deepEqual([...teamed3.labels.data], [...local.labels.data]);
      for (const [k, w] of teamed3.warped.entries()) assert.deepEqual([...w.labels.data], [...local.warped[k].labels.data]);
    } finally {
      await three.close();
    }
    assert.deepEqual([...teamed.labels.data], [...local.labels.data]);
    assert.deepEqual([...concurrent.labels.data], [...local.labels.data]);
    for (const [k, w] of teamed.warped.entries()) assert.deepEqual([...w.labels.data], [...local.warped[k].labels.data]);
    // the registrations did something: the fused labels cover the target's structures
    const counts = [0, 0, 0, 0];
    for (const l of teamed.labels.data) counts[l]++;
    assert.ok(counts[1] > 0 && counts[2] > 0 && counts[3] > 0);
  } finally {
    await team.close();
    await pool.close();
  }
});

test('segment() in lanes (atlases at once, one per thread, the leftovers on the team) gives exactly the labels of one thread, on 2 and 3 threads', async () => {
  const local = await oneThread();
  for (const threads of [2, 3]) {
    const pool = createNodeWorkerPool(threads - 1);
    const team = createNodeTeam(threads, pool);
    // the lanes' atlas tasks, counted (the team's sessions use the same workers)
    let remote = 0;
    const lanes: WorkerPool = {
      size: pool.size,
      run: (task, input, o) => {
        if (task === 'segment.atlas') remote++;
        return pool.run(task, input, o);
      },
      close: () => pool.close(),
    };
    try {
      // 2 threads: two atlases at once, the third on the team; 3 threads: all three at once (releasing them as done)
      const laned = await segment(target.image, atlases.map((a) => ({ ...a })), { ...options, parallel: team, lanes, releaseAtlases: threads === 3 });
      assert.equal(remote, threads - 1, 'one atlas per lane worker');
      if (threads === 2) assert.ok(team.helperBlocks > 0, 'the leftover atlas ran on the team');
      assert.deepEqual([...laned.labels.data], [...local.labels.data]);
      assert.deepEqual(laned.warped.map((w) => w.index), [0, 1, 2], 'fusion takes the atlases in input order');
      for (const [k, w] of laned.warped.entries()) assert.deepEqual([...w.labels.data], [...local.warped[k].labels.data]);
      assert.deepEqual(laned.report.timings.registrations.map((r) => r.name), ['atlas1', 'atlas2', 'atlas3']);
    } finally {
      await team.close();
    }
  }
});
