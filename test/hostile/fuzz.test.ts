// Bounded-time fuzzing of every reader: seeded random byte mutations, truncations, insertions and digit edits of
// small valid files (NIfTI plain and gzipped, .hdr/.img, MetaImage .mha/.mhd+.raw/.mhd+.zraw, NRRD attached, gzip
// and detached, PNG, ITK .tfm, result.json folders). Every read either gives a valid image/transform or one
// CoregError line; each read ends within READ_MS; no read touches the sentinel folder beside the files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { CoregError } from '../../src/errors.js';
import { createImage, validateImage, type Image } from '../../src/image/image.js';
import { imageFileParts, inputsReadSoFar, readImageFile, trackInputs } from '../../src/io/node.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';

/** Wall-time budget of the whole fuzz run, and the bound on any single read (ms). */
const BUDGET_MS = 8000;
const READ_MS = 2000;
/** Peak RSS of this test process, MB. */
const MEMORY_MB = 600;

const ROOT = realpathSync(mkdtempSync(join(tmpdir(), 'coreg-fuzz-')));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const OUTSIDE = join(ROOT, 'outside');
mkdirSync(OUTSIDE);
writeFileSync(join(OUTSIDE, 'secret.raw'), Buffer.alloc(4096, 0x53));

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(bytes: Uint8Array, r: () => number): Uint8Array {
  const b = Uint8Array.from(bytes);
  const kind = Math.floor(r() * 5);
  const at = Math.floor(r() * b.length);
  switch (kind) {
    case 0: // flip a few bytes
      for (let k = 0, n = 1 + Math.floor(r() * 4); k < n; k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // truncate
      return b.subarray(0, at);
    case 2: {
      // insert random bytes
      const ins = Uint8Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256));
      const out = new Uint8Array(b.length + ins.length);
      out.set(b.subarray(0, at));
      out.set(ins, at);
      out.set(b.subarray(at), at + ins.length);
      return out;
    }
    case 3: {
      // make an ASCII digit in the header part huge (sizes, offsets)
      const digits: number[] = [];
      for (let i = 0; i < Math.min(b.length, 600); i++) if (b[i] >= 0x30 && b[i] <= 0x39) digits.push(i);
      if (digits.length) b[digits[Math.floor(r() * digits.length)]] = 0x39;
      return b;
    }
    default: // set a random 4-byte field near the start to a large value (binary headers)
      if (b.length > 8) {
        const p = Math.floor(r() * Math.min(b.length - 4, 360));
        b[p] = 0xff;
        b[p + 1] = 0xff;
        b[p + 2] = Math.floor(r() * 256);
        b[p + 3] = 0x7f;
      }
      return b;
  }
}

function sample(): Image {
  const img = createImage([12, 9, 3], 'int16');
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37) % 1000 - 300;
  return img;
}

interface Base {
  /** The file given to the reader. */
  main: string;
  /** Every file of the set (the main one first) with its valid bytes. */
  files: { path: string; bytes: Uint8Array }[];
  read: (path: string) => unknown;
}

function imageBase(name: string, img: Image, opts: { compress?: boolean } = {}): Base {
  const dir = join(ROOT, `${name.replace(/\W/g, '_')}${opts.compress ? '_z' : ''}`);
  mkdirSync(dir);
  const main = join(dir, name);
  const files = imageFileParts(main, img, opts).map((f) => ({ path: f.path, bytes: typeof f.data === 'string' ? new TextEncoder().encode(f.data) : f.data }));
  return { main, files, read: (p) => readImageFile(p) };
}

