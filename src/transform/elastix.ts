/**
 * elastix/transformix transform parameter files (`TransformParameters.N.txt`), read and written.
 *
 * A file is a list of `(Name value …)` entries; strings are quoted, `//` starts a comment. Each file holds one
 * transform that maps FIXED → MOVING points (as coreg's do) and may name the transform applied before it in
 * `InitialTransformParametersFileName` with `HowToCombineTransforms "Compose"`: T(x) = T_this(T_initial(x)), i.e.
 * coreg's chain [initial…, this]. elastix writes that name as the path given to `-out`, so a reader looks the
 * chained file up by its base name in the folder of the file that names it; coreg writes absolute paths (what
 * transformix 5.0.1 needs).
 *
 * Types: TranslationTransform, EulerTransform (2D angle; 3D angles x, y, z with ComputeZYX), SimilarityTransform
 * (2D scale, angle; 3D versor, scale), AffineTransform (row-major matrix then translation; the centre is
 * CenterOfRotationPoint), BSplineTransform / RecursiveBSplineTransform (GridSize control points, GridOrigin =
 * control point 0, GridSpacing, GridDirection and Direction written column by column, coefficients all x then
 * all y [then z]) and DeformationFieldTransform (a displacement-field image named by DeformationFieldFileName).
 * These are ITK's parameterisations, so the transforms map onto coreg's classes one to one.
 */
import { CoregError } from '../errors.js';
import type { Image } from '../image/image.js';
import { BSplineTransform } from './bspline.js';
import { DisplacementFieldTransform } from './displacement-field.js';
import {
  AffineTransform,
  Euler2DTransform,
  Euler3DTransform,
  MatrixOffsetTransform,
  Similarity2DTransform,
  Similarity3DTransform,
  toAffine,
  TranslationTransform,
} from './linear.js';
import { isLinear, type Transform } from './transform.js';

export type ElastixValue = string | number;

/** The entries of a parameter file, by name (values in order; numbers as numbers, quoted strings as strings). */
export type ElastixParameters = Map<string, ElastixValue[]>;

/** True when the text looks like an elastix transform parameter file. */
export function isElastixTransformText(text: string): boolean {
  return /^\s*\(\s*Transform\s+"/m.test(text) && /^\s*\(\s*TransformParameters[\s)]/m.test(text);
}

/** Parses `(Name v …)` entries; throws CoregError(fileName, …) on malformed lines. */
export function parseElastixParameters(text: string, fileName: string): ElastixParameters {
  const out: ElastixParameters = new Map();
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let li = 0; li < lines.length; li++) {
    const tokens = tokenizeLine(lines[li], li + 1, fileName);
    if (tokens.length === 0) continue;
    if (tokens[0] !== '(' || tokens[tokens.length - 1] !== ')' || tokens.length < 3) {
      throw new CoregError(fileName, `line ${li + 1}: expected "(Name value …)"`);
    }
    const name = tokens[1];
    if (typeof name !== 'string' || name[0] !== '\u0000' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name.slice(1))) throw new CoregError(fileName, `line ${li + 1}: bad parameter name`);
    const values: ElastixValue[] = [];
    for (const t of tokens.slice(2, -1)) {
      if (t === '(' || t === ')') throw new CoregError(fileName, `line ${li + 1}: unexpected "${t}"`);
      values.push(typeof t === 'string' ? t.slice(1) : t);
    }
    out.set((name as string).slice(1), values);
  }
  return out;
}

/** Tokens of one line: '(' and ')' as themselves, quoted strings prefixed with \0, numbers as numbers. */
function tokenizeLine(line: string, lineNo: number, fileName: string): (string | number)[] {
  const tokens: (string | number)[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const ch = line[i];
    if (ch === ' ' || ch === '\t') {
      i++;
    } else if (ch === '/' && line[i + 1] === '/') {
      break;
    } else if (ch === '(' || ch === ')') {
      tokens.push(ch);
      i++;
    } else if (ch === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new CoregError(fileName, `line ${lineNo}: unterminated string`);
      tokens.push('\u0000' + line.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < n && !' \t()"'.includes(line[j])) j++;
      const word = line.slice(i, j);
      const v = Number(word);
      // Unquoted words that are not numbers (e.g. true/false in hand-written files) are kept as strings.
      tokens.push(/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(word) && Number.isFinite(v) ? v : '\u0000' + word);
      i = j;
    }
  }
  return tokens;
}

