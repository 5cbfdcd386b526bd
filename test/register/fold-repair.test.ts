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

test('repairFolding: a local fold is undone around it only; the rest of the update stays', () => {
  const { bs, before, after, nC, gx } = setup();
  // … and one control point in the middle pushed 20 mm past its neighbours along x: a local fold.
  const centre = 11 * gx + 11;
  after[centre] += 20;
  bs.setParameters(after);
  assert.ok(summarizeJacobian(jacobianDeterminantImage([bs], fixed).data).foldedCount > 0, 'the update folds');
  const r = repairFolding(bs, before, after, foldCheckPoints(fixed, 1));
  assert.equal(r.repaired, true);
  assert.ok(r.pulledBack >= 1 && r.pulledBack <= 64, `pulled back ${r.pulledBack}`);
  assert.equal(summarizeJacobian(jacobianDeterminantImage([bs], fixed).data).foldedCount, 0, 'nothing folds on the image');
  // Control points far from the fold keep their whole update.
  let kept = 0;
  for (let c = 0; c < nC; c++) if (bs.parameters[c] === after[c] && bs.parameters[nC + c] === after[nC + c]) kept++;
  assert.ok(kept >= nC - r.pulledBack, `${kept} of ${nC} kept`);
  assert.ok(bs.parameters[centre] < after[centre], 'the offending control point was scaled back');
});

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
