// Linear maps x' = A·x + b (A row-major d×d) and target registration error over a fixed image's foreground.
import type { Image } from '../../src/image/image.js';
import type { Transform } from '../../src/transform/transform.js';

export interface Affine {
  dimension: 2 | 3;
  /** d×d, row-major. */
  A: number[];
  b: number[];
}

export interface Tre {
  mean: number;
  max: number;
  points: number;
}

/** An affine from a nested [[row], …] matrix and an offset (the JSON form of the ground-truth files). */
export function affineFromRows(rows: number[][], b: number[]): Affine {
  const d = rows.length;
  if ((d !== 2 && d !== 3) || b.length !== d || rows.some((r) => r.length !== d)) throw new Error(`not a ${d}×${d} affine`);
  return { dimension: d, A: rows.flat(), b: b.slice() };
}

export function translationAffine(t: number[]): Affine {
  const d = t.length as 2 | 3;
  const A = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) A[i * d + i] = 1;
  return { dimension: d, A, b: t.slice() };
}

/** Physical positions (LPS mm, interleaved x,y[,z]) of the pixels whose value is above `threshold`. */
export function foregroundPoints(img: Image, threshold: number): Float64Array {
  const d = img.dimension;
  const [nx, ny] = img.size;
  const nz = d === 3 ? img.size[2] : 1;
  const data = img.data;
  const c = img.components;
  let count = 0;
  for (let i = 0; i < data.length; i += c) if (data[i] > threshold) count++;
  // M = D·diag(spacing): p = origin + M·index.
  const m = new Float64Array(9);
  for (let r = 0; r < d; r++) for (let k = 0; k < d; k++) m[r * 3 + k] = img.direction[r * d + k] * img.spacing[k];
  const o = [img.origin[0], img.origin[1], d === 3 ? img.origin[2] : 0];
  const out = new Float64Array(count * d);
  let at = 0;
  let lin = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, lin++) {
        if (!(data[lin * c] > threshold)) continue;
        for (let r = 0; r < d; r++) out[at + r] = o[r] + m[r * 3] * i + m[r * 3 + 1] * j + m[r * 3 + 2] * k;
        at += d;
      }
    }
  }
  return out;
}

/** Mean and max of |est(x) − gt(x)| over the points; `est` is any transform (linear ones are evaluated as A·x + b). */
export function targetRegistrationError(points: Float64Array, est: Affine | Transform, gt: Affine): Tre {
  const d = gt.dimension;
  const n = points.length / d;
  if (n === 0) throw new Error('no foreground points to measure the error on');
  const estAffine = 'A' in est ? est : undefined;
  if (!estAffine && est.dimension !== d) throw new Error(`a ${est.dimension}D transform cannot be scored against a ${d}D ground truth`);
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < d; r++) p[r] = points[i * d + r];
    if (estAffine) {
      for (let r = 0; r < d; r++) {
        let s = estAffine.b[r];
        for (let k = 0; k < d; k++) s += estAffine.A[r * d + k] * p[k];
        q[r] = s;
      }
    } else {
      (est as Transform).transformPoint(p, q);
    }
    let e2 = 0;
    for (let r = 0; r < d; r++) {
      let g = gt.b[r];
      for (let k = 0; k < d; k++) g += gt.A[r * d + k] * p[k];
      e2 += (q[r] - g) ** 2;
    }
    const e = Math.sqrt(e2);
    sum += e;
    if (e > max) max = e;
  }
  return { mean: sum / n, max, points: n };
}
