// The command-line bundle (scripts/bundle-cli.ts, what bin/coreg.js runs): built here from the sources with the
// same settings, its module graph shows what each run loads. The program's own chunk holds no command; a plain
// `register` loads its command and what it runs, not the other commands, the HTML report, the progress bar,
// automated landmarks, segmentation or h5wasm (issue 13: a lean process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { build, type Metafile } from 'esbuild';
import { cliBundleOptions, cliEntries, ROOT, staticallyLoaded } from '../../scripts/bundle-cli.js';

async function bundleGraph(): Promise<Metafile> {
  const options = cliBundleOptions(cliEntries(join(ROOT, 'src', 'cli'), '.ts'), join(tmpdir(), `coreg-bundle-test-${process.pid}`));
  const r = await build({ ...options, write: false, metafile: true, absWorkingDir: ROOT, logLevel: 'silent' });
  return r.metafile;
}

function chunkOf(meta: Metafile, entry: string): string {
  const found = Object.entries(meta.outputs).find(([, o]) => o.entryPoint === entry);
  assert.ok(found, `no chunk for ${entry}`);
  return found[0];
}

test('the bundle: the program loads no command; register loads neither other commands nor optional code', async () => {
  const meta = await bundleGraph();
  const main = staticallyLoaded(meta, chunkOf(meta, 'src/cli/main.ts'));
  assert.ok(main.has('src/cli/main.ts') && main.has('node_modules/commander/index.js'));
  assert.deepEqual([...main].filter((f) => f.startsWith('src/cli/commands/')), []);

  const register = new Set([...main, ...staticallyLoaded(meta, chunkOf(meta, 'src/cli/commands/register.ts'))]);
  // what it does load: its command, the registration, the image readers
  for (const f of ['src/cli/commands/register.ts', 'src/register/register.ts', 'src/io/png.ts', 'src/io/nifti.ts']) assert.ok(register.has(f), f);
  const unexpected = [...register].filter(
    (f) =>
      (f.startsWith('src/cli/commands/') && f !== 'src/cli/commands/register.ts') ||
      /^src\/(report|segment|features|landmarks|web)\//.test(f) ||
      /^node_modules\/(cli-progress|h5wasm|@niivue)\//.test(f),
  );
  assert.deepEqual(unexpected, []);
  // and the worker entry (every helper thread) loads no command either
  const worker = staticallyLoaded(meta, chunkOf(meta, 'src/cli/worker.ts'));
  assert.deepEqual([...worker].filter((f) => f.startsWith('src/cli/commands/') || /^src\/(report|features)\//.test(f)), []);
});
