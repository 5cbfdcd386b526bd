import type { LinearTransform } from '../transform/transform.js';

/** x ↦ x: the "before registration" mapping (the images overlaid in physical space). */
export class IdentityMappingTransform implements LinearTransform {
  readonly kind = 'identity';
  readonly dimension: 2 | 3;
  constructor(dimension: 2 | 3) {
    this.dimension = dimension;
  }
  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    for (let a = 0; a < this.dimension; a++) out[a] = p[a];
  }
  matrix(): Float64Array {
    const d = this.dimension;
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) m[i * d + i] = 1;
    return m;
  }
  offset(): Float64Array {
    return new Float64Array(this.dimension);
  }
}
