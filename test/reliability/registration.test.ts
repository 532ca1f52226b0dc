// The register path against the real API, worker and database (each dialect): the API binds the
// node in the token's transaction, so a job that ends around that moment must still leave no ready
// node, and a registration cut short by a crash of the API must not lose the one-time token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPhase } from '../../db/jobs.js';
import { registerNode } from '../../db/registration.js';
import { deriveRegistrationToken, newSecretToken, sha256Hex } from '../../security/tokens.js';
import { provisionWorkflowId, registerUpdate, stateQuery } from '../../workflows/messages.js';
import { dialects } from '../support/databases.js';
import { historyText, startStack, type Stack } from '../support/stack.js';

const NEVER_REGISTER = { labels: { 'berth.dev/simulate': 'never-register' } };
const FINAL = ['ready', 'failed', 'cancelled'] as const;

describe.each(dialects())('%s', (_name, database) => {
  let stack: Stack;
  beforeAll(async () => {
    // Claims last deliveryTimeoutMs + 3 s: 6 s.
    stack = await startStack({ database, deliveryTimeoutMs: 3_000, registrationTtlMs: 120_000 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** A job whose VM is up and waiting to call back (it never does on its own), and its token. */
  async function waitingJob(stackOf = stack) {
    const jobId = await stackOf.createNode(NEVER_REGISTER);
    await stackOf.waitForPhase(jobId, ['bootstrapping']);
    return { jobId, token: deriveRegistrationToken(stackOf.registrationKey, stackOf.tenantId, jobId) };
  }
  const register = (token: string, stackOf = stack) => stackOf.request('POST', '/cp/api/v1/cluster/register', { token, hostname: 'vm-1' });
  const nodesOf = (jobId: string, stackOf = stack) => stackOf.db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).execute();
  const readyNodes = async (jobId: string, stackOf = stack) => (await nodesOf(jobId, stackOf)).filter((n) => n.status === 'ready');

  it('leaves no ready node for a cancelled job, however the cancel and the callback interleave', { timeout: 180_000 }, async () => {
    const jobs = await Promise.all(Array.from({ length: 6 }, () => waitingJob()));
    // The cancel goes from well before to well after the callback.
    await Promise.all(
      jobs.map(async ({ jobId, token }, i) => {
        const offset = (i - 2) * 25;
        await Promise.all([
          (async () => {
            if (offset < 0) await new Promise((r) => setTimeout(r, -offset));
            // Like the bootstrap: a 503 (the update was cut short by the cancel) is tried again.
            let res = await register(token);
            while (res.status === 503) {
              await new Promise((r) => setTimeout(r, 500));
              res = await register(token);
            }
            expect([200, 401, 409]).toContain(res.status);
          })(),
          (async () => {
            if (offset > 0) await new Promise((r) => setTimeout(r, offset));
            expect([204, 409]).toContain((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status);
          })(),
        ]);
      }),
    );
    for (const { jobId } of jobs) {
      const job = await stack.waitForPhase(jobId, [...FINAL], 60_000);
      // Ready with exactly its node, or ended with none.
      expect(await readyNodes(jobId)).toHaveLength(job.phase === 'ready' ? 1 : 0);
      expect((await nodesOf(jobId)).length).toBeLessThanOrEqual(1);
    }
  });

  it('unbinds a node the API bound but never delivered (the API died), when the job is cancelled', async () => {
    const { jobId, token } = await waitingJob();
    // What the API does in its transaction; then it "dies" before delivering the update.
    const bound = await registerNode(stack.db, { token, facts: { hostname: 'vm-1' }, credentialHash: sha256Hex(newSecretToken('bnt')) });
    expect(bound.outcome).toBe('bound');
    expect(await readyNodes(jobId)).toHaveLength(1);
    expect((await stack.request('GET', `/cp/api/v1/cluster/jobs/${jobId}`)).body.phase).toBe('registering');

    expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(204);
    expect((await stack.waitForPhase(jobId, [...FINAL])).phase).toBe('cancelled');
    expect(await nodesOf(jobId)).toEqual([expect.objectContaining({ status: 'decommissioned', agent_token_hash: null })]);
    // A delivery that arrives after the cancel (a held update) is refused and binds nothing again.
    await expect(
      stack.client.workflow.getHandle(provisionWorkflowId(jobId)).executeUpdate(registerUpdate, { args: [{ hostname: 'vm-1' }, { nodeId: `node-${jobId}` }] }),
    ).rejects.toThrow();
    expect(await readyNodes(jobId)).toEqual([]);
    expect(await stack.local.listByJob(jobId)).toEqual([]);
  });

  it('binds no node once the job has ended: its token is refused', async () => {
    const { jobId, token } = await waitingJob();
    expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(204);
    await stack.waitForPhase(jobId, [...FINAL]);
    expect((await register(token)).status).toBe(401);
    expect(await nodesOf(jobId)).toEqual([]);
  });

  it('delivers a retry to the workflow even when the job row says ready from a task its worker never finished', { timeout: 60_000 }, async () => {
    const { jobId, token } = await waitingJob();
    const nodeId = `node-${jobId}`;
    // The API bound the node and delivered the update; the worker took it, recorded 'ready' (a local
    // activity, before its task completes) and died, and the API died too: the update is gone.
    expect((await registerNode(stack.db, { token, facts: { hostname: 'vm-1' }, credentialHash: sha256Hex(newSecretToken('bnt')) })).outcome).toBe('bound');
    await recordPhase(stack.db, { jobId, phase: 'ready', at: new Date().toISOString(), nodeId });
    const handle = stack.client.workflow.getHandle(provisionWorkflowId(jobId));
    expect((await handle.query(stateQuery)).phase).toBe('bootstrapping');

    // The VM's retry, once the dead attempt's claim lapsed, reaches the workflow.
    const held = await register(token);
    expect(held.status).toBe(503);
    await new Promise((r) => setTimeout(r, Number(held.headers.get('retry-after')) * 1000 + 200));
    const res = await register(token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ node_id: nodeId, job_id: jobId });
    expect((await handle.query(stateQuery)).phase).toBe('ready');
    expect(await handle.result()).toMatchObject({ nodeId });
    expect(await readyNodes(jobId)).toHaveLength(1);

    // Once the workflow has ended ready, a repeat whose earlier answer was lost before the token was
    // spent (its claim lapsed) is answered from the job's outcome: the same node, still ready.
    await stack.db.updateTable('registration_tokens').set({ used_at: null, claimed_at: null }).where('job_id', '=', jobId).execute();
    const late = await register(token);
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ node_id: nodeId, job_id: jobId });
    expect(await readyNodes(jobId)).toHaveLength(1);
  });

  it('lets the VM retry a registration whose API died after the claim: one node, the new credential', { timeout: 60_000 }, async () => {
    const { jobId, token } = await waitingJob();
    const lost = newSecretToken('bnt');
    const died = await registerNode(stack.db, { token, facts: { hostname: 'vm-1' }, credentialHash: sha256Hex(lost), leaseMs: 6_000 });
    expect(died.outcome).toBe('bound');

    // While the dead attempt's claim holds, the VM is told when to come back, not refused.
    const held = await register(token);
    expect(held.status).toBe(503);
    expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, Number(held.headers.get('retry-after')) * 1000 + 200));

    const res = await register(token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ node_id: `node-${jobId}`, job_id: jobId });
    const job = await stack.waitForPhase(jobId, ['ready']);
    expect(job.node_id).toBe(`node-${jobId}`);
    const nodes = await nodesOf(jobId);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ status: 'ready', agent_token_hash: sha256Hex(res.body.node_token), vm_id: job.vm_id });
    const beat = (credential: string) =>
      stack.request('POST', `/cp/api/v1/cluster/nodes/${job.node_id}/heartbeat`, { cpu: 0.1, memory: 0.2, workloads: 0 }, { authorization: `Bearer ${credential}` });
    expect((await beat(res.body.node_token)).status).toBe(200);
    expect((await beat(lost)).status).toBe(401);
    // The token is spent now, and no secret went through Temporal.
    expect((await register(token)).status).toBe(401);
    const history = await historyText(stack.client, provisionWorkflowId(jobId));
    expect(history).not.toContain(token);
    expect(history).not.toContain(res.body.node_token);
  });
});

it('unbinds a node the API bound but never delivered, when the job times out', { timeout: 120_000 }, async () => {
  const stack = await startStack({ registrationTtlMs: 4_000 });
  try {
    const jobId = await stack.createNode(NEVER_REGISTER);
    await stack.waitForPhase(jobId, ['bootstrapping']);
    const token = deriveRegistrationToken(stack.registrationKey, stack.tenantId, jobId);
    expect((await registerNode(stack.db, { token, facts: {}, credentialHash: sha256Hex('x') })).outcome).toBe('bound');
    const job = await stack.waitForPhase(jobId, [...FINAL], 60_000);
    expect(job.phase).toBe('failed');
    expect(job.error).toMatch(/did not call back/);
    const nodes = await stack.db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).execute();
    expect(nodes).toEqual([expect.objectContaining({ status: 'decommissioned', agent_token_hash: null })]);
  } finally {
    await stack.stop();
  }
});
