import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, physicalCenter, type Image } from '../../src/image/image.js';
import { centerOfMass, foregroundCenter, geometricCenter, initializeCenteredTransform, principalAxes } from '../../src/transform/initialize.js';
import { AffineTransform, Euler2DTransform, Euler3DTransform, TranslationTransform } from '../../src/transform/linear.js';
import { assertArrayClose, assertClose } from '../helpers.js';

/**
 * An image whose pixels are the (3^d-supersampled) indicator of an ellipse/ellipsoid given in physical space:
 * |Rᵀ(x − centre) / semiAxes| ≤ 1, with R the rotation whose columns are the ellipse's axes.
 */
function ellipse(
  size: number[],
  geometry: { spacing?: number[]; origin?: number[]; direction?: number[] },
  centre: number[],
  semiAxes: number[],
  rotation: number[],
): Image {
  const img = createImage(size, 'float32', geometry);
  const d = size.length;
  const nz = d === 3 ? size[2] : 1;
  const sub = [-1 / 3, 0, 1 / 3];
  const subZ = d === 3 ? sub : [0];
  let n = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < size[1]; j++) {
      for (let i = 0; i < size[0]; i++, n++) {
        let inside = 0;
        let total = 0;
        for (const dk of subZ) for (const dj of sub) for (const di of sub) {
          const idx = [i + di, j + dj, k + dk];
          const p: number[] = [];
          for (let r = 0; r < d; r++) {
            let s = img.origin[r];
            for (let c = 0; c < d; c++) s += img.direction[r * d + c] * img.spacing[c] * idx[c];
            p.push(s - centre[r]);
          }
          let q = 0;
          for (let a = 0; a < d; a++) {
            let u = 0;
            for (let r = 0; r < d; r++) u += rotation[r * d + a] * p[r];
            q += (u / semiAxes[a]) ** 2;
          }
          if (q <= 1) inside++;
          total++;
        }
        img.data[n] = inside / total;
      }
    }
  }
  return img;
}

function rot2(a: number): number[] {
  return [Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a)];
}

test('centre of mass and principal axes of a rotated ellipse on an oblique, anisotropic grid', () => {
  const img = ellipse([110, 130], { spacing: [0.8, 1.1], origin: [-20, 5], direction: rot2(0.17) }, [20, 70], [30, 12], rot2(Math.PI / 6));
  assertArrayClose(centerOfMass(img), [20, 70], 0.02, 'centre of mass');
  const pa = principalAxes(img);
  assertArrayClose(pa.center, [20, 70], 0.02);
  // Major axis along 30°; variances of a uniform ellipse are a²/4 and b²/4.
  assertClose(Math.abs(pa.axes[0] * Math.cos(Math.PI / 6) + pa.axes[2] * Math.sin(Math.PI / 6)), 1, 1e-4, 'major axis direction');
  assertClose(pa.moments[0], 900 / 4, 2, 'major moment');
  assertClose(pa.moments[1], 144 / 4, 1, 'minor moment');
  assert.ok(pa.axes[0] * pa.axes[3] - pa.axes[1] * pa.axes[2] > 0, 'right-handed');
});

test('principal-axes initialisation recovers a known 2D rotation and shift (fixed → moving)', () => {
  const fixed = ellipse([120, 100], {}, [50, 45], [30, 12], rot2(0));
  const moving = ellipse([110, 130], { spacing: [0.8, 1.1], origin: [-20, 5], direction: rot2(0.17) }, [20, 70], [30, 12], rot2(Math.PI / 6));
  const t = new Euler2DTransform();
  initializeCenteredTransform(t, fixed, moving, 'principal-axes');
  assertArrayClose(t.getCenter(), [50, 45], 0.02, 'centre = fixed centre of mass');
  assertClose(t.parameters[0], Math.PI / 6, 2e-3, 'angle');
  assertArrayClose(t.getTranslation(), [-30, 25], 0.05, 'translation = moving − fixed centre');
  // A point on the fixed major axis lands on the moving major axis.
  const out = new Float64Array(2);
  t.transformPoint([80, 45], out);
  assertArrayClose(out, [20 + 30 * Math.cos(Math.PI / 6), 70 + 30 * Math.sin(Math.PI / 6)], 0.2);

  const m = new Euler2DTransform();
  m.setParameters([0.4, 9, 9]);
  initializeCenteredTransform(m, fixed, moving, 'moments');
  assert.equal(m.parameters[0], 0, 'moments resets the rotation');
  assertArrayClose(m.getTranslation(), [-30, 25], 0.05);

  const g = new TranslationTransform(2);
  initializeCenteredTransform(g, fixed, moving, 'geometry');
  const fc = geometricCenter(fixed);
  const mc = physicalCenter(moving);
  assertArrayClose(g.getTranslation(), [mc[0] - fc[0], mc[1] - fc[1]], 1e-12);
  assertArrayClose(geometricCenter(fixed), [59.5, 49.5], 1e-12);
});

