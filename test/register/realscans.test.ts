// Issue 10: defaults that work on CT (HU), PET and MR — foreground initialisation, robust intensity ranges,
// sampling inside masks, stop reasons in words, bad input (constant in mask, empty mask, no foreground).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import { guessModality, otsuThreshold, quantiles } from '../../src/image/intensity.js';
import { foregroundCenter, initializeCenteredTransform } from '../../src/transform/initialize.js';
import { Euler3DTransform } from '../../src/transform/linear.js';
import { sampleFixedImage } from '../../src/register/sampling.js';
import { robustRange } from '../../src/register/preset.js';
import { register, stopReasonInWords } from '../../src/register/register.js';
import { CoregError } from '../../src/errors.js';
import { assertArrayClose } from '../helpers.js';

/** A 3D "head" in HU: air −1000, a soft-tissue ball (40) with a bone shell (1000), centred at `c` (index units). */
function ctHead(size: number[], c: number[], r: number, spacing = [1, 1, 1], noise = 0): Image {
  const img = createImage(size, 'int16', { spacing });
  let n = 0;
  let seed = 7;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let k = 0; k < size[2]; k++) for (let j = 0; j < size[1]; j++) for (let i = 0; i < size[0]; i++, n++) {
    const d = Math.hypot((i - c[0]) * spacing[0], (j - c[1]) * spacing[1], (k - c[2]) * spacing[2]);
    const v = d > r ? -1000 : d > r - 2 ? 1000 : 40;
    img.data[n] = Math.round(v + noise * (rand() - 0.5));
  }
  return img;
}

test('quantiles and Otsu: robust range and a threshold between air and tissue for any offset', () => {
  const data = new Float64Array(10000);
  for (let i = 0; i < data.length; i++) data[i] = i < 7000 ? -1000 + (i % 7) : 40 + (i % 11);
  data[0] = -3024; // padding
  data[9999] = 3071; // metal
  const q = quantiles(data, [0.005, 0.995])!;
  assert.ok(q[0] >= -1000 && q[1] <= 50, `quantiles ${q}`);
  const r = robustRange(data, [0.005, 0.995])!;
  assert.ok(r.min >= -1000 && r.max <= 50, `robust range ${JSON.stringify(r)}`);
  assert.deepEqual(robustRange(data, null), { min: -3024, max: 3071 });
  const t = otsuThreshold(data)!;
  assert.ok(t > -994 && t < 40, `Otsu threshold ${t}`);
  assert.equal(otsuThreshold(new Float64Array(100).fill(5)), null);
});

test('guessModality: CT in HU, PET (coarse, non-negative), MR otherwise', () => {
  assert.equal(guessModality(ctHead([20, 20, 20], [10, 10, 10], 6)).modality, 'ct');
  const pet = createImage([20, 20, 20], 'float32', { spacing: [4, 4, 4] });
  for (let i = 0; i < pet.data.length; i++) pet.data[i] = (i % 13) * 0.37;
  assert.equal(guessModality(pet).modality, 'pet');
  const mr = createImage([20, 20, 20], 'float32');
  for (let i = 0; i < mr.data.length; i++) mr.data[i] = (i % 13) * 37;
  assert.equal(guessModality(mr).modality, 'mr');
});

test('foreground centre: CT air never counts (raw moments fail or are biased), MR background neither', () => {
  const ct = ctHead([40, 36, 30], [22, 15, 13], 9);
  assertArrayClose(foregroundCenter(ct), [22, 15, 13], 0.05, 'CT foreground centre');
  // The same head with another intensity offset (e.g. stored +1024): the same centre.
  const shifted = createImage(ct.size, 'float32');
  for (let i = 0; i < ct.data.length; i++) shifted.data[i] = ct.data[i] + 1024;
  assertArrayClose(foregroundCenter(shifted), [22, 15, 13], 0.05, 'shifted CT foreground centre');
});

