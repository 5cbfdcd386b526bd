// Fusion and --select K comparison on ONE set of registrations: reads the warped atlases that
// `npm run bench -- --only atlas` keeps from its majority run (bench/out/runs/atlas/warped, registrations do not
// depend on the fusion), fuses them with every method, ranks the atlases as `--select` does and reports Dice
// against the target's true labels and the time `--select K` would take (ranking + the K registrations).
//   node --import tsx bench/atlas-fusion.ts
import { existsSync, readFileSync } from 'node:fs';
import { readImageFile } from '../src/io/node.js';
import { createImageLike } from '../src/image/image.js';
import { labelOverlap } from '../src/report/overlap.js';
import { jointLabelFusion, locallyWeightedVote, majorityVote, staple } from '../src/segment/fusion.js';
import { rankAtlases } from '../src/segment/select.js';

const W = 'bench/out/runs/atlas/warped/';
const C = 'bench/cache/atlas/cases/';
const REPORT = 'bench/out/runs/atlas/default-majority.json';
if (!existsSync(W) || !existsSync(REPORT)) {
  console.error('atlas-fusion: run `npm run bench -- --only atlas` first (it keeps the warped atlases)');
  process.exit(0);
}
const ids = [1, 2, 3, 4, 5];
const target = readImageFile(`${C}subj6_t1.nii.gz`);
const truth = readImageFile(`${C}subj6_aal.nii.gz`);
const votes = ids.map((i) => readImageFile(`${W}${i}_subj${i}_t1_labels.nii.gz`).data as ArrayLike<number>);
const images = ids.map((i) => Float32Array.from(readImageFile(`${W}${i}_subj${i}_t1_image.nii.gz`).data as ArrayLike<number>));
const tgt = Float32Array.from(target.data as ArrayLike<number>);
const report = JSON.parse(readFileSync(REPORT, 'utf8')) as { timings: { registrations: { seconds: number }[] } };
const registrationSeconds = report.timings.registrations.map((r) => r.seconds);

function dice(labels: ArrayLike<number>): number {
  const img = createImageLike(truth, 'int32');
  for (let i = 0; i < img.data.length; i++) img.data[i] = labels[i];
  return labelOverlap(img, truth).mean ?? 0;
}
function timed<T>(f: () => T): [T, number] {
  const t = performance.now();
  const r = f();
  return [r, (performance.now() - t) / 1000];
}

console.log('| method | mean Dice (116 AAL labels) | fusion seconds |');
console.log('|---|---|---|');
ids.forEach((id, i) => console.log(`| single atlas ${id} | ${dice(votes[i]).toFixed(4)} | |`));
for (const [name, fuse] of [
  ['majority', () => majorityVote(votes).labels],
  ['locally weighted', () => locallyWeightedVote(votes, images, tgt, target.size).labels],
  ['STAPLE', () => staple(votes).labels],
  ['joint label fusion', () => jointLabelFusion(votes, images, tgt, target.size).labels],
] as const) {
  const [labels, s] = timed(fuse);
  console.log(`| ${name} | ${dice(labels).toFixed(4)} | ${s.toFixed(1)} |`);
}

const t0 = performance.now();
const ranking = await rankAtlases(target, ids.map((i) => ({ image: readImageFile(`${C}subj${i}_t1.nii.gz`), name: `subj${i}` })));
const rankSeconds = (performance.now() - t0) / 1000;
console.log(`\nranking (NCC after a cheap affine, ${rankSeconds.toFixed(1)} s): ${ranking.map((r) => `${r.name} ${r.score?.toFixed(4)}`).join(', ')}\n`);
console.log('| --select K | atlases | majority Dice | JLF Dice | seconds (ranking + K registrations) |');
console.log('|---|---|---|---|---|');
for (let k = 1; k <= ids.length; k++) {
  const sel = ranking.slice(0, k).map((r) => r.index);
  const majority = dice(majorityVote(sel.map((i) => votes[i])).labels);
  const jlf = k >= 2 ? dice(jointLabelFusion(sel.map((i) => votes[i]), sel.map((i) => images[i]), tgt, target.size).labels) : majority;
  const seconds = rankSeconds + sel.reduce((s, i) => s + registrationSeconds[i], 0);
  console.log(`| ${k} | ${sel.map((i) => ids[i]).join(', ')} | ${majority.toFixed(4)} | ${jlf.toFixed(4)} | ${seconds.toFixed(0)} |`);
}
