/**
 * Transform chains as users hand them to coreg: a transform file (.tfm, or a displacement-field image) or a
 * `register` output folder (its result.json lists the chain's files, relative to the folder, in the order they
 * apply to a fixed point). Chains apply first-first: T(x) = Tn(…T2(T1(x))).
 *
 * File access goes through a small interface so that this module stays browser-safe; the command line passes a
 * Node implementation (see src/cli/commands/apply.ts).
 */
import { CoregError } from '../errors.js';
import { decodeImage, isImageFileName } from './image-io.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { parseItkTransformFile } from '../transform/itk-tfm.js';
import type { Transform } from '../transform/transform.js';

/** How chain loading reads files. Paths are whatever the caller uses (relative or absolute). */
export interface TransformFileAccess {
  /** The whole file; throws CoregError(path, …) when it cannot be read. */
  readBytes(path: string): Uint8Array;
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
    const field = decodeImage(bytes, { name: path, readSibling: (rel: string) => files.readBytes(files.sibling(path, rel)) });
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
