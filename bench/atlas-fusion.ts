// Every fusion and the --select K trade-off again from the warped atlases that `npm run bench -- --only atlas`
// kept for one target (bench/out/runs/atlas/target<T>/warped and its jlf.json report), without registering:
// for trying fusion settings. Dice against the target's true labels; seconds of the fusion alone.
//   node --import tsx bench/atlas-fusion.ts [TARGET]        (default 6)
import { existsSync, readFileSync } from 'node:fs';
import { readImageFile } from '../src/io/node.js';
import { rankAtlases } from '../src/segment/select.js';
import { fuseKept, readKeptWarped, selectionTradeoff } from './lib/atlas-warped.js';
import { diceScores } from './lib/labels.js';

const target = Number(process.argv[2] ?? 6);
const run = `bench/out/runs/atlas/target${target}/`;
const cases = 'bench/cache/atlas/cases/';
if (!existsSync(`${run}warped`) || !existsSync(`${run}jlf.json`)) {
  console.error(`atlas-fusion: no kept warps for target ${target}: run \`npm run bench -- --only atlas --targets ${target}\` first`);
  process.exit(1);
}
const truth = readImageFile(`${cases}subj${target}_aal.nii.gz`);
const image = readImageFile(`${cases}subj${target}_t1.nii.gz`);
const dice = (labels: ArrayLike<number>): number => diceScores(labels, truth.data).mean;
const kept = readKeptWarped(`${run}warped`);
const report = JSON.parse(readFileSync(`${run}jlf.json`, 'utf8')) as { timings: { registrations: { name: string; seconds: number }[] } };
const registrationSeconds = kept.map((a) => report.timings.registrations.find((r) => r.name.includes(`subj${a.subject}_`))?.seconds ?? NaN);

console.log(`| target subj${target} | mean Dice | fusion seconds |\n|---|---|---|`);
for (const a of kept) console.log(`| single atlas ${a.subject} | ${dice(a.labels).toFixed(4)} | |`);
for (const f of fuseKept(kept, image, ['majority', 'weighted', 'staple', 'jlf'])) console.log(`| ${f.method} | ${dice(f.labels).toFixed(4)} | ${f.seconds.toFixed(1)} |`);

const t0 = performance.now();
const ranking = await rankAtlases(image, kept.map((a) => ({ image: readImageFile(`${cases}subj${a.subject}_t1.nii.gz`), name: `subj${a.subject}` })));
const rankingSeconds = (performance.now() - t0) / 1000;
console.log(`\nranking (${rankingSeconds.toFixed(1)} s): ${ranking.map((r) => `${r.name} ${r.score?.toFixed(4) ?? 'failed'}`).join(', ')}\n`);
const order = ranking.filter((r) => r.score !== null).map((r) => r.index);
console.log('| --select K | atlases | majority Dice | JLF Dice | JLF seconds (ranking + K registrations + fusion) |\n|---|---|---|---|---|');
for (const p of selectionTradeoff(kept, image, order, registrationSeconds, rankingSeconds, dice)) {
  console.log(`| ${p.k} | ${p.subjects.join(', ')} | ${p.majorityDice.toFixed(4)} | ${p.jlfDice.toFixed(4)} | ${p.jlfSeconds.toFixed(0)} |`);
}
