// Shared test helpers: where ../shared/data is, and small numeric assertions.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import assert from 'node:assert/strict';

/** Repository root (this file lives in test/). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** ../shared/data beside the repository, or undefined when it is absent (tests then skip with a message). */
export const SHARED_DATA: string | undefined = (() => {
  const p = join(REPO_ROOT, '..', 'shared', 'data');
  return existsSync(p) ? p : undefined;
})();
/** Use as the `skip` option of a test that needs ../shared/data. */
export const SKIP_NO_DATA: string | false = SHARED_DATA ? false : '../shared/data is absent';

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
