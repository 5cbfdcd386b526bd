/**
 * Transform initialisers in the manner of ITK's CenteredTransformInitializer: centre the transform on the fixed
 * image and translate it onto the moving image (geometric centres or centres of mass), optionally rotating the
 * fixed image's principal axes onto the moving image's.
 */
import { CoregError, type WarningSink } from '../errors.js';
import { type Image, indexToPhysicalMatrix, physicalCenter, physicalToIndexMatrix, sameGrid } from '../image/image.js';
import { otsuLevels } from '../image/intensity.js';
import { determinant, identity, matMul, symmetricEigen, transpose } from '../image/linalg.js';
import { MatrixOffsetTransform, TranslationTransform } from './linear.js';
import type { ParametricTransform } from './transform.js';

export type InitializerMode = 'geometry' | 'moments' | 'principal-axes';

/** Physical centre (LPS mm) of the pixel-centre grid: ITK's GEOMETRY centre. */
export function geometricCenter(img: Image): number[] {
  return physicalCenter(img);
}

interface IndexMoments {
  mass: number;
  /** Mean continuous index (length d). */
  mean: Float64Array;
  /** Weighted index-space covariance (d×d row-major). */
  covariance: Float64Array;
}

/**
 * How much a pixel of value v counts as foreground: 0 at (and below) the background level, 1 at (and above) the
 * foreground level, linear between (partial volumes count partly; CT's bone or PET's hot spots no more than
 * tissue). Levels (−∞, −∞): every pixel counts 1 (a mask is the foreground).
 */
export interface ForegroundWeighting {
  background: number;
  foreground: number;
}

/**
 * First and second moments in index space (exact; the physical ones follow by the affine index → physical map).
 * Intensity-weighted, or with `fg` given, weighted by how much each pixel is foreground. Non-finite pixels are
 * skipped; with a mask, only pixels whose nearest mask pixel is non-zero count (the mask may be on another grid).
 */
function indexMoments(img: Image, mask: Image | undefined, subject: string, fg?: ForegroundWeighting): IndexMoments {
  const d = img.dimension;
  if (img.components !== 1) throw new CoregError(subject, `moments need a scalar image, got ${img.components} components`);
  if (mask && mask.dimension !== d) throw new CoregError(subject, `mask is ${mask.dimension}D but the image is ${d}D`);
  if (mask && mask.components !== 1) throw new CoregError(subject, 'mask must be a scalar image');
  const nx = img.size[0];
  const ny = img.size[1];
  const nz = d === 3 ? img.size[2] : 1;
  // Centred indices keep the second-moment sums well conditioned.
  const hx = (nx - 1) / 2;
  const hy = (ny - 1) / 2;
  const hz = (nz - 1) / 2;
  const data = img.data;
  const maskData = mask ? mask.data : undefined;
  const fgScale = fg && fg.foreground > fg.background ? 1 / (fg.foreground - fg.background) : 0;
  const direct = mask !== undefined && sameGrid(img, mask);
  // image index → mask continuous index, padded to 3D: q = Q·i + q0.
  const Q = new Float64Array(9);
  const q0 = new Float64Array(3);
  const msize = [1, 1, 1];
  if (mask && !direct) {
    const m = indexToPhysicalMatrix(img);
    const n = physicalToIndexMatrix(mask);
    const nm = matMul(n, m, d, d, d);
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) Q[r * 3 + c] = nm[r * d + c];
      let s = 0;
      for (let c = 0; c < d; c++) s += n[r * d + c] * (img.origin[c] - mask.origin[c]);
      q0[r] = s;
      msize[r] = mask.size[r];
    }
  }
  const mnx = msize[0];
  const mny = msize[1];
  let w = 0;
  let sx = 0, sy = 0, sz = 0;
  let sxx = 0, syy = 0, szz = 0, sxy = 0, sxz = 0, syz = 0;
  let n = 0;
  for (let k = 0; k < nz; k++) {
    const z = k - hz;
    for (let j = 0; j < ny; j++) {
      const y = j - hy;
      for (let i = 0; i < nx; i++, n++) {
        const value = data[n];
        if (!Number.isFinite(value)) continue;
        const v = fg === undefined ? value : fg.background === -Infinity ? 1 : Math.min(1, Math.max(0, (value - fg.background) * fgScale));
        if (v === 0) continue;
        if (maskData) {
          if (direct) {
            if (maskData[n] === 0) continue;
          } else {
            const mi = Math.round(Q[0] * i + Q[1] * j + Q[2] * k + q0[0]);
            const mj = Math.round(Q[3] * i + Q[4] * j + Q[5] * k + q0[1]);
            const mk = Math.round(Q[6] * i + Q[7] * j + Q[8] * k + q0[2]);
            if (mi < 0 || mj < 0 || mk < 0 || mi >= mnx || mj >= mny || mk >= msize[2]) continue;
            if (maskData[mi + mnx * (mj + mny * mk)] === 0) continue;
          }
        }
        const x = i - hx;
        w += v;
        sx += v * x;
        sy += v * y;
        sz += v * z;
        sxx += v * x * x;
        syy += v * y * y;
        szz += v * z * z;
        sxy += v * x * y;
        sxz += v * x * z;
        syz += v * y * z;
      }
    }
  }
  if (!(w > 0)) {
    throw new CoregError(
      subject,
      fg === undefined ? 'total intensity (inside the mask) is not positive; cannot compute a centre of mass' : 'no foreground pixel (inside the mask); cannot compute a centre of mass',
    );
  }
  const mx = sx / w;
  const my = sy / w;
  const mz = sz / w;
  const c3 = [
    sxx / w - mx * mx, sxy / w - mx * my, sxz / w - mx * mz,
    sxy / w - mx * my, syy / w - my * my, syz / w - my * mz,
    sxz / w - mx * mz, syz / w - my * mz, szz / w - mz * mz,
  ];
  const mean3 = [mx + hx, my + hy, mz + hz];
  const mean = new Float64Array(d);
  const covariance = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    mean[r] = mean3[r];
    for (let c = 0; c < d; c++) covariance[r * d + c] = c3[r * 3 + c];
  }
  return { mass: w, mean, covariance };
}

