#!/usr/bin/env node
// The `coreg` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare) or `npm run build`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `coreg --version` alone answers without loading the command modules (≈ 140 ms of module loading).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

// `register` starts with V8's young generation kept at its first size (loading the modules would already grow it);
// the command lets it grow again once its images show a large job (src/cli/collect.ts: youngGenerationGrows).
if (argv.find((a) => !a.startsWith('-')) === 'register') (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');

// The bundle (scripts/bundle-cli.mjs: less memory and start-up than ~120 modules) unless a later `tsc` made dist/cli/
// newer than it; then dist/cli/ itself.
const modules = new URL('../dist/cli/main.js', import.meta.url);
const bundle = new URL('../dist/coreg/main.js', import.meta.url);
const mtime = (u) => statSync(fileURLToPath(u), { throwIfNoEntry: false })?.mtimeMs;
const main = (mtime(bundle) ?? -Infinity) >= (mtime(modules) ?? Infinity) ? bundle : modules;
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('coreg: error: dist/cli/main.js: not built; run `npm run build` (or `npm ci`) first\n');
  process.exit(1);
}
const { run, installProcessHandlers } = await import(main.href);
installProcessHandlers();
process.exitCode = await run(argv);