function numbers(p: ElastixParameters, name: string, fileName: string, count?: number): number[] {
  const v = p.get(name);
  if (!v) throw new CoregError(fileName, `missing (${name} …)`);
  for (const x of v) {
    if (typeof x !== 'number') throw new CoregError(fileName, `(${name} …) must hold numbers`);
  }
  if (count !== undefined && v.length !== count) throw new CoregError(fileName, `(${name} …) must hold ${count} numbers, got ${v.length}`);
  return v as number[];
}

function optionalNumbers(p: ElastixParameters, name: string, fileName: string, count: number): number[] | undefined {
  return p.has(name) ? numbers(p, name, fileName, count) : undefined;
}

function stringValue(p: ElastixParameters, name: string): string | undefined {
  const v = p.get(name);
  if (!v || v.length === 0) return undefined;
  return String(v[0]);
}

/** Column-major d×d (elastix's Direction/GridDirection) → row-major. */
function fromColumnMajor(v: readonly number[], d: number): number[] {
  const out = new Array<number>(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) out[r * d + c] = v[c * d + r];
  return out;
}

/** What reading a chain needs from the outside (browser-safe: the caller supplies file access). */
export interface ElastixFileAccess {
  readText(path: string): string;
  /** True when `path` names a readable regular file. */
  exists(path: string): boolean;
  /** `name` (a base name) in the folder that holds `path`. */
  sibling(path: string, name: string): string;
  /** Reads a displacement-field image (for DeformationFieldTransform), relative names resolved beside `path`. */
  readImage?(path: string): Image;
}

/** The base name of a path written on any system. */
export function baseNameOf(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1];
}

/**
 * Reads an elastix transform parameter file and the files it chains to. Returns coreg's chain (first applies
 * first: the innermost initial transform first, this file's transform last).
 */
export function readElastixTransformChain(path: string, files: ElastixFileAccess): Transform[] {
  const chain: Transform[] = [];
  const seen = new Set<string>();
  let current = path;
  let text = files.readText(path);
  const d0 = dimensionOf(parseElastixParameters(text, path), path);
  for (;;) {
    if (seen.has(current) || seen.size > 64) throw new CoregError(path, 'InitialTransformParametersFileName chains form a loop');
    seen.add(current);
    const p = parseElastixParameters(text, current);
    const d = dimensionOf(p, current);
    if (d !== d0) throw new CoregError(current, `is ${d}D but ${path} is ${d0}D`);
    chain.unshift(elastixTransform(p, current, d, files));
    const combine = stringValue(p, 'HowToCombineTransforms') ?? 'Compose';
    const initial = stringValue(p, 'InitialTransformParametersFileName') ?? 'NoInitialTransform';
    if (initial === 'NoInitialTransform' || initial === '') break;
    if (combine !== 'Compose') throw new CoregError(current, `HowToCombineTransforms "${combine}" is not supported (only "Compose")`);
    const next = files.sibling(current, baseNameOf(initial));
    if (!files.exists(next)) {
      throw new CoregError(current, `its initial transform "${initial}" is missing (looked for ${baseNameOf(initial)} in the same folder)`);
    }
    current = next;
    text = files.readText(current);
  }
  return chain;
}

function dimensionOf(p: ElastixParameters, fileName: string): 2 | 3 {
  const fd = numbers(p, 'FixedImageDimension', fileName, 1)[0];
  const md = p.has('MovingImageDimension') ? numbers(p, 'MovingImageDimension', fileName, 1)[0] : fd;
  if (fd !== md) throw new CoregError(fileName, `fixed and moving dimensions differ (${fd}, ${md})`);
  if (fd !== 2 && fd !== 3) throw new CoregError(fileName, `unsupported dimension ${fd} (coreg handles 2D and 3D)`);
  return fd;
}