function physicalMean(img: Image, meanIndex: Float64Array): number[] {
  const d = img.dimension;
  const m = indexToPhysicalMatrix(img);
  const p = new Array<number>(d);
  for (let r = 0; r < d; r++) {
    let s = img.origin[r];
    for (let c = 0; c < d; c++) s += m[r * d + c] * meanIndex[c];
    p[r] = s;
  }
  return p;
}

/** Intensity-weighted centre of mass (LPS mm), optionally restricted to mask ≠ 0. */
export function centerOfMass(img: Image, mask?: Image, subject = 'image'): number[] {
  return physicalMean(img, indexMoments(img, mask, subject).mean);
}

/**
 * The foreground weighting of an image: with a mask, every finite pixel inside it counts 1; without, Otsu's
 * split of the image into background (CT's air, MR's and PET's empty space) and object, weights rising linearly
 * from the background's mean to the object's mean, whatever the intensity range. Null when the image does not
 * split into background and object.
 */
export function foregroundWeighting(img: Image, mask?: Image): ForegroundWeighting | null {
  if (mask) return { background: -Infinity, foreground: -Infinity };
  const levels = otsuLevels(img.data);
  return levels && levels.foreground > levels.background ? { background: levels.background, foreground: levels.foreground } : null;
}

function foregroundOrThrow(img: Image, mask: Image | undefined, subject: string): ForegroundWeighting {
  const fg = foregroundWeighting(img, mask);
  if (fg === null) throw new CoregError(subject, 'no foreground found (the image does not split into background and object)');
  return fg;
}

/**
 * Centre (LPS mm) of the foreground (see foregroundWeighting): neither negative values (CT) nor a few very bright
 * pixels (PET) move it. Throws CoregError when there is no foreground.
 */
export function foregroundCenter(img: Image, mask?: Image, subject = 'image'): number[] {
  const fg = foregroundOrThrow(img, mask, subject);
  if (!mask && img.components === 1 && fg.foreground > fg.background && fg.background > -Infinity) {
    // the mean index of indexMoments(img, undefined, subject, fg) (the same sums in the same order: the same
    // numbers) by foregroundSums3d over the whole image as one block: background pixels (and NaN, ±∞) skipped by one
    // comparison, no second moments, no mask. A 181×217×181 head: ~25 ms instead of ~65 ms per image; a 2D slice
    // allocates no per-pixel numbers either (indexMoments's loop, cold, boxed ~24 MB of them for a 256×256 slice).
    const sums = new Float64Array(4);
    foregroundSums3d(img.data, volumeSize(img), fg.background, 1 / (fg.foreground - fg.background), 0, img.data.length, sums, 0);
    return foregroundCenterFromSums(img, sums, 1, subject);
  }
  return physicalMean(img, indexMoments(img, mask, subject, fg).mean);
}

/** An image's size as a volume's: a 2D image is one slice, [nx, ny, 1] (foregroundSums3d's sums of a 2D image). */
export function volumeSize(img: Image): number[] {
  return img.dimension === 3 ? img.size.slice() : [img.size[0], img.size[1], 1];
}

/**
 * foregroundCenter's sums over the voxels [start, end) of a 3D image of `size` (weights min(1, max(0, (value −
 * background)·scale)), written to out[o…o+3]: Σw, Σw·x, Σw·y, Σw·z over centred indices. Blocks of voxels summed
 * apart and merged in block order by foregroundCenterFromSums give the same centre for any thread count.
 */
