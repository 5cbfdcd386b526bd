/**
 * The image model: plain data in physical space.
 *
 * Conventions, stated once for the whole code base:
 * - Physical space is ITK's LPS (x grows to the patient's Left, y to Posterior, z to Superior), in millimetres.
 *   NIfTI/Slicer RAS coordinates are converted at the I/O edge by negating x and y.
 * - Every matrix is stored as a flat array in ROW-MAJOR order: element (r, c) of a d×d matrix is m[r * d + c].
 *   The direction matrix's COLUMN c is the physical unit vector of image axis c (as in ITK).
 * - Pixels are stored with the first axis (x, column) fastest: linear index = i + size[0] * (j + size[1] * k).
 *   Vector pixels interleave their components: data[linear * components + c].
 * - physical point p = origin + direction · diag(spacing) · index.
 */

export type PixelType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

export type PixelArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

export type Dimension = 2 | 3;

export interface Image<T extends PixelArray = PixelArray> {
  dimension: Dimension;
  /** Number of pixels along each axis (length d). */
  size: number[];
  /** Pixel spacing in mm along each axis (length d), all > 0. */
  spacing: number[];
  /** Physical position (LPS mm) of the centre of pixel (0,0[,0]). */
  origin: number[];
  /** d×d row-major; column c is the unit direction of axis c. */
  direction: number[];
  /** Components per pixel (1 for scalar images). */
  components: number;
  data: T;
  /** What a NIfTI file said about its space and meaning (kept so that outputs on this grid say the same). */
  header?: ImageHeaderCodes;
}

/** NIfTI qform/sform codes (1 scanner, 2 aligned, 3 Talairach, 4 MNI, 5 template) and the intent code. */
export interface ImageHeaderCodes {
  qformCode: number;
  sformCode: number;
  intentCode: number;
}

/** The geometry of a grid (an Image is one). */
export interface GridLike {
  dimension: Dimension;
  size: number[];
  spacing: number[];
  origin: number[];
  direction: number[];
  /** NIfTI space codes and intent of the grid's image: outputs on this grid keep them. */
  header?: ImageHeaderCodes;
}

/** The geometry of a grid, read only (an Image or a GridLike is one). */
export interface GridGeometry {
  dimension: 2 | 3;
  size: readonly number[];
  spacing: readonly number[];
  origin: readonly number[];
  /** d×d row-major; column c is the unit direction of axis c. */
  direction: readonly number[];
}

/** A copy of an image's geometry. */
export function gridOf(g: GridLike): GridLike {
  return { dimension: g.dimension, size: g.size.slice(), spacing: g.spacing.slice(), origin: g.origin.slice(), direction: g.direction.slice() };
}


export const PIXEL_TYPES: readonly PixelType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'float64'];

/** Largest number of pixel values (pixels × components) coreg will allocate for one image: 2^31 − 1 elements. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function pixelTypeOf(data: PixelArray): PixelType {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  throw new Error('unsupported pixel array type');
}

export function bytesPerElement(type: PixelType): number {
  switch (type) {
    case 'uint8':
    case 'int8':
      return 1;
    case 'uint16':
    case 'int16':
      return 2;
    case 'uint32':
    case 'int32':
    case 'float32':
      return 4;
    case 'float64':
      return 8;
  }
}

export function allocatePixels(type: PixelType, length: number): PixelArray {
  if (!Number.isInteger(length) || length < 0 || length > MAX_ELEMENTS) {
    throw new RangeError(`image of ${length} elements exceeds the limit of ${MAX_ELEMENTS}`);
  }
  switch (type) {
    case 'uint8':
      return new Uint8Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'uint16':
      return new Uint16Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'uint32':
      return new Uint32Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
  }
}

/** A view of `buffer` as pixels of `type` (no copy; byteOffset must be aligned). */
export function pixelView(type: PixelType, buffer: ArrayBufferLike, byteOffset: number, length: number): PixelArray {
  switch (type) {
    case 'uint8':
      return new Uint8Array(buffer, byteOffset, length);
    case 'int8':
      return new Int8Array(buffer, byteOffset, length);
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, length);
    case 'int16':
      return new Int16Array(buffer, byteOffset, length);
    case 'uint32':
      return new Uint32Array(buffer, byteOffset, length);
    case 'int32':
      return new Int32Array(buffer, byteOffset, length);
    case 'float32':
      return new Float32Array(buffer, byteOffset, length);
    case 'float64':
      return new Float64Array(buffer, byteOffset, length);
  }
}