test('principal-axes initialisation recovers a 3D rotation (smallest of the sign choices)', () => {
  const truth = new Euler3DTransform();
  truth.setParameters([0.3, -0.2, 0.4, 0, 0, 0]);
  const R = Array.from(truth.matrix());
  const fixed = ellipse([36, 36, 36], {}, [17, 18, 17.5], [15, 9, 5], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const moving = ellipse([36, 36, 36], { origin: [10, 0, 0] }, [28, 16, 19], [15, 9, 5], R);
  const t = new AffineTransform(3);
  initializeCenteredTransform(t, fixed, moving, 'principal-axes');
  assertArrayClose(t.matrix(), R, 0.01, 'rotation');
  assertArrayClose(t.getTranslation(), [11, -2, 1.5], 0.05, 'translation');
});

test('masks restrict the moments (same grid and another grid)', () => {
  const img = createImage([40, 30]);
  img.data[5 + 40 * 5] = 1;
  img.data[30 + 40 * 20] = 3;
  assertArrayClose(centerOfMass(img), [(5 + 90) / 4, (5 + 60) / 4], 1e-12);
  const mask = createImage([40, 30], 'uint8');
  for (let j = 0; j < 10; j++) for (let i = 0; i < 10; i++) mask.data[i + 40 * j] = 1;
  assertArrayClose(centerOfMass(img, mask), [5, 5], 1e-12);
  const coarse = createImage([20, 15], 'uint8', { spacing: [2, 2] });
  coarse.data[15 + 20 * 10] = 1; // covers physical (30, 20)
  assertArrayClose(centerOfMass(img, coarse), [30, 20], 1e-12);
  assert.throws(() => centerOfMass(createImage([4, 4])), { name: 'CoregError', message: /not positive/ });
  assert.throws(() => centerOfMass(createImage([4, 4], 'float32', { components: 2 })), { name: 'CoregError' });
});

test('foregroundCenter of a 2D or 3D image without a mask (its own loop) is bit-identical to the moments the principal axes use', () => {
  const types: [string, 'uint8' | 'int16' | 'float32'][] = [['uint8', 'uint8'], ['CT-like int16', 'int16'], ['float32 with NaN, ±∞', 'float32']];
  const grids = [
    { size: [23, 19, 17], geometry: { spacing: [0.9, 1.1, 1.3], origin: [4, -2, 7], direction: [0, 1, 0, -1, 0, 0, 0, 0, 1] } },
    { size: [23, 19], geometry: { spacing: [0.9, 1.1], origin: [4, -2], direction: [0, 1, -1, 0] } },
  ];
  for (const [typeName, type] of types) {
    for (const { size, geometry } of grids) {
      const name = `${size.length}D ${typeName}`;
      const img = createImage(size, type, geometry);
      const kc = size.length === 3 ? 9 : 0;
      for (let n = 0; n < img.data.length; n++) {
        const i = n % 23;
        const j = Math.floor(n / 23) % 19;
        const k = Math.floor(n / (23 * 19));
        const r2 = (i - 12) ** 2 + (j - 8) ** 2 + (k - kc) ** 2;
        const object = r2 < 40 ? (type === 'int16' ? 40 + (n % 7) : 100 + (n % 13)) : type === 'int16' ? -1000 + (n % 5) : n % 3;
        img.data[n] = object + (type === 'int16' && r2 < 9 ? 900 : 0);
      }
      if (type === 'float32') {
        // (inside the object and outside it)
        for (const [n, v] of [[200, NaN], [201, Infinity], [202, -Infinity], [5, 0.5], [6, NaN]]) img.data[n] = v;
      }
      const fast = foregroundCenter(img);
      const general = principalAxes(img, undefined, 'image', true).center;
      assert.equal(fast.length, size.length);
      assert.deepEqual(new Uint8Array(Float64Array.from(fast).buffer), new Uint8Array(Float64Array.from(general).buffer), `${name}: ${fast} vs ${general}`);
    }
  }
});
