// register(…, { initializer: 'landmarks' }) from the library: the intensity stage starts from the keypoint fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from '../../src/register/register.js';
import { applyMotion, randomBlobs, render, rotation, type RigidMotion } from '../features/synthetic.js';

test('register with initializer landmarks reaches a pose turned by 160°; the moments initializer does not', async () => {
  const blobs = randomBlobs(2, 80, 10, 150, 21);
  const motion: RigidMotion = { R: rotation(2, 160), center: [80, 80], shift: [7, -12] };
  const fixed = render(blobs, [160, 160]);
  const moving = render(blobs, [160, 160], {}, motion);
  const stages = [{ transform: 'rigid' as const, metric: 'mse' as const }];
  const error = (t: { transformPoint(p: ArrayLike<number>, out: Float64Array): unknown }): number => {
    const y = new Float64Array(2);
    let worst = 0;
    for (const p of [[30, 30], [130, 40], [80, 130]]) {
      t.transformPoint(p, y);
      const q = applyMotion(motion, p);
      worst = Math.max(worst, Math.hypot(q[0] - y[0], q[1] - y[1]));
    }
    return worst;
  };
  const r = await register(fixed, moving, { stages, initializer: 'landmarks' });
  assert.ok(r.landmarks && r.landmarks.inliers >= 8, 'landmarks recorded');
  assert.ok(error(r.transforms[0]) < 0.05, `landmarks: max error ${error(r.transforms[0])} mm`);
  const m = await register(fixed, moving, { stages, initializer: 'moments' });
  assert.equal(m.landmarks, undefined);
  assert.ok(error(m.transforms[0]) > 5, `moments converges elsewhere (${error(m.transforms[0])} mm)`);
});

test('register with initializer landmarks fails with the counts when nothing matches', async () => {
  const fixed = render(randomBlobs(2, 80, 10, 150, 21), [160, 160]);
  const moving = render(randomBlobs(2, 80, 10, 150, 98), [160, 160]);
  await assert.rejects(register(fixed, moving, { stages: [{ transform: 'rigid', metric: 'mse' }], initializer: 'landmarks' }), /no consistent match \(gradient: keypoints fixed \d+, moving \d+/);
});