export function foregroundSums3d(data: ArrayLike<number>, size: readonly number[], background: number, scale: number, start: number, end: number, out: Float64Array, o: number): void {
  const nx = size[0];
  const ny = size[1];
  const nz = size[2];
  const hx = (nx - 1) / 2;
  const hy = (ny - 1) / 2;
  const hz = (nz - 1) / 2;
  let w = 0;
  let sx = 0;
  let sy = 0;
  let sz = 0;
  let i = start % nx;
  let j = Math.floor(start / nx) % ny;
  let k = Math.floor(start / (nx * ny));
  let y = j - hy;
  let z = k - hz;
  for (let n = start; n < end; n++) {
    const value = data[n];
    // weight min(1, max(0, (value − background)·scale)): 0 (and NaN) counts nothing, nor does +∞ (not finite: ∞ − ∞ is NaN)
    if (value > background && value - value === 0) {
      let v = (value - background) * scale;
      if (v > 1) v = 1;
      if (v !== 0) {
        w += v;
        sx += v * (i - hx);
        sy += v * y;
        sz += v * z;
      }
    }
    if (++i === nx) {
      i = 0;
      if (++j === ny) {
        j = 0;
        k++;
        z = k - hz;
      }
      y = j - hy;
    }
  }
  out[o] = w;
  out[o + 1] = sx;
  out[o + 2] = sy;
  out[o + 3] = sz;
}

/**
 * The foreground centre (LPS mm) from `blocks` blocks of foregroundSums3d (4 numbers each) over img.data with
 * volumeSize(img), merged in order.
 */
export function foregroundCenterFromSums(img: Image, sums: Float64Array, blocks: number, subject: string): number[] {
  let w = 0;
  let sx = 0;
  let sy = 0;
  let sz = 0;
  for (let b = 0; b < blocks; b++) {
    w += sums[4 * b];
    sx += sums[4 * b + 1];
    sy += sums[4 * b + 2];
    sz += sums[4 * b + 3];
  }
  if (!(w > 0)) throw new CoregError(subject, 'no foreground pixel (inside the mask); cannot compute a centre of mass');
  const [nx, ny, nz] = volumeSize(img);
  return physicalMean(img, Float64Array.from([sx / w + (nx - 1) / 2, sy / w + (ny - 1) / 2, sz / w + (nz - 1) / 2]));
}

export interface PrincipalAxes {
  /** Centre of mass (LPS mm). */
  center: number[];
  /** d×d row-major; column i is the unit axis of moments[i]; right-handed (det +1). */
  axes: Float64Array;
  /** Intensity-weighted variances (mm²) along the axes, in DESCENDING order (major axis first). */
  moments: number[];
}

/**
 * Centre of mass and principal axes of the intensity distribution (physical space), optionally within a mask;
 * with `foreground`, of the foreground's shape (pixels above `foregroundThreshold`, each weighing 1).
 */
export function principalAxes(img: Image, mask?: Image, subject = 'image', foreground = false): PrincipalAxes {
  const d = img.dimension;
  const mom = indexMoments(img, mask, subject, foreground ? foregroundOrThrow(img, mask, subject) : undefined);
  const m = indexToPhysicalMatrix(img);
  const cov = matMul(matMul(m, mom.covariance, d, d, d), transpose(m, d), d, d, d);
  const { values, vectors } = symmetricEigen(cov, d);
  // Deterministic signs: each axis points towards its largest positive component; then make it right-handed.
  for (let c = 0; c < d; c++) {
    let best = 0;
    for (let r = 1; r < d; r++) if (Math.abs(vectors[r * d + c]) > Math.abs(vectors[best * d + c])) best = r;
    if (vectors[best * d + c] < 0) for (let r = 0; r < d; r++) vectors[r * d + c] = -vectors[r * d + c];
  }
  if (determinant(vectors, d) < 0) for (let r = 0; r < d; r++) vectors[r * d + d - 1] = -vectors[r * d + d - 1];
  return { center: physicalMean(img, mom.mean), axes: vectors, moments: Array.from(values) };
}

