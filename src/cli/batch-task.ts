// One task of a `coreg batch` (run by the local backend's child processes and by each Slurm array task):
// `node batch-task.js PLAN.json INDEX` registers row INDEX of the plan (see src/cli/batch.ts).
import { runTask } from './batch.js';
import { reportError } from './common.js';
import { run } from './main.js';

const io = { stdout: process.stdout, stderr: process.stderr };
const [plan, index] = process.argv.slice(2);
try {
  if (!plan || !/^\d+$/.test(index ?? '')) throw new Error('usage: batch-task PLAN.json INDEX');
  process.exitCode = await runTask(plan, Number(index), run, io);
} catch (e) {
  process.exitCode = reportError(e, io, false);
}
