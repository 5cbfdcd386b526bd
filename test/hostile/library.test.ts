// Library entry points validate what user code hands them, with the readers' messages, naming the argument;
// settings objects are strict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage, type Image } from '../../src/image/image.js';
import { register } from '../../src/register/register.js';
import { resample } from '../../src/resample/resample.js';
import { LEVEL_SETTINGS, STAGE_SETTINGS, TOP_SETTINGS, defaultConfig, type RegistrationConfig } from '../../src/register/config.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers.js';
import { resolveByBaseName, resolveNamedFile } from '../../src/io/node.js';

function img(): Image {
  const a = createImage([16, 16], 'float32');
  for (let i = 0; i < a.data.length; i++) a.data[i] = (i * 13) % 17;
  return a;
}

const is = (subject: string, re: RegExp, code: 1 | 2 = 1) => (e: unknown) => e instanceof CoregError && e.subject === subject && re.test(e.message) && e.exitCode === code;

test('register/resample name the bad argument with the readers\' messages', async () => {
  const short = { ...img(), data: new Float32Array(10) };
  await assert.rejects(register(short, img(), defaultConfig(['translation'])), is('fixed', /invalid image: pixel data has 10 elements, expected 256/));
  const noSpacing = { ...img(), spacing: undefined } as unknown as Image;
  await assert.rejects(register(img(), noSpacing, defaultConfig(['translation'])), is('moving', /invalid image: spacing is missing/));
  await assert.rejects(register(img(), img(), defaultConfig(['translation']), { fixedMask: { ...img(), size: [16, 0] } }), is('fixedMask', /size must be positive/));
  assert.throws(() => resample({ ...img(), data: undefined } as unknown as Image, img(), []), is('moving', /data is missing/));
});

test('settings objects are strict: unknown keys with the closest valid one, types and bounds', async () => {
  const bad = (c: unknown) => register(img(), img(), c as RegistrationConfig);
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi', gridspacing: 8 }] }), is('config', /unknown setting "stages\[0\]\.gridspacing" \(did you mean "gridSpacing"\?\)/, 2));
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi' }], seeed: 1 }), is('config', /unknown setting "seeed" \(did you mean "seed"\?\)/, 2));
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi' }], gridSpacing: 3 }), is('config', /is a stage setting/, 2));
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smooth: 1e6, iterations: 3 }] }] }), is('config', /levels\[0\]\.smooth" must be at most 64/, 2));
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi', jitter: 'yes' }] }), is('config', /"stages\[0\]\.jitter" must be true or false/, 2));
  await assert.rejects(bad({ stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smoth: 0, iterations: 3 }] }] }), is('config', /did you mean "smooth"/, 2));
});

test('the path policy helper: inside the naming file\'s folder, or by base name for elastix chains', () => {
  assert.equal(resolveNamedFile('/data/a/x.mhd', 'x.raw'), '/data/a/x.raw');
  assert.equal(resolveNamedFile('/data/a/x.mhd', 'sub/x.raw'), '/data/a/sub/x.raw');
  assert.throws(() => resolveNamedFile('/data/a/x.mhd', '../b/x.raw'), is('/data/a/x.mhd', /outside the folder/));
  assert.throws(() => resolveNamedFile('/data/a/x.mhd', '/etc/passwd'), is('/data/a/x.mhd', /absolute path/));
  assert.throws(() => resolveNamedFile('/data/a/x.mhd', 'sub/../../x.raw'), is('/data/a/x.mhd', /outside the folder/));
  assert.equal(resolveNamedFile('/data/a/x.mhd', '/etc/passwd', 'file', { allowOutsidePaths: true }), '/etc/passwd');
  assert.equal(resolveByBaseName('/data/a/TransformParameters.1.txt', '/tmp/elastix-out/TransformParameters.0.txt'), '/data/a/TransformParameters.0.txt');
  assert.equal(resolveByBaseName('/data/a/TP.1.txt', 'C:\\run\\TP.0.txt'), '/data/a/TP.0.txt');
});

test('every accepted settings key is documented in the README', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const key of [...Object.keys(TOP_SETTINGS), ...Object.keys(STAGE_SETTINGS), ...Object.keys(LEVEL_SETTINGS)]) {
    assert.ok(readme.includes(`\`${key}\``) || readme.includes(`"${key}"`), `README does not document "${key}"`);
  }
});
