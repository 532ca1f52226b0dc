// Node-pool scenarios of `npm run bench`: one pool scaled from 0 to n and back on the emulator, and
// the node agents' heartbeats at the rate 1,000 nodes every 15 s make, against the real API process.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Db } from '../db/connect.js';
import { setNodeCredential } from '../db/node-agent.js';
import { DEFAULT_TENANT_ID } from '../db/tenants.js';
import { newSecretToken, sha256Hex } from '../security/tokens.js';
import { cpuShare } from './cpu.js';
import { percentiles, type Percentiles } from './stats.js';

export interface PoolBenchContext {
  apiUrl: string;
  auth: Record<string, string>;
  db: Db;
  client: Client;
  /** The API process, for its CPU time. */
  apiPid: number;
  log: (line: string) => void;
}

const round = (n: number) => Math.round(n * 100) / 100;
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

// ---- 1. one pool, 0 → n → 0 ----

interface PoolCounts {
  ready: number;
  provisioning: number;
  draining: number;
  unhealthy: number;
}

/**
 * When the pool's jobs reached a phase: the first and the last, in seconds after `since` (epoch ms).
 * A job records its phase just after the pool's counts change (`ready` after its node is bound,
 * `decommissioned` after its node is): waits up to 2 s for all `jobs` of them.
 */
async function phaseSpan(db: Db, pool: string, phase: string, since: number, jobs: number) {
  let times: number[];
  for (const deadline = performance.now() + 2_000; ; await sleep(100)) {
    const rows = await db
      .selectFrom('job_progress as p')
      .innerJoin('jobs as j', 'j.job_id', 'p.job_id')
      .select(['p.at'])
      .where('j.pool', '=', pool)
      .where('p.phase', '=', phase)
      .execute();
    times = rows.map((r) => Date.parse(r.at)).filter((t) => t >= since - 1_000);
    if (times.length >= jobs || performance.now() > deadline) break;
  }
  if (times.length === 0) return { jobs: 0, first_s: NaN, last_s: NaN };
  return { jobs: times.length, first_s: round((Math.min(...times) - since) / 1000), last_s: round((Math.max(...times) - since) / 1000) };
}

/**
 * A pool of the emulator's VMs (provider `local`), min 0, max n, scaled to n and back to 0.
 * The emulated VMs register at once and never heartbeat: `unhealthy_after` is 1h so none is
 * replaced during the run, and `drain_timeout` is 1s so a drained node is removed at the next pass.
 */
