import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage, createImageLike } from '../../src/image/image.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import { labelOverlap } from '../../src/report/overlap.js';
import { segment } from '../../src/segment/segment.js';
import { foregroundMask, rankAtlases, selectBest, selectionConfig } from '../../src/segment/select.js';
import { phantom2d } from './phantom.js';
import { type Atlas, type SegmentProgress } from '../../src/segment/atlas.js';

/** A quick affine registration for 48×48 phantoms. */
const AFFINE: RegistrationConfig = {
  stages: [
    {
      transform: 'affine',
      metric: 'mi',
      levels: [
        { shrink: 2, smooth: 1, iterations: 60 },
        { shrink: 1, smooth: 0, iterations: 60 },
      ],
    },
  ],
  initializer: 'moments',
  seed: 1,
};

const target = phantom2d(24, 24);
const shifts: [number, number][] = [
  [21, 25],
  [26, 22],
  [25, 27],
];
const atlases: Atlas[] = shifts.map(([x, y], i) => {
  const p = phantom2d(x, y);
  return { image: p.image, labels: p.labels, name: `atlas${i + 1}.nii.gz`, labelsName: `atlas${i + 1}_labels.nii.gz` };
});

function noiseImage(seed: number): ReturnType<typeof createImage> {
  const img = createImage([48, 48], 'float32');
  let a = seed;
  for (let v = 0; v < img.data.length; v++) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    img.data[v] = (a >>> 8) % 256;
  }
  return img;
}

test('segment() from three shifted atlases reaches Dice > 0.9 with every fusion method', async () => {
  for (const fusion of ['majority', 'weighted', 'staple', 'jlf'] as const) {
    const events: SegmentProgress[] = [];
    const r = await segment(target.image, atlases, { fusion, config: AFFINE, probabilities: fusion === 'staple', onProgress: (e) => events.push(e) });
    assert.equal(r.labels.data.constructor, Uint8Array, 'labels keep the atlas pixel type');
    assert.deepEqual(r.labels.size, [48, 48]);
    const overlap = labelOverlap(r.labels, target.labels);
    for (const l of ['1', '2', '3']) assert.ok(overlap.labels[l].dice > 0.9, `${fusion}: label ${l} Dice ${overlap.labels[l].dice}`);
    assert.deepEqual(r.report.selected, atlases.map((a) => a.name));
    assert.equal(r.report.failed.length, 0);
    assert.equal(r.report.ranking, null);
    assert.deepEqual(r.report.volumes.map((v) => v.label), [1, 2, 3]);
    // Label 3 is a 6×8 mm square.
    assert.ok(Math.abs(r.report.volumes[2].volume - 48) <= 8, `label 3 volume ${r.report.volumes[2].volume}`);
    assert.equal(r.warped.length, 3);
    assert.equal(r.warped[0].image, undefined);
    assert.ok(events.some((e) => e.phase === 'register' && e.atlas === 2) && events.at(-1)!.phase === 'fuse');
    if (fusion === 'staple') {
      assert.ok(r.report.staple && r.report.staple.meanSensitivity.length === 3);
      assert.deepEqual(r.probabilities!.map((p) => p.label), [0, 1, 2, 3]);
    }
  }
});

test('segment() calls its collect hook once the registrations are done, before the fusion allocates', async () => {
  const log: string[] = [];
  await segment(target.image, atlases, {
    fusion: 'majority',
    config: AFFINE,
    collect: () => log.push('collect'),
    onProgress: (e) => log.push(e.phase),
  });
  const fuse = log.indexOf('fuse');
  assert.ok(fuse > 0, 'a fuse event');
  assert.equal(log[fuse - 1], 'collect', `the event before the fusion: ${log.slice(-4).join(', ')}`);
  assert.ok(log.lastIndexOf('register') < fuse - 1, 'after the last registration event');
});

test('selection ranks shifted copies above a noise image and segment() keeps the best K', async () => {
  const noise: Atlas = { image: noiseImage(5), labels: createImage([48, 48], 'uint8'), name: 'noise.nii.gz' };
  const candidates = [noise, ...atlases];
  const ranking = await rankAtlases(target.image, candidates, { measure: 'ncc' });
  assert.equal(ranking.length, 4);
  assert.equal(ranking.at(-1)!.name, 'noise.nii.gz', JSON.stringify(ranking));
  assert.ok(ranking[0].score! > 0.9 && ranking.at(-1)!.score! < 0.5);
  const mi = await rankAtlases(target.image, candidates, { measure: 'mi' });
  assert.equal(mi.at(-1)!.name, 'noise.nii.gz');
  assert.deepEqual(selectBest(ranking, 2).sort(), ranking.slice(0, 2).map((r) => r.index).sort());
  assert.throws(() => selectBest(ranking, 0), CoregError);
  assert.ok(selectionConfig(target.image).stages[0].levels!.every((l) => l.iterations === 30));
  assert.equal(foregroundMask(target.image).reduce((a, b) => a + b, 0) > 500, true);

  const r = await segment(target.image, candidates, { fusion: 'majority', select: 2, config: AFFINE });
  assert.equal(r.report.selected.length, 2);
  assert.ok(!r.report.selected.includes('noise.nii.gz'));
  assert.equal(r.report.ranking!.length, 4);
  assert.ok(labelOverlap(r.labels, target.labels).mean! > 0.9);

  // releaseAtlases: the same result; every atlas' images are gone afterwards (the left-out one's too)
  const given = candidates.map((a) => ({ ...a }));
  const released = await segment(target.image, given, { fusion: 'majority', select: 2, config: AFFINE, releaseAtlases: true });
  assert.deepEqual([...released.labels.data], [...r.labels.data]);
  assert.deepEqual(released.report, { ...r.report, timings: released.report.timings, ranking: released.report.ranking });
  assert.deepEqual(released.report.ranking!.map((x) => [x.name, x.score]), r.report.ranking!.map((x) => [x.name, x.score]));
  for (const a of given) assert.ok(!('image' in a) && !('labels' in a), `${a.name} still holds its images`);
  assert.ok(candidates.every((a) => a.image && a.labels), 'without releaseAtlases the atlases keep theirs');
});

