import { setTimeout as sleep } from 'node:timers/promises';
import { readRegistrationEnv } from '../../activities/cloud-init.js';

export type BootMode = 'register' | 'never-register';

export interface NodeLoad {
  cpu?: number;
  memory?: number;
  workloads?: number;
}

/** The node agent of an emulated VM: what it reports, and until when (abort: deleted or stopped). */
export interface EmulatedAgent {
  load(): NodeLoad;
  signal: AbortSignal;
}

/**
 * What cloud-init inside an emulated VM does: reads the registration env from the user-data and
 * posts the token back, retrying network errors, 5xx and 429 (after their Retry-After) like the
 * real bootstrap script. With an agent, a 2xx answer that carries a node token starts heartbeats
 * like berth-agent's.
 */
export async function bootFromUserData(userData: string, signal?: AbortSignal, agent?: EmulatedAgent): Promise<number> {
  const env = readRegistrationEnv(userData);
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(env.registerUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: env.token, hostname: env.hostname }),
        signal,
      });
      const text = await res.text();
      if (res.ok && agent) startAgent(env.registerUrl, text, env.heartbeatIntervalS * 1000, agent);
      if ((res.status < 500 && res.status !== 429) || attempt >= 10) return res.status;
      const retryAfterS = Number(res.headers.get('retry-after'));
      if (retryAfterS > 0) {
        await sleep(Math.min(retryAfterS, 300) * 1000, undefined, signal ? { signal } : undefined);
        continue;
      }
    } catch (err) {
      if (signal?.aborted || attempt >= 10) throw err;
    }
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

function startAgent(registerUrl: string, answer: string, intervalMs: number, agent: EmulatedAgent): void {
  let parsed: { node_id?: unknown; node_token?: unknown };
  try {
    parsed = JSON.parse(answer) as typeof parsed;
  } catch {
    return;
  }
  const { node_id: nodeId, node_token: token } = parsed;
  // An answer without a node token (an older API) starts no agent, as on a real VM.
  if (typeof nodeId !== 'string' || !/^[a-z0-9-]+$/.test(nodeId) || typeof token !== 'string') return;
  const url = `${registerUrl.replace(/\/register$/, '')}/nodes/${nodeId}/heartbeat`;
  void heartbeat(url, token, intervalMs, agent);
}

async function heartbeat(url: string, token: string, intervalMs: number, agent: EmulatedAgent): Promise<void> {
  let draining = false;
  while (!agent.signal.aborted) {
    const { cpu = 0, memory = 0, workloads = 0 } = agent.load();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cpu, memory, workloads, ...(draining && { drained: true }) }),
        signal: agent.signal,
      });
      const state = res.ok ? ((await res.json()) as { state?: unknown }).state : (await res.text(), undefined);
      // Moving work away is the workload's business: drained from the next report on.
      if (state === 'drain') draining = true;
      if (state === 'active') draining = false;
    } catch {
      // Tried again on the next tick, like the agent.
    }
    await sleep(intervalMs, undefined, { signal: agent.signal }).catch(() => {});
  }
}
