/**
 * Small dense linear algebra for transforms (row-major d×d, d small): products, determinants, symmetric
 * eigen-decomposition (cyclic Jacobi), SVD (one-sided Jacobi), polar decomposition and the nearest rotation
 * (Kabsch/Umeyama style). Accuracy matters more than speed here: these run once per transform, not per pixel.
 */

/** (n×m)·(m×p) → n×p, all row-major. */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, m: number, p: number): Float64Array {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += a[i * m + k] * b[k * p + j];
      out[i * p + j] = s;
    }
  }
  return out;
}

/** Transpose of an r×c row-major matrix (c×r). */
export function transpose(a: ArrayLike<number>, r: number, c: number = r): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

export function identity(d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

/** Determinant of a d×d row-major matrix (closed forms for d ≤ 3, partial-pivot elimination otherwise). */
export function determinant(a: ArrayLike<number>, d: number): number {
  if (d === 1) return a[0];
  if (d === 2) return a[0] * a[3] - a[1] * a[2];
  if (d === 3) {
    return (
      a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
    );
  }
  const m = Float64Array.from(a);
  let det = 1;
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r * d + col]) > Math.abs(m[piv * d + col])) piv = r;
    if (m[piv * d + col] === 0) return 0;
    if (piv !== col) {
      for (let c = 0; c < d; c++) {
        const t = m[col * d + c];
        m[col * d + c] = m[piv * d + c];
        m[piv * d + c] = t;
      }
      det = -det;
    }
    const p = m[col * d + col];
    det *= p;
    for (let r = col + 1; r < d; r++) {
      const f = m[r * d + col] / p;
      for (let c = col; c < d; c++) m[r * d + c] -= f * m[col * d + c];
    }
  }
  return det;
}

/**
 * Eigen-decomposition of a symmetric d×d matrix by cyclic Jacobi rotations.
 * values are sorted in DESCENDING order; vectors is d×d row-major whose COLUMN i is the unit eigenvector of
 * values[i] (so A = V·diag(values)·Vᵀ).
 */
export function symmetricEigen(a: ArrayLike<number>, d: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  // Symmetrise so tiny asymmetries from round-off cannot stall convergence.
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) m[i * d + j] = m[j * d + i] = 0.5 * (m[i * d + j] + m[j * d + i]);
  const v = identity(d);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < d; i++) {
      diag += m[i * d + i] * m[i * d + i];
      for (let j = i + 1; j < d; j++) off += m[i * d + j] * m[i * d + j];
    }
    if (off <= 1e-32 * diag || off === 0) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (apq === 0) continue;
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J with J the Givens rotation in the (p, q) plane.
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p];
          const akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k];
          const aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => m[j * d + j] - m[i * d + i]);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    values[c] = m[order[c] * d + order[c]];
    for (let r = 0; r < d; r++) vectors[r * d + c] = v[r * d + order[c]];
  }
  return { values, vectors };
}

/**
 * Singular value decomposition A = U·diag(s)·Vᵀ of a d×d matrix by one-sided Jacobi (accurate for small
 * matrices, including rank-deficient ones). s is descending and ≥ 0; U and V are orthogonal (row-major,
 * columns are the singular vectors).
 */
