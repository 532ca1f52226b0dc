// A start of the provision workflow whose outcome the API cannot know (a deadline that expired
// after the server accepted it) must not lose the job: the row is kept when the workflow exists,
// and removed (503, retry) only when Temporal says it does not.
import { ServiceError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { provisionWorkflowId } from '../../workflows/messages.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

type Start = Client['workflow']['start'];

/** The stack's client, with `workflow.start` replaced. */
function withStart(start: (real: Start, ...args: Parameters<Start>) => ReturnType<Start>): Client {
  const real = stack.client.workflow;
  const workflow = Object.create(real, { start: { value: (...args: Parameters<Start>) => start(real.start.bind(real), ...args) } });
  return Object.create(stack.client, { workflow: { value: workflow } }) as Client;
}

/** The API of the stack, talking to Temporal through `temporal`; the stack's worker runs the jobs. */
async function post(temporal: Client, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const app = createApp({ db: stack.db, temporal, providers: stack.providers, taskQueue: stack.taskQueue, registrationTtlMs: 60_000, logger: pino({ level: 'silent' }) });
  const res = await app.request('/cp/api/v1/cluster/nodes', {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1', ...body }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const jobRow = (jobId: string) => stack.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
const tenant = () => stack.db.selectFrom('tenants').selectAll().where('tenant_id', '=', stack.tenantId).executeTakeFirstOrThrow();

describe('a start whose answer is lost', () => {
  it('keeps the job when the server accepted the start, and the job runs to ready', async () => {
    let started: string | undefined;
    const temporal = withStart(async (real, type, options) => {
      await real(type, options);
      started = options.workflowId;
      throw new ServiceError('Failed to start Workflow', { cause: new Error('4 DEADLINE_EXCEEDED: Deadline exceeded') });
    });
    const res = await post(temporal, { hostname: 'lost-answer' });
    expect(res.status).toBe(202);
    const jobId = res.body.job_id;
    expect(started).toBe(provisionWorkflowId(jobId));
    expect(await jobRow(jobId)).toMatchObject({ job_id: jobId, holds_slot: 1 });
    const job = await stack.waitForPhase(jobId, ['ready', 'failed']);
    expect(job).toMatchObject({ phase: 'ready', hostname: 'lost-answer' });
  });

  it('removes the job and answers 503 when the workflow was not started', async () => {
    const before = await tenant();
    let workflowId: string | undefined;
    const temporal = withStart(async (_real, _type, options) => {
      workflowId = options.workflowId;
      throw new ServiceError('Failed to start Workflow', { cause: new Error('14 UNAVAILABLE: connection refused') });
    });
    const res = await post(temporal);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('temporal_unavailable');
    expect(res.headers.get('retry-after')).toBe('5');
    const jobId = workflowId!.replace(/^provision-/, '');
    expect(await jobRow(jobId)).toBeUndefined();
    await expect(stack.client.workflow.getHandle(workflowId!).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // The slot it took is given back.
    expect(await tenant()).toMatchObject({ reserved_nodes: before.reserved_nodes, committed_cents: before.committed_cents });
  });

  it('keeps the job when Temporal cannot say either way, so a retry with the same key starts it', async () => {
    const unreachable = () => new ServiceError('Failed to query Workflow', { cause: new Error('14 UNAVAILABLE: connection refused') });
    const temporal = withStart(async () => {
      throw unreachable();
    });
    const getHandle = (...args: Parameters<Client['workflow']['getHandle']>) =>
      Object.create(stack.client.workflow.getHandle(...args), { describe: { value: async () => Promise.reject(unreachable()) } });
    Object.defineProperty(temporal.workflow, 'getHandle', { value: getHandle });
    const key = { 'Idempotency-Key': 'unknown-start-1' };
    const first = await post(temporal, {}, key);
    expect(first.status).toBe(503);
    const rows = await stack.db.selectFrom('jobs').select('job_id').where('idempotency_key', '=', 'unknown-start-1').execute();
    expect(rows).toHaveLength(1);
    const retry = await post(stack.client, {}, key);
    expect(retry.status).toBe(202);
    expect(retry.body.job_id).toBe(rows[0]!.job_id);
    expect((await stack.waitForPhase(retry.body.job_id, ['ready', 'failed'])).phase).toBe('ready');
  });

  it('does not call an "already started" for a new row "Temporal unreachable", and keeps the row', async () => {
    const temporal = withStart(async (real, type, options) => {
      await real(type, options);
      throw new WorkflowExecutionAlreadyStartedError('Workflow execution already started', options.workflowId, 'provisionNode');
    });
    const res = await post(temporal);
    expect(res.status).toBe(202);
    const jobId = res.body.job_id;
    expect(await jobRow(jobId)).toBeDefined();
    expect((await stack.waitForPhase(jobId, ['ready', 'failed'])).phase).toBe('ready');
  });
});
