// TRE of one registration through the library on a 3D non-rigid case whose truth is T(x) = A(x + u(x)) + b with
// Gaussian bumps u (the shared d2 case or bench/make-nonrigid-cases.py's nr_<seed>), over ch2bet > 0.
//   node --import tsx bench/nonrigid-tre.ts STAGES METRICS [STAGE-SETTINGS-JSON] [MOVING] [TRUTH-JSON]
//   e.g. node --import tsx bench/nonrigid-tre.ts affine,bspline mi '{}' bench/cache/nonrigid3d/nr_1.nii.gz bench/cache/nonrigid3d/nr_1.json
import { readFileSync } from 'node:fs';
import { readImageFile } from '../src/io/node.js';
import { register } from '../src/register/register.js';
import { defaultConfig, parseMetricList, parseTransformList } from '../src/register/config.js';
import { indexToPhysicalMatrix } from '../src/image/image.js';
const [tr, met, opt, movingPath] = process.argv.slice(2);
const fixed = readImageFile(new URL('../../shared/data/mni/ch2bet.nii.gz', import.meta.url).pathname);
// Default: the shared d2 case as make_cases.py writes it (`/usr/bin/python3 ../shared/peers/cases/make_cases.py /tmp/coreg-cases`).
const moving = readImageFile(movingPath ?? '/tmp/coreg-cases/ch2bet_d2_affine_nonrigid.nii.gz');
const gtPath = process.argv[6] ?? '/tmp/coreg-cases/cases_gt.json';
const g = JSON.parse(readFileSync(gtPath, 'utf8'));
const A: number[][] = g.affine_3d ? g.affine_3d.A : g.A, b: number[] = g.affine_3d ? g.affine_3d.b : g.b;
const bumps: [number[], number[], number][] = g.bumps_3d ?? g.bumps;
const cfg = defaultConfig(parseTransformList(tr), parseMetricList(met));
if (opt) for (const s of cfg.stages) if (s.transform === 'bspline' || s.transform === 'syn') Object.assign(s, JSON.parse(opt));
const t0 = Date.now();
let last = 0;
const r = await register(fixed, moving, cfg, { warn: (m) => console.error('warn:', m), onProgress: (e) => { if (Date.now() - last > 5000) { last = Date.now(); console.error(`  stage ${e.stage} level ${e.level} it ${e.iteration} value ${e.value.toFixed(5)} t=${((Date.now() - t0) / 1000).toFixed(1)}`); } } });
const secs = (Date.now() - t0) / 1000;
const P = indexToPhysicalMatrix(fixed);
let sum = 0, max = 0, n = 0;
const [nx, ny, nz] = fixed.size;
const a = new Float64Array(3), bb = new Float64Array(3);
for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
  if (fixed.data[i + nx * (j + ny * k)] <= 0) continue;
  const p = [0, 1, 2].map((r) => fixed.origin[r] + P[r * 3] * i + P[r * 3 + 1] * j + P[r * 3 + 2] * k);
  a.set(p);
  for (const t of r.transforms) { t.transformPoint(a, bb); a.set(bb); }
  const u = [0, 0, 0];
  for (const [c, amp, s] of bumps) { const w = Math.exp(-((p[0] - c[0]) ** 2 + (p[1] - c[1]) ** 2 + (p[2] - c[2]) ** 2) / (2 * s * s)); for (let q = 0; q < 3; q++) u[q] += w * amp[q]; }
  const x = [p[0] + u[0], p[1] + u[1], p[2] + u[2]];
  let e2 = 0;
  for (let q = 0; q < 3; q++) e2 += (A[q][0] * x[0] + A[q][1] * x[1] + A[q][2] * x[2] + b[q] - a[q]) ** 2;
  const e = Math.sqrt(e2); sum += e; n++; if (e > max) max = e;
}
console.log(`${tr} ${met} ${opt ?? ''} TRE mean ${(sum / n).toFixed(4)} max ${max.toFixed(4)} ${secs.toFixed(1)} s`, JSON.stringify(r.stages.map((s) => s.levels.map((l) => `${l.iterations}:${l.stopReason.slice(0, 8)}:${l.seconds.toFixed(1)}`))));
