// The provision workflow on the real Temporal server with scripted activities: phase order, the
// registration window, cancel at every phase, and compensations newest-first.
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Duration } from '@temporalio/common';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Activities } from '../../activities/index.js';
import { randomId } from '../../security/tokens.js';
import { createWorker } from '../../worker/create-worker.js';
import { recordHistory } from '../support/histories.js';
import { provisionWorkflowId, registerUpdate, stateQuery, type ProvisionInput } from '../../workflows/messages.js';
import type { provisionNode } from '../../workflows/provision.js';

const { EventType } = proto.temporal.api.enums.v1;

type Name = keyof Activities;
interface Script {
  /** This activity waits until it is cancelled. */
  hold?: Name;
  /** This activity fails for good. */
  fail?: Name;
}

const scripts = new Map<string, Script>();
const calls = new Map<string, Name[]>();
/** Every phase recorded, by the activities and by the recordPhase local activity. */
const phases = new Map<string, string[]>();
/** The phases recorded by the recordPhase local activity only. */
const localPhases = new Map<string, string[]>();
const entered = new Map<string, () => void>();

const jobOf = () => (Context.current().info.workflowExecution?.workflowId ?? '').replace(/^provision-/, '');

const record = (jobId: string, phase: string) => phases.set(jobId, [...(phases.get(jobId) ?? []), phase]);

/**
 * The phases the real verifyProvider and createVm record when the workflow asks them to: when they
 * start, and (the create) when the VM is made.
 */
function phasesOf(name: Name, input: unknown): { start?: string; end?: string } {
  const asked = input as { jobId?: string; recordPhases?: boolean } | undefined;
  if (name === 'verifyProvider' && asked?.jobId) return { start: 'verifying' };
  if (name === 'createVm' && asked?.recordPhases) return { start: 'provisioning', end: 'bootstrapping' };
  return {};
}

/** A fake activity: records the call, then holds or fails as the job's script says. */
function fake<R>(name: Name, result: R) {
  return async (input?: unknown): Promise<R> => {
    const jobId = jobOf();
    calls.set(jobId, [...(calls.get(jobId) ?? []), name]);
    const recorded = phasesOf(name, input);
    if (recorded.start) record(jobId, recorded.start);
    const script = scripts.get(jobId) ?? {};
    if (script.fail === name) throw ApplicationFailure.nonRetryable(`${name} broke`, 'Scripted');
    if (script.hold === name) {
      entered.get(`${jobId}:${name}`)?.();
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 200);
      try {
        await ctx.cancelled;
      } finally {
        clearInterval(beat);
      }
    }
    if (recorded.end) record(jobId, recorded.end);
    return result;
  };
}

const activities = {
  verifyProvider: fake('verifyProvider', undefined),
  createVm: fake('createVm', { vmId: 'vm-1', adopted: false }),
  deleteJobVms: fake('deleteJobVms', { deleted: ['vm-1'] }),
  deleteVm: fake('deleteVm', undefined),
  revokeRegistrationToken: fake('revokeRegistrationToken', undefined),
  bindNode: fake('bindNode', undefined),
  setNodeStatus: fake('setNodeStatus', undefined),
  unbindJobNode: fake('unbindJobNode', undefined),
  async recordPhase(input: { jobId: string; phase: string }) {
    record(input.jobId, input.phase);
    localPhases.set(input.jobId, [...(localPhases.get(input.jobId) ?? []), input.phase]);
  },
} as unknown as Activities;

let client: Client;
const taskQueue = `wf-${randomId(8)}`;
const workers: { worker: Worker; running: Promise<void>; connection: NativeConnection }[] = [];

async function runWorker(queue: string) {
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createWorker({ connection, namespace: 'default', taskQueue: queue, activities, workflowBundle: { codePath: inject('workflowBundlePath') } });
  workers.push({ worker, running: worker.run(), connection });
}

beforeAll(async () => {
  client = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }) });
  await runWorker(taskQueue);
});
afterAll(async () => {
  for (const { worker, running, connection } of workers) {
    worker.shutdown();
    await running;
    await connection.close();
  }
  await client?.connection.close();
});

/**
 * `taskTimeout`: the token check runs in the job's first workflow task (a local activity); while a
 * check is held, a cancel or an update reaches the job at the task's next heartbeat (80% of this).
 */
async function start(script: Script = {}, options: { ttlMs?: number; queue?: string; taskTimeout?: Duration } = {}) {
  const jobId = randomId(12);
  scripts.set(jobId, script);
  const input: ProvisionInput = { jobId, tenantId: 't1', provider: 'local', region: 'local', plan: 'local-1', labels: {}, registrationTtlMs: options.ttlMs ?? 30_000 };
  const handle = await client.workflow.start<typeof provisionNode>('provisionNode', {
    taskQueue: options.queue ?? taskQueue,
    workflowId: provisionWorkflowId(jobId),
    args: [input],
    ...(options.taskTimeout && { workflowTaskTimeout: options.taskTimeout }),
  });
  return { jobId, handle };
}

