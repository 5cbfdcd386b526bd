#!/usr/bin/env node
// The `coreg` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('coreg: error: dist/cli/main.js: not built; run `npm run build` (or `npm ci`) first\n');
  process.exit(1);
}
const { run, installProcessHandlers } = await import(main.href);
installProcessHandlers();
process.exitCode = await run(process.argv.slice(2));
