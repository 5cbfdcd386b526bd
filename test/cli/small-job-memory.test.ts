// A small (2D) `coreg register` forces exactly two full collections: after reading its images (their decoding
// scratch) and before its outputs (its finest level's samples and costs, which would otherwise stay resident beside
// the warped images), and keeps V8's young generation at its size (no growth during the job); per-level collections
// are left out (0.03 s for no further gain). Counted from V8's own --trace-gc log ("testing" = a forced collection;
// --trace-gc-verbose gives the new space's committed size after each collection), and loads no node:child_process.
// Run as the bench runs it: bin/coreg.js over the esbuild bundle (built here from the sources; bin/coreg.js keeps the
// young generation from the start).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createImage } from '../../src/image/image.js';
import { writePng } from '../../src/io/png.js';
import { REPO_ROOT } from '../helpers.js';
import { cliBundleOptions, cliEntries } from '../../scripts/bundle-cli.js';

// A 2D slice of the bench's kind of size (220 × 200 < 2^16 pixels: a small job), enough work for V8's young
// generation to grow when let (to 4× its size in the bench's 2D case).
const W = 220;
const H = 200;
function blob(cx: number, cy: number): Uint8Array {
  const img = createImage([W, H], 'uint8');
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img.data[y * W + x] = Math.round(200 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 1500));
  return writePng(img);
}

/** Prints the Node built-in modules the process loaded, at its exit (one stderr line). */
const LIST_BUILTINS =
  'data:text/javascript,process.on("exit",()=>process.stderr.write("BUILTINS "+process.moduleLoadList.filter((m)=>m.startsWith("NativeModule ")).map((m)=>m.slice(13)).join(" ")+"\\n"))';

/** bin/coreg.js and the CLI bundle (from the sources) in `dir`, laid out as in the repository. */
async function installCli(dir: string): Promise<string> {
  await build({ ...cliBundleOptions(cliEntries(join(REPO_ROOT, 'src', 'cli'), '.ts'), join(dir, 'dist', 'coreg')), absWorkingDir: REPO_ROOT, logLevel: 'silent' });
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(REPO_ROOT, 'bin', 'coreg.js'), join(dir, 'bin', 'coreg.js'));
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  // bin/coreg.js runs the bundle when dist/cli/main.js is older
  mkdirSync(join(dir, 'dist', 'cli'));
  writeFileSync(join(dir, 'dist', 'cli', 'main.js'), '');
  utimesSync(join(dir, 'dist', 'cli', 'main.js'), new Date(2000, 0, 1), new Date(2000, 0, 1));
  return join(dir, 'bin', 'coreg.js');
}

test('a small register forces two full collections (after reading, before the outputs) and keeps its young generation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-small-gc-'));
  try {
    const coreg = await installCli(join(dir, 'cli'));
    writeFileSync(join(dir, 'f.png'), blob(110, 100));
    writeFileSync(join(dir, 'm.png'), blob(118, 94));
    const r = spawnSync(
      process.execPath,
      ['--trace-gc', '--trace-gc-verbose', '--import', LIST_BUILTINS, coreg, 'register', '--fixed', join(dir, 'f.png'), '--moving', join(dir, 'm.png'), '--out', join(dir, 'r'), '--transform', 'affine', '--metric', 'mse', '--quiet'],
      { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'r', 'warped.nii.gz')));
    const lines = r.stdout.split('\n');
    const forced = lines.filter((l) => /Mark-Compact.*\btesting\b/.test(l));
    assert.equal(forced.length, 2, forced.join('\n'));
    // the new space's committed size after every collection stays at its first
    const committed = lines.flatMap((l) => /New space,.*committed:\s*(\d+) KB/.exec(l)?.[1] ?? []).map(Number);
    assert.ok(committed.length >= 3, 'no --trace-gc-verbose new-space lines');
    assert.ok(committed.every((c) => c <= committed[0]), `the new space grew: ${committed.join(', ')} KB`);
    // commander's node:child_process (and the dgram … it brings) is loaded only if ever used (bundle-cli.ts)
    const builtins = (/^BUILTINS (.*)$/m.exec(r.stderr)?.[1] ?? '').split(' ');
    assert.ok(builtins.includes('zlib'), r.stderr);
    for (const m of ['child_process', 'dgram']) assert.ok(!builtins.includes(m), `${m} loaded: ${builtins.join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