function permutations(d: number): number[][] {
  if (d === 2) return [[0, 1], [1, 0]];
  return [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
}

/**
 * The rotation R (det +1) taking the fixed axes onto the moving axes, R·f_i = ±m_π(i). Axes are paired by
 * sorted moments; π may only swap axes whose moving moments agree within 5 % (there the order is arbitrary).
 * Among the admissible signs and permutations the smallest rotation (largest trace) wins.
 */
export function rotationBetweenAxes(fixed: PrincipalAxes, moving: PrincipalAxes): Float64Array {
  const d = fixed.center.length;
  const mm = moving.moments;
  let best: Float64Array | undefined;
  let bestTrace = -Infinity;
  const ft = transpose(fixed.axes, d);
  for (const perm of permutations(d)) {
    let admissible = true;
    for (let i = 0; i < d; i++) {
      const a = mm[perm[i]];
      const b = mm[i];
      if (perm[i] !== i && Math.abs(a - b) > 0.05 * Math.max(Math.abs(a), Math.abs(b))) admissible = false;
    }
    if (!admissible) continue;
    for (let signs = 0; signs < 1 << d; signs++) {
      const em = new Float64Array(d * d);
      for (let i = 0; i < d; i++) {
        const s = signs & (1 << i) ? -1 : 1;
        for (let r = 0; r < d; r++) em[r * d + i] = s * moving.axes[r * d + perm[i]];
      }
      const r = matMul(em, ft, d, d, d);
      if (determinant(r, d) <= 0) continue;
      let tr = 0;
      for (let i = 0; i < d; i++) tr += r[i * d + i];
      if (tr > bestTrace + 1e-12) {
        bestTrace = tr;
        best = r;
      }
    }
  }
  return best ?? identity(d);
}

export interface InitializerMasks {
  fixed?: Image;
  moving?: Image;
}

export interface InitializerOptions {
  /**
   * 'foreground' (default): 'moments' and 'principal-axes' weigh each pixel by how much it is foreground
   * (foregroundWeighting: Otsu's background → object means, or the mask), so any intensity range works (CT in
   * HU, PET, MR); 'intensity': ITK's intensity-weighted moments.
   */
  weighting?: 'foreground' | 'intensity';
  /** Told when the moments are meaningless and the geometric centres are used instead. */
  warn?: WarningSink;
  /** 'moments' with foreground weighting: centres already computed (register's statistics pass), used as they are. */
  centers?: { fixed?: number[]; moving?: number[] };
}

/**
 * Sets a linear transform's centre to the fixed image's centre c_f and its translation to c_m − c_f (so that
 * T(c_f) = c_m, fixed → moving). 'geometry' uses geometric centres, 'moments' centres of mass, 'principal-axes'
 * centres of mass plus the rotation of the fixed principal axes onto the moving ones (ignored by translations).
 * Any rotation/scale already in the transform is reset.
 */
export function initializeCenteredTransform(
  t: ParametricTransform,
  fixed: Image,
  moving: Image,
  mode: InitializerMode,
  masks: InitializerMasks = {},
  options: InitializerOptions = {},
): void {
  if (!(t instanceof MatrixOffsetTransform)) throw new CoregError('transform', `cannot centre-initialise a "${t.kind}" transform`);
  if (fixed.dimension !== t.dimension || moving.dimension !== t.dimension) {
    throw new CoregError('transform', `a ${t.dimension}D transform cannot relate ${fixed.dimension}D and ${moving.dimension}D images`);
  }
  const d = t.dimension;
  let fc: number[];
  let mc: number[];
  let rotation = identity(d);
  if (mode === 'geometry') {
    fc = geometricCenter(fixed);
    mc = geometricCenter(moving);
  } else if (mode === 'moments' || mode === 'principal-axes') {
    const foreground = (options.weighting ?? 'foreground') === 'foreground';
    try {
      if (mode === 'moments') {
        fc = foreground ? (options.centers?.fixed ?? foregroundCenter(fixed, masks.fixed, 'fixed image')) : centerOfMass(fixed, masks.fixed, 'fixed image');
        mc = foreground ? (options.centers?.moving ?? foregroundCenter(moving, masks.moving, 'moving image')) : centerOfMass(moving, masks.moving, 'moving image');
      } else {
        const fa = principalAxes(fixed, masks.fixed, 'fixed image', foreground);
        const ma = principalAxes(moving, masks.moving, 'moving image', foreground);
        fc = fa.center;
        mc = ma.center;
        rotation = rotationBetweenAxes(fa, ma);
      }
    } catch (e) {
      if (!(e instanceof CoregError) || !options.warn) throw e;
      // Moments that mean nothing (no foreground): the geometric centres are the honest guess.
      options.warn(`${e.subject}: ${e.message}; initialised at the geometric centres instead (--initializer geometry)`);
      fc = geometricCenter(fixed);
      mc = geometricCenter(moving);
      rotation = identity(d);
    }
  } else {
    throw new CoregError('initializer', `unknown initialisation mode "${String(mode)}"`);
  }
  t.setCenter(fc);
  if (!(t instanceof TranslationTransform)) t.setMatrix(rotation);
  const shift = new Float64Array(d);
  for (let i = 0; i < d; i++) shift[i] = mc[i] - fc[i];
  t.setTranslation(shift);
}
