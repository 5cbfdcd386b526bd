// `npm run demo`: registers the bundled example pair and shows what coreg found against the known answer.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const ex = (f) => join(root, 'examples', f);
const out = join(tmpdir(), `coreg-demo-${process.pid}`);
function coreg(...args) {
  console.log(`$ coreg ${args.map((a) => (a.startsWith(root) ? a.slice(root.length) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'coreg.js'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

coreg('info', ex('BrainProtonDensitySliceR10X13Y17.png'));
coreg('register', '--fixed', ex('BrainProtonDensitySliceBorder20.png'), '--moving', ex('BrainProtonDensitySliceR10X13Y17.png'),
  '--out', join(out, 'rigid'), '--transform', 'rigid', '--metric', 'mse');
console.log(readFileSync(join(out, 'rigid', 'transform.tfm'), 'utf8'));
console.log('ITK\'s reference result for this pair: angle 0.174527 rad, translation (12.4528, 16.0766) about the centre of mass (111.204, 131.591)\n');
coreg('register', '--fixed', ex('BrainT1SliceBorder20.png'), '--moving', ex('BrainProtonDensitySliceShifted13x17y.png'),
  '--out', join(out, 'multimodal'), '--transform', 'translation', '--metric', 'mi');
console.log(readFileSync(join(out, 'multimodal', 'transform.tfm'), 'utf8'));
console.log('Ground truth: translation (13, 17) mm (T1 fixed, PD moving: mutual information)\n');
coreg('apply', '--reference', ex('BrainProtonDensitySliceBorder20.png'), '--moving', ex('BrainProtonDensitySliceR10X13Y17.png'),
  '--transform', join(out, 'rigid'), '--out', join(out, 'rigid', 'warped-bspline.nii.gz'), '--interpolation', 'bspline');
coreg('eval', 'difference', '--fixed', ex('BrainProtonDensitySliceBorder20.png'), '--moving', ex('BrainProtonDensitySliceR10X13Y17.png'),
  '--transform', join(out, 'rigid'), '--out', join(out, 'rigid', 'difference.nii.gz'));
coreg('report', join(out, 'rigid'), '--out', join(out, 'report.html'));
console.log(`outputs in ${out}`);
console.log(`report (open in a browser; self-contained, works offline): ${join(out, 'report.html')}`);
