/**
 * Transforms map FIXED-space physical points (LPS mm) to MOVING-space points, as ITK and elastix do:
 * moving(T(x)) ≈ fixed(x). Matrices are row-major (see src/image/image.ts).
 */

export interface Transform {
  /** ITK-like type tag, e.g. 'affine', 'euler3d', 'bspline', 'displacement-field'. */
  readonly kind: string;
  readonly dimension: 2 | 3;
  /** out = T(p). `out` may not alias `p`. */
  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void;
}

/** T(x) = A·x + t. */
export interface LinearTransform extends Transform {
  /** d×d row-major A (a fresh copy). */
  matrix(): Float64Array;
  /** t (a fresh copy). */
  offset(): Float64Array;
}

/**
 * A transform with optimisable parameters (ITK v4 style: the optimiser only sees parameter vectors;
 * the transform applies its own update).
 */
export interface ParametricTransform extends Transform {
  readonly numberOfParameters: number;
  /** Current parameters (the live array; copy before keeping). */
  readonly parameters: Float64Array;
  /** ITK FixedParameters (e.g. the centre of rotation). */
  readonly fixedParameters: Float64Array;
  setParameters(p: ArrayLike<number>): void;
  /**
   * ∂T(p)/∂parameters at fixed point p: d rows × numberOfParameters columns, row-major, written into out
   * (length d·numberOfParameters).
   */
  jacobian(p: ArrayLike<number>, out: Float64Array): void;
  /** Adds `step` (scaled update from the optimiser) to the parameters, keeping them valid (e.g. versors). */
  updateParameters(step: ArrayLike<number>): void;
  clone(): ParametricTransform;
}

export function isLinear(t: Transform): t is LinearTransform {
  return typeof (t as LinearTransform).matrix === 'function' && typeof (t as LinearTransform).offset === 'function';
}

/** A transform as ITK serialises it (type name such as "Euler3DTransform_double_3_3", parameter vectors). */
export interface ItkTransformData {
  type: string;
  parameters: ArrayLike<number>;
  fixedParameters: ArrayLike<number>;
}

/** A transform that can write itself to a .tfm block (non-linear transforms implement this to be writable). */
export interface ItkWritable {
  toItkTransform(): ItkTransformData;
}

/** What a reader gets for one "#Transform" block of an ITK transform file. */
export interface ItkTransformBlock {
  /** Full type name as written, e.g. "AffineTransform_float_3_3". */
  type: string;
  /** Class name without suffix, e.g. "AffineTransform". */
  className: string;
  dimension: 2 | 3;
  parameters: Float64Array;
  fixedParameters: Float64Array;
  /** 0-based position of the block in the file (for messages). */
  index: number;
}

/** Builds a transform from one block; throws CoregError(fileName, …) for bad counts or values. */
export type ItkTransformReader = (block: ItkTransformBlock, fileName: string) => Transform;
