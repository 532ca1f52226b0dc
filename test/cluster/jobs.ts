// What the topology test does with jobs: submits them over several APIs with a load balancer's
// failover, reads where they are from the shared database, and measures them.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../../db/connect.js';

export const END_PHASES = ['ready', 'failed', 'cancelled'];

export interface Submitted {
  key: string;
  jobId: string;
  /** Index of the API that answered 202. */
  api: number;
}

/**
 * POST /cluster/nodes on API `first`, and on the next API when one is down or answers 5xx, as a
 * load balancer would. The Idempotency-Key makes a retry of a request that did arrive the same job.
 */
export async function submit(apiUrls: string[], first: number, key: string, token: string): Promise<Submitted> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; ; attempt++) {
    const api = (first + attempt) % apiUrls.length;
    try {
      const res = await fetch(`${apiUrls[api]}/cp/api/v1/cluster/nodes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1' }),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status === 202) return { key, jobId: ((await res.json()) as { job_id: string }).job_id, api };
      if (res.status < 500) throw new Error(`POST /cluster/nodes answered ${res.status}: ${await res.text()}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('POST')) throw err;
      // refused or reset: that API is down; the next one takes it
    }
    if (Date.now() > deadline) throw new Error(`could not submit ${key} within 60s`);
    if (attempt % apiUrls.length === apiUrls.length - 1) await sleep(500);
  }
}

/** Runs fn over items, `concurrency` at a time, in order of start. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}

export interface JobState {
  jobId: string;
  phase: string;
  vmId: string | null;
  error: string | null;
  createdAt: number;
  /** When it reached its end phase, if it has. */
  endedAt: number | undefined;
}

/** The jobs as the database has them, with when each ended. */
export async function jobStates(db: Db, jobIds: string[]): Promise<Map<string, JobState>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db.selectFrom('jobs').select(['job_id', 'phase', 'vm_id', 'error', 'created_at']).where('job_id', 'in', jobIds).execute();
  const ends = await db.selectFrom('job_progress').select(['job_id', 'at']).where('job_id', 'in', jobIds).where('phase', 'in', END_PHASES).execute();
  const endedAt = new Map(ends.map((e) => [e.job_id, Date.parse(String(e.at))]));
  return new Map(
    rows.map((r) => [r.job_id, { jobId: r.job_id, phase: r.phase, vmId: r.vm_id, error: r.error, createdAt: Date.parse(String(r.created_at)), endedAt: endedAt.get(r.job_id) }]),
  );
}

/** Polls until every job has ended. */
export async function waitForAllEnded(db: Db, jobIds: string[], timeoutMs: number): Promise<Map<string, JobState>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await jobStates(db, jobIds);
    const open = [...states.values()].filter((s) => !END_PHASES.includes(s.phase));
    if (states.size === jobIds.length && open.length === 0) return states;
    if (Date.now() > deadline) {
      const phases = open.map((s) => `${s.jobId}: ${s.phase}`).slice(0, 10);
      throw new Error(`${open.length} of ${jobIds.length} jobs have not ended after ${timeoutMs / 1000}s: ${phases.join(', ')}`);
    }
    await sleep(500);
  }
}

/** The API a VM registered with: its agent's heartbeat URL, written from the register answer. */
export function registeredVia(vmsDir: string, vmId: string): string | undefined {
  try {
    const env = fs.readFileSync(path.join(vmsDir, vmId, 'rootfs', 'etc', 'berth', 'node.env'), 'utf8');
    return /^BERTH_HEARTBEAT_URL=(https?:\/\/[^/]+)/m.exec(env)?.[1];
  } catch {
    return undefined;
  }
}

/** The API a VM was told to call back: the register URL in its user-data. */
export function toldToCall(vmsDir: string, vmId: string): string | undefined {
  const userData = fs.readFileSync(path.join(vmsDir, vmId, 'user-data'), 'utf8');
  return /(https?:\/\/[^/\s'"]+)\/cp\/api\/v1\/cluster\/register/.exec(userData)?.[1];
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * What the VMs' consoles say of their registrations: `cut` (refused 401: a token lost with its
 * claim), `blocked` (refused 429 by the failure limiter; local VMs all call from 127.0.0.1) and
 * `leased` (told 503 to wait: a claim of a killed API's attempt still held the token, and the
 * retry delivered it once the claim lapsed).
 */
export function cutRegistrations(vmsDir: string): { cut: Set<string>; blocked: Set<string>; leased: Set<string> } {
  const cut = new Set<string>();
  const blocked = new Set<string>();
  const leased = new Set<string>();
  for (const vmId of fs.readdirSync(vmsDir).filter((e) => !e.startsWith('.'))) {
    try {
      const job = (JSON.parse(fs.readFileSync(path.join(vmsDir, vmId, 'meta.json'), 'utf8')) as { labels: Record<string, string> }).labels['berth.dev/job']!;
      const output = fs.readFileSync(path.join(vmsDir, vmId, 'console.log'), 'utf8');
      if (output.includes('registration refused (401)')) cut.add(job);
      if (output.includes('not registered yet (429)')) blocked.add(job);
      if (output.includes('not registered yet (503)')) leased.add(job);
    } catch {
      // a VM being deleted
    }
  }
  return { cut, blocked, leased };
}

/** The register round trips the APIs logged (info level: one line per request), in ms. */
export function registerLatencies(logFiles: string[]): { p50: number; p95: number; count: number } {
  const ms: number[] = [];
  for (const file of logFiles) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('/cluster/register')) continue;
      try {
        const entry = JSON.parse(line) as { msg?: string; path?: string; status?: number; ms?: number };
        if (entry.msg === 'request' && entry.path?.endsWith('/cluster/register') && entry.status === 200 && entry.ms !== undefined) ms.push(entry.ms);
      } catch {
        // a line cut by a kill
      }
    }
  }
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), count: ms.length };
}
