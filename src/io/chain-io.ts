/**
 * Transform chains as users hand them to coreg: a transform file (.tfm, or a displacement-field image) or a
 * `register` output folder (its result.json lists the chain's files, relative to the folder, in the order they
 * apply to a fixed point). Chains apply first-first: T(x) = Tn(…T2(T1(x))).
 *
 * File access goes through a small interface so that this module stays browser-safe; the command line passes a
 * Node implementation (see src/cli/commands/apply.ts).
 */
import { CoregError } from '../errors.js';
import { createImage, indexToPhysicalMatrix, type Image } from '../image/image.js';
import { decodeImage, encodeImage, isImageFileName } from './image-io.js';
import { BSplineTransform } from '../transform/bspline.js';
import { transformChainPoint } from '../transform/chain.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { formatItkTransformFile, parseItkTransformFile } from '../transform/itk-tfm.js';
import type { Transform } from '../transform/transform.js';
import { formatElastixChain, isElastixTransformText, readElastixTransformChain } from '../transform/elastix.js';
import { formatItkHdf5Transform, parseItkHdf5Transform } from '../transform/itk-hdf5.js';
import { formatItkMatlabTransform, looksLikeMatlabV4, parseItkMatlabTransform } from '../transform/matlab.js';
import { formatFslMatrix, formatRasMatrix, parseFslMatrix, parseRasMatrix, type VoxelGrid } from '../transform/world-matrices.js';
import { defaultInverseGrid, storedInverses } from '../transform/inverse.js';

/** How chain loading reads files. Paths are whatever the caller uses (relative or absolute). */
export interface TransformFileAccess {
  /** The whole file; throws CoregError(path, …) when it cannot be read. */
  readBytes(path: string): Uint8Array;
  isDirectory(path: string): boolean;
  /** `relative` resolved against the folder that holds `path` (absolute `relative` is returned as is). */
  sibling(path: string, relative: string): string;
  /** True when `path` is a readable regular file (default: readBytes succeeds). */
  exists?(path: string): boolean;
}

/** Transform formats that cannot be told from the file alone. */
export type TransformFormatHint = 'fsl' | 'ras';

/** What some formats need besides the file: FSL FLIRT matrices need both images' grids. */
export interface ChainLoadOptions {
  /** The fixed image (FLIRT's -ref). */
  fixedGrid?: VoxelGrid;
  /** The moving image (FLIRT's -in). */
  movingGrid?: VoxelGrid;
  /** Read text matrices as FSL or RAS (greedy/c3d) matrices. */
  from?: TransformFormatHint;
}

function fileExists(files: TransformFileAccess, path: string): boolean {
  if (files.exists) return files.exists(path);
  try {
    files.readBytes(path);
    return true;
  } catch {
    return false;
  }
}

/** True for FSL FLIRT matrix names (`*.flirt.mat`). */
export function isFlirtName(path: string): boolean {
  return path.toLowerCase().endsWith('.flirt.mat');
}

/** True for elastix transform parameter file names (`TransformParameters*.txt`). */
export function isElastixName(path: string): boolean {
  const base = path.split(/[\\/]/).pop() ?? '';
  return /^TransformParameters.*\.txt$/i.test(base);
}

const TFM_HEADER = '#Insight Transform File';

function lowerName(path: string): string {
  return path.toLowerCase();
}

function readFieldImage(path: string, files: TransformFileAccess) {
  return decodeImage(files.readBytes(path), { name: path, readSibling: (rel: string) => files.readBytes(files.sibling(path, rel)) });
}

/**
 * Parses one transform file's bytes: ITK text (.tfm/.txt), ITK/ANTs binary .mat, an elastix parameter file (and
 * the files it chains to), an FSL FLIRT matrix (*.flirt.mat or from 'fsl'; needs both grids), a greedy/c3d RAS
 * matrix (other plain 4×4/3×3 text), or a displacement-field image.
 */
