/**
 * Transform chains as users hand them to coreg: a transform file (.tfm, or a displacement-field image) or a
 * `register` output folder (its result.json lists the chain's files, relative to the folder, in the order they
 * apply to a fixed point). Chains apply first-first: T(x) = Tn(…T2(T1(x))).
 *
 * File access goes through a small interface so that this module stays browser-safe; the command line passes a
 * Node implementation (see src/cli/commands/apply.ts).
 */
import { CoregError } from '../errors.js';
import { decodeImage, isImageFileName } from '../io/image-io.js';
import { DisplacementFieldTransform } from './displacement-field.js';
import { parseItkTransformFile } from './itk-tfm.js';
import { composeLinear, invertLinear } from './linear.js';
// For its side effect: registers the B-spline .tfm reader, so that chains may hold B-spline files.
import './bspline.js';
import { isLinear, type LinearTransform, type Transform } from './transform.js';

/** How chain loading reads files. Paths are whatever the caller uses (relative or absolute). */
export interface TransformFileAccess {
  /** The whole file (refused when larger than `maxBytes`); throws CoregError(path, …) when it cannot be read. */
  readBytes(path: string, maxBytes?: number): Uint8Array;
  isDirectory(path: string): boolean;
  /** `relative` resolved against the folder that holds `path` (absolute `relative` is returned as is). */
  sibling(path: string, relative: string): string;
}

const TFM_HEADER = '#Insight Transform File';

function lowerName(path: string): string {
  return path.toLowerCase();
}

/** Parses one transform file's bytes: an ITK text transform file or a displacement-field image. */
export function parseTransformFile(bytes: Uint8Array, path: string, files: TransformFileAccess): Transform[] {
  const name = lowerName(path);
  if (name.endsWith('.mat') || name.endsWith('.h5') || name.endsWith('.hdf5') || name.endsWith('.xfm')) {
    throw new CoregError(path, 'binary/HDF5/MINC transform files are not supported; save the transform as an ITK text .tfm file');
  }
  if (isImageFileName(path)) {
    const field = decodeImage(bytes, { name: path, readSibling: (rel: string, maxBytes?: number) => files.readBytes(files.sibling(path, rel), maxBytes) });
    return [new DisplacementFieldTransform(field, path)];
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  if (name.endsWith('.tfm') || name.endsWith('.txt') || text.replace(/^\uFEFF/, '').trimStart().startsWith(TFM_HEADER)) {
    return parseItkTransformFile(text, path);
  }
  throw new CoregError(path, 'not a transform file (expected an ITK .tfm file, a displacement-field image or a register output folder)');
}

/** The chain's file names from a register result.json (relative to its folder, first-applied first). */
export function parseResultTransformList(text: string, path: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CoregError(path, 'not valid JSON');
  }
  const list = (json as { transforms?: unknown } | null)?.transforms;
  if (!Array.isArray(list)) throw new CoregError(path, 'no "transforms" list (is this a coreg register output?)');
  for (const entry of list) {
    if (typeof entry !== 'string' || entry === '') throw new CoregError(path, '"transforms" must list file names');
  }
  return list as string[];
}

/** A transform file's chain, or a register output folder's whole chain. */
export function loadTransformChain(pathOrDir: string, files: TransformFileAccess): Transform[] {
  if (files.isDirectory(pathOrDir)) {
    const resultPath = `${pathOrDir.replace(/[\\/]+$/, '')}/result.json`;
    const names = parseResultTransformList(new TextDecoder('utf-8').decode(files.readBytes(resultPath)), resultPath);
    const chain: Transform[] = [];
    for (const n of names) {
      const p = files.sibling(resultPath, n);
      if (files.isDirectory(p)) throw new CoregError(resultPath, `"${n}" is a folder, not a transform file`);
      chain.push(...parseTransformFile(files.readBytes(p), p, files));
    }
    checkChainDimension(chain, pathOrDir);
    return chain;
  }
  const chain = parseTransformFile(files.readBytes(pathOrDir), pathOrDir, files);
  checkChainDimension(chain, pathOrDir);
  return chain;
}

/** Several chains concatenated in the given order (the first path's transforms apply first). */
export function loadTransformChainList(paths: readonly string[], files: TransformFileAccess): Transform[] {
  const chain: Transform[] = [];
  for (const p of paths) {
    const part = loadTransformChain(p, files);
    if (chain.length > 0 && part.length > 0 && part[0].dimension !== chain[0].dimension) {
      throw new CoregError(p, `is ${part[0].dimension}D but the transforms before it are ${chain[0].dimension}D`);
    }
    chain.push(...part);
  }
  return chain;
}

function checkChainDimension(chain: readonly Transform[], subject: string): void {
  for (const t of chain) {
    if (t.dimension !== chain[0].dimension) throw new CoregError(subject, 'mixes 2D and 3D transforms');
  }
}

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
