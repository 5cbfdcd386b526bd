// Beside errors.ts at the bottom of the layer order: registration's samplers and the features' RANSAC share it.

/** mulberry32's state increment: state_k = state_{k−1} + MULBERRY32_STEP (mod 2^32). */
export const MULBERRY32_STEP = 0x6d2b79f5;

/**
 * mulberry32's output in [0, 1) for a state (as uint32 or its int32 bits: the same output). A plain function, for
 * hot loops that keep the state in a local instead of calling createRandom's closure.
 */
export function mulberry32Unit(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Small seeded PRNG (mulberry32): the same seed gives the same sequence on every platform and thread count. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + MULBERRY32_STEP) >>> 0;
    return mulberry32Unit(a);
  };
}
