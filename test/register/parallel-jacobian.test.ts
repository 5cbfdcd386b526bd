// The Jacobian determinant map on a team of threads (src/register/parallel-jacobian.ts, the browser app's
// Jacobian view): bit-identical to jacobianDeterminantImage for 1, 2 and 3 threads, for a B-spline chain (the
// analytic path) and a displacement-field chain (central differences), 2D and 3D; the helpers did blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import { jacobianOn, MIN_PARALLEL_JACOBIAN_VOXELS } from '../../src/register/parallel-jacobian.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { invertChain } from '../../src/transform/inverse.js';
import { jacobianDeterminantImage } from '../../src/transform/jacobian.js';
import { AffineTransform } from '../../src/transform/linear.js';
import type { Transform } from '../../src/transform/transform.js';
import { imageFromFunction, scene2d, scene3d } from './synthetic.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function bytes(img: Image): Uint8Array {
  const d = img.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

for (const d of [2, 3] as const) {
  test(`jacobianOn ${d}D: bit-identical to jacobianDeterminantImage for 1, 2, 3 threads (B-spline and field chains)`, async () => {
    const fixed =
      d === 2
        ? imageFromFunction({ size: [230, 190], spacing: [0.9, 1.1], origin: [-3, 2] }, scene2d)
        : imageFromFunction({ size: [40, 36, 30], spacing: [1, 1.1, 1.2], origin: [-2, 1, 0.5] }, scene3d);
    assert.ok(fixed.data.length >= MIN_PARALLEL_JACOBIAN_VOXELS, 'large enough to run on the team');
    const a = new AffineTransform(d);
    a.fitMapping(d === 2 ? [1.02, 0.05, -0.03, 0.98] : [1.02, 0.05, 0, -0.03, 0.98, 0.02, 0.01, 0, 1.01], d === 2 ? [1.5, -0.7] : [1.5, -0.7, 0.4]);
    const b = createBSplineTransformForImage(fixed, 15);
    const p = new Float64Array(b.numberOfParameters);
    for (let i = 0; i < p.length; i++) p[i] = 2.5 * Math.sin(0.7 * i + 0.3);
    b.setParameters(p);
    const bspline: Transform[] = [b, a];
    const cases: [string, Transform[]][] = [
      ['bspline', bspline],
      ['field', invertChain(bspline).transforms],
    ];
    for (const [name, chain] of cases) {
      const serial = jacobianDeterminantImage(chain, fixed);
      const values = serial.data;
      assert.ok(values.some((v) => Math.abs(v - values[0]) > 1e-3), `${name}: the map varies`);
      for (const threads of [1, 2, 3]) {
        // Whether a helper wakes before the calling thread has claimed every block is up to the OS scheduler (on a
        // loaded machine it may not, once): a few runs, each checked bit for bit, must see the helpers take part.
        const before = threads > 1 ? team(threads).helperBlocks : 0;
        for (let run = 0; run < (threads > 1 ? 5 : 1); run++) {
          const t = await jacobianOn(team(threads), chain, fixed);
          assert.deepEqual(t.size, fixed.size);
          assert.deepEqual(t.origin, fixed.origin);
          assert.deepEqual(bytes(t), bytes(serial), `${name}: ${threads} threads`);
          if (threads === 1 || team(threads).helperBlocks > before) break;
        }
        if (threads > 1) assert.ok(team(threads).helperBlocks > before, `${name}: the helpers of ${threads} threads did no block in 5 runs`);
      }
    }
    // A linear chain: its constant determinant, without a session.
    const lin = await jacobianOn(team(2), [a], fixed);
    assert.deepEqual(bytes(lin), bytes(jacobianDeterminantImage([a], fixed)));
  });
}
