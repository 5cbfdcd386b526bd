// A linear stage's samples and ranges for all its levels at once (level-prep.ts): the same points, values, voxels
// and ranges, bit for bit, as drawing each level's samples (drawSamplesOn) and finding its ranges (levelRanges)
// in one thread, with no team and on 1, 2 and 3 threads; the moving quantiles known ahead are used as levelRanges
// uses them; the helpers take part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import { cachedQuantiles, levelRanges, movingLevelRangeOn, movingRangeOnTeam, type LevelRanges, type QuantileCache } from '../../src/register/input-stats.js';
import { prepareLevelsOn, type LevelPrepRequest } from '../../src/register/level-prep.js';
import { shareArray } from '../../src/register/parallel-for.js';
import { drawKernelInit, drawSamplesOn } from '../../src/register/parallel-sampling.js';
import type { SampleSet } from '../../src/register/sampling.js';
import { imageFromFunction, scene3d } from './synthetic.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function bytes(a: Float64Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function shared(img: Image): Image {
  return { ...img, data: shareArray(img.data as Float32Array) };
}

// three levels: fixed and moving images of different sizes (the moving one shifted and rescaled in value)
const levels = [
  { size: [20, 18, 16], spacing: 4, count: 3000 },
  { size: [40, 36, 32], spacing: 2, count: 9000 },
  { size: [60, 54, 48], spacing: 1.3, count: 12000 },
].map((l, k) => ({
  fixed: shared(imageFromFunction({ size: l.size, spacing: [l.spacing, l.spacing, l.spacing], origin: [-2, 1, 0] }, scene3d)),
  moving: shared(imageFromFunction({ size: l.size, spacing: [l.spacing, l.spacing, l.spacing], origin: [-1, 0, 2] }, (p) => 3 * scene3d(p) + 7)),
  count: l.count,
  seed: 1 + 7919 * k,
}));

const q = { fixed: [0.01, 0.99] as [number, number], moving: [0.02, 0.98] as [number, number] };

/** The last level's moving quantiles known ahead (as the input statistics leave them for a full-resolution level). */
function quantileCache(): QuantileCache {
  const cache: QuantileCache = new Map();
  cache.set(levels[2].moving.data, new Map([
    [0.02, 1.5],
    [0.98, 9.25],
  ]));
  return cache;
}

function requests(cache: QuantileCache): LevelPrepRequest[] {
  return levels.map((l) => ({
    draw: drawKernelInit(l.fixed, l.fixed.data as Float32Array, l.count, l.seed),
    fixedQuantiles: q.fixed,
    moving: l.moving.data,
    movingQuantiles: q.moving,
    movingCached: cachedQuantiles(l.moving.data, q.moving, cache),
  }));
}

function assertSameSamples(a: SampleSet, b: SampleSet, what: string): void {
  assert.equal(a.count, b.count, what);
  assert.deepEqual(bytes(a.points), bytes(b.points), `${what}: points`);
  assert.deepEqual(bytes(a.values), bytes(b.values), `${what}: values`);
  assert.deepEqual(bytes(a.voxels), bytes(b.voxels), `${what}: voxels`);
}

test('all levels prepared at once: the samples and ranges of drawSamplesOn and levelRanges, on no team and 1, 2, 3 threads', async () => {
  const cache = quantileCache();
  const reference: { samples: SampleSet; ranges: LevelRanges }[] = [];
  for (const l of levels) {
    const samples = await drawSamplesOn(undefined, l.fixed, l.fixed.data as Float32Array, l.count, l.seed);
    reference.push({ samples, ranges: await levelRanges(undefined, samples.values, l.moving.data, q, cache) });
  }
  // the known quantiles are used (not the image's own)
  assert.deepEqual(reference[2].ranges.movingRange, { min: 1.5, max: 9.25 });
  assert.ok(reference[1].ranges.movingRange!.max < 3 * 1.2 + 7 && reference[1].ranges.fixedRange!.min > -0.5, 'the test images have the ranges they should');
  for (const threads of [0, 1, 2, 3]) {
    // (until a helper took a job: the calling thread starts at once and may do them all)
    const before = threads === 0 ? 0 : team(threads).helperBlocks;
    for (let rep = 0; rep < (threads < 2 ? 1 : 30) && (threads < 2 || team(threads).helperBlocks === before); rep++) {
      const prepared = await prepareLevelsOn(threads === 0 ? undefined : team(threads), requests(cache));
      prepared.forEach((p, k) => {
        const what = `${threads} thread(s), level ${k}`;
        assertSameSamples(p.samples, reference[k].samples, what);
        assert.deepEqual(p.ranges, reference[k].ranges, `${what}: ranges`);
      });
    }
  }
});