/** One file's transform (without its initial transform). */
function elastixTransform(p: ElastixParameters, fileName: string, d: 2 | 3, files: ElastixFileAccess): Transform {
  const type = stringValue(p, 'Transform');
  if (!type) throw new CoregError(fileName, 'missing (Transform "…")');
  const center = (): number[] => optionalNumbers(p, 'CenterOfRotationPoint', fileName, d) ?? new Array<number>(d).fill(0);
  const params = (n: number): number[] => {
    const v = numbers(p, 'TransformParameters', fileName);
    if (v.length !== n) throw new CoregError(fileName, `${type}: expected ${n} TransformParameters for ${d}D, got ${v.length}`);
    const declared = p.get('NumberOfParameters');
    if (declared && declared[0] !== v.length) throw new CoregError(fileName, `NumberOfParameters ${declared[0]} but ${v.length} TransformParameters`);
    return v;
  };
  const linear = (t: MatrixOffsetTransform, n: number): MatrixOffsetTransform => {
    const v = params(n);
    t.setCenter(center());
    t.setParameters(v);
    return t;
  };
  switch (type) {
    case 'TranslationTransform':
      return linear(new TranslationTransform(d), d);
    case 'EulerTransform':
      if (d === 2) return linear(new Euler2DTransform(), 3);
      {
        const t = new Euler3DTransform();
        t.setComputeZYX(stringValue(p, 'ComputeZYX') === 'true');
        return linear(t, 6);
      }
    case 'SimilarityTransform':
      return d === 2 ? linear(new Similarity2DTransform(), 4) : linear(new Similarity3DTransform(), 7);
    case 'AffineTransform':
      return linear(new AffineTransform(d), d * d + d);
    case 'BSplineTransform':
    case 'RecursiveBSplineTransform': {
      const order = p.has('BSplineTransformSplineOrder') ? numbers(p, 'BSplineTransformSplineOrder', fileName, 1)[0] : 3;
      if (order !== 3) throw new CoregError(fileName, `B-spline order ${order} is not supported (only cubic, order 3)`);
      if (stringValue(p, 'UseCyclicTransform') === 'true') throw new CoregError(fileName, 'cyclic B-spline transforms are not supported');
      const gridIndex = optionalNumbers(p, 'GridIndex', fileName, d);
      if (gridIndex && gridIndex.some((g) => g !== 0)) throw new CoregError(fileName, 'GridIndex other than 0 is not supported');
      const gridSize = numbers(p, 'GridSize', fileName, d);
      const gridDirection = optionalNumbers(p, 'GridDirection', fileName, d * d);
      const t = new BSplineTransform(
        {
          dimension: d,
          gridSize,
          gridOrigin: numbers(p, 'GridOrigin', fileName, d),
          gridSpacing: numbers(p, 'GridSpacing', fileName, d),
          gridDirection: gridDirection ? fromColumnMajor(gridDirection, d) : undefined,
        },
        fileName,
      );
      t.setParameters(params(t.numberOfParameters));
      return t;
    }
    case 'DeformationFieldTransform': {
      const name = stringValue(p, 'DeformationFieldFileName');
      if (!name) throw new CoregError(fileName, 'DeformationFieldTransform without (DeformationFieldFileName "…")');
      if (!files.readImage) throw new CoregError(fileName, 'displacement-field files cannot be read here');
      const fieldPath = files.sibling(fileName, baseNameOf(name));
      if (!files.exists(fieldPath)) throw new CoregError(fileName, `its deformation field "${name}" is missing (looked for ${baseNameOf(name)} in the same folder)`);
      const field = files.readImage(fieldPath);
      if (field.dimension !== d) throw new CoregError(fieldPath, `is ${field.dimension}D but ${fileName} is ${d}D`);
      return new DisplacementFieldTransform(field, fieldPath);
    }
    default:
      throw new CoregError(fileName, `unsupported elastix transform "${type}" (coreg reads Translation, Euler, Similarity, Affine, BSpline and DeformationField transforms)`);
  }
}

// --- writing ------------------------------------------------------------------------------------------

/** The grid transformix resamples onto (usually the fixed image's). */
export interface ElastixOutputGrid {
  dimension: 2 | 3;
  size: readonly number[];
  spacing: readonly number[];
  origin: readonly number[];
  /** Row-major d×d. */
  direction: readonly number[];
}

export interface ElastixWriteOptions {
  grid: ElastixOutputGrid;
  /**
   * Absolute path of each element's file (`paths[i]` for chain element i); element i names element i−1 in
   * InitialTransformParametersFileName. Displacement fields are written as MetaImage files whose names come
   * from `fieldPaths[i]`.
   */
  paths: readonly string[];
  fieldPaths?: readonly (string | undefined)[];
  /** Result image pixel type for transformix (default "float"). */
  resultPixelType?: string;
}

function fmt(values: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new CoregError('transform', 'cannot write a non-finite value to an elastix file');
    // elastix reads with strtod: shortest round-trip form is exact.
    parts.push(String(values[i]));
  }
  return parts.join(' ');
}

function toColumnMajor(m: readonly number[], d: number): number[] {
  return fromColumnMajor(m, d);
}

