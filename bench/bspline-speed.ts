// Speed of the B-spline registration stage on the 2 mm atlas pair (subj6 fixed, subj1 moving), through `register`
// with the CLI's default config (defaultConfig(['affine','bspline'], ['mi']), fixed seed). Prints seconds per level
// and a checksum of the final B-spline parameters, so a faster build can be checked to give the same result.
//
//   node --import tsx bench/bspline-speed.ts [--affine-out FILE] [--from-affine FILE] [--iterations N]
//        [--params-out FILE] [--compare FILE] [--fixed PATH] [--moving PATH]
// --affine-out FILE   save the affine stage's result (JSON) after a full run
// --from-affine FILE  skip the affine optimisation: an affine stage of 0 iterations starting from the saved
//                     affine, then the bspline stage as stage 2 (same seeds as in the full run)
// --iterations N      iterations per bspline level (default: the stage's own, 500)
// --params-out FILE   write the final B-spline parameters (float64, little-endian); --compare FILE reports the
//                     largest difference against such a file
// Profile: node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/bspline-speed.ts --from-affine /tmp/affine.json
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readImageFile } from '../src/io/node.js';
import { defaultConfig } from '../src/register/config.js';
import { register } from '../src/register/register.js';
import { BSplineTransform } from '../src/transform/bspline.js';
import { AffineTransform, MatrixOffsetTransform } from '../src/transform/linear.js';

const cases = fileURLToPath(new URL('./cache/atlas/cases', import.meta.url));
const { values } = parseArgs({
  options: {
    fixed: { type: 'string', default: join(cases, 'subj6_t1.nii.gz') },
    moving: { type: 'string', default: join(cases, 'subj1_t1.nii.gz') },
    'affine-out': { type: 'string' },
    'from-affine': { type: 'string' },
    iterations: { type: 'string' },
    'params-out': { type: 'string' },
    compare: { type: 'string' },
  },
});

const fixed = readImageFile(values.fixed!);
const moving = readImageFile(values.moving!);
const config = defaultConfig(['affine', 'bspline'], ['mi']);
const bsplineStage = config.stages[1];
if (values.iterations !== undefined) {
  const n = Number(values.iterations);
  bsplineStage.levels = [8, 4, 2, 1].map((f) => ({ shrink: f, smooth: f > 1 ? f / 2 : 0, iterations: n }));
}
let initial: AffineTransform[] | undefined;
if (values['from-affine']) {
  const saved = JSON.parse(readFileSync(values['from-affine'], 'utf8')) as { parameters: number[]; center: number[] };
  const a = new AffineTransform(3);
  a.setCenter(saved.center);
  a.setParameters(saved.parameters);
  initial = [a];
  config.stages[0].levels = [{ shrink: 8, smooth: 4, iterations: 0 }];
}

// CPU time of the bspline iterations per level (from the level's first to its last progress event): less
// sensitive than wall time to other processes on the machine.
const cpuPerLevel: number[] = [];
let levelStart = 0;
let lastCpu = 0;
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const t0 = performance.now();
const result = await register(fixed, moving, config, {
  initial,
  warn: (m) => console.error('warn:', m),
  onProgress: (e) => {
    if (e.transform !== 'bspline') return;
    const c = cpuNow();
    if (e.iteration <= 1) levelStart = c;
    lastCpu = c;
    cpuPerLevel[e.level] = (lastCpu - levelStart) / Math.max(1, e.iteration - 1);
  },
});
const seconds = (performance.now() - t0) / 1000;

for (const [si, stage] of result.stages.entries()) {
  const levels = stage.levels.map((l) => `${l.seconds.toFixed(2)} s (${l.iterations} it)`).join(', ');
  console.log(`stage ${si + 1} ${stage.transform}: ${levels}; total ${stage.levels.reduce((s, l) => s + l.seconds, 0).toFixed(2)} s`);
}
console.log(`bspline CPU ms per iteration: ${cpuPerLevel.map((v) => (1000 * v).toFixed(1)).join(', ')}`);
console.log(`register: ${seconds.toFixed(2)} s`);

const [bs, linear] = result.transforms;
if (!(bs instanceof BSplineTransform) || !(linear instanceof MatrixOffsetTransform)) throw new Error('expected the chain [bspline, affine]');
if (values['affine-out']) {
  writeFileSync(values['affine-out'], JSON.stringify({ parameters: Array.from(linear.parameters), center: Array.from(linear.getCenter()) }));
}
const p = bs.parameters;
let sum = 0;
let sumAbs = 0;
let weighted = 0;
for (let i = 0; i < p.length; i++) {
  sum += p[i];
  sumAbs += Math.abs(p[i]);
  // position-weighted, so that moving values between parameters changes it too
  weighted += p[i] * ((i % 97) + 1);
}
console.log(`checksum: n=${p.length} sum=${sum.toPrecision(12)} sum|p|=${sumAbs.toPrecision(12)} weighted=${weighted.toPrecision(12)}`);
if (values['params-out']) writeFileSync(values['params-out'], new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
if (values.compare) {
  const bytes = readFileSync(values.compare);
  const ref = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (ref.length !== p.length) throw new Error(`${values.compare} has ${ref.length} parameters, expected ${p.length}`);
  let largest = 0;
  let largestRef = 0;
  for (let i = 0; i < p.length; i++) {
    largest = Math.max(largest, Math.abs(p[i] - ref[i]));
    largestRef = Math.max(largestRef, Math.abs(ref[i]));
  }
  console.log(`largest |Δp| against ${values.compare}: ${largest.toExponential(3)} mm (largest |p| ${largestRef.toFixed(3)} mm)`);
}
