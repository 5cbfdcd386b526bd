// Shared test helpers: where ../shared/data is, and small numeric assertions.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import assert from 'node:assert/strict';

/** Repository root (this file lives in test/). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Small files written by other tools, committed with the tests (test/fixtures/README.md says where from). */
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
/**
 * ../shared/data beside the repository, or undefined when it is absent (tests then skip with a message).
 * COREG_SHARED_DATA overrides the place; COREG_SHARED_DATA=none hides it (to see what a fresh clone runs).
 */
export const SHARED_DATA: string | undefined = (() => {
  const env = process.env.COREG_SHARED_DATA;
  if (env === 'none') return undefined;
  const p = env || join(REPO_ROOT, '..', 'shared', 'data');
  return existsSync(p) ? p : undefined;
})();
/** Use as the `skip` option of a test that needs ../shared/data. */
export const SKIP_NO_DATA: string | false = SHARED_DATA ? false : '../shared/data is absent';

/**
 * A file of ../shared/data by its path there ('itk/IdentityTransform.tfm'): the committed copy in test/fixtures when
 * there is one, else the shared one (throws when neither exists; guard the test with skipUnlessData).
 */
export function dataPath(rel: string): string {
  const fixture = join(FIXTURES, rel);
  if (existsSync(fixture)) return fixture;
  return sharedPath(rel);
}

/** Use as the `skip` option of a test that reads these data files: false when every one is available. */
export function skipUnlessData(...rels: string[]): string | false {
  const missing = rels.filter((r) => !existsSync(join(FIXTURES, r)) && !(SHARED_DATA && existsSync(join(SHARED_DATA, r))));
  return missing.length === 0 ? false : `needs ../shared/data (${missing.join(', ')})`;
}

export function sharedPath(rel: string): string {
  if (!SHARED_DATA) throw new Error('../shared/data is absent');
  return join(SHARED_DATA, rel);
}

export function assertClose(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);
}

export function assertArrayClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < actual.length; i++) assertClose(actual[i], expected[i], tol, `${what}[${i}]`);
}

/**
 * The `skip` option of a test that needs an independent tool: `reason` when the tool is missing, false when it is
 * there. With COREG_REQUIRE_TOOLS=1 (set by .ci/run) a missing tool fails the test run instead of skipping.
 */
export function skipUnlessTool(reason: string | false): string | false {
  if (reason && process.env.COREG_REQUIRE_TOOLS === '1') throw new Error(`COREG_REQUIRE_TOOLS=1 but ${reason}`);
  return reason;
}
