/**
 * Numeric inverses of register's non-linear chain elements on a team of threads (parallel-for.ts), for
 * inverse-warped.nii.gz: invertChain's work, with each B-spline's damped-Newton solves (one per grid point of the
 * inverse field, ~10⁶) and the residual check at the cell centres split by slices. Every point and cell is computed
 * by the same code from the same numbers in any thread and the residuals are reduced in one fixed order, so the
 * field and its report are bit-identical to invertChain's, for any thread count.
 */
import { sharedFloat32, sharedFloat64, type BlockKernel, type ParallelFor } from './parallel-for.js';
import { chainData, chainFromData, type TransformData } from './parallel-resample.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import {
  checkFieldCells,
  createFieldInversion,
  defaultInverseGrid,
  fieldCellSlices,
  fieldInversionReport,
  invertChain,
  invertFieldSlices,
  inversionSteps,
  storedInverses,
  type ChainInversion,
  type FieldInversion,
} from '../transform/inverse.js';
import { BSplineTransform } from '../transform/bspline.js';
import type { Transform } from '../transform/transform.js';

export interface InvertKernelInit {
  transform: TransformData;
  inv: FieldInversion;
  tolerance: number;
  maxIterations: number;
  name: string;
}

/** Phase 0: grid-point slice b; phase 1 (after phase 0 is complete): cell slice b. */
export function invertKernel(init: InvertKernelInit): readonly BlockKernel[] {
  const [t] = chainFromData([init.transform]);
  let field: DisplacementFieldTransform | null = null;
  return [
    (b: number) => invertFieldSlices(t, init.inv, b, b + 1, init.tolerance, init.maxIterations),
    (b: number) => checkFieldCells(t, (field ??= new DisplacementFieldTransform(init.inv.field, init.name)), init.inv, b, b + 1),
  ];
}

function sharedBytes(n: number): Uint8Array {
  return typeof SharedArrayBuffer === 'function' ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
}

/** invertChain(chain) with the B-spline elements inverted on `team` (the same result without one). */
export async function invertChainOn(team: ParallelFor | undefined, chain: readonly Transform[]): Promise<ChainInversion> {
  if (!team || team.threads < 2) return invertChain(chain);
  const out: ChainInversion = { transforms: [], numeric: [] };
  for (const step of inversionSteps(chain)) {
    if ('inverse' in step) {
      out.transforms.push(step.inverse);
      continue;
    }
    const t = step.numeric;
    const stored = storedInverses.get(t);
    const data = t instanceof BSplineTransform ? chainData([t]) : null;
    if (stored || !data) {
      const one = invertChain([t]);
      out.transforms.push(...one.transforms);
      out.numeric.push(...one.numeric);
    } else {
      const inv = createFieldInversion(t.dimension, defaultInverseGrid(t, 1e6), { f32: sharedFloat32, f64: sharedFloat64, u8: sharedBytes });
      const name = `inverse of ${t.kind}`;
      const init: InvertKernelInit = { transform: data[0], inv, tolerance: 1e-5, maxIterations: 100, name };
      const session = await team.open('register.invert', init, invertKernel(init));
      try {
        session.run(0, inv.field.dimension === 3 ? inv.field.size[2] : 1);
        session.run(1, fieldCellSlices(inv));
      } finally {
        session.close();
      }
      out.transforms.push(new DisplacementFieldTransform(inv.field, name));
      out.numeric.push(fieldInversionReport(t.kind, inv));
    }
  }
  return out;
}
