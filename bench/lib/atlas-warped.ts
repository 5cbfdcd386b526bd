// Fusion and --select K from ONE set of registrations: the atlases that `coreg segment --keep-warped DIR` warped
// (registrations do not depend on the fusion), fused in-process with the library's methods, and the Dice/time
// trade-off of keeping only the best K of a ranking.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../../src/image/image.js';
import { readImageFile } from '../../src/io/node.js';
import { majorityVote, type FusionMethod } from '../../src/segment/fusion.js';
import { locallyWeightedVote } from '../../src/segment/weighted-vote.js';
import { staple } from '../../src/segment/staple.js';
import { jointLabelFusion } from '../../src/segment/joint-fusion.js';

export interface KeptAtlas {
  /** Subject number parsed from the atlas file name (subjN_…), or the input position when there is none. */
  subject: number;
  /** File stem, e.g. "3_subj4_t1". */
  name: string;
  labels: ArrayLike<number>;
  image: Float32Array;
}

const KEPT_LABELS = /^(\d+)_(.+)_labels\.nii(\.gz)?$/;

function float32(img: Image): Float32Array {
  return img.data instanceof Float32Array ? img.data : Float32Array.from(img.data as ArrayLike<number>);
}

/** The warped labels and images in a --keep-warped folder, in input order. */
export function readKeptWarped(dir: string): KeptAtlas[] {
  const kept: { position: number; atlas: KeptAtlas }[] = [];
  for (const file of readdirSync(dir)) {
    const m = KEPT_LABELS.exec(file);
    if (!m) continue;
    const stem = `${m[1]}_${m[2]}`;
    const image = readImageFile(join(dir, `${stem}_image.nii${m[3] ?? ''}`));
    const subject = /subj(\d+)/.exec(m[2]);
    kept.push({
      position: Number(m[1]),
      atlas: { subject: subject ? Number(subject[1]) : Number(m[1]), name: stem, labels: readImageFile(join(dir, file)).data as ArrayLike<number>, image: float32(image) },
    });
  }
  return kept.sort((a, b) => a.position - b.position).map((k) => k.atlas);
}

export interface Fused {
  method: FusionMethod;
  labels: Int32Array;
  seconds: number;
}

/** Fuses the atlases with each method (library defaults, as `coreg segment --fusion M` uses them), timed; `targetImage` is the target's intensities (not its labels). */
export function fuseKept(atlases: readonly KeptAtlas[], targetImage: Image, methods: readonly FusionMethod[]): Fused[] {
  const votes = atlases.map((a) => a.labels);
  const images = atlases.map((a) => a.image);
  const t = float32(targetImage);
  return methods.map((method) => {
    const start = performance.now();
    const labels =
      method === 'majority'
        ? majorityVote(votes).labels
        : method === 'weighted'
          ? locallyWeightedVote(votes, images, t, targetImage.size).labels
          : method === 'staple'
            ? staple(votes).labels
            : jointLabelFusion(votes, images, t, targetImage.size).labels;
    return { method, labels, seconds: (performance.now() - start) / 1000 };
  });
}

export interface SelectionPoint {
  k: number;
  /** Subjects of the K atlases kept, best first. */
  subjects: number[];
  majorityDice: number;
  jlfDice: number;
  /** Ranking (when K < N) + the K registrations' seconds + that fusion's. */
  majoritySeconds: number;
  jlfSeconds: number;
}

/**
 * Dice of majority and JLF over the best K atlases for K = 1…N. `order` holds indices into `atlases`, best first;
 * `registrationSeconds[i]` is atlas i's registration time. With one atlas both fusions are that atlas' labels.
 * `concurrency` is how many registrations the measured run overlapped on average (Σ registration seconds / its
 * registration wall time): K registrations overlap at most K-fold, and the one-thread ranking as much as the run.
 */
export function selectionTradeoff(
  atlases: readonly KeptAtlas[],
  targetImage: Image,
  order: readonly number[],
  registrationSeconds: readonly number[],
  rankingSeconds: number,
  dice: (labels: ArrayLike<number>) => number,
  concurrency = 1,
): SelectionPoint[] {
  const c = Math.max(1, concurrency);
  const points: SelectionPoint[] = [];
  for (let k = 1; k <= order.length; k++) {
    const chosen = order.slice(0, k).map((i) => atlases[i]);
    // `segment` ranks only when K is below the atlas count.
    const base = (k < atlases.length ? rankingSeconds / c : 0) + order.slice(0, k).reduce((s, i) => s + registrationSeconds[i], 0) / Math.min(c, k);
    const subjects = chosen.map((a) => a.subject);
    if (k === 1) {
      const d = dice(chosen[0].labels);
      points.push({ k, subjects, majorityDice: d, jlfDice: d, majoritySeconds: base, jlfSeconds: base });
      continue;
    }
    const [majority, jlf] = fuseKept(chosen, targetImage, ['majority', 'jlf']);
    points.push({ k, subjects, majorityDice: dice(majority.labels), jlfDice: dice(jlf.labels), majoritySeconds: base + majority.seconds, jlfSeconds: base + jlf.seconds });
  }
  return points;
}
