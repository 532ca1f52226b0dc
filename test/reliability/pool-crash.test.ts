// kill -9 of the worker while a pool is scaling out, and while it is being deleted, then a new
// worker: the reconciler replays to the same decisions (the same job ids, each admitted once), so
// the pool ends with exactly the nodes it asked for, one VM each, no orphan and no leaked slot;
// and a deletion cut short finishes with nothing left.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { getTenant } from '../../db/tenants.js';
import { LABEL_JOB, LABEL_POOL } from '../../providers/types.js';
import { poolWorkflowId } from '../../workflows/messages.js';
import { POOLS, poolBody, poolHelpers } from '../support/pools.js';
import { startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let stack: Stack;
let pools: ReturnType<typeof poolHelpers>;
const workers: ChildProcess[] = [];

/** The real worker entry point, as `npm start` runs it, on this stack's data dir and task queue. */
function startWorkerProcess(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: stack.address,
      BERTH_DATA_DIR: stack.dataDir,
      BERTH_TASK_QUEUE: stack.taskQueue,
      BERTH_PUBLIC_URL: stack.publicUrl,
      BERTH_LOG_LEVEL: 'error',
      BERTH_HEARTBEAT_INTERVAL: '1s',
      BERTH_REGISTRATION_TTL: '2m',
    },
  });
  workers.push(child);
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  stack = await startStack({ worker: false, registrationTtlMs: 120_000 });
  pools = poolHelpers(stack);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map(kill9));
});
afterAll(async () => {
  await stack?.stop();
});

