// The API under read load, and jobs held waiting for their VMs.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Stack } from './stack.js';
import { percentiles } from './stats.js';

const round = (n: number) => Math.round(n * 100) / 100;

/** Closed-loop load: `concurrency` clients requesting `url` back to back for `seconds`. */
export async function load(url: string, headers: Record<string, string>, seconds: number, concurrency = 16) {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${url} answered ${res.status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { requests_per_second: round(latencies.length / seconds), latency_ms: percentiles(latencies) };
}

export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
}

/** n jobs waiting for their VM at once; memory, and job reads meanwhile. */
export async function heldJobs(stack: Stack, n: number) {
  const { db, apiUrl, auth } = stack;
  stack.holding.on = true;
  const jobIds: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => stack.submit()));
    jobIds.push(...batch.map((j) => j.jobId));
  }
  for (;;) {
    const row = await db
      .selectFrom('jobs')
      .select(sql<number>`count(*)`.as('n'))
      .where('phase', '=', 'bootstrapping')
      .executeTakeFirstOrThrow();
    if (Number(row.n) >= n) break;
    await sleep(500);
  }
  global.gc?.();
  const memory = { worker_rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20), api_rss_mb: rssMb(stack.api.pid!) };
  const reads: number[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < Math.min(n, 800); i += 8) {
        const t = performance.now();
        const res = await fetch(`${apiUrl}/cp/api/v1/cluster/jobs/${jobIds[i]}`, { headers: auth });
        await res.arrayBuffer();
        reads.push(performance.now() - t);
      }
    }),
  );
  return { jobs: n, ...memory, get_job_ms: percentiles(reads) };
}
