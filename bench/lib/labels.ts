// Label images for the atlas bench: Dice overlap against a reference segmentation and a plain majority vote
// (the vote elastix's warped atlas labels get, so that both tools' fusions are scored the same way).
import type { Image } from '../../src/image/image.js';

function sameGrid(a: Image, b: Image, what: string): void {
  const same = a.dimension === b.dimension && a.size.every((n, i) => n === b.size[i]) && a.components === 1 && b.components === 1;
  if (!same) throw new Error(`${what}: label images must be single-component and on the same grid (${a.size.join('×')} vs ${b.size.join('×')})`);
}

/**
 * Dice per label of `reference` other than 0 (labels rounded to integers), and their mean (as `coreg eval dice`
 * defines it). Both are voxel arrays of the same grid.
 */
export function diceScores(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; labels: Map<number, number> } {
  if (a.length !== b.length) throw new Error(`dice: ${a.length} voxels against ${b.length}: not the same grid`);
  let maxLabel = 0;
  for (let i = 0; i < b.length; i++) if (b[i] > maxLabel) maxLabel = Math.round(b[i]);
  const inA = new Float64Array(maxLabel + 1);
  const inB = new Float64Array(maxLabel + 1);
  const both = new Float64Array(maxLabel + 1);
  for (let i = 0; i < b.length; i++) {
    const lb = Math.round(b[i]);
    const la = Math.round(a[i]);
    if (lb > 0) inB[lb]++;
    if (la > 0 && la <= maxLabel) {
      inA[la]++;
      if (la === lb) both[la]++;
    }
  }
  const labels = new Map<number, number>();
  let sum = 0;
  for (let l = 1; l <= maxLabel; l++) {
    if (inB[l] === 0) continue;
    const d = (2 * both[l]) / (inA[l] + inB[l]);
    labels.set(l, d);
    sum += d;
  }
  return { mean: labels.size ? sum / labels.size : NaN, labels };
}

/**
 * Per voxel, the label most atlases give (labels rounded to integers); a tie goes to the lowest tied label.
 * Returns the voted label of every voxel.
 */
export function majorityVote(atlases: Image[]): Float64Array {
  if (atlases.length === 0) throw new Error('majority vote of no label images');
  for (const a of atlases) sameGrid(a, atlases[0], 'majority vote');
  const n = atlases.length;
  const data = atlases.map((a) => a.data);
  const voxels = data[0].length;
  const votes = new Float64Array(n);
  const out = new Float64Array(voxels);
  for (let i = 0; i < voxels; i++) {
    for (let k = 0; k < n; k++) votes[k] = Math.round(data[k][i]);
    let best = votes[0];
    let bestCount = 0;
    for (let k = 0; k < n; k++) {
      let count = 0;
      for (let m = 0; m < n; m++) if (votes[m] === votes[k]) count++;
      if (count > bestCount || (count === bestCount && votes[k] < best)) {
        best = votes[k];
        bestCount = count;
      }
    }
    out[i] = best;
  }
  return out;
}