export function identityMatrix(d: number): number[] {
  const m = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

export function numberOfPixels(image: { size: readonly number[] }): number {
  let n = 1;
  for (const s of image.size) n *= s;
  return n;
}

export interface GeometryInit {
  spacing?: number[];
  origin?: number[];
  direction?: number[];
  components?: number;
}

/** A new zero-filled image of the given size and pixel type. */
export function createImage(size: number[], type: PixelType = 'float32', init: GeometryInit = {}): Image {
  const d = size.length;
  if (d !== 2 && d !== 3) throw new RangeError(`dimension must be 2 or 3, got ${d}`);
  const components = init.components ?? 1;
  const img: Image = {
    dimension: d,
    size: size.slice(),
    spacing: init.spacing ? init.spacing.slice() : new Array<number>(d).fill(1),
    origin: init.origin ? init.origin.slice() : new Array<number>(d).fill(0),
    direction: init.direction ? init.direction.slice() : identityMatrix(d),
    components,
    data: allocatePixels(type, numberOfPixels({ size }) * components),
  };
  validateImage(img);
  return img;
}

/** A new image on the same grid as `like` (geometry copied), with fresh pixels. */
export function createImageLike(like: Image, type: PixelType = pixelTypeOf(like.data), components = like.components): Image {
  return createImage(like.size, type, { spacing: like.spacing, origin: like.origin, direction: like.direction, components });
}

/** Throws a descriptive Error when the image's fields are inconsistent. */
export function validateImage(img: Image): void {
  const d = img.dimension;
  if (d !== 2 && d !== 3) throw new Error(`dimension must be 2 or 3, got ${d}`);
  if (img.size.length !== d || img.spacing.length !== d || img.origin.length !== d || img.direction.length !== d * d) {
    throw new Error('size, spacing, origin and direction must match the dimension');
  }
  for (const s of img.size) if (!Number.isInteger(s) || s <= 0) throw new Error(`size must be positive integers, got [${img.size}]`);
  for (const s of img.spacing) if (!Number.isFinite(s) || s <= 0) throw new Error(`spacing must be finite and > 0, got [${img.spacing}]`);
  for (const o of img.origin) if (!Number.isFinite(o)) throw new Error(`origin must be finite, got [${img.origin}]`);
  for (const v of img.direction) if (!Number.isFinite(v)) throw new Error('direction must be finite');
  if (!Number.isInteger(img.components) || img.components < 1) throw new Error(`components must be ≥ 1, got ${img.components}`);
  if (img.data.length !== numberOfPixels(img) * img.components) {
    throw new Error(`pixel data has ${img.data.length} elements, expected ${numberOfPixels(img) * img.components}`);
  }
}

/**
 * Index → physical as an affine map p = M·i + origin, with M = direction · diag(spacing) (row-major d×d).
 */
export function indexToPhysicalMatrix(img: Pick<Image, 'dimension' | 'spacing' | 'direction'>): Float64Array {
  const d = img.dimension;
  const m = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) m[r * d + c] = img.direction[r * d + c] * img.spacing[c];
  return m;
}

/**
 * Physical → continuous index as an affine map i = N·(p − origin), with N = diag(1/spacing) · direction⁻¹.
 */
export function physicalToIndexMatrix(img: Pick<Image, 'dimension' | 'spacing' | 'direction'>): Float64Array {
  const d = img.dimension;
  const inv = invertMatrix(Float64Array.from(img.direction), d);
  const n = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) n[r * d + c] = inv[r * d + c] / img.spacing[r];
  return n;
}

/** Physical point (LPS mm) of a (continuous) index. */
export function indexToPhysical(img: Image, index: ArrayLike<number>, out: number[] | Float64Array = new Array<number>(img.dimension)): number[] | Float64Array {
  const d = img.dimension;
  for (let r = 0; r < d; r++) {
    let s = img.origin[r];
    for (let c = 0; c < d; c++) s += img.direction[r * d + c] * img.spacing[c] * index[c];
    out[r] = s;
  }
  return out;
}

