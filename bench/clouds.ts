// Provider API calls per node on the real adapters: one job at a time on the Hetzner and
// DigitalOcean HTTP emulators of the end-to-end tests, counted from their request logs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudName } from '../providers/registry.js';
import { startDigitalOceanEmulator } from '../test/emulators/digitalocean.js';
import { startHetznerEmulator } from '../test/emulators/hetzner.js';
import type { Stack } from './stack.js';

interface Emulated {
  name: CloudName;
  region: string;
  plan: string;
  url: string;
  token: string;
  requests: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

export interface CloudCalls {
  /** Calls from submit until the job was ready, by method and path (ids as {id}). */
  calls: Record<string, number>;
  total: number;
  seconds: number;
}

/** Both emulators; their VMs boot 100 ms after the create and call the API back from their user-data. */
export async function startCloudEmulators() {
  const hetzner = await startHetznerEmulator({ bootDelayMs: 100 });
  const digitalocean = await startDigitalOceanEmulator({ bootDelayMs: 100 });
  const clouds: Emulated[] = [
    { name: 'hetzner', region: 'ash', plan: 'cpx11', url: hetzner.url, token: hetzner.token, requests: hetzner.requests, close: () => hetzner.close() },
    {
      name: 'digitalocean',
      region: 'fra1',
      plan: 's-1vcpu-1gb',
      url: digitalocean.url,
      token: digitalocean.token,
      requests: digitalocean.requests,
      close: () => digitalocean.close(),
    },
  ];
  return {
    apiUrls: { hetzner: hetzner.url, digitalocean: digitalocean.url },
    /** Per cloud: the first job (the API's and the worker's catalogue caches cold) and a second one (warm). */
    async measure(stack: Stack) {
      const result: Record<string, { first_job: CloudCalls; per_job: CloudCalls }> = {};
      for (const cloud of clouds) {
        await verifyToken(stack, cloud);
        const first = await oneJob(stack, cloud);
        const second = await oneJob(stack, cloud);
        result[cloud.name] = { first_job: first, per_job: second };
      }
      return result;
    },
    close: () => Promise.all(clouds.map((c) => c.close())),
  };
}

async function verifyToken(stack: Stack, cloud: Emulated): Promise<void> {
  const res = await fetch(`${stack.apiUrl}/cp/api/v1/cluster/providers/${cloud.name}/verify`, {
    method: 'POST',
    headers: { ...stack.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ token: cloud.token }),
  });
  if (!res.ok) throw new Error(`verify ${cloud.name} answered ${res.status}: ${await res.text()}`);
}

async function oneJob(stack: Stack, cloud: Emulated): Promise<CloudCalls> {
  const from = cloud.requests.length;
  const started = performance.now();
  const { jobId } = await stack.submit({ provider: cloud.name, region: cloud.region, plan: cloud.plan });
  for (;;) {
    const res = await fetch(`${stack.apiUrl}/cp/api/v1/cluster/jobs/${jobId}`, { headers: stack.auth });
    const job = (await res.json()) as { phase: string; error?: string };
    if (job.phase === 'ready') break;
    if (['failed', 'cancelled'].includes(job.phase)) throw new Error(`${cloud.name} job ${job.phase}: ${job.error}`);
    if (performance.now() - started > 60_000) throw new Error(`${cloud.name} job still ${job.phase} after 60 s`);
    await sleep(100);
  }
  const calls: Record<string, number> = {};
  for (const r of cloud.requests.slice(from)) {
    const key = `${r.method} ${r.path.replace(/\/\d+(?=\/|$)/g, '/{id}')}`;
    calls[key] = (calls[key] ?? 0) + 1;
  }
  return { calls, total: cloud.requests.length - from, seconds: Math.round((performance.now() - started) / 10) / 100 };
}