export function parseTransformFile(bytes: Uint8Array, path: string, files: TransformFileAccess, opts: ChainLoadOptions = {}): Transform[] {
  const name = lowerName(path);
  if (name.endsWith('.h5') || name.endsWith('.hdf5')) return parseItkHdf5Transform(bytes, path);
  if (name.endsWith('.xfm')) throw new CoregError(path, 'MINC transform files are not supported; save the transform as an ITK .tfm file');
  if (isImageFileName(path)) {
    const field = decodeImage(bytes, { name: path, readSibling: (rel: string) => files.readBytes(files.sibling(path, rel)) });
    return [new DisplacementFieldTransform(field, path)];
  }
  if (opts.from !== 'fsl' && opts.from !== 'ras' && !isFlirtName(path) && looksLikeMatlabV4(bytes)) return parseItkMatlabTransform(bytes, path);
  const text = new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, '');
  if (opts.from === 'fsl' || isFlirtName(path)) return parseFslMatrix(text, path, opts.fixedGrid, opts.movingGrid);
  if (opts.from === 'ras') return parseRasMatrix(text, path);
  if (text.trimStart().startsWith(TFM_HEADER)) return parseItkTransformFile(text, path);
  if (isElastixTransformText(text)) {
    return readElastixTransformChain(path, {
      readText: (p) => (p === path ? text : new TextDecoder('utf-8').decode(files.readBytes(p)).replace(/^\uFEFF/, '')),
      exists: (p) => fileExists(files, p),
      sibling: (p, n) => files.sibling(p, n),
      readImage: (p) => readFieldImage(p, files),
    });
  }
  if (/^[\s\d.eE+,-]+$/.test(text) && /\d/.test(text)) {
    // FLIRT (-omat) and greedy/c3d both write plain matrices, often as .mat: a .mat must say which it is.
    if (name.endsWith('.mat') && !/\.ras\.mat$/.test(name)) {
      throw new CoregError(path, 'a plain-text matrix: name an FSL FLIRT matrix *.flirt.mat and a greedy/c3d RAS matrix *.ras.mat (or convert it with coreg transform convert --from fsl|ras)');
    }
    return parseRasMatrix(text, path);
  }
  if (name.endsWith('.tfm') || name.endsWith('.txt')) return parseItkTransformFile(text, path);
  if (name.endsWith('.mat')) throw new CoregError(path, 'neither an ITK binary .mat transform nor a 4×4 text matrix');
  throw new CoregError(path, 'not a transform file (expected ITK .tfm/.mat, elastix TransformParameters, FSL/RAS matrix text, a displacement-field image or a register output folder)');
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
export function loadTransformChain(pathOrDir: string, files: TransformFileAccess, opts: ChainLoadOptions = {}): Transform[] {
  if (files.isDirectory(pathOrDir)) {
    const resultPath = `${pathOrDir.replace(/[\\/]+$/, '')}/result.json`;
    // An elastix output folder (no result.json): its last TransformParameters.<n>.txt holds the whole chain.
    if (!fileExists(files, resultPath)) {
      let last: string | undefined;
      for (let n = 0; n < 100; n++) {
        const p = files.sibling(resultPath, `TransformParameters.${n}.txt`);
        if (!fileExists(files, p)) break;
        last = p;
      }
      if (last) {
        const chain = parseTransformFile(files.readBytes(last), last, files, opts);
        checkChainDimension(chain, pathOrDir);
        return chain;
      }
    }
    const names = parseResultTransformList(new TextDecoder('utf-8').decode(files.readBytes(resultPath)), resultPath);
    const chain: Transform[] = [];
    for (const n of names) {
      const p = files.sibling(resultPath, n);
      if (files.isDirectory(p)) throw new CoregError(resultPath, `"${n}" is a folder, not a transform file`);
      const part = parseTransformFile(files.readBytes(p), p, files, opts);
      // A syn result's dense field comes with its inverse (inverse-warp.nii.gz beside it).
      if (n === 'warp.nii.gz' && part.length === 1) {
        const invPath = files.sibling(resultPath, 'inverse-warp.nii.gz');
        if (fileExists(files, invPath)) storedInverses.set(part[0], new DisplacementFieldTransform(readFieldImage(invPath, files), invPath));
      }
      chain.push(...part);
    }
    checkChainDimension(chain, pathOrDir);
    return chain;
  }
  const chain = parseTransformFile(files.readBytes(pathOrDir), pathOrDir, files, opts);
  checkChainDimension(chain, pathOrDir);
  return chain;
}

/** Several chains concatenated in the given order (the first path's transforms apply first). */
export function loadTransformChainList(paths: readonly string[], files: TransformFileAccess, opts: ChainLoadOptions = {}): Transform[] {
  const chain: Transform[] = [];
  for (const p of paths) {
    const part = loadTransformChain(p, files, opts);
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

// --- writing ------------------------------------------------------------------------------------------

/** Output formats; by default chosen from the file name (see transformFormatOfName). */
export type TransformOutputFormat = 'itk' | 'itk-h5' | 'itk-mat' | 'elastix' | 'fsl' | 'ras' | 'field';

export interface ChainWriteOptions {
  /** Overrides the format the name implies. */
  to?: TransformOutputFormat;
  /** The fixed image grid: transformix's output grid, FLIRT's -ref, the grid of a dense-field output. */
  fixedGrid?: VoxelGrid;
  /** The moving image grid (FLIRT's -in). */
  movingGrid?: VoxelGrid;
  /** Absolute form of a path (elastix chains name their files by absolute path). Default: unchanged. */
  absolute?(path: string): string;
}

/** The output format a file name implies. */
export function transformFormatOfName(path: string): TransformOutputFormat {
  const name = lowerName(path);
  if (isFlirtName(path)) return 'fsl';
  if (name.endsWith('.ras.mat')) return 'ras';
  if (name.endsWith('.mat')) return 'itk-mat';
  if (name.endsWith('.h5') || name.endsWith('.hdf5')) return 'itk-h5';
  if (isElastixName(path)) return 'elastix';
  if (isImageFileName(path)) return 'field';
  if (name.endsWith('.tfm') || name.endsWith('.txt')) return 'itk';
  throw new CoregError(path, 'unknown transform file type (use .tfm/.txt, .h5, .mat, .flirt.mat, TransformParameters*.txt or a displacement-field image name)');
}

function gridOf(g: VoxelGrid): VoxelGrid {
  return { dimension: g.dimension, size: g.size.slice(), spacing: g.spacing.slice(), origin: g.origin.slice(), direction: g.direction.slice() };
}

/** The whole chain as one displacement field u(x) = T(x) − x on `grid`. */
export function chainToDisplacementField(chain: readonly Transform[], grid: VoxelGrid): Image {
  const d = chain[0].dimension;
  if (grid.dimension !== d) throw new CoregError('--reference', `is ${grid.dimension}D but the transform is ${d}D`);
  const field = createImage(grid.size.slice(), 'float32', { spacing: grid.spacing.slice(), origin: grid.origin.slice(), direction: grid.direction.slice(), components: d });
  const data = field.data as Float32Array;
  const m = indexToPhysicalMatrix(field);
  const nz = d === 3 ? grid.size[2] : 1;
  const p = new Float64Array(d);
  const out = new Float64Array(d);
  const scratch = new Float64Array(d);
  let n = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < grid.size[1]; j++) {
      for (let i = 0; i < grid.size[0]; i++, n++) {
        for (let r = 0; r < d; r++) p[r] = grid.origin[r] + m[r * d] * i + m[r * d + 1] * j + (d === 3 ? m[r * d + 2] * k : 0);
        transformChainPoint(chain, p, out, scratch);
        for (let c = 0; c < d; c++) data[n * d + c] = out[c] - p[c];
      }
    }
  }
  return field;
}