/** Continuous index of a physical point (LPS mm). */
export function physicalToIndex(img: Image, point: ArrayLike<number>, out: number[] | Float64Array = new Array<number>(img.dimension)): number[] | Float64Array {
  const d = img.dimension;
  const n = physicalToIndexMatrix(img);
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += n[r * d + c] * (point[c] - img.origin[c]);
    out[r] = s;
  }
  return out;
}

/** Axis-aligned physical bounding box of the pixel-centre grid (corner pixel centres). */
export function physicalBoundingBox(img: Image, pixelEdges = false): { min: number[]; max: number[] } {
  const d = img.dimension;
  const min = new Array<number>(d).fill(Infinity);
  const max = new Array<number>(d).fill(-Infinity);
  const idx = new Array<number>(d);
  const p = new Array<number>(d);
  const lo = pixelEdges ? -0.5 : 0;
  for (let corner = 0; corner < 1 << d; corner++) {
    for (let a = 0; a < d; a++) idx[a] = corner & (1 << a) ? img.size[a] - 1 - lo : lo;
    indexToPhysical(img, idx, p);
    for (let a = 0; a < d; a++) {
      if (p[a] < min[a]) min[a] = p[a];
      if (p[a] > max[a]) max[a] = p[a];
    }
  }
  return { min, max };
}

/** Physical centre of the pixel-centre grid (ITK's geometric centre). */
export function physicalCenter(img: Image): number[] {
  const idx = img.size.map((s) => (s - 1) / 2);
  return indexToPhysical(img, idx) as number[];
}

/** True when both images have the same size and (within `tolerance`, relative to spacing) geometry. */
export function sameGrid(a: Image, b: Image, tolerance = 1e-6): boolean {
  if (a.dimension !== b.dimension) return false;
  const d = a.dimension;
  for (let i = 0; i < d; i++) {
    if (a.size[i] !== b.size[i]) return false;
    if (Math.abs(a.spacing[i] - b.spacing[i]) > tolerance * a.spacing[i]) return false;
    if (Math.abs(a.origin[i] - b.origin[i]) > tolerance * a.spacing[i]) return false;
  }
  for (let i = 0; i < d * d; i++) if (Math.abs(a.direction[i] - b.direction[i]) > tolerance) return false;
  return true;
}

/** A float32 (or float64) copy of a scalar image's pixels; the geometry arrays are copied too. */
export function toFloat(img: Image, type: 'float32' | 'float64' = 'float32'): Image<Float32Array | Float64Array> {
  const data = type === 'float32' ? Float32Array.from(img.data as ArrayLike<number>) : Float64Array.from(img.data as ArrayLike<number>);
  return { ...img, size: img.size.slice(), spacing: img.spacing.slice(), origin: img.origin.slice(), direction: img.direction.slice(), data };
}

/** Min and max over finite pixel values (null when there are none). */
export function finiteRange(data: ArrayLike<number>): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? null : { min, max };
}

// --- small dense linear algebra used by the geometry (row-major) ---------------------------------

/** Inverse of a d×d row-major matrix by Gauss–Jordan with partial pivoting; throws when singular. */
export function invertMatrix(m: ArrayLike<number>, d: number): Float64Array {
  const a = Float64Array.from(m as ArrayLike<number>);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let piv = col;
    let best = Math.abs(a[col * d + col]);
    for (let r = col + 1; r < d; r++) {
      const v = Math.abs(a[r * d + col]);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (!(best > 1e-300)) throw new Error('matrix is singular');
    if (piv !== col) {
      for (let c = 0; c < d; c++) {
        let t = a[col * d + c];
        a[col * d + c] = a[piv * d + c];
        a[piv * d + c] = t;
        t = inv[col * d + c];
        inv[col * d + c] = inv[piv * d + c];
        inv[piv * d + c] = t;
      }
    }
    const p = a[col * d + col];
    for (let c = 0; c < d; c++) {
      a[col * d + c] /= p;
      inv[col * d + c] /= p;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = a[r * d + col];
      if (f === 0) continue;
      for (let c = 0; c < d; c++) {
        a[r * d + c] -= f * a[col * d + c];
        inv[r * d + c] -= f * inv[col * d + c];
      }
    }
  }
  return inv;
}
