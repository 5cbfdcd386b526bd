// Runs command lines in this process, one after another, and reports for each: exit code, stdout, stderr, wall
// time, the process's peak RSS so far and every file read (through coreg's tracked reads). Used by the hostile
// corpus test: node --import tsx test/hostile/runner.ts CASES.json RESULTS.json
import { readFileSync, writeFileSync } from 'node:fs';
import { run } from '../../src/cli/main.js';
import { inputsReadSoFar } from '../../src/io/node.js';

export interface RunnerResult {
  name: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set size of this process so far, MB. */
  peakMb: number;
  reads: string[];
}

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { name: string; args: string[] }[];
const results: RunnerResult[] = [];
for (const c of cases) {
  let stdout = '';
  let stderr = '';
  const t0 = performance.now();
  const code = await run(c.args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  const ms = performance.now() - t0;
  results.push({ name: c.name, code, stdout, stderr, ms, peakMb: process.resourceUsage().maxRSS / 1024, reads: inputsReadSoFar() });
}
writeFileSync(process.argv[3], JSON.stringify(results));
