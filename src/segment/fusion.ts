/**
 * Label fusion: N atlas label maps already warped onto the target grid → one label map (and optionally a
 * probability map per label).
 *
 * - majorityVote: each atlas votes its label with weight 1.
 * - locallyWeightedVote: each atlas' vote is weighted by the local intensity similarity between its warped image
 *   and the target in a (2r+1)^d window (Artaechevarria, Muñoz-Barrutia & Ortiz-de-Solórzano 2009, IEEE TMI):
 *   inverse local MSE, or local NCC, raised to a power p.
 * - staple: Warfield, Zou & Wells 2004 (IEEE TMI), multi-label form: EM over one confusion matrix per atlas,
 *   label priors from the label frequencies of all votes.
 * - jointLabelFusion: Wang et al. 2013 (IEEE PAMI): per-voxel weights w = M⁻¹1 / 1ᵀM⁻¹1 from the atlases' joint
 *   error correlation M(i,j) = (mean over the patch of |A_i − T|·|A_j − T|)^β + α·δij, with a local search for
 *   the best-matching atlas patch, whose label is the vote.
 *
 * Labels are compacted to indices 0…L−1 in ascending label order first, so "smallest index" is "smallest
 * label" and every tie goes to the smallest label. Images are grids of `size` (2 or 3 axes, x fastest).
 */
import { allocateProbabilities, checkVotes, compactVotes, toLabels, voteAll, type FusionResult, type LabelVotes } from './votes.js';

export type { FusionResult, LabelVotes } from './votes.js';

export const FUSION_METHODS = ['majority', 'weighted', 'staple', 'jlf'] as const;
export type FusionMethod = (typeof FUSION_METHODS)[number];


export interface MajorityOptions {
  probabilities?: boolean;
}

/** Plain majority vote; ties go to the smallest label. Probabilities are vote fractions. */
export function majorityVote(votes: LabelVotes, options: MajorityOptions = {}): FusionResult {
  const n = checkVotes(votes);
  const { values, index } = compactVotes(votes);
  const probs = allocateProbabilities(values.length, n, options.probabilities);
  const winner = voteAll(index, null, values.length, n, probs);
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}
