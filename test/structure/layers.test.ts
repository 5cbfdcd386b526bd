// The README's layer order, checked: every import in src/ (type-only imports and re-exports included) points to a
// folder earlier in the order (or to the same folder), and no files import each other in a cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../helpers.js';

/**
 * Folders of src/ in layer order; a folder imports only from folders of an earlier rank (and from itself).
 * Entry files at the top of src/ (index.ts, node.ts) may import anything; only the last layer may import them.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'random'],
  ['image', 'optimize', 'wasm'],
  ['interpolate', 'pyramid'],
  ['transform'],
  ['io'],
  ['resample', 'metric', 'features'],
  ['register', 'landmarks', 'report'],
  ['parallel'],
  ['segment'],
  ['cli', 'web'],
];
/** Folders that may import only errors (and themselves). */
const ONLY_ERRORS = new Set(['optimize', 'wasm']);
/** Node-only modules may be imported only by these (the rest of the library must run in browsers). */
const NODE_ALLOWED = [/^cli\//, /^io\/node\.ts$/, /^parallel\/node\.ts$/, /^node\.ts$/];

const SRC = join(REPO_ROOT, 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file names: imports, `import type`, re-exports, dynamic imports, `new URL(…)` workers. */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const specs = info.importedFiles.map((f) => f.fileName);
  // Modules started as workers: new URL('./worker.js', import.meta.url), with `${ext}` for the .ts/.js ending.
  for (const m of text.matchAll(/new URL\(\s*[`'"]([^`'"]+)[`'"]\s*,\s*import\.meta\.url\s*\)/g)) {
    specs.push(m[1].replace(/\$\{[^}]*\}$/, '.js'));
  }
  return specs;
}

function rankOf(folder: string): number {
  const r = LAYERS.findIndex((l) => l.includes(folder));
  return r;
}

/** Entry files at the top of src/: the public `coreg` and `coreg/node` modules. */
const ENTRIES = new Set(['index.ts', 'node.ts']);

/**
 * The layer a src-relative file belongs to: its folder ('register/syn.ts' → 'register'), a top-level module by its
 * name ('errors.ts' → 'errors'), or '' for an entry file.
 */
function folderOf(rel: string): string {
  const i = rel.indexOf('/');
  if (i >= 0) return rel.slice(0, i);
  return ENTRIES.has(rel) ? '' : rel.replace(/\.tsx?$/, '');
}

function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.') || !spec.endsWith('.js')) return undefined; // data files (package.json) are not modules
  const abs = resolve(dirname(from), spec).replace(/\.js$/, '.ts');
  return abs;
}

const files = sources(SRC);
const rel = (abs: string): string => relative(SRC, abs).split(sep).join('/');

test('every folder (and top-level module) of src/ has a place in the layer order', () => {
  const folders = new Set(files.map((f) => folderOf(rel(f))).filter((f) => f !== ''));
  for (const f of folders) assert.ok(rankOf(f) >= 0, `src/${f}/ is not in the layer order (test/structure/layers.test.ts, README)`);
});

test('imports run only against the layer order (type-only imports count)', () => {
  const wrong: string[] = [];
  for (const file of files) {
    const from = rel(file);
    const folder = folderOf(from);
    for (const spec of importsOf(file)) {
      const target = resolveSpec(file, spec);
      if (!target) {
        if (spec.startsWith('.')) continue;
        const nodeOnly = spec.startsWith('node:') || ['fs', 'path', 'os', 'url', 'worker_threads', 'child_process', 'zlib', 'crypto'].includes(spec);
        if (nodeOnly && !NODE_ALLOWED.some((re) => re.test(from))) wrong.push(`${from} imports the Node-only module '${spec}'`);
        if (['commander', 'cli-progress'].includes(spec) && folder !== 'cli') wrong.push(`${from} imports the command-line package '${spec}'`);
        continue;
      }
      const to = rel(target);
      assert.ok(!to.startsWith('..'), `${from} imports '${spec}' from outside src/`);
      const toFolder = folderOf(to);
      if (folder === '' || toFolder === folder) continue;
      if (toFolder === '') {
        if (!LAYERS[LAYERS.length - 1].includes(folder)) wrong.push(`${from} imports the entry file ${to}: only ${LAYERS[LAYERS.length - 1].join(' and ')} may`);
        continue;
      }
      if (ONLY_ERRORS.has(folder) && toFolder !== 'errors') { wrong.push(`${from} imports ${to}: ${folder}/ imports only errors`); continue; }
      if (!(rankOf(toFolder) < rankOf(folder))) wrong.push(`${from} imports ${to}: ${toFolder}/ is not before ${folder}/`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycles between files', () => {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps: string[] = [];
    for (const spec of importsOf(file)) {
      const t = resolveSpec(file, spec);
      if (t) deps.push(rel(t));
    }
    graph.set(rel(file), deps);
  }
  // Tarjan's strongly connected components: any component of more than one file (or a self-import) is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles, []);
});

test('the check itself sees type-only imports, re-exports, dynamic imports and worker scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-layers-'));
  try {
    const file = join(dir, 'x.ts');
    writeFileSync(file, "import type { A } from './a.js';\nexport { B } from '../b.js';\nexport * from './c.js';\nconst d = await import('./d.js');\nnew Worker(new URL(`./e${ext}`, import.meta.url));\n");
    assert.deepEqual(importsOf(file), ['./a.js', '../b.js', './c.js', './d.js', './e.js']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