/** Resolves when the job's activity `name` has started (it must be the script's `hold`). */
function whenEntered(jobId: string, name: Name): Promise<void> {
  return new Promise((resolve) => entered.set(`${jobId}:${name}`, resolve));
}

async function waitForPhase(handle: Awaited<ReturnType<typeof start>>['handle'], phase: string) {
  await expect.poll(async () => (await handle.query(stateQuery)).phase, { timeout: 10_000 }).toBe(phase);
}

/** The BerthPhase values the job upserted, in order. */
async function shownPhases(handle: Awaited<ReturnType<typeof start>>['handle']): Promise<string[]> {
  return ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.BerthPhase?.data;
    return data ? [JSON.parse(new TextDecoder().decode(data)) as string] : [];
  });
}

async function failureOf(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause;
}

/** The compensations after the VM's create, newest first: the node (by job id), the VM, the token. */
const UNDO = ['unbindJobNode', 'deleteJobVms', 'revokeRegistrationToken'];

describe('provisionNode', () => {
  it('takes a node the API bound: ready in the task that accepts the update, no activity', async () => {
    const { jobId, handle } = await start();
    await waitForPhase(handle, 'bootstrapping');
    const nodeId = `node-${jobId}`;
    const answer = await handle.executeUpdate(registerUpdate, { args: [{ hostname: 'h1' }, { nodeId }] });
    expect(answer).toEqual({ nodeId });
    expect(await handle.result()).toEqual({ jobId, nodeId, vmId: 'vm-1' });
    // 'registering' is the API's to record, in the transaction that bound the node.
    expect(phases.get(jobId)).toEqual(['verifying', 'provisioning', 'bootstrapping', 'ready']);
    // The activities record the phases they pass through: one local activity is left, for 'ready'.
    expect(localPhases.get(jobId)).toEqual(['ready']);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm']);
    const events = ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);
    const accepted = events.indexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
    const completed = events.indexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    expect(accepted).toBeGreaterThan(0);
    // Accepted, answered and the job finished with no workflow task in between.
    expect(events.slice(accepted, completed)).not.toContain(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    expect(events.slice(accepted, completed)).toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
    // BerthPhase shows the waits and the ending, not the provider check.
    expect(await shownPhases(handle)).toEqual(['provisioning', 'bootstrapping', 'ready']);
    await recordHistory(client, handle.workflowId, 'provision-ready-verify-locally');
  });

  it('answers a repeated API-bound registration with the same node id', async () => {
    const { jobId, handle } = await start();
    await waitForPhase(handle, 'bootstrapping');
    const nodeId = `node-${jobId}`;
    const answers = await Promise.allSettled([1, 2].map((n) => handle.executeUpdate(registerUpdate, { args: [{ hostname: `h${n}` }, { nodeId }] })));
    // The first delivered takes the node and the job ends ready in that task. A repeat delivered
    // with it gets the same node id; one the server admitted after that task began is aborted by
    // the close (the API then answers from the job's outcome). Never another node or a refusal.
    expect(answers.some((a) => a.status === 'fulfilled')).toBe(true);
    for (const answer of answers) {
      if (answer.status === 'fulfilled') expect(answer.value).toEqual({ nodeId });
      else expect(answer.reason).toMatchObject({ name: WorkflowNotFoundError.name, message: expect.stringMatching(/aborted by closing workflow/) });
    }
    expect(await handle.result()).toEqual({ jobId, nodeId, vmId: 'vm-1' });
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm']);
  });

  it('walks the phases in order and answers the registration with the node id', async () => {
    const { jobId, handle } = await start();
    await waitForPhase(handle, 'bootstrapping');
    const answer = await handle.executeUpdate(registerUpdate, { args: [{ hostname: 'h1', arch: 'x86' }] });
    expect(answer).toEqual({ nodeId: `node-${jobId}` });
    expect(await handle.result()).toEqual({ jobId, nodeId: `node-${jobId}`, vmId: 'vm-1' });
    expect(phases.get(jobId)).toEqual(['verifying', 'provisioning', 'bootstrapping', 'registering', 'ready']);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', 'bindNode']);
    // A second registration for a ready job is refused.
    await expect(handle.executeUpdate(registerUpdate, { args: [{ hostname: 'h2' }] })).rejects.toThrow();
  });

  it('answers a repeated registration (a lost first answer) with the same node id', async () => {
    const { jobId, handle } = await start();
    await waitForPhase(handle, 'bootstrapping');
    const answers = await Promise.all([1, 2].map((n) => handle.executeUpdate(registerUpdate, { args: [{ hostname: `h${n}` }] })));
    expect(answers).toEqual([{ nodeId: `node-${jobId}` }, { nodeId: `node-${jobId}` }]);
    await handle.result();
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', 'bindNode']);
  });

  it('refuses a registration before the VM is being made', async () => {
    const { jobId, handle } = await start({ hold: 'verifyProvider' }, { taskTimeout: '2s' });
    const held = whenEntered(jobId, 'verifyProvider');
    await held;
    await expect(handle.executeUpdate(registerUpdate, { args: [{ hostname: 'h1' }] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await handle.cancel();
    await failureOf(handle.result());
  });

  it('fails after the registration window and deletes the VM, then revokes the token', async () => {
    const { jobId, handle } = await start({}, { ttlMs: 1_000 });
    const cause = await failureOf(handle.result());
    expect(cause?.message).toBe('the VM did not call back within 1s');
    expect(phases.get(jobId)?.slice(-3)).toEqual(['bootstrapping', 'decommissioning', 'failed']);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', ...UNDO]);
  });

  it('fails with the reason of a failed create, and still cleans up', async () => {
    const { jobId, handle } = await start({ fail: 'createVm' });
    const cause = await failureOf(handle.result());
    expect(cause?.message).toMatch(/createVm broke/);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', ...UNDO]);
    expect(phases.get(jobId)?.at(-1)).toBe('failed');
  });

  it('keeps going through the compensations when one fails, and reports it', async () => {
    const { jobId, handle } = await start({ fail: 'deleteJobVms' }, { ttlMs: 1_000 });
    const cause = await failureOf(handle.result());
    expect(cause?.message).toMatch(/did not call back/);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', ...UNDO]);
    const state = await handle.query(stateQuery);
    expect(state.error).toMatch(/could not delete the VM: .*deleteJobVms broke/);
    await recordHistory(client, handle.workflowId, 'provision-compensation-failed');
  });
});

describe('cancel tears down whatever exists, at every phase', () => {
  it('queued: nothing was made, nothing to undo', async () => {
    const queue = `${taskQueue}-queued`;
    const { jobId, handle } = await start({}, { queue });
    await handle.cancel(); // no worker on that queue yet: the job is still queued
    await runWorker(queue);
    expect(await failureOf(handle.result())).toBeInstanceOf(CancelledFailure);
    expect(calls.get(jobId) ?? []).toEqual([]);
    expect(phases.get(jobId)).toEqual(['decommissioning', 'cancelled']);
    await recordHistory(client, handle.workflowId, 'provision-cancelled-queued');
  });

  it.each([
    ['verifying', 'verifyProvider', ['verifyProvider']],
    ['provisioning', 'createVm', ['verifyProvider', 'createVm', ...UNDO]],
  ] as const)('%s', async (phase, hold, expected) => {
    const { jobId, handle } = await start({ hold }, { taskTimeout: '2s' });
    await whenEntered(jobId, hold);
    await handle.cancel();
    expect(await failureOf(handle.result())).toBeInstanceOf(CancelledFailure);
    expect(calls.get(jobId)).toEqual(expected);
    expect(phases.get(jobId)).toContain(phase);
    expect(phases.get(jobId)?.slice(-2)).toEqual(['decommissioning', 'cancelled']);
    await recordHistory(client, handle.workflowId, `provision-cancelled-${phase}-verify-locally`);
  });

  it('bootstrapping', async () => {
    const { jobId, handle } = await start();
    await waitForPhase(handle, 'bootstrapping');
    await handle.cancel();
    expect(await failureOf(handle.result())).toBeInstanceOf(CancelledFailure);
    // The node the API may have bound is unbound by job id, though the workflow never heard of it.
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', ...UNDO]);
    expect(phases.get(jobId)?.slice(-2)).toEqual(['decommissioning', 'cancelled']);
    expect((await handle.query(stateQuery)).error).toBe('cancelled on request');
    expect(await shownPhases(handle)).toEqual(['provisioning', 'bootstrapping', 'decommissioning', 'cancelled']);
    await recordHistory(client, handle.workflowId, 'provision-cancelled-bootstrapping-phases-in-activities');
  });

  it('registering: the node is unbound first, then the VM deleted, then the token revoked', async () => {
    const { jobId, handle } = await start({ hold: 'bindNode' });
    await waitForPhase(handle, 'bootstrapping');
    const held = whenEntered(jobId, 'bindNode');
    const registration = handle.executeUpdate(registerUpdate, { args: [{ hostname: 'h1' }] });
    await held;
    await handle.cancel();
    await expect(registration).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    expect(await failureOf(handle.result())).toBeInstanceOf(CancelledFailure);
    expect(calls.get(jobId)).toEqual(['verifyProvider', 'createVm', 'bindNode', ...UNDO]);
    await recordHistory(client, handle.workflowId, 'provision-cancelled-registering');
  });
});
