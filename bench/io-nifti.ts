// NIfTI read/write speed: coreg against nibabel on ch2bet.nii.gz (181×217×181 uint8, gzip).
// Run: node --import tsx bench/io-nifti.ts   (nibabel rows need /usr/bin/python3 with python3-nibabel)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { writeImageFile } from '../src/io/node.js';

const REPEATS = 5;
const input = fileURLToPath(new URL('../../shared/data/mni/ch2bet.nii.gz', import.meta.url));
if (!existsSync(input)) {
  console.error(`bench/io-nifti: ${input} is absent`);
  process.exit(1);
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median wall time in ms of `fn` over REPEATS runs (after one warm-up). */
function time(fn: () => void): number {
  fn();
  const ms: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

const dir = mkdtempSync(join(tmpdir(), 'coreg-bench-nifti-'));
try {
  const rows: [string, number, number | undefined][] = [];
  const img = readNifti(readFileSync(input), { name: input });
  rows.push(['read .nii.gz (file → pixels)', time(() => readNifti(readFileSync(input), { name: input })), undefined]);
  rows.push(['write .nii.gz, fflate (browser path)', time(() => writeFileSync(join(dir, 'c.nii.gz'), writeNifti(img, { gzip: true }))), undefined]);
  rows.push(['write .nii.gz, writeImageFile (Node zlib)', time(() => writeImageFile(join(dir, 'd.nii.gz'), img)), undefined]);
  const plain = join(dir, 'c.nii');
  writeFileSync(plain, writeNifti(img));
  rows.push(['read .nii', time(() => readNifti(readFileSync(plain), { name: plain })), undefined]);
  rows.push(['write .nii', time(() => writeFileSync(join(dir, 'c2.nii'), writeNifti(img))), undefined]);

  const script = `
import sys, time, json, statistics
import nibabel as nib
src, plain, out = sys.argv[1], sys.argv[2], sys.argv[3]
def t(fn):
    fn()
    ms = []
    for _ in range(${REPEATS}):
        s = time.perf_counter(); fn(); ms.append((time.perf_counter() - s) * 1000)
    return statistics.median(ms)
img = nib.load(src); img.get_fdata()
res = [
  t(lambda: nib.load(src).get_fdata()),
  t(lambda: nib.save(img, out + '.nii.gz')),
  t(lambda: nib.load(plain).get_fdata()),
  t(lambda: nib.save(img, out + '.nii')),
]
print(json.dumps(res))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, input, plain, join(dir, 'n')], { encoding: 'utf8' });
  if (r.status === 0) {
    const nib = JSON.parse(r.stdout) as number[];
    // nibabel rows: read .nii.gz, write .nii.gz (beside both coreg writers), read .nii, write .nii
    const nibFor = [nib[0], nib[1], nib[1], nib[2], nib[3]];
    rows.forEach((row, i) => (row[2] = nibFor[i]));
  } else {
    console.error(`nibabel timing skipped: ${r.stderr.trim().split('\n').pop()}`);
  }

  console.log(`ch2bet.nii.gz 181×217×181 uint8, median of ${REPEATS} runs (ms); nibabel read = nib.load + get_fdata (float64)`);
  console.log('| operation | coreg | nibabel |');
  console.log('|---|---:|---:|');
  for (const [what, ours, theirs] of rows) console.log(`| ${what} | ${ours.toFixed(1)} | ${theirs === undefined ? '—' : theirs.toFixed(1)} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