/** elastix's type, parameters and centre for one transform. */
function elastixData(t: Transform): { type: string; params: ArrayLike<number>; center?: ArrayLike<number>; extra: string[] } {
  if (t instanceof TranslationTransform) return { type: 'TranslationTransform', params: t.parameters, extra: [] };
  if (t instanceof Euler2DTransform) return { type: 'EulerTransform', params: t.parameters, center: t.getCenter(), extra: [] };
  if (t instanceof Euler3DTransform) {
    return { type: 'EulerTransform', params: t.parameters, center: t.getCenter(), extra: [`(ComputeZYX "${t.computeZYX ? 'true' : 'false'}")`] };
  }
  if (t instanceof BSplineTransform) {
    const d = t.dimension;
    return {
      type: 'BSplineTransform',
      params: t.parameters,
      extra: [
        `(GridSize ${fmt(t.gridSize)})`,
        `(GridIndex ${new Array<number>(d).fill(0).join(' ')})`,
        `(GridSpacing ${fmt(t.gridSpacing)})`,
        `(GridOrigin ${fmt(t.gridOrigin)})`,
        `(GridDirection ${fmt(toColumnMajor(t.gridDirection, d))})`,
        '(BSplineTransformSplineOrder 3)',
        '(UseCyclicTransform "false")',
      ],
    };
  }
  // Similarity and versor transforms are written as affine maps (Debian's elastix has no SimilarityTransform;
  // elastix has no versor transform): the same mapping, exactly.
  if (isLinear(t)) {
    const a = toAffine(t);
    return { type: 'AffineTransform', params: a.parameters, center: a.getCenter(), extra: [] };
  }
  throw new CoregError('transform', `a "${t.kind}" transform cannot be written as an elastix parameter file`);
}

/**
 * The parameter files of a chain (element i → one file text, at `paths[i]`), plus the MetaImage bytes to write
 * for displacement fields (their `fieldPaths`). The last file is the one to give transformix.
 */
export function formatElastixChain(chain: readonly Transform[], opts: ElastixWriteOptions): { path: string; text: string; field?: Image }[] {
  if (chain.length === 0) throw new CoregError('transform', 'nothing to write (empty chain)');
  const d = chain[0].dimension;
  const g = opts.grid;
  if (g.dimension !== d) throw new CoregError('--reference', `is ${g.dimension}D but the transform is ${d}D`);
  if (opts.paths.length !== chain.length) throw new RangeError('formatElastixChain: one path per chain element');
  const out: { path: string; text: string; field?: Image }[] = [];
  for (let i = 0; i < chain.length; i++) {
    const t = chain[i];
    const lines: string[] = [];
    let field: Image | undefined;
    if (t instanceof DisplacementFieldTransform) {
      const fp = opts.fieldPaths?.[i];
      if (!fp) throw new RangeError('formatElastixChain: a displacement field needs a field path');
      field = t.field;
      lines.push('(Transform "DeformationFieldTransform")', `(DeformationFieldFileName "${fp}")`, '(DeformationFieldInterpolationOrder 1)', '(NumberOfParameters 0)');
    } else {
      const e = elastixData(t);
      lines.push(`(Transform "${e.type}")`, `(NumberOfParameters ${e.params.length})`, `(TransformParameters ${fmt(e.params)})`);
      if (e.center) lines.push(`(CenterOfRotationPoint ${fmt(e.center)})`);
      lines.push(...e.extra);
    }
    const initial = i === 0 ? 'NoInitialTransform' : opts.paths[i - 1];
    if (initial.includes('"')) throw new CoregError(initial, 'a path with a double quote cannot be written into an elastix file');
    lines.push(
      `(InitialTransformParametersFileName "${initial}")`,
      '(HowToCombineTransforms "Compose")',
      `(FixedImageDimension ${d})`,
      `(MovingImageDimension ${d})`,
      '(FixedInternalImagePixelType "float")',
      '(MovingInternalImagePixelType "float")',
      `(Size ${fmt(g.size)})`,
      `(Index ${new Array<number>(d).fill(0).join(' ')})`,
      `(Spacing ${fmt(g.spacing)})`,
      `(Origin ${fmt(g.origin)})`,
      `(Direction ${fmt(toColumnMajor(g.direction, d))})`,
      '(UseDirectionCosines "true")',
      '(ResampleInterpolator "FinalBSplineInterpolator")',
      '(FinalBSplineInterpolationOrder 1)',
      '(Resampler "DefaultResampler")',
      '(DefaultPixelValue 0)',
      '(ResultImageFormat "nii")',
      `(ResultImagePixelType "${opts.resultPixelType ?? 'float'}")`,
      '(CompressResultImage "false")',
    );
    out.push({ path: opts.paths[i], text: lines.join('\n') + '\n', field });
  }
  return out;
}
