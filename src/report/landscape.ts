/**
 * Similarity as a function of a motion (the seed lecture's figure): the moving image is rotated about the fixed
 * image's centre (or shifted along an axis) step by step, and each measure is evaluated over the overlap.
 * Values are the costs coreg minimises (mse, −ncc, −mi, …), so a good measure has one wide basin at the truth.
 */
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, physicalCenter, physicalToIndexMatrix, type Image } from '../image/image.js';
import { evaluateMetric, isSampledMetricName } from '../metric/index.js';
import { AffineTransform } from '../transform/linear.js';
import { sample2, sample3 } from './picture.js';

export interface LandscapeMotion {
  kind: 'rotate' | 'shift';
  /** 0 = x, 1 = y, 2 = z (rotation about z is the in-plane rotation of 2D images). */
  axis: 0 | 1 | 2;
  from: number;
  to: number;
  steps: number;
}

export interface Landscape {
  /** Angles (degrees) or shifts (mm). */
  x: number[];
  /** values[metric][step]; NaN where the images do not overlap enough. */
  values: Record<string, number[]>;
}

/** The transform of one step: rotation by `angleDeg` about `centre` around `axis`, or a shift along it. */
export function motionTransform(d: 2 | 3, motion: LandscapeMotion, value: number, centre: number[]): AffineTransform {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  const off = new Float64Array(d);
  if (motion.kind === 'shift') {
    off[motion.axis] = value;
  } else {
    const a = (value * Math.PI) / 180;
    const [c, s] = [Math.cos(a), Math.sin(a)];
    const [i, j] = d === 2 ? [0, 1] : motion.axis === 0 ? [1, 2] : motion.axis === 1 ? [2, 0] : [0, 1];
    m[i * d + i] = c;
    m[i * d + j] = -s;
    m[j * d + i] = s;
    m[j * d + j] = c;
    for (let r = 0; r < d; r++) {
      let v = centre[r];
      for (let k = 0; k < d; k++) v -= m[r * d + k] * centre[k];
      off[r] = v;
    }
  }
  const t = new AffineTransform(d);
  t.fitMapping(m, off);
  return t;
}

/** Evaluates each metric at every step, over at most `maxSamples` fixed voxels (a regular subset). */
export function metricLandscape(fixed: Image, moving: Image, metrics: string[], motion: LandscapeMotion, maxSamples = 200_000): Landscape {
  if (fixed.dimension !== moving.dimension) throw new CoregError('--moving', `is ${moving.dimension}D but the fixed image is ${fixed.dimension}D`);
  if (fixed.components !== 1 || moving.components !== 1) throw new CoregError('--moving', 'landscapes need scalar images');
  for (const m of metrics) if (!isSampledMetricName(m)) throw new CoregError('--metric', `'${m}' cannot be evaluated on samples (use mse, ncc, mi, nmi, sad, nssd or jointEntropy)`, 2);
  if (fixed.dimension === 2 && motion.kind === 'rotate' && motion.axis !== 2) throw new CoregError('--axis', '2D images rotate about z only', 2);
  if (fixed.dimension === 2 && motion.axis === 2 && motion.kind === 'shift') throw new CoregError('--shift', '2D images shift along x or y only', 2);
  const d = fixed.dimension;
  const n = fixed.data.length;
  const stride = Math.max(1, Math.ceil(n / maxSamples));
  const count = Math.ceil(n / stride);
  const pts = new Float64Array(count * d);
  const fv = new Float64Array(count);
  const f2p = indexToPhysicalMatrix(fixed);
  const [nx, ny] = fixed.size;
  let k = 0;
  for (let i = 0; i < n; i += stride) {
    const idx = [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
    for (let a = 0; a < d; a++) {
      let v = fixed.origin[a];
      for (let b = 0; b < d; b++) v += f2p[a * d + b] * idx[b];
      pts[k * d + a] = v;
    }
    fv[k] = fixed.data[i];
    k++;
  }
  const centre = physicalCenter(fixed);
  const p2i = physicalToIndexMatrix(moving);
  const [mx, my] = moving.size;
  const mz = d === 3 ? moving.size[2] : 1;
  const f = new Float64Array(count);
  const m = new Float64Array(count);
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  const out: Landscape = { x: [], values: Object.fromEntries(metrics.map((name) => [name, [] as number[]])) };
  const steps = Math.max(2, motion.steps);
  for (let s = 0; s < steps; s++) {
    const value = motion.from + ((motion.to - motion.from) * s) / (steps - 1);
    const t = motionTransform(d, motion, value, centre);
    let used = 0;
    for (let i = 0; i < count; i++) {
      t.transformPoint(pts.subarray(i * d, i * d + d), p);
      for (let a = 0; a < d; a++) {
        let v = 0;
        for (let b = 0; b < d; b++) v += p2i[a * d + b] * (p[b] - moving.origin[b]);
        q[a] = v;
      }
      const mv = d === 2 ? sample2(moving.data, mx, my, q[0], q[1]) : sample3(moving.data, mx, my, mz, q[0], q[1], q[2]);
      if (mv !== mv) continue;
      f[used] = fv[i];
      m[used] = mv;
      used++;
    }
    out.x.push(Number(value.toPrecision(12)));
    for (const name of metrics) {
      let v = NaN;
      if (used >= 16) {
        try {
          v = evaluateMetric(name, f, m, used).value;
        } catch {
          v = NaN; // a constant overlap: undefined here
        }
      }
      out.values[name].push(v);
    }
  }
  return out;
}
