// The whole job flow on each cloud adapter, against a stateful emulator of the provider's API:
// token verification and storage, catalogue, dry run, provision, adopt, rate limits, teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveRegistrationToken } from '../../security/tokens.js';
import { provisionWorkflowId, decommissionWorkflowId } from '../../workflows/messages.js';
import { CLOUDS, capturingLogger, type Cloud, type CloudEmulator } from '../support/clouds.js';
import { historyText, startStack, type Stack } from '../support/stack.js';

const registry = (name: string, url: string) => ({
  apiUrls: { [name]: url },
  http: { timeoutMs: 1_000, backoffMs: 50, maxWaitMs: 5_000 },
  pollIntervalMs: 50,
});

describe.each(CLOUDS)('$name', (cloud: Cloud) => {
  let emu: CloudEmulator;
  let stack: Stack;
  const logs = capturingLogger();
  const jobs: string[] = [];
  const node = (extra: Record<string, unknown> = {}) => ({ provider: cloud.name, region: cloud.region, plan: cloud.plan, ...extra });
  const vmsOf = (jobId: string) => emu.vms().filter((vm) => vm.jobId === jobId);

  beforeAll(async () => {
    emu = await cloud.start({ bootDelayMs: 100 });
    stack = await startStack({ registry: registry(cloud.name, emu.url), logger: logs.logger });
  });
  afterAll(async () => {
    await stack?.stop();
    await emu?.close();
  });

  it('refuses an invalid token with the provider reason and stores nothing', async () => {
    const res = await stack.request('POST', `/cp/api/v1/cluster/providers/${cloud.name}/verify`, { token: 'not-the-right-token' });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ valid: false, provider: cloud.name, error: { code: 'invalid_token', field: 'token' } });
    const listed = await stack.request('GET', '/cp/api/v1/cluster/providers');
    expect(listed.body.providers).toContainEqual({ name: cloud.name, configured: false });
    const refused = await stack.request('POST', '/cp/api/v1/cluster/nodes', node());
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'provider_not_configured', field: 'provider' });
  });

  it('verifies and stores a good token, showing only its fingerprint', async () => {
    const res = await stack.request('POST', `/cp/api/v1/cluster/providers/${cloud.name}/verify`, { token: emu.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ valid: true, provider: cloud.name, fingerprint: `…${emu.token.slice(-4)}` });
    const listed = await stack.request('GET', '/cp/api/v1/cluster/providers');
    expect(listed.body.providers).toContainEqual({ name: cloud.name, configured: true, fingerprint: res.body.fingerprint });
    expect(JSON.stringify(listed.body)).not.toContain(emu.token);
  });

  it('lists regions and priced plans, and serves repeats from the cache', async () => {
    const regions = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions`);
    expect(regions.status).toBe(200);
    expect(regions.body.regions.map((r: { name: string }) => r.name)).toContain(cloud.region);
    const plans = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/plans?region=${cloud.region}`);
    expect(plans.status).toBe(200);
    expect(plans.body.indicative).toBe(true);
    const plan = plans.body.plans.find((p: { name: string }) => p.name === cloud.plan);
    expect(plan).toMatchObject({ vcpu: expect.any(Number), memory_mb: expect.any(Number), price_monthly: expect.any(Number) });
    expect(plan.price_monthly).toBeGreaterThan(0);
    expect(plans.body.plans.map((p: { name: string }) => p.name)).not.toContain(cloud.planNotInRegion);

    const before = emu.requestCount();
    await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/plans?region=${cloud.region}`);
    await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions`);
    expect(emu.requestCount()).toBe(before);
  });

  it('takes a not-yet-stored token from X-Provider-Token, and refuses a bad one naming the header', async () => {
    const ok = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions`, undefined, { 'X-Provider-Token': emu.token });
    expect(ok.status).toBe(200);
    // The seed's query form still works; the request log keeps only the path (see the log scan below).
    const query = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions?token=${encodeURIComponent(emu.token)}`);
    expect(query.status).toBe(200);
    const bad = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions`, undefined, { 'X-Provider-Token': 'wrong-token-123' });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({ code: 'provider_token_invalid', field: 'X-Provider-Token' });
  });

  it('rejects a plan the region does not offer before any VM is made', async () => {
    const creates = emu.creates();
    const res = await stack.request('POST', '/cp/api/v1/cluster/nodes', node({ plan: cloud.planNotInRegion }));
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('plan');
    const region = await stack.request('POST', '/cp/api/v1/cluster/nodes', node({ region: 'atlantis1' }));
    expect(region.body.error.field).toBe('region');
    expect(emu.creates()).toBe(creates);
  });

  it('previews a node with its monthly cost on dry_run, creating nothing', async () => {
    const jobsBefore = await stack.db.selectFrom('jobs').select('job_id').execute();
    const res = await stack.request('POST', '/cp/api/v1/cluster/nodes?dry_run=true', node({ hostname: 'preview-1' }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dry_run: true,
      would_create: { provider: cloud.name, region: cloud.region, plan: cloud.plan, hostname: 'preview-1' },
      monthly_cost: { cents: expect.any(Number), indicative: true },
      admission: { allowed: true },
    });
    expect(res.body.monthly_cost.cents).toBe(Math.round(res.body.plan.price_monthly * 100));
    expect(await stack.db.selectFrom('jobs').select('job_id').execute()).toEqual(jobsBefore);
    const tenant = await stack.db.selectFrom('tenants').selectAll().where('tenant_id', '=', stack.tenantId).executeTakeFirstOrThrow();
    expect(tenant.reserved_nodes).toBe(0);
  });

  it('provisions a node end to end, then tears it down', async () => {
    const jobId = await stack.createNode(node({ hostname: `e2e-${cloud.name}` }));
    jobs.push(jobId);
    const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 30_000);
    expect(job).toMatchObject({ phase: 'ready', provider: cloud.name });
    expect(vmsOf(jobId)).toHaveLength(1);
    expect(job.vm_id).toBe(vmsOf(jobId)[0]!.id);

    const del = await stack.request('DELETE', `/cp/api/v1/cluster/nodes/${job.node_id}`);
    expect(del.status).toBe(202);
    await stack.client.workflow.getHandle(decommissionWorkflowId(job.node_id)).result();
    expect(vmsOf(jobId)).toHaveLength(0);
  });

  it('adopts the VM of a create whose answer was lost, instead of making a second', async () => {
    emu.faults.hangCreateAfterCommit(2_500);
    const creates = emu.creates();
    const jobId = await stack.createNode(node());
    jobs.push(jobId);
    const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 30_000);
    expect(job.phase).toBe('ready');
    expect(emu.creates()).toBe(creates + 1);
    expect(vmsOf(jobId)).toHaveLength(1);
    expect(job.vm_id).toBe(vmsOf(jobId)[0]!.id);
  });

  it('finishes an adopted VM as a create would have (the firewall DigitalOcean attaches afterwards)', async (ctx) => {
    if (!emu.firewall) return ctx.skip();
    emu.faults.hangCreateAfterCommit(2_500);
    const jobId = await stack.createNode(node({ firewall: emu.firewall.id }));
    jobs.push(jobId);
    const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 30_000);
    expect(job.phase).toBe('ready');
    expect(vmsOf(jobId)).toHaveLength(1);
    expect(emu.firewall.members()).toContain(job.vm_id);
  });

  it('slows down under a 429 storm but does not fail', async () => {
    emu.faults.rateLimitNext(8, 1);
    const jobId = await stack.createNode(node());
    jobs.push(jobId);
    const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 45_000);
    expect(job.phase).toBe('ready');
    expect(vmsOf(jobId)).toHaveLength(1);
  });

  it('refuses to provision with a stored token the provider no longer accepts, before any VM', async () => {
    await stack.providers.storeToken(stack.tenantId, cloud.name, 'revoked-token-0000');
    const creates = emu.creates();
    const res = await stack.request('POST', '/cp/api/v1/cluster/nodes', node());
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'provider_token_invalid', field: 'provider' });
    expect(JSON.stringify(res.body)).not.toContain('revoked-token-0000');
    expect(emu.creates()).toBe(creates);
    const regions = await stack.request('GET', `/cp/api/v1/cluster/providers/${cloud.name}/regions`);
    expect(regions.status).toBe(422);
    expect(regions.body.error).toMatchObject({ code: 'provider_token_invalid', field: 'provider' });
    await stack.providers.storeToken(stack.tenantId, cloud.name, emu.token);
  });

  it('keeps a token that live jobs or nodes still need', async () => {
    const jobId = await stack.createNode(node());
    jobs.push(jobId);
    await stack.waitForPhase(jobId, ['ready'], 30_000);
    const refused = await stack.request('DELETE', `/cp/api/v1/cluster/providers/${cloud.name}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('credential_in_use');
  });

  // Last: the emulator keeps the plan sold out from here on.
  it('fails a job whose plan is sold out in the region with that reason, leaving no VM', async () => {
    emu.faults.soldOut(cloud.plan, cloud.region);
    const jobId = await stack.createNode(node());
    jobs.push(jobId);
    const job = await stack.waitForPhase(jobId, ['failed', 'ready'], 30_000);
    expect(job.phase).toBe('failed');
    expect(job.error).toMatch(/unavailable|not available/i);
    expect(vmsOf(jobId)).toHaveLength(0);
  });

  it('never lets the provider token or a registration token into Temporal or the logs', async () => {
    expect(jobs.length).toBeGreaterThan(3);
    const secrets = [emu.token, ...jobs.map((jobId) => deriveRegistrationToken(stack.registrationKey, stack.tenantId, jobId))];
    for (const jobId of jobs) {
      const history = await historyText(stack.client, provisionWorkflowId(jobId));
      expect(history).toContain(jobId);
      for (const secret of secrets) expect(history).not.toContain(secret);
    }
    const logText = logs.lines.join('');
    expect(logText).toContain('provider token verified and stored');
    for (const secret of secrets) expect(logText).not.toContain(secret);
  });
});

