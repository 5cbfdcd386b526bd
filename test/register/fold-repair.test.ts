import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { foldCheckPoints, repairFolding } from '../../src/register/fold-repair.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../src/transform/jacobian.js';

// 160×160 image, 1 mm; control grid 8 mm (23×23 control points).
const fixed = createImage([160, 160], 'float32');

function setup(): { bs: ReturnType<typeof createBSplineTransformForImage>; before: Float64Array; after: Float64Array; nC: number; gx: number } {
  const bs = createBSplineTransformForImage(fixed, 8);
  const nC = bs.numberOfControlPoints;
  const gx = bs.gridSize[0];
  const before = new Float64Array(bs.numberOfParameters);
  // A gentle smooth update everywhere (never folds) …
  const after = new Float64Array(bs.numberOfParameters);
  for (let c = 0; c < nC; c++) after[c] = 0.5 * Math.sin(c / 3);
  return { bs, before, after, nC, gx };
}

for (const [name, direction] of [
  ['identity', [1, 0, 0, 1]],
  // Not orthonormal: the support of a point is found with D⁻¹ (the grid's own map); Dᵀ would miss it.
  ['sheared', [1, 0.45, 0, 0.9]],
] as const) {
  test(`repairFolding (${name} direction): a local fold is undone around it only; the rest of the update stays`, () => {
    const image = createImage([160, 160], 'float32', { direction: [...direction] });
    const bs = createBSplineTransformForImage(image, 8);
    const nC = bs.numberOfControlPoints;
    const gx = bs.gridSize[0];
    const before = new Float64Array(bs.numberOfParameters);
    const after = new Float64Array(bs.numberOfParameters);
    for (let c = 0; c < nC; c++) after[c] = 0.5 * Math.sin(c / 3);
    // One control point in the middle pushed 20 mm past its neighbours along x: a local fold.
    const centre = 11 * gx + 11;
    after[centre] += 20;
    bs.setParameters(after);
    assert.ok(summarizeJacobian(jacobianDeterminantImage([bs], image).data).foldedCount > 0, 'the update folds');
    const r = repairFolding(bs, before, after, foldCheckPoints(image, 1));
    assert.equal(r.repaired, true);
    assert.equal(summarizeJacobian(jacobianDeterminantImage([bs], image).data).foldedCount, 0, 'nothing folds on the image');
    assert.ok(bs.parameters[centre] < after[centre], 'the offending control point was scaled back');
    // The fold lies within the support of control point (11, 11): only control points whose support overlaps it
    // (within 4 grid steps) may change; every other keeps its whole update exactly.
    for (let c = 0; c < nC; c++) {
      const [i, j] = [c % gx, Math.floor(c / gx)];
      if (Math.abs(i - 11) <= 4 && Math.abs(j - 11) <= 4) continue;
      assert.equal(bs.parameters[c], after[c], `control point (${i}, ${j}) x`);
      assert.equal(bs.parameters[nC + c], after[nC + c], `control point (${i}, ${j}) y`);
    }
  });
}

test('repairFolding: no fold, nothing changes; widespread folding is still repaired where it is', () => {
  const { bs, before, after } = setup();
  const r = repairFolding(bs, before, after, foldCheckPoints(fixed, 1));
  assert.deepEqual(r, { repaired: true, pulledBack: 0 });
  assert.deepEqual([...bs.parameters], [...after]);
  // Every other control point pushed far in the left half of the grid: folds over a wide region. The repair
  // never gives up the level: nothing folds afterwards, and the right half keeps its update.
  const nC = bs.numberOfControlPoints;
  const gx = bs.gridSize[0];
  const wild = Float64Array.from(after, (v, i) => ((i % nC) % gx < gx / 2 - 4 ? v + (i % 2 ? 40 : -40) : v));
  const w = repairFolding(bs, before, wild, foldCheckPoints(fixed, 1));
  assert.equal(w.repaired, true);
  assert.ok(w.pulledBack > 0.1 * nC, `pulled back ${w.pulledBack} of ${nC}`);
  assert.equal(summarizeJacobian(jacobianDeterminantImage([bs], fixed).data).foldedCount, 0, 'nothing folds on the image');
  let kept = 0;
  for (let c = 0; c < nC; c++) if (c % gx >= gx / 2 + 2 && bs.parameters[c] === wild[c] && bs.parameters[nC + c] === wild[nC + c]) kept++;
  assert.ok(kept > 0.3 * nC, `${kept} control points of the right half kept their update`);
});