export async function poolScale(ctx: PoolBenchContext, size: number, timeoutS: number) {
  const { apiUrl, auth, db, client, log } = ctx;
  const name = 'bench-scale';
  const url = `${apiUrl}/cp/api/v1/cluster/pools/${name}`;
  const json = { ...auth, 'content-type': 'application/json' };
  const call = async (method: string, target: string, body?: unknown) => {
    const res = await fetch(target, { method, headers: json, ...(body !== undefined && { body: JSON.stringify(body) }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${target} answered ${res.status}: ${text}`);
    return JSON.parse(text) as { nodes: PoolCounts; workflow_id: string };
  };

  const created = await call('POST', `${apiUrl}/cp/api/v1/cluster/pools`, {
    name,
    template: { provider: 'local', region: 'local', plan: 'local-1' },
    min: 0,
    max: size,
    desired: 0,
    evaluation_interval: '1s',
    drain_timeout: '1s',
    health: { unhealthy_after: '1h' },
  });
  const workflowId = created.workflow_id;
  await sleep(1_500); // the reconciler's first pass (nothing to do)

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 250);

  /** Polls the pool's live counts every 200 ms until `done`; seconds since `started`, or NaN past the timeout. */
  const waitFor = async (started: number, done: (n: PoolCounts) => boolean) => {
    for (;;) {
      const { nodes } = await call('GET', url);
      if (done(nodes)) return round((performance.now() - started) / 1000);
      if (performance.now() - started > timeoutS * 1000) {
        log(`pool: gave up after ${timeoutS}s at ${JSON.stringify(nodes)}`);
        return NaN;
      }
      await sleep(200);
    }
  };

  try {
    // Scale out.
    const outWall = Date.now();
    const outStarted = performance.now();
    await call('PATCH', url, { desired: size });
    const readyS = await waitFor(outStarted, (n) => n.ready >= size);
    log(`pool: ${size} ready in ${readyS}s`);

    // Scale in: the reconciler drains the ready nodes, and removes them once the drain timed out.
    const inWall = Date.now();
    const inStarted = performance.now();
    await call('PATCH', url, { desired: 0 });
    const goneS = await waitFor(inStarted, (n) => n.ready + n.provisioning + n.draining + n.unhealthy === 0);
    const drains = await db.selectFrom('nodes').select('drain_requested_at').where('pool', '=', name).where('drain_requested_at', 'is not', null).execute();
    const drainTimes = drains.map((d) => Date.parse(d.drain_requested_at!));
    const removing = await phaseSpan(db, name, 'decommissioning', inWall, size);
    const scaleIn = {
      gone_s: goneS,
      timeout_s: timeoutS,
      drain_requested_s: round((Math.max(...drainTimes) - inWall) / 1000),
      removal_started: removing,
      removal_interval_ms: round(((removing.last_s - removing.first_s) * 1000) / Math.max(1, size - 1)),
      decommissioned: await phaseSpan(db, name, 'decommissioned', inWall, size),
    };
    log(`pool: all ${size} gone in ${goneS}s`);
    clearInterval(sampler);

    // Where the scale-out's time went: the reconciler admits and starts the nodes one after
    // another. Read now, as a job's `ready` phase is recorded just after its node counts as ready.
    const admitted = await phaseSpan(db, name, 'queued', outWall, size);
    const scaleOut = {
      ready_s: readyS,
      timeout_s: timeoutS,
      nodes_per_second: round(size / readyS),
      admitted,
      admission_interval_ms: round(((admitted.last_s - admitted.first_s) * 1000) / Math.max(1, size - 1)),
      vm_created: await phaseSpan(db, name, 'bootstrapping', outWall, size),
      node_ready: await phaseSpan(db, name, 'ready', outWall, size),
    };

    // The reconciler's history: the current run's events, and every run since the pool was made
    // (it continues as new past 2,000 events). Visibility lists the runs; each is described.
    const description = await client.workflow.getHandle(workflowId).describe();
    const runIds = new Set<string>([description.runId]);
    for await (const run of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runIds.add(run.runId);
    let events = 0;
    const histories = [];
    for (const runId of runIds) {
      const handle = client.workflow.getHandle(workflowId, runId);
      events += runId === description.runId ? description.historyLength : (await handle.describe()).historyLength;
      histories.push(await handle.fetchHistory());
    }
    const workflow = { id: workflowId, history_events: description.historyLength, runs: runIds.size, events_all_runs: events };

    // Deleted, so its 1 s passes do not weigh on what is measured next.
    await fetch(url, { method: 'DELETE', headers: auth });
    return {
      nodes: size,
      scale_out: { ...scaleOut, admission_cycle_ms: admissionCycle(histories.map((h) => h.events ?? [])) },
      scale_in: scaleIn,
      worker_rss_before_mb: mib(rssBefore),
      worker_rss_peak_mb: mib(rssPeak),
      workflow,
    };
  } finally {
    clearInterval(sampler);
  }
}

const E = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const eventMs = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/**
 * Where a scale-out's time goes in the reconciler, from its history (server event times, ms): the
 * admission activities (one per pass: `admitPoolNodes` admits the whole batch), their median
 * duration, and the span from the first child start asked to the last child started.
 */
function admissionCycle(runs: HistoryEvent[][]) {
  const admit = new Map<string, number>();
  const durations: number[] = [];
  let firstInitiated: number | undefined;
  let lastStarted: number | undefined;
  let children = 0;
  for (const events of runs) {
    admit.clear();
    for (const e of events) {
      const at = eventMs(e);
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && (type === 'admitPoolNodes' || type === 'admitPoolNode')) {
        admit.set(String(e.eventId), at);
      } else if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
        const scheduled = admit.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId));
        if (scheduled !== undefined) durations.push(at - scheduled);
      } else if (
        e.eventType === E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED &&
        e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name === 'provisionNode'
      ) {
        firstInitiated ??= at;
        children += 1;
      } else if (e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED && firstInitiated !== undefined && children > 0) {
        lastStarted = at;
      }
    }
  }
  return {
    admission_activities: durations.length,
    admission_activity_ms: percentiles(durations).p50,
    children_started: children,
    child_starts_span_ms: firstInitiated !== undefined && lastStarted !== undefined ? Math.round(lastStarted - firstInitiated) : null,
  };
}

// ---- 2. heartbeats ----

interface AgentNode {
  nodeId: string;
  token: string;
}

/**
 * n ready nodes with a credential, straight into the database (as registration leaves them:
 * status ready, the credential's hash set by `setNodeCredential`). Every other one is in a pool,
 * so its heartbeats also write a CPU sample. There is no such pool: nothing reconciles them.
 */
async function agentNodes(db: Db, n: number): Promise<AgentNode[]> {
  const now = new Date().toISOString();
  const nodes = Array.from({ length: n }, (_, i) => ({ nodeId: `node-bench-agent-${String(i).padStart(5, '0')}`, token: newSecretToken('bnt') }));
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < n; i += 200) {
      await trx
        .insertInto('nodes')
        .values(
          nodes.slice(i, i + 200).map((node, j) => ({
            node_id: node.nodeId,
            tenant_id: DEFAULT_TENANT_ID,
            job_id: null,
            provider: 'local',
            vm_id: null,
            hostname: node.nodeId,
            status: 'ready',
            facts: '{}',
            created_at: now,
            updated_at: now,
            pool: (i + j) % 2 === 0 ? 'bench-agents' : null,
          })),
        )
        .execute();
    }
    for (const node of nodes) {
      if (!(await setNodeCredential(trx, { nodeId: node.nodeId, tenantId: DEFAULT_TENANT_ID, hash: sha256Hex(node.token) }))) {
        throw new Error(`could not set the credential of ${node.nodeId}`);
      }
    }
  });
  return nodes;
}

export interface HeartbeatSizes {
  nodes: number;
  intervalS: number;
  seconds: number;
  burstSeconds: number;
  burstConcurrency: number;
}

/**
 * The agents' heartbeats at their real rate (n nodes, each every `intervalS`, spread evenly and sent
 * on schedule whether or not earlier ones were answered), then a closed-loop burst for the route's
 * limit. Latency is from sending the request to reading the answer.
 */
export async function heartbeats(ctx: PoolBenchContext, sizes: HeartbeatSizes) {
  const { apiUrl, db, apiPid } = ctx;
  const nodes = await agentNodes(db, sizes.nodes);
  let errors = 0;
  let drains = 0;
  const beat = async (node: AgentNode, latencies: number[]) => {
    const t = performance.now();
    const res = await fetch(`${apiUrl}/cp/api/v1/cluster/nodes/${node.nodeId}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cpu: Math.round(Math.random() * 100) / 100, memory: Math.round(Math.random() * 100) / 100, workloads: Math.floor(Math.random() * 4) }),
    });
    const body = (await res.json()) as { state?: string };
    latencies.push(performance.now() - t);
    if (res.status !== 200) errors += 1;
    else if (body.state !== 'active') drains += 1;
  };

  // What the API process uses doing nothing, to set the figures below against.
  const idle = await cpuShare(apiPid, () => sleep(3_000));

  const rate = sizes.nodes / sizes.intervalS;
  const total = Math.round(rate * sizes.seconds);
  const latencies: number[] = [];
  let lateMs = 0;
  const steady = await cpuShare(apiPid, async () => {
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      else lateMs = Math.max(lateMs, -wait);
      inflight.push(beat(nodes[i % nodes.length]!, latencies));
    }
    await Promise.all(inflight);
  });

  const burstLatencies: number[] = [];
  let next = 0;
  const burst = await cpuShare(apiPid, async () => {
    const until = performance.now() + sizes.burstSeconds * 1000;
    await Promise.all(
      Array.from({ length: sizes.burstConcurrency }, async () => {
        while (performance.now() < until) await beat(nodes[next++ % nodes.length]!, burstLatencies);
      }),
    );
  });

  const samples = await db
    .selectFrom('node_samples')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('node_id', 'like', 'node-bench-agent-%')
    .executeTakeFirstOrThrow();
  return {
    nodes: sizes.nodes,
    pooled_nodes: Math.ceil(sizes.nodes / 2),
    interval_s: sizes.intervalS,
    steady: {
      seconds: steady.seconds,
      target_per_second: round(rate),
      requests: latencies.length,
      requests_per_second: round(latencies.length / steady.seconds),
      /** How late the harness sent its latest request (its own event loop); 0 means on schedule. */
      max_send_delay_ms: round(lateMs),
      latency_ms: percentiles(latencies),
      api_cpu_share: steady.cpu_share,
    },
    burst: {
      concurrency: sizes.burstConcurrency,
      seconds: burst.seconds,
      requests_per_second: round(burstLatencies.length / burst.seconds),
      latency_ms: percentiles(burstLatencies),
      api_cpu_share: burst.cpu_share,
    },
    api_cpu_share_idle: idle.cpu_share,
    cpu_samples_written: Number(samples.n),
    errors,
    drain_answers: drains,
  };
}

export type PoolScaleResult = Awaited<ReturnType<typeof poolScale>>;
export type HeartbeatResult = Awaited<ReturnType<typeof heartbeats>>;
export type { Percentiles };