/** Polls `read` every few milliseconds until it gives a truthy value. */
async function soon<T>(read: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what}: not within ${timeoutMs}ms`);
}

const poolJobs = (name: string) => stack.db.selectFrom('jobs').select(['job_id', 'phase', 'holds_slot']).where('pool', '=', name).execute();
const liveNodes = (name: string) =>
  stack.db.selectFrom('nodes').select(['node_id', 'job_id', 'vm_id', 'status']).where('pool', '=', name).where('status', '!=', 'decommissioned').execute();
const poolVms = async (name: string) => (await stack.local.all()).filter((vm) => vm.labels[LABEL_POOL] === name);
const settled = (n: number) => (p: any) => p.nodes.ready === n && p.nodes.provisioning === 0 && p.nodes.unhealthy === 0 && p.nodes.draining === 0;

/**
 * The reconciler's activities that ran more than once: an attempt lost with the killed worker is
 * only retried when its start-to-close timeout has passed, which is what a slow recovery waits on.
 */
async function retriedActivities(name: string): Promise<string[]> {
  const events = (await stack.client.workflow.getHandle(poolWorkflowId(stack.tenantId, name)).fetchHistory()).events ?? [];
  const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!]));
  return events
    .map((e) => e.activityTaskStartedEventAttributes)
    .filter((started) => started && (started.attempt ?? 1) > 1)
    .map((started) => {
      const s = scheduled.get(String(started!.scheduledEventId));
      return `${s?.activityType?.name} attempt ${started!.attempt} after "${started!.lastFailure?.message}" (start-to-close ${s?.startToCloseTimeout?.seconds}s)`;
    });
}

/** What to look at first when a case fails: the pool's jobs, its decisions, the VMs. */
async function explain(name: string): Promise<void> {
  console.error('jobs', await poolJobs(name));
  console.error('nodes', await stack.db.selectFrom('nodes').select(['node_id', 'job_id', 'vm_id', 'status']).where('pool', '=', name).execute());
  console.error(
    'decisions',
    (await pools.events(name)).map((e) => `${e.seq} ${e.kind}: ${e.reason}`),
  );
  for (const vm of await stack.local.all()) {
    const log = path.join(stack.local.vmsDir, vm.id, 'console.log');
    console.error(vm, fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2_000) : '(no console.log)');
  }
}

it('survives kill -9 of the worker in the middle of a scale-out: 5 nodes, 5 VMs, 5 slots', { timeout: 150_000 }, async () => {
  const name = 'crash-scale-out';
  // Unhealthy only after a long silence: the crash is the subject here, not a slow VM on a busy machine.
  await pools.create(poolBody(name, { min: 0, max: 5, desired: 0, evaluation_interval: '1s', health: { unhealthy_after: '20s' } }));
  const first = startWorkerProcess();
  const patched = await pools.request('PATCH', `${POOLS}/${name}`, { desired: 5 });
  expect(patched.status).toBe(200);

  // The reconciler has admitted its first node and is still starting the others: kill it there.
  await soon(async () => (await poolJobs(name)).length > 0, 90_000, 'the first pool job');
  await kill9(first);
  const atKill = (await poolJobs(name)).length;
  const startedAt = Date.now();
  startWorkerProcess();
  try {
    await pools.waitFor(name, settled(5), 110_000);
    const took = Math.round((Date.now() - startedAt) / 1000);
    const retried = await retriedActivities(name);
    console.info(`pool-crash: ${atKill} of 5 jobs existed at the kill; 5 ready ${took}s after the restart; retried: ${retried.join('; ') || 'none'}`);

    // Each decision admitted once: the replayed reconciler made the same 5 jobs, not new ones.
    const jobs = await poolJobs(name);
    expect(jobs).toHaveLength(5);
    // The job's phase follows its node's binding a moment later.
    await expect.poll(async () => (await poolJobs(name)).map((j) => `${j.phase} ${j.holds_slot}`), { timeout: 15_000 }).toEqual(Array(5).fill('ready 1'));

    const nodes = await pools.nodes(name);
    expect(nodes).toHaveLength(5);
    const vms = await poolVms(name);
    expect(vms).toHaveLength(5);
    const nodeOfJob = new Map(nodes.map((n) => [n.job_id!, n]));
    const matched = vms.map((vm) => nodeOfJob.get(vm.labels[LABEL_JOB]!));
    expect(matched.every((n) => n !== undefined)).toBe(true);
    expect(new Set(matched.map((n) => n!.node_id)).size).toBe(5);
    for (const vm of vms) expect(nodeOfJob.get(vm.labels[LABEL_JOB]!)!.vm_id).toBe(vm.id);
    // No orphan: every VM on the machine belongs to a ready node.
    const all = await stack.local.all();
    expect(all.map((vm) => vm.id).sort()).toEqual(vms.map((vm) => vm.id).sort());
    expect(all.every((vm) => vm.status === 'running')).toBe(true);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 5, committed_cents: 500 });

    await pools.remove(name, 90_000);
    expect(await stack.local.all()).toEqual([]);
    expect(await liveNodes(name)).toEqual([]);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
  } catch (err) {
    await explain(name);
    throw err;
  }
});

it('finishes a deletion cut short by kill -9 of the worker, leaving nothing', { timeout: 150_000 }, async () => {
  const name = 'crash-delete';
  const first = startWorkerProcess();
  await pools.create(poolBody(name, { min: 0, max: 3, desired: 3, evaluation_interval: '1s', health: { unhealthy_after: '20s' } }));
  try {
    await pools.waitFor(name, settled(3), 90_000);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 3 });
    expect((await pools.request('DELETE', `${POOLS}/${name}`)).status).toBe(202);

    // The first node is being torn down (drained, then decommissioned by its own workflow): kill there.
    await soon(
      async () => (await stack.db.selectFrom('nodes').select('status').where('pool', '=', name).where('status', '!=', 'ready').execute()).length > 0,
      60_000,
      'the first node being decommissioned',
    );
    await kill9(first);
    const atKill = await stack.db.selectFrom('nodes').select('status').where('pool', '=', name).execute();
    const startedAt = Date.now();
    startWorkerProcess();

    await expect.poll(async () => (await pools.request('GET', `${POOLS}/${name}`)).status, { timeout: 110_000, interval: 250 }).toBe(404);
    console.info(`pool-crash: nodes at the kill ${JSON.stringify(atKill.map((n) => n.status))}; pool gone ${Math.round((Date.now() - startedAt) / 1000)}s after the restart`);
    expect(await stack.local.all()).toEqual([]);
    expect(await liveNodes(name)).toEqual([]);
    const jobs = await poolJobs(name);
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.phase === 'decommissioned' && j.holds_slot === 0)).toBe(true);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
  } catch (err) {
    await explain(name);
    throw err;
  }
});