test('all levels prepared at once: a degenerate known moving range (its quantiles equal) falls back to the full range, as levelRanges does', async () => {
  const cache: QuantileCache = new Map([[levels[0].moving.data, new Map([
    [0.02, 4],
    [0.98, 4],
  ])]]);
  const l = levels[0];
  const samples = await drawSamplesOn(undefined, l.fixed, l.fixed.data as Float32Array, l.count, l.seed);
  const reference = await levelRanges(undefined, samples.values, l.moving.data, q, cache);
  assert.ok(reference.movingRange!.max > reference.movingRange!.min + 1, 'the full finite range');
  const [p] = await prepareLevelsOn(team(2), requests(cache).slice(0, 1));
  assert.deepEqual(p.ranges, reference);
});

test('a level left without its moving job gets no moving range; a large moving level split over the team has levelRanges\' range', async () => {
  const [p] = await prepareLevelsOn(team(2), [{ ...requests(new Map())[0], moving: null }]);
  assert.equal(p.ranges.movingRange, null);
  // a full-resolution-sized moving image (levelRanges splits it over the team): quantiles and full range (mse: q null)
  const n = (1 << 22) + 12345;
  assert.ok(movingRangeOnTeam(n));
  const data = shareArray(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001) * 40 + (i % 97)));
  const fixedValues = Float64Array.from({ length: 5000 }, (_, i) => i % 13);
  for (const mq of [[0.02, 0.98] as [number, number], null]) {
    const reference = (await levelRanges(undefined, fixedValues, data, { fixed: null, moving: mq }, new Map())).movingRange;
    for (const threads of [0, 2, 3]) {
      const got = await movingLevelRangeOn(threads === 0 ? undefined : team(threads), data, mq, null);
      assert.deepEqual(got, reference, `${threads} thread(s), quantiles ${mq}`);
    }
  }
});

test('all levels prepared at once: the calling thread draws every level, the helpers take only moving ranges (the same outputs)', async () => {
  const cache = quantileCache();
  const reference = await prepareLevelsOn(undefined, requests(cache));
  for (const threads of [2, 3]) {
    let helped = false;
    for (let rep = 0; rep < 30 && !helped; rep++) {
      const seen: string[] = [];
      const prepared = await prepareLevelsOn(team(threads), requests(cache), (kind, level, taker) => {
        seen.push(`${kind}/${level}`);
        if (kind === 0) assert.equal(taker, 'caller', `${threads} threads: level ${level}'s draw`);
        else helped ||= taker === 'helper';
      });
      // every job once: three draws and the moving ranges of the two levels whose quantiles are not known
      assert.deepEqual(seen.sort(), ['0/0', '0/1', '0/2', '1/0', '1/1']);
      prepared.forEach((p, k) => {
        assertSameSamples(p.samples, reference[k].samples, `${threads} threads, level ${k}`);
        assert.deepEqual(p.ranges, reference[k].ranges, `${threads} threads, level ${k}: ranges`);
      });
    }
    assert.ok(helped, `${threads} threads: no helper took a moving range in 30 runs`);
  }
});

test('the helpers took part in the preparations above (else their equality would prove nothing)', () => {
  for (const threads of [2, 3]) assert.ok(team(threads).helperBlocks > 0, `${threads} threads: the helpers did no job`);
});

test('levelRanges for a measure without a joint histogram: the same fixed ranges, no moving range (unless known)', async () => {
  const fixedValues = Float64Array.from({ length: 5000 }, (_, i) => (i % 13) - 2);
  const moving = levels[2].moving.data;
  const all = await levelRanges(undefined, fixedValues, moving, { fixed: null, moving: null }, new Map());
  assert.ok(all.movingRange, 'the full moving range when it is needed');
  for (const t of [undefined, team(2)]) {
    const fixedOnly = await levelRanges(t, fixedValues, moving, { fixed: null, moving: null }, new Map(), false);
    assert.deepEqual([fixedOnly.fullFixed, fixedOnly.fixedRange], [all.fullFixed, all.fixedRange]);
    assert.equal(fixedOnly.movingRange, null);
  }
  // quantiles the cache knows cost no pass: they are given either way
  const known = await levelRanges(undefined, fixedValues, moving, q, quantileCache(), false);
  assert.deepEqual(known.movingRange, { min: 1.5, max: 9.25 });
});