test('initializer: CT pair with negative HU is centred; no foreground falls back to the geometric centres with a warning', () => {
  const fixed = ctHead([40, 40, 30], [18, 20, 15], 9);
  const moving = ctHead([40, 40, 30], [23, 17, 14], 9);
  const t = new Euler3DTransform();
  initializeCenteredTransform(t, fixed, moving, 'moments');
  assertArrayClose(Array.from(t.getTranslation()), [5, -3, -1], 0.1, 'translation');
  // A "CT" of air only (noise-free): no foreground.
  const air = createImage([20, 20, 20], 'int16');
  air.data.fill(-1000);
  air.data[5] = 40;
  const warnings: string[] = [];
  const t2 = new Euler3DTransform();
  initializeCenteredTransform(t2, air, moving, 'moments', {}, { warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /no foreground.*geometric centres/);
  assert.ok(Array.from(t2.parameters).every(Number.isFinite));
  // Without a warning sink the error is thrown (library callers choose).
  assert.throws(() => initializeCenteredTransform(new Euler3DTransform(), air, moving, 'moments'), CoregError);
});

test('random sampling draws inside the mask: a small mask gets the samples asked for', () => {
  const img = createImage([60, 60, 60], 'float32');
  for (let i = 0; i < img.data.length; i++) img.data[i] = i % 17;
  const mask = createImage([60, 60, 60], 'uint8');
  let inMask = 0;
  for (let k = 20; k < 30; k++) for (let j = 20; j < 30; j++) for (let i = 20; i < 30; i++) {
    mask.data[i + 60 * (j + 60 * k)] = 1;
    inMask++;
  }
  const s = sampleFixedImage(img, { strategy: 'random', percentage: 500 / img.data.length, seed: 3, mask });
  assert.equal(s.count, 500, 'the 500 samples asked for (1000 voxels in the mask)');
  for (let n = 0; n < s.count; n++) assert.equal(mask.data[s.voxels[n]], 1);
  const all = sampleFixedImage(img, { strategy: 'random', percentage: 0.5, seed: 3, mask });
  assert.equal(all.count, inMask, 'never more than the mask holds');
});

test('stop reasons read as normal ends', () => {
  assert.equal(stopReasonInWords('line search failed'), 'converged: no further decrease');
  assert.match(stopReasonInWords('maximum iterations'), /iteration limit/);
  assert.match(stopReasonInWords('convergence window'), /^converged/);
});

test('bad input: constant inside the mask and a mask selecting nothing are clear errors, never NaN', async () => {
  const fixed = ctHead([24, 24, 24], [12, 12, 12], 7);
  const moving = ctHead([24, 24, 24], [13, 12, 12], 7);
  const inAir = createImage([24, 24, 24], 'uint8');
  inAir.data[0] = 1;
  inAir.data[1] = 1;
  await assert.rejects(
    register(fixed, moving, { stages: [{ transform: 'rigid', metric: 'mi' }] }, { fixedMask: inAir }),
    (e: unknown) => e instanceof CoregError && e.subject === '--fixed-mask' && /constant/.test(e.message),
  );
  const elsewhere = createImage([24, 24, 24], 'uint8', { origin: [500, 500, 500] });
  elsewhere.data.fill(1);
  await assert.rejects(
    register(fixed, moving, { stages: [{ transform: 'rigid', metric: 'mi' }] }, { movingMask: elsewhere }),
    (e: unknown) => e instanceof CoregError && e.subject === '--moving-mask' && /no voxel/.test(e.message),
  );
});

test('CT pair in HU registers with the defaults (moments over the foreground, winsorised MI) and records the preset', async () => {
  const fixed = ctHead([32, 32, 24], [16, 16, 12], 9, [1.5, 1.5, 2], 20);
  const moving = ctHead([32, 32, 24], [18, 15, 12], 9, [1.5, 1.5, 2], 20);
  const warnings: string[] = [];
  const r = await register(fixed, moving, { stages: [{ transform: 'translation', metric: 'mi' }] }, { warn: (m) => warnings.push(m) });
  assert.equal(r.preset?.fixed.modality, 'ct');
  assert.deepEqual(r.preset?.stages[0].winsorize, { fixed: [0.005, 0.995], moving: [0.005, 0.995] });
  const t = r.transforms[0] as unknown as { getTranslation(): ArrayLike<number> };
  assertArrayClose(Array.from(t.getTranslation()), [3, -1.5, 0], 0.3, 'translation (mm)');
  for (const l of r.stages[0].levels) assert.ok(Number.isFinite(l.value) && !/failed/.test(l.stopReason), l.stopReason);
});
