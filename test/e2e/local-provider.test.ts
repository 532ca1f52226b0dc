// The whole flow on the real Temporal server with the local provider: VMs are child processes
// that run their cloud-init and call the register endpoint for real.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createTenant } from '../../db/tenants.js';
import { deriveRegistrationToken, sha256Hex } from '../../security/tokens.js';
import { decommissionWorkflowId, provisionWorkflowId } from '../../workflows/messages.js';
import { SA_PHASE } from '../../workflows/search-attributes.js';
import { recordHistory } from '../support/histories.js';
import { ADMIN_TOKEN, historyText, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ registrationTtlMs: 4_000 });
});
afterAll(async () => {
  await stack?.stop();
});

const NEVER_REGISTER = { labels: { 'berth.dev/simulate': 'never-register' } };

async function vmsOfJob(jobId: string) {
  return stack.local.listByJob(jobId);
}

describe('provisioning with the local provider', () => {
  it('reaches ready with the phases in order, binds the node, and keeps no secret in Temporal', async () => {
    const jobId = await stack.createNode({ hostname: 'worker-1' });
    const job = await stack.waitForPhase(jobId, ['ready', 'failed']);
    expect(job.phase).toBe('ready');
    expect(job.progress.map((p: { phase: string }) => p.phase)).toEqual(['queued', 'verifying', 'provisioning', 'bootstrapping', 'registering', 'ready']);
    expect(job.node_id).toBe(`node-${jobId}`);
    await recordHistory(stack.client, provisionWorkflowId(jobId), 'provision-ready');

    const vms = await vmsOfJob(jobId);
    expect(vms.map((vm) => vm.id)).toEqual([job.vm_id]);
    const userData = fs.readFileSync(path.join(stack.local.vmsDir, job.vm_id, 'user-data'), 'utf8');
    const token = deriveRegistrationToken(stack.registrationKey, stack.tenantId, jobId);
    expect(userData).toContain(`BERTH_REGISTER_TOKEN=${token}`);

    const nodes = (await stack.request('GET', '/cp/api/v1/cluster/nodes')).body.nodes;
    expect(nodes).toContainEqual(expect.objectContaining({ node_id: job.node_id, job_id: jobId, vm_id: job.vm_id, hostname: 'worker-1', status: 'ready' }));

    // Secrets: the history carries neither the registration token nor the admin token, nor the hash.
    const history = await historyText(stack.client, provisionWorkflowId(jobId));
    expect(history).toContain('"hostname":"worker-1"'); // proves the payloads were decoded
    expect(history).not.toContain(token);
    expect(history).not.toContain(token.slice(-43)); // the MAC alone
    expect(history).not.toContain(sha256Hex(token));
    expect(history).not.toContain(ADMIN_TOKEN);

    // The token was used once: replaying it is refused with the uniform answer.
    const replay = await stack.request('POST', '/cp/api/v1/cluster/register', { token, hostname: 'worker-1' });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('invalid_token');
  });

  it('deletes the VM of a node that never calls back, and fails the job with the reason', async () => {
    const jobId = await stack.createNode(NEVER_REGISTER);
    await stack.waitForPhase(jobId, ['bootstrapping']);
    expect(await vmsOfJob(jobId)).toHaveLength(1);
    const job = await stack.waitForPhase(jobId, ['failed', 'ready'], 20_000);
    expect(job.phase).toBe('failed');
    expect(job.error).toMatch(/did not call back within 4s/);
    expect(job.progress.map((p: { phase: string }) => p.phase).slice(-2)).toEqual(['decommissioning', 'failed']);
    expect(await vmsOfJob(jobId)).toEqual([]);
    expect(fs.existsSync(path.join(stack.local.vmsDir, job.vm_id))).toBe(false);
    await recordHistory(stack.client, provisionWorkflowId(jobId), 'provision-registration-timeout');

    // The job's token is revoked: a late callback is refused.
    const token = deriveRegistrationToken(stack.registrationKey, stack.tenantId, jobId);
    expect((await stack.request('POST', '/cp/api/v1/cluster/register', { token })).status).toBe(401);
  });

  it('tears the VM down when a job is cancelled while bootstrapping', async () => {
    const jobId = await stack.createNode(NEVER_REGISTER);
    await stack.waitForPhase(jobId, ['bootstrapping']);
    expect(await vmsOfJob(jobId)).toHaveLength(1);
    const cancel = await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`);
    expect(cancel.status).toBe(204);
    const job = await stack.waitForPhase(jobId, ['cancelled', 'failed']);
    expect(job.phase).toBe('cancelled');
    expect(job.error).toBe('cancelled on request');
    expect(await vmsOfJob(jobId)).toEqual([]);
    await recordHistory(stack.client, provisionWorkflowId(jobId), 'provision-cancelled-bootstrapping');
    // Cancelling an ended job is a conflict.
    expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(409);
  });

  it('tears the VM down when a job is cancelled while the create call is still running', async () => {
    const jobId = await stack.createNode({ labels: { 'berth.dev/simulate': 'slow-create' }, ...{} });
    await stack.waitForPhase(jobId, ['provisioning']);
    // The slow create has already started the VM; wait until it exists.
    await expect.poll(() => vmsOfJob(jobId).then((v) => v.length), { timeout: 10_000 }).toBe(1);
    expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(204);
    const job = await stack.waitForPhase(jobId, ['cancelled', 'failed']);
    expect(job.phase).toBe('cancelled');
    expect(await vmsOfJob(jobId)).toEqual([]);
    await recordHistory(stack.client, provisionWorkflowId(jobId), 'provision-cancelled-provisioning');
  });

  it('gives the same job for the same Idempotency-Key, and refuses the key for another request', async () => {
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const first = await stack.createNode(NEVER_REGISTER, headers);
    const second = await stack.createNode(NEVER_REGISTER, headers);
    expect(second).toBe(first);
    const other = await stack.request('POST', '/cp/api/v1/cluster/nodes', { provider: 'local', region: 'local', plan: 'local-2' }, headers);
    expect(other.status).toBe(422);
    expect(other.body.error).toMatchObject({ code: 'idempotency_key_reused', field: 'Idempotency-Key' });
    const jobs = (await stack.request('GET', '/cp/api/v1/cluster/jobs')).body.jobs;
    expect(jobs.filter((j: { job_id: string }) => j.job_id === first)).toHaveLength(1);
    await stack.waitForPhase(first, ['bootstrapping', 'failed']);
    expect(await vmsOfJob(first)).toHaveLength(1);
    await stack.request('POST', `/cp/api/v1/cluster/jobs/${first}/cancel`);
    await stack.waitForPhase(first, ['cancelled', 'failed']);
  });

  it('decommissions a node: the VM is deleted and the node revoked', async () => {
    const jobId = await stack.createNode();
    const job = await stack.waitForPhase(jobId, ['ready', 'failed']);
    expect(job.phase).toBe('ready');
    const res = await stack.request('DELETE', `/cp/api/v1/cluster/nodes/${job.node_id}`);
    expect(res.status).toBe(202);
    await expect
      .poll(async () => (await stack.request('GET', '/cp/api/v1/cluster/nodes')).body.nodes.find((n: any) => n.node_id === job.node_id)?.status, {
        timeout: 20_000,
      })
      .toBe('decommissioned');
    expect(await vmsOfJob(jobId)).toEqual([]);
    await stack.waitForPhase(jobId, ['decommissioned']);
    await recordHistory(stack.client, decommissionWorkflowId(job.node_id), 'decommission');
    expect((await stack.request('DELETE', '/cp/api/v1/cluster/nodes/node-nope')).status).toBe(404);
  });

  it('shows a finished decommission as decommissioned in the Web UI (BerthPhase)', async () => {
    const jobId = await stack.createNode();
    const job = await stack.waitForPhase(jobId, ['ready', 'failed']);
    expect(job.phase).toBe('ready');
    expect((await stack.request('DELETE', `/cp/api/v1/cluster/nodes/${job.node_id}`)).status).toBe(202);
    const handle = stack.client.workflow.getHandle(decommissionWorkflowId(job.node_id));
    await handle.result();
    const { status, typedSearchAttributes } = await handle.describe();
    expect(status.name).toBe('COMPLETED');
    expect(typedSearchAttributes.get(SA_PHASE)).toBe('decommissioned');
    await recordHistory(stack.client, decommissionWorkflowId(job.node_id), 'decommission-phase-attribute');
  });

  it("shows a node's job region, plan and price, its facts and its agent's last report, and the tier's cap", async () => {
    const jobId = await stack.createNode({ hostname: 'detail-1', plan: 'local-2' });
    const job = await stack.waitForPhase(jobId, ['ready', 'failed']);
    expect(job.phase).toBe('ready');
    expect(job.pool).toBeUndefined();

    const row = (await stack.request('GET', '/cp/api/v1/cluster/nodes')).body.nodes.find((n: any) => n.node_id === job.node_id);
    expect(row).toMatchObject({ region: 'local', plan: 'local-2', price_monthly_cents: expect.any(Number) });
    const priced = await stack.db.selectFrom('jobs').select('price_cents').where('job_id', '=', jobId).executeTakeFirstOrThrow();
    expect(row.price_monthly_cents).toBe(priced.price_cents);
    expect(row).not.toHaveProperty('pool');

    const url = `/cp/api/v1/cluster/nodes/${job.node_id}`;
    const detail = await stack.request('GET', url);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ ...row, facts: { hostname: 'detail-1' }, updated_at: expect.any(String) });
    expect(Object.keys(detail.body).filter((k) => /token|hash/.test(k))).toEqual([]);

    // The local VM's agent heartbeats every second: its report shows up on the node.
    await expect
      .poll(async () => (await stack.request('GET', url)).body.agent, { timeout: 15_000 })
      .toMatchObject({
        last_heartbeat_at: expect.any(String),
        cpu: expect.any(Number),
        memory: expect.any(Number),
        workloads: expect.any(Number),
        drain_requested_at: null,
        drained_at: null,
      });

    expect((await stack.request('GET', '/cp/api/v1/cluster/nodes/node-nope')).status).toBe(404);
    expect((await stack.request('GET', '/cp/api/v1/cluster/nodes/not%20an%20id')).body.error.code).toBe('node_not_found');

    const budget = (await stack.request('GET', '/cp/api/v1/cluster/budget')).body;
    expect(budget).toMatchObject({ tier: 'enterprise', node_cap: null, nodes_counted: expect.any(Number) });

    // Another tenant sees neither the node nor the first tenant's cap.
    await createTenant(stack.db, 'detail-other', 'Other', 'team');
    const { key } = await createApiKey(stack.db, 'detail-other', 'test');
    const auth = { authorization: `Bearer ${key}` };
    const hidden = await stack.request('GET', url, undefined, auth);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe('node_not_found');
    expect((await stack.request('GET', '/cp/api/v1/cluster/budget', undefined, auth)).body).toMatchObject({ tier: 'team', node_cap: 5, nodes_counted: 0 });
    const put = await stack.request('PUT', '/cp/api/v1/cluster/budget', { monthly_cents: 1000 }, auth);
    expect(put.body).toMatchObject({ monthly_cents: 1000, tier: 'team', node_cap: 5 });
  });

  it('streams one event per phase change and ends with the job', async () => {
    const jobId = await stack.createNode();
    const res = await fetch(`${stack.publicUrl}/cp/api/v1/cluster/jobs/${jobId}/events`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await res.text(); // resolves only because the stream ends at `ready`
    const phases = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).phase);
    expect(phases).toEqual(['queued', 'verifying', 'provisioning', 'bootstrapping', 'registering', 'ready']);
  });

  it('refuses a wrong token and an expired one with the same answer', async () => {
    const jobId = await stack.createNode(NEVER_REGISTER);
    await stack.waitForPhase(jobId, ['bootstrapping']);
    const token = deriveRegistrationToken(stack.registrationKey, stack.tenantId, jobId);
    const forged = `${token.slice(0, -4)}AAAA`;
    const answers = await Promise.all([forged, 'brt_nosuchjob_' + 'A'.repeat(43), 'garbage'].map((t) => stack.request('POST', '/cp/api/v1/cluster/register', { token: t })));
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: { code: 'invalid_token', message: 'the registration token is not valid', field: 'token' } });
    }
    // After the TTL the real token is expired as well.
    await stack.waitForPhase(jobId, ['failed'], 20_000);
    const late = await stack.request('POST', '/cp/api/v1/cluster/register', { token });
    expect(late.body).toEqual(answers[0]!.body);
  });
});
