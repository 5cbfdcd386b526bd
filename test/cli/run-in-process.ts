// The `coreg` command line in-process, its output captured (the tests' one way to call it without a subprocess).
import { run } from '../../src/cli/main.js';

export async function runCoreg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}