describe.each(CLOUDS)('$name, a VM that never calls back', (cloud: Cloud) => {
  let emu: CloudEmulator;
  let stack: Stack;

  beforeAll(async () => {
    emu = await cloud.start({ bootMode: 'never-register', bootDelayMs: 50 });
    stack = await startStack({ registry: registry(cloud.name, emu.url), registrationTtlMs: 4_000 });
    const res = await stack.request('POST', `/cp/api/v1/cluster/providers/${cloud.name}/verify`, { token: emu.token });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await emu?.close();
  });

  it('times out, deletes the VM and frees the slot', async () => {
    const jobId = await stack.createNode({ provider: cloud.name, region: cloud.region, plan: cloud.plan });
    const job = await stack.waitForPhase(jobId, ['failed', 'ready'], 30_000);
    expect(job.phase).toBe('failed');
    expect(job.error).toMatch(/did not call back within 4s/);
    expect(emu.vms().filter((vm) => vm.jobId === jobId)).toHaveLength(0);
    const row = await stack.db.selectFrom('jobs').select('holds_slot').where('job_id', '=', jobId).executeTakeFirstOrThrow();
    expect(row.holds_slot).toBe(0);
  });

  it('cancels a job waiting for its VM and deletes the VM', async () => {
    const jobId = await stack.createNode({ provider: cloud.name, region: cloud.region, plan: cloud.plan });
    await stack.waitForPhase(jobId, ['bootstrapping'], 10_000);
    expect(emu.vms().filter((vm) => vm.jobId === jobId)).toHaveLength(1);
    expect((await stack.request('POST', `/cp/api/v1/cluster/jobs/${jobId}/cancel`)).status).toBe(204);
    const job = await stack.waitForPhase(jobId, ['cancelled', 'failed'], 30_000);
    expect(job.phase).toBe('cancelled');
    expect(emu.vms().filter((vm) => vm.jobId === jobId)).toHaveLength(0);
  });

  it('forgets the token once no job or node needs it', async () => {
    const res = await stack.request('DELETE', `/cp/api/v1/cluster/providers/${cloud.name}`);
    expect(res.status).toBe(204);
    expect((await stack.request('DELETE', `/cp/api/v1/cluster/providers/${cloud.name}`)).status).toBe(404);
    const listed = await stack.request('GET', '/cp/api/v1/cluster/providers');
    expect(listed.body.providers).toContainEqual({ name: cloud.name, configured: false });
    expect(await stack.db.selectFrom('provider_credentials').selectAll().execute()).toEqual([]);
  });
});
