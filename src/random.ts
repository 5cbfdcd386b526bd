// Beside errors.ts at the bottom of the layer order: registration's samplers and the features' RANSAC share it.
/** Small seeded PRNG (mulberry32): the same seed gives the same sequence on every platform and thread count. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
