/**
 * Transform chains as lists: T(x) = Tn(…T2(T1(x))) (the first element applies first), and their inverse for points.
 */
import { composeLinear, invertLinear } from './linear.js';
import { isLinear, type LinearTransform, type Transform } from './transform.js';

/** The dimension of a chain's transforms, or undefined for an empty chain. */
export function chainDimension(chain: readonly Transform[]): 2 | 3 | undefined {
  return chain.length ? chain[0].dimension : undefined;
}

/** True when every transform of the chain is linear (the chain is then one affine map). */
export function isLinearChain(chain: readonly Transform[]): chain is readonly LinearTransform[] {
  return chain.every(isLinear);
}

/** Something with an inverse for single points (a displacement field has one by iteration). */
interface PointInvertible {
  inverseTransformPoint(y: ArrayLike<number>, out: Float64Array | number[], tolerance?: number, maxIterations?: number): boolean;
}

function hasPointInverse(t: Transform): t is Transform & PointInvertible {
  return typeof (t as Partial<PointInvertible>).inverseTransformPoint === 'function';
}

export interface ChainInverseOptions {
  /** Stop when an iteration moves less than this (mm). Default 1e-6. */
  tolerance?: number;
  /** Default 100. */
  maxIterations?: number;
}

/**
 * Maps points through the inverse chain (moving → fixed): T⁻¹ = T1⁻¹(…Tn⁻¹(y)). Runs of linear transforms are
 * composed and inverted exactly; a displacement field (or any transform with inverseTransformPoint) is inverted
 * by its own iteration; other transforms by the fixed-point iteration x ← x + (y − T(x)). The returned function
 * writes the result into `out` and returns false when some iteration did not converge.
 */
export function createChainInverse(chain: readonly Transform[], opts: ChainInverseOptions = {}): (y: ArrayLike<number>, out: Float64Array) => boolean {
  const tolerance = opts.tolerance ?? 1e-6;
  const maxIterations = opts.maxIterations ?? 100;
  // Steps of the inverse, in the order they apply (the chain's last transform is undone first).
  const steps: ((x: Float64Array, out: Float64Array) => boolean)[] = [];
  let i = chain.length - 1;
  while (i >= 0) {
    if (isLinear(chain[i])) {
      let first = i;
      while (first - 1 >= 0 && isLinear(chain[first - 1])) first--;
      const inverse = invertLinear(composeLinear(chain.slice(first, i + 1) as LinearTransform[]));
      steps.push((x, out) => {
        inverse.transformPoint(x, out);
        return true;
      });
      i = first - 1;
      continue;
    }
    const t = chain[i];
    if (hasPointInverse(t)) {
      steps.push((x, out) => t.inverseTransformPoint(x, out, tolerance, maxIterations));
    } else {
      const tx = new Float64Array(t.dimension);
      steps.push((y, out) => iterateInverse(t, y, out, tx, tolerance, maxIterations));
    }
    i--;
  }
  const d = chain.length ? chain[0].dimension : 0;
  const a = new Float64Array(Math.max(d, 3));
  const b = new Float64Array(Math.max(d, 3));
  return (y, out) => {
    const n = out.length;
    let cur = a.subarray(0, n);
    let next = b.subarray(0, n);
    for (let c = 0; c < n; c++) cur[c] = y[c];
    let converged = true;
    for (const step of steps) {
      if (!step(cur, next)) converged = false;
      const tmp = cur;
      cur = next;
      next = tmp;
    }
    for (let c = 0; c < n; c++) out[c] = cur[c];
    return converged;
  };
}

/** x with T(x) = y by x ← x + (y − T(x)) from x = y; `tx` is scratch. */
function iterateInverse(t: Transform, y: Float64Array, out: Float64Array, tx: Float64Array, tolerance: number, maxIterations: number): boolean {
  const d = out.length;
  for (let c = 0; c < d; c++) out[c] = y[c];
  for (let it = 0; it < maxIterations; it++) {
    t.transformPoint(out, tx);
    let step2 = 0;
    for (let c = 0; c < d; c++) {
      const s = y[c] - tx[c];
      out[c] += s;
      step2 += s * s;
    }
    if (!Number.isFinite(step2)) return false;
    if (step2 <= tolerance * tolerance) return true;
  }
  return false;
}

/** Applies a chain first-first: out = Tn(…T1(p)). `scratch` (length ≥ d) avoids allocation per call. */
export function transformChainPoint(chain: readonly Transform[], p: ArrayLike<number>, out: Float64Array, scratch: Float64Array): void {
  const d = out.length;
  for (let c = 0; c < d; c++) out[c] = p[c];
  for (let s = 0; s < chain.length; s++) {
    chain[s].transformPoint(out, scratch);
    for (let c = 0; c < d; c++) out[c] = scratch[c];
  }
}