/**
 * The files that store `chain` at `path` (format from the name or opts.to): one file for most formats; an
 * elastix chain writes one parameter file per element (the last at `path`, earlier ones beside it as
 * `<name>.chain<i>.txt` (never an elastix output name such as TransformParameters.0.txt), displacement fields as `<name>.field<i>.mha`).
 */
export function formatTransformChainFiles(chain: readonly Transform[], path: string, opts: ChainWriteOptions = {}): { path: string; data: Uint8Array | string }[] {
  if (chain.length === 0) throw new CoregError(path, 'nothing to write (empty chain)');
  const format = opts.to ?? transformFormatOfName(path);
  switch (format) {
    case 'itk':
      for (const t of chain) {
        if (t instanceof DisplacementFieldTransform) throw new CoregError(path, 'an ITK text file cannot hold a displacement field; write .h5 (ITK HDF5), a field image (.nii.gz) or elastix files');
      }
      return [{ path, data: formatItkTransformFile(chain.slice()) }];
    case 'itk-mat':
      return [{ path, data: formatItkMatlabTransform(chain) }];
    case 'itk-h5':
      return [{ path, data: formatItkHdf5Transform(chain) }];
    case 'fsl':
      return [{ path, data: formatFslMatrix(chain, opts.fixedGrid, opts.movingGrid) }];
    case 'ras':
      return [{ path, data: formatRasMatrix(chain) }];
    case 'field': {
      let grid = opts.fixedGrid;
      if (!grid && chain.length === 1 && chain[0] instanceof DisplacementFieldTransform) grid = gridOf(chain[0].field);
      if (!grid) throw new CoregError(path, 'a displacement-field output needs a grid to sample the chain on: give --reference IMAGE');
      const field = chainToDisplacementField(chain, grid);
      return encodeImage(field, path).map((f) => ({ path: f.name === '' ? path : siblingPath(path, f.name), data: f.bytes }));
    }
    case 'elastix': {
      const abs = opts.absolute ?? ((p: string) => p);
      let grid = opts.fixedGrid;
      if (!grid) {
        const b = chain.find((t): t is BSplineTransform => t instanceof BSplineTransform);
        const f = chain.find((t): t is DisplacementFieldTransform => t instanceof DisplacementFieldTransform);
        if (f) grid = gridOf(f.field);
        else if (b) grid = defaultInverseGrid(b, 1e12) as VoxelGrid;
      }
      if (!grid) throw new CoregError(path, 'an elastix file names the grid transformix resamples onto: give --reference FIXED');
      const stem = path.replace(/\.txt$/i, '');
      const paths = chain.map((_, i) => (i === chain.length - 1 ? path : `${stem}.chain${i}.txt`));
      const fieldPaths = chain.map((t, i) => (t instanceof DisplacementFieldTransform ? `${stem}.field${i}.mha` : undefined));
      const files = formatElastixChain(chain, { grid, paths: paths.map(abs), fieldPaths: fieldPaths.map((p) => (p ? abs(p) : undefined)) });
      const out: { path: string; data: Uint8Array | string }[] = [];
      files.forEach((f, i) => {
        out.push({ path: paths[i], data: f.text });
        const fp = fieldPaths[i];
        if (f.field && fp) for (const e of encodeImage(f.field, fp)) out.push({ path: e.name === '' ? fp : siblingPath(fp, e.name), data: e.bytes });
      });
      return out;
    }
  }
}

function siblingPath(path: string, name: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return cut < 0 ? name : path.slice(0, cut + 1) + name;
}