test('an atlas whose registration fails is reported and left out; all failing is an error', async () => {
  const flat = createImage([48, 48], 'float32');
  flat.data.fill(7);
  const broken: Atlas = { image: flat, labels: createImage([48, 48], 'uint8'), name: 'flat.nii.gz' };
  const warnings: string[] = [];
  const r = await segment(target.image, [atlases[0], broken, atlases[1]], { fusion: 'jlf', config: AFFINE, warn: (m) => warnings.push(m) });
  assert.deepEqual(r.report.selected, [atlases[0].name, atlases[1].name]);
  assert.equal(r.report.failed.length, 1);
  assert.equal(r.report.failed[0].name, 'flat.nii.gz');
  assert.match(r.report.failed[0].error, /constant/);
  assert.ok(warnings.some((w) => w.includes('flat.nii.gz')));
  assert.ok(labelOverlap(r.labels, target.labels).mean! > 0.9);
  await assert.rejects(
    segment(target.image, [broken, broken], { fusion: 'majority', config: AFFINE }),
    (e: unknown) => e instanceof CoregError && e.subject === '--atlas' && /all 2 atlases failed/.test(e.message),
  );
});

test('segment() input errors', async () => {
  const a = atlases[0];
  const shiftedGrid = createImage([48, 48], 'uint8', { origin: [1, 0] });
  await assert.rejects(
    segment(target.image, [{ ...a, labels: shiftedGrid }], { fusion: 'majority', config: AFFINE }),
    (e: unknown) => e instanceof CoregError && e.subject === 'atlas1_labels.nii.gz' && /same grid/.test(e.message),
  );
  const fractional = createImageLike(a.labels, 'float32');
  fractional.data[3] = 1.5;
  await assert.rejects(
    segment(target.image, [{ ...a, labels: fractional }], { fusion: 'majority', config: AFFINE }),
    (e: unknown) => e instanceof CoregError && e.subject === 'atlas1_labels.nii.gz' && /labels must be integers/.test(e.message),
  );
  await assert.rejects(segment(target.image, [], { fusion: 'majority', config: AFFINE }), (e: unknown) => e instanceof CoregError && e.subject === '--atlas');
  await assert.rejects(
    segment(target.image, [a], { fusion: 'vote' as never, config: AFFINE }),
    (e: unknown) => e instanceof CoregError && e.subject === '--fusion',
  );
  await assert.rejects(segment(target.image, [a], { fusion: 'majority', config: AFFINE, select: 0 }), (e: unknown) => e instanceof CoregError && e.subject === '--select');
  const volume = createImage([8, 8, 8], 'float32');
  await assert.rejects(
    segment(volume, [a], { fusion: 'majority', config: AFFINE }),
    (e: unknown) => e instanceof CoregError && e.subject === 'atlas1.nii.gz' && /2D but the target is 3D/.test(e.message),
  );
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(segment(target.image, [a], { fusion: 'majority', config: AFFINE, signal: controller.signal }), (e: unknown) => (e as Error).name === 'AbortError');
});

test('withAtlasDefaults: 3D B-spline stages draw fewer samples unless told; other stages and 2D unchanged', async () => {
  const { withAtlasDefaults, ATLAS_BSPLINE_SAMPLES } = await import('../../src/segment/segment.js');
  const config: RegistrationConfig = { stages: [{ transform: 'affine', metric: 'mi' }, { transform: 'bspline', metric: 'mi' }], seed: 1 };
  const t3 = createImage([8, 8, 8], 'float32');
  const filled = withAtlasDefaults(config, t3);
  assert.equal(filled.stages[1].subsetSize, ATLAS_BSPLINE_SAMPLES);
  assert.equal(filled.stages[0].subsetSize, undefined);
  assert.equal(config.stages[1].subsetSize, undefined, 'the input is not changed');
  const told: RegistrationConfig = { ...config, stages: [config.stages[0], { ...config.stages[1], subsetSize: 3000 }] };
  assert.equal(withAtlasDefaults(told, t3).stages[1].subsetSize, 3000);
  assert.equal(withAtlasDefaults(config, createImage([8, 8], 'float32')), config);
});