export function svd(a: ArrayLike<number>, d: number): { u: Float64Array; s: Float64Array; v: Float64Array } {
  const w = Float64Array.from(a);
  const v = identity(d);
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let i = 0; i < d; i++) {
      for (let j = i + 1; j < d; j++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let k = 0; k < d; k++) {
          const wi = w[k * d + i];
          const wj = w[k * d + j];
          alpha += wi * wi;
          beta += wj * wj;
          gamma += wi * wj;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < d; k++) {
          const wi = w[k * d + i];
          const wj = w[k * d + j];
          w[k * d + i] = c * wi - s * wj;
          w[k * d + j] = s * wi + c * wj;
          const vi = v[k * d + i];
          const vj = v[k * d + j];
          v[k * d + i] = c * vi - s * vj;
          v[k * d + j] = s * vi + c * vj;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += w[k * d + c] * w[k * d + c];
    norms[c] = Math.sqrt(s);
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => norms[j] - norms[i]);
  const s = new Float64Array(d);
  const u = new Float64Array(d * d);
  const vs = new Float64Array(d * d);
  const tiny = (norms[order[0]] || 1) * 1e-14;
  const filled: boolean[] = [];
  for (let c = 0; c < d; c++) {
    const src = order[c];
    s[c] = norms[src];
    for (let k = 0; k < d; k++) vs[k * d + c] = v[k * d + src];
    filled[c] = s[c] > tiny;
    if (filled[c]) for (let k = 0; k < d; k++) u[k * d + c] = w[k * d + src] / s[c];
  }
  // Complete U's columns for (near-)zero singular values with Gram–Schmidt on the standard basis.
  for (let c = 0; c < d; c++) {
    if (filled[c]) continue;
    for (let e = 0; e < d; e++) {
      const cand = new Float64Array(d);
      cand[e] = 1;
      for (let o = 0; o < d; o++) {
        if (!filled[o]) continue;
        let dot = 0;
        for (let k = 0; k < d; k++) dot += cand[k] * u[k * d + o];
        for (let k = 0; k < d; k++) cand[k] -= dot * u[k * d + o];
      }
      let n = 0;
      for (let k = 0; k < d; k++) n += cand[k] * cand[k];
      n = Math.sqrt(n);
      if (n > 1e-6) {
        for (let k = 0; k < d; k++) u[k * d + c] = cand[k] / n;
        filled[c] = true;
        break;
      }
    }
  }
  return { u, s, v: vs };
}

/**
 * Polar decomposition A = Q·S with Q orthogonal (det ±1) and S symmetric positive semi-definite.
 * Q is the orthogonal matrix closest to A in the Frobenius norm.
 */
export function polarDecomposition(a: ArrayLike<number>, d: number): { orthogonal: Float64Array; stretch: Float64Array } {
  const { u, s, v } = svd(a, d);
  const orthogonal = matMul(u, transpose(v, d), d, d, d);
  const vs = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) vs[r * d + c] = v[r * d + c] * s[c];
  const stretch = matMul(vs, transpose(v, d), d, d, d);
  return { orthogonal, stretch };
}

/**
 * The proper rotation (det +1) closest to A in the Frobenius norm: U·diag(1,…,1,sign det(U·Vᵀ))·Vᵀ.
 * With A = Σ qᵢ·pᵢᵀ (moving × fixed cross-covariance) this is the Kabsch solution.
 */
export function nearestRotation(a: ArrayLike<number>, d: number): Float64Array {
  const { u, v } = svd(a, d);
  const r = matMul(u, transpose(v, d), d, d, d);
  if (determinant(r, d) < 0) {
    // Flip the singular direction of the smallest singular value (the last column).
    for (let k = 0; k < d; k++) u[k * d + d - 1] = -u[k * d + d - 1];
    return matMul(u, transpose(v, d), d, d, d);
  }
  return r;
}

/**
 * Inverse of a d×d matrix, or null when it is singular or so ill-conditioned that the inverse is meaningless
 * (relative pivot below 1e-14).
 */
export function invertMatrixOrNull(a: ArrayLike<number>, d: number): Float64Array | null {
  const m = Float64Array.from(a);
  const inv = identity(d);
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale = Math.max(scale, Math.abs(m[i]));
  if (!(scale > 0) || !Number.isFinite(scale)) return null;
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r * d + col]) > Math.abs(m[piv * d + col])) piv = r;
    if (!(Math.abs(m[piv * d + col]) > 1e-14 * scale)) return null;
    if (piv !== col) {
      for (let c = 0; c < d; c++) {
        let t = m[col * d + c];
        m[col * d + c] = m[piv * d + c];
        m[piv * d + c] = t;
        t = inv[col * d + c];
        inv[col * d + c] = inv[piv * d + c];
        inv[piv * d + c] = t;
      }
    }
    const p = m[col * d + col];
    for (let c = 0; c < d; c++) {
      m[col * d + c] /= p;
      inv[col * d + c] /= p;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = m[r * d + col];
      if (f === 0) continue;
      for (let c = 0; c < d; c++) {
        m[r * d + c] -= f * m[col * d + c];
        inv[r * d + c] -= f * inv[col * d + c];
      }
    }
  }
  return inv;
}
