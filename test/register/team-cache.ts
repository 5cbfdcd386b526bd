/**
 * One Node team per thread count for a test file, closed when the file's tests end (the thread-invariance tests
 * run the same work on several counts; starting a team per test would dominate their time).
 */
import { after } from 'node:test';
import { createNodeTeam } from '../../src/cli/worker-pool.js';
import type { Team } from '../../src/parallel/team.js';

export function teamCache(): (threads: number) => Team {
  const teams = new Map<number, Team>();
  after(async () => {
    for (const t of teams.values()) await t.close();
  });
  return (threads) => {
    let t = teams.get(threads);
    if (!t) teams.set(threads, (t = createNodeTeam(threads)));
    return t;
  };
}