function bases(): Base[] {
  const img = sample();
  const png = createImage([16, 11], 'uint16');
  for (let i = 0; i < png.data.length; i++) png.data[i] = i * 97;
  const list: Base[] = [
    imageBase('a.nii', img),
    imageBase('a.nii.gz', img),
    imageBase('a.hdr', img),
    imageBase('a.mha', img),
    imageBase('a.mha', img, { compress: true }),
    imageBase('a.mhd', img),
    imageBase('a.mhd', img, { compress: true }),
    imageBase('a.nrrd', img),
    imageBase('a.nrrd', img, { compress: true }),
    imageBase('a.nhdr', img),
    imageBase('a.png', png),
  ];
  // Transform files: an ITK .tfm and a register folder (result.json naming a .tfm and a field).
  const tdir = join(ROOT, 'tfm');
  mkdirSync(tdir);
  const affine = new AffineTransform(3);
  affine.setParameters([1.1, 0.1, 0, 0, 0.9, 0.05, 0, 0, 1, 2, -3, 4]);
  list.push({ main: join(tdir, 't.tfm'), files: [{ path: join(tdir, 't.tfm'), bytes: new TextEncoder().encode(formatItkTransformFile([affine])) }], read: (p) => loadTransformChain(p, nodeTransformFiles) });
  const rdir = join(ROOT, 'result');
  mkdirSync(rdir);
  const field = createImage([5, 4, 3], 'float32', { components: 3 });
  field.data.fill(0.25);
  const fieldParts = imageFileParts(join(rdir, 'warp.nii.gz'), field);
  list.push({
    main: rdir,
    files: [
      { path: join(rdir, 'result.json'), bytes: new TextEncoder().encode(JSON.stringify({ transforms: ['warp.nii.gz', 'affine.tfm'] })) },
      { path: join(rdir, 'affine.tfm'), bytes: new TextEncoder().encode(formatItkTransformFile([affine])) },
      ...fieldParts.map((f) => ({ path: f.path, bytes: f.data as Uint8Array })),
    ],
    read: (p) => loadTransformChain(p, nodeTransformFiles),
  });
  return list;
}

test('fuzzing every reader: a valid result or one CoregError line, bounded time, nothing read outside', () => {
  trackInputs(true);
  const all = bases();
  for (const b of all) for (const f of b.files) writeFileSync(f.path, f.bytes);
  // The unmutated files read.
  for (const b of all) b.read(b.main);
  const t0 = performance.now();
  const r = rng(12);
  let runs = 0;
  let errors = 0;
  let slowest = 0;
  while (performance.now() - t0 < BUDGET_MS) {
    for (const b of all) {
      // Mutate one file of the set; restore it afterwards.
      const target = b.files[Math.floor(r() * b.files.length)];
      const bad = mutate(target.bytes, r);
      writeFileSync(target.path, bad);
      const s = performance.now();
      try {
        const out = b.read(b.main);
        if (out && typeof out === 'object' && 'data' in (out as object)) validateImage(out as Image);
      } catch (e) {
        errors++;
        if (!(e instanceof CoregError)) {
          assert.fail(`${target.path} mutated: not a CoregError: ${(e as Error)?.stack ?? String(e)}`);
        }
        assert.ok(!e.message.includes('\n') && !e.subject.includes('\n'), `one line: ${e.message}`);
      }
      const ms = performance.now() - s;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < READ_MS, `${target.path} mutated: the read took ${ms.toFixed(0)} ms`);
      writeFileSync(target.path, target.bytes);
      runs++;
    }
  }
  for (const p of inputsReadSoFar()) assert.ok(!realpathSync(p).startsWith(OUTSIDE + sep), `read ${p}`);
  const peak = process.resourceUsage().maxRSS / 1024;
  assert.ok(peak < MEMORY_MB, `peak RSS ${peak.toFixed(0)} MB`);
  assert.ok(runs > 200, `only ${runs} mutated reads in the budget`);
  assert.ok(errors > runs / 4, `mutations should mostly be caught (${errors} errors of ${runs})`);
  // Visible in the test log: how much was tried.
  console.log(`fuzz: ${runs} mutated reads, ${errors} refused, slowest ${slowest.toFixed(0)} ms, peak RSS ${peak.toFixed(0)} MB`);
  trackInputs(false);
  assert.ok(readFileSync(join(OUTSIDE, 'secret.raw')).length === 4096);
});
