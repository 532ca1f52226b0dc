// kill -9 of the worker while it is creating the VM, then a new worker: the job still ends ready
// with exactly one VM, because the retried create finds the VM by its job label and adopts it; the
// slot the job took at admission is used once and freed when the node goes.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { getTenant } from '../../db/tenants.js';
import { startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let stack: Stack;
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
    },
  });
  workers.push(child);
  return child;
}

beforeAll(async () => {
  stack = await startStack({ worker: false, registrationTtlMs: 120_000 });
});
async function killWorkers(): Promise<void> {
  await Promise.all(
    workers.splice(0).map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

afterEach(killWorkers);
afterAll(async () => {
  await stack?.stop();
});

it('survives kill -9 of the worker in the middle of a create with exactly one VM', { timeout: 120_000 }, async () => {
  const first = startWorkerProcess();
  // slow-create: the provider makes the VM, then takes 20s to answer, like a cloud API under load.
  const jobId = await stack.createNode({ labels: { 'berth.dev/simulate': 'slow-create' } });
  await stack.waitForPhase(jobId, ['provisioning'], 60_000);
  await expect.poll(async () => (await stack.local.listByJob(jobId)).length, { timeout: 20_000 }).toBe(1);

  const exited = new Promise((resolve) => first.once('exit', resolve));
  first.kill('SIGKILL');
  await exited;
  expect((await stack.request('GET', `/cp/api/v1/cluster/jobs/${jobId}`)).body.phase).toBe('provisioning');

  startWorkerProcess();
  try {
    const job = await stack.waitForPhase(jobId, ['ready', 'failed', 'cancelled'], 90_000);
    expect(job.phase).toBe('ready');
    const vms = await stack.local.all();
    expect(vms.map((vm) => vm.id)).toEqual([job.vm_id]);
    expect(vms[0]!.labels['berth.dev/job']).toBe(jobId);
    expect(vms[0]!.status).toBe('running');
    const nodes = (await stack.request('GET', '/cp/api/v1/cluster/nodes')).body.nodes;
    expect(nodes).toEqual([expect.objectContaining({ job_id: jobId, vm_id: job.vm_id, status: 'ready' })]);
    // The slot taken at admission, before the crash, is used by the node: counted once, not leaked.
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 1, committed_cents: 100 });
    expect((await stack.request('DELETE', `/cp/api/v1/cluster/nodes/${job.node_id}`)).status).toBe(202);
    await stack.waitForPhase(jobId, ['decommissioned']);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
  } catch (err) {
    // What the VMs saw is the first thing to look at when this fails.
    for (const vm of await stack.local.all()) {
      console.error(vm, fs.readFileSync(path.join(stack.local.vmsDir, vm.id, 'console.log'), 'utf8'));
    }
    throw err;
  }
});

it('releases the slot of a job whose worker died before the VM existed, when it is cancelled', { timeout: 120_000 }, async () => {
  // Admitted by the API while no worker runs: the slot is taken, nothing else exists yet.
  const jobId = await stack.createNode({ labels: { 'berth.dev/simulate': 'never-register' } });
  expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 1 });
  const first = startWorkerProcess();
  await stack.waitForPhase(jobId, ['verifying', 'provisioning', 'bootstrapping'], 60_000);
  const exited = new Promise((resolve) => first.once('exit', resolve));
  first.kill('SIGKILL');
  await exited;

  expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(204);
  startWorkerProcess();
  const job = await stack.waitForPhase(jobId, ['cancelled', 'failed'], 90_000);
  expect(job.phase).toBe('cancelled');
  expect(await stack.local.listByJob(jobId)).toEqual([]);
  expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
});
