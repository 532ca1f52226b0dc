// Node pools end to end on the real Temporal server with the local provider: the reconciler starts
// real provision jobs whose VMs register and run the node agent, which reports the load that tests
// write to each VM's load.json.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUserDataParts } from '../../activities/cloud-init.js';
import { createApiKey, createTenant, getTenant } from '../../db/tenants.js';
import { poolWorkflowId } from '../../workflows/messages.js';
import { recordHistory } from '../support/histories.js';
import { POOLS, poolBody, poolHelpers } from '../support/pools.js';
import { ADMIN_TOKEN, historyText, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let pools: ReturnType<typeof poolHelpers>;
/** Every line the API logged, to look for secrets in. */
const logLines: string[] = [];
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  // Reconcilers continue as new every few passes here, so every test also crosses continue-as-new.
  stack = await startStack({ registrationTtlMs: 60_000, poolMaxHistoryEvents: 150, logger: pino({ level: 'debug' }, sink) });
  pools = poolHelpers(stack);
});
afterAll(async () => {
  await stack?.stop();
});

/** The local VMs of a pool's ready nodes. */
async function poolVms(name: string): Promise<string[]> {
  // A VM that called back before its create returned is bound first and gets its VM id a moment later.
  let nodes = await pools.nodes(name);
  for (let i = 0; i < 50 && nodes.some((n) => !n.vm_id); i++) {
    await new Promise((r) => setTimeout(r, 100));
    nodes = await pools.nodes(name);
  }
  return nodes.map((n) => n.vm_id!);
}

function setLoad(vmIds: string[], load: { cpu?: number; workloads?: number }) {
  for (const vmId of vmIds) stack.local.setLoad(vmId, load);
}

describe('the pool API', () => {
  it('refuses bad input naming the field, and creates nothing', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [poolBody('bad', { min: 3, max: 2 }), 400, 'min'],
      [poolBody('bad', { min: 1, max: 3, desired: 4 }), 400, 'desired'],
      [poolBody('bad', { autoscaling: { scale_out_cpu: 0.5, scale_in_cpu: 0.5 } }), 400, 'autoscaling.scale_in_cpu'],
      [poolBody('bad', { autoscaling: { window: 'soon' } }), 400, 'autoscaling.window'],
      [poolBody('bad', { template: { provider: 'local', region: 'local', plan: 'local-9' } }), 422, 'template.plan'],
      [poolBody('bad', { template: { provider: 'nimbus', region: 'x', plan: 'y' } }), 422, 'template.provider'],
      [poolBody('bad', { template: { provider: 'hetzner', region: 'fsn1', plan: 'cx22' } }), 422, 'template.provider'],
      [poolBody('bad', { template: { provider: 'local', region: 'local', plan: 'local-1', user_data: 'echo hi' } }), 422, 'template.user_data'],
      [poolBody('bad', { template: { provider: 'local', region: 'local', plan: 'local-1', user_data: `#!/bin/sh\n#${'x'.repeat(65_000)}` } }), 422, 'template.user_data'],
      [poolBody('Bad_Name'), 400, 'name'],
      [{ ...poolBody('bad'), color: 'blue' }, 400, 'color'],
    ];
    for (const [body, status, field] of cases) {
      const res = await pools.request('POST', POOLS, body);
      expect({ status: res.status, field: res.body.error?.field }).toEqual({ status, field });
    }
    expect((await pools.request('GET', POOLS)).body.pools).toEqual([]);
    expect(await stack.db.selectFrom('pool_templates').selectAll().execute()).toEqual([]);
  });

  it('keeps min, grows with desired, refuses desired below min, and is invisible to other tenants', { timeout: 120_000 }, async () => {
    const created = await pools.create(poolBody('web', { min: 2, max: 6 }));
    const firstRun = (await stack.client.workflow.getHandle(poolWorkflowId(stack.tenantId, 'web')).describe()).runId;
    expect(created).toMatchObject({ name: 'web', state: 'active', min: 2, max: 6, desired: 2, template_version: 1, evaluation_interval: '1s' });
    expect((await pools.request('POST', POOLS, poolBody('web'))).body.error).toMatchObject({ code: 'pool_exists', field: 'name' });

    let pool = await pools.waitFor('web', (p) => p.nodes.ready === 2);
    expect(pool.capacity).toMatchObject({ vcpu: 2, memory_mb: 1024, price_monthly: 2, currency: 'EUR' });
    // The pool's jobs say which pool made them, and the job list filters by pool.
    const poolJobs = (await stack.request('GET', '/cp/api/v1/cluster/jobs?pool=web')).body.jobs;
    expect(poolJobs.length).toBeGreaterThanOrEqual(2);
    expect(poolJobs.every((j: { pool?: string }) => j.pool === 'web')).toBe(true);
    expect((await stack.request('GET', `/cp/api/v1/cluster/jobs/${poolJobs[0].job_id}`)).body.pool).toBe('web');
    expect((await stack.request('GET', '/cp/api/v1/cluster/jobs?pool=nope')).body.jobs).toEqual([]);
    expect((await pools.nodes('web')).map((n) => n.hostname)).toEqual([expect.stringMatching(/^web-/), expect.stringMatching(/^web-/)]);

    const patched = await pools.request('PATCH', `${POOLS}/web`, { desired: 4 });
    expect(patched.status).toBe(200);
    expect(patched.body.desired).toBe(4);
    pool = await pools.waitFor('web', (p) => p.nodes.ready === 4);
    expect(pool.last_action).toMatchObject({ kind: 'add' });

    const below = await pools.request('PATCH', `${POOLS}/web`, { desired: 1 });
    expect(below.status).toBe(400);
    expect(below.body.error.field).toBe('desired');
    expect((await pools.get('web')).desired).toBe(4);

    // The Web UI's summary of the reconciler and its search attribute.
    const handle = stack.client.workflow.getHandle(poolWorkflowId(stack.tenantId, 'web'));
    await expect.poll(async () => (await handle.query<{ summary: string }>('pool')).summary, { timeout: 10_000 }).toBe('pool web: 4 of 4 ready, desired 4 (min 2, max 6)');
    const jobs = stack.client.workflow.list({ query: `BerthPool = "web" AND BerthTenant = "${stack.tenantId}"` });
    const ids: string[] = [];
    for await (const wf of jobs) ids.push(wf.workflowId);
    expect(ids).toContain(poolWorkflowId(stack.tenantId, 'web'));
    expect(ids.filter((id) => id.startsWith('provision-'))).toHaveLength(4);

    await createTenant(stack.db, 'other', 'Other', 'team');
    const { key } = await createApiKey(stack.db, 'other', 'test');
    const other = poolHelpers(stack, `Bearer ${key}`);
    expect((await other.request('GET', `${POOLS}/web`)).status).toBe(404);
    expect((await other.request('PATCH', `${POOLS}/web`, { desired: 5 })).status).toBe(404);
    expect((await other.request('DELETE', `${POOLS}/web`)).status).toBe(404);
    expect((await other.request('GET', POOLS)).body.pools).toEqual([]);

    // Deleting drains and removes every node, then the pool; a repeated delete is the same delete.
    expect((await pools.request('DELETE', `${POOLS}/web`)).status).toBe(202);
    await pools.remove('web');
    expect(await pools.nodes('web')).toEqual([]);
    const vms = (await stack.local.all()).filter((vm) => vm.labels['berth.dev/pool'] === 'web');
    expect(vms).toEqual([]);
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
    // Its first run: nodes admitted and started together.
    await recordHistory(stack.client, poolWorkflowId(stack.tenantId, 'web'), 'pool-batch-scale-out', firstRun);
  });
});

describe('decisions', () => {
  it('scales out on load by step, once per cooldown, never past max; scales in when idle, never below min', { timeout: 150_000 }, async () => {
    await pools.create(
      poolBody('load', {
        min: 1,
        max: 3,
        autoscaling: { scale_out_cpu: 0.7, scale_in_cpu: 0.2, window: '3s', cooldown: '5s', step: 1 },
      }),
    );
    await pools.waitFor('load', (p) => p.nodes.ready === 1);
    setLoad(await poolVms('load'), { cpu: 0.9, workloads: 2 });
    await pools.waitFor('load', (p) => p.desired === 2);
    const firstOut = Date.now();
    // Every node is busy: the new ones too, once they report.
    await pools.waitFor('load', (p) => p.nodes.ready === 2);
    setLoad(await poolVms('load'), { cpu: 0.9, workloads: 2 });
    await pools.waitFor('load', (p) => p.desired === 3);
    expect(Date.now() - firstOut).toBeGreaterThanOrEqual(4_500);
    await pools.waitFor('load', (p) => p.nodes.ready === 3);
    setLoad(await poolVms('load'), { cpu: 0.95, workloads: 2 });
    await new Promise((r) => setTimeout(r, 7_000));
    expect((await pools.get('load')).desired).toBe(3); // max

    const outs = (await pools.events('load')).filter((e) => e.kind === 'scale_out');
    expect(outs).toHaveLength(2);
    expect(outs[0]!.reason).toMatch(/^cpu 0\.9\d > 0\.70 over 3s: desired 1 → 2$/);

    setLoad(await poolVms('load'), { cpu: 0.05, workloads: 1 });
    const pool = await pools.waitFor('load', (p) => p.desired === 1 && p.nodes.ready === 1 && p.nodes.draining === 0, 90_000);
    expect(pool.cpu_average).not.toBeNull();
    const ins = (await pools.events('load')).filter((e) => e.kind === 'scale_in');
    expect(ins.length).toBe(2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await pools.get('load')).desired).toBe(1); // min
    await pools.remove('load');
  });

  it('drains and removes a node that ran no workload for empty_ttl', { timeout: 120_000 }, async () => {
    await pools.create(poolBody('empty', { min: 1, max: 3, desired: 2, autoscaling: { empty_ttl: '5s', cooldown: '0s' } }));
    await pools.waitFor('empty', (p) => p.nodes.ready === 2);
    const [keep, idle] = await poolVms('empty');
    setLoad([keep!], { workloads: 3 });
    setLoad([idle!], { workloads: 0 });
    // The agent hears `drain` and answers drained; then the node is removed.
    await expect.poll(() => stack.local.agentState(idle!), { timeout: 30_000 }).toBe('draining');
    const pool = await pools.waitFor('empty', (p) => p.desired === 1 && p.nodes.ready === 1 && p.nodes.draining === 0, 60_000);
    expect(pool.min).toBe(1);
    expect(await poolVms('empty')).toEqual([keep]);
    const reasons = (await pools.events('empty')).map((e) => `${e.kind}: ${e.reason}`);
    expect(reasons).toContainEqual(expect.stringMatching(/^drain: node-\w+: empty: no workloads for 5s$/));
    expect(reasons).toContainEqual(expect.stringMatching(/^remove: node-\w+: drained$/));
    await pools.remove('empty');
  });

  it('replaces a node that stops heartbeating, the new one first; replaces none when most stop', { timeout: 150_000 }, async () => {
    await pools.create(poolBody('health', { min: 3, max: 5, health: { unhealthy_after: '4s', max_unhealthy: '40%' } }));
    await pools.waitFor('health', (p) => p.nodes.ready === 3);
    const before = await poolVms('health');
    stack.local.powerOff(before[0]!);
    await pools.waitFor('health', (p) => p.nodes.unhealthy === 1);
    await pools.waitFor('health', (p) => p.nodes.ready === 3 && p.nodes.unhealthy === 0, 60_000);
    const after = await poolVms('health');
    expect(after).not.toContain(before[0]);
    expect(after.filter((id) => before.includes(id))).toHaveLength(2);
    // The new node was ready before the silent one was removed.
    const [replacement] = (await pools.nodes('health')).filter((n) => !before.includes(n.vm_id!));
    const removed = (await pools.events('health')).find((e) => e.kind === 'remove')!;
    expect(removed.reason).toMatch(/^node-\w+: replace: no heartbeat for 4s$/);
    expect(Date.parse(replacement!.created_at!)).toBeLessThanOrEqual(Date.parse(removed.at));

    // Two of three silent at once (a partition looks like this): nothing is replaced.
    for (const vmId of after.slice(0, 2)) stack.local.powerOff(vmId);
    const pool = await pools.waitFor('health', (p) => p.conditions.some((c: { type: string }) => c.type === 'TooManyUnhealthy'), 30_000);
    expect(pool.nodes).toMatchObject({ unhealthy: 2, provisioning: 0 });
    // The run that held back, for the replay test: it ends (continued as new, or deleted) below.
    const partitionRun = (await stack.client.workflow.getHandle(poolWorkflowId(stack.tenantId, 'health')).describe()).runId;
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await pools.get('health')).nodes).toMatchObject({ unhealthy: 2, provisioning: 0, ready: 1 });
    // They come back: the condition clears.
    for (const vmId of after.slice(0, 2)) stack.local.powerOn(vmId);
    await pools.waitFor('health', (p) => p.conditions.length === 0 && p.nodes.ready === 3, 30_000);
    await pools.remove('health');
    await recordHistory(stack.client, poolWorkflowId(stack.tenantId, 'health'), 'pool-partition', partitionRun);
  });

  it('replaces a node whose VM was deleted behind its back', { timeout: 120_000 }, async () => {
    await pools.create(poolBody('lost', { min: 2, max: 3, health: { unhealthy_after: '4s' } }));
    await pools.waitFor('lost', (p) => p.nodes.ready === 2);
    const [gone] = await poolVms('lost');
    // As if deleted in the cloud console: the VM's folder is removed, its process stops.
    stack.local.powerOff(gone!);
    fs.rmSync(path.join(stack.local.vmsDir, gone!), { recursive: true, force: true });
    await expect.poll(async () => (await poolVms('lost')).includes(gone!), { timeout: 60_000 }).toBe(false);
    await pools.waitFor('lost', (p) => p.nodes.ready === 2 && p.nodes.unhealthy === 0, 60_000);
    const reasons = (await pools.events('lost')).map((e) => e.reason);
    expect(reasons).toContainEqual(expect.stringContaining('its VM no longer exists at the provider'));
    await pools.remove('lost');
  });

  it("stops at a team tenant's cap and says why", { timeout: 120_000 }, async () => {
    await createTenant(stack.db, 'capped', 'Capped', 'team');
    const { key } = await createApiKey(stack.db, 'capped', 'test');
    const capped = poolHelpers(stack, `Bearer ${key}`);
    await capped.create(
      poolBody('big', { min: 7, max: 10, template: { provider: 'local', region: 'local', plan: 'local-1', labels: { 'berth.dev/simulate': 'never-register' } } }),
    );
    const pool = await capped.waitFor('big', (p) => p.conditions.some((c: { type: string }) => c.type === 'ScaleOutBlocked'), 30_000);
    expect(pool.conditions).toContainEqual(expect.objectContaining({ type: 'ScaleOutBlocked', reason: 'node_cap_reached' }));
    expect(pool.nodes.provisioning).toBe(5);
    expect(await getTenant(stack.db, 'capped')).toMatchObject({ reserved_nodes: 5 });
    await capped.remove('big');
    expect(await getTenant(stack.db, 'capped')).toMatchObject({ reserved_nodes: 0 });
  });
});

describe('the node credential', () => {
  it('stays out of Temporal; the reconciler continues as new with its state', { timeout: 120_000 }, async () => {
    await pools.create(poolBody('quiet', { min: 1, max: 2 }));
    const handle = stack.client.workflow.getHandle(poolWorkflowId(stack.tenantId, 'quiet'));
    const firstRun = (await handle.describe()).runId;
    await pools.waitFor('quiet', (p) => p.nodes.ready === 1);
    const [node] = await pools.nodes('quiet');
    // Stored by the register route once the workflow has answered, a moment after the node is ready.
    await expect
      .poll(async () => (await stack.db.selectFrom('nodes').select('agent_token_hash').where('node_id', '=', node!.node_id!).executeTakeFirst())?.agent_token_hash, {
        timeout: 10_000,
      })
      .toMatch(/^[0-9a-f]{64}$/);
    await expect
      .poll(async () => (await stack.db.selectFrom('nodes').select('last_heartbeat_at').where('node_id', '=', node!.node_id!).executeTakeFirst())?.last_heartbeat_at, {
        timeout: 10_000,
      })
      .toBeTruthy();
    // The credential the VM got: on its disk, nowhere else.
    const header = fs.readFileSync(path.join(stack.local.vmsDir, node!.vm_id!, 'rootfs/etc/berth/agent.header'), 'utf8');
    const credential = /Bearer (\S+)/.exec(header)![1]!;
    for (const id of [poolWorkflowId(stack.tenantId, 'quiet'), `provision-${node!.job_id}`]) {
      expect(await historyText(stack.client, id)).not.toContain(credential);
    }
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.join('')).not.toContain(credential);
    for (const route of ['/cp/api/v1/cluster/nodes', `${POOLS}/quiet`, `/cp/api/v1/cluster/jobs/${node!.job_id}`]) {
      expect(JSON.stringify((await stack.request('GET', route)).body)).not.toContain(credential);
    }
    // The first run handed over to a new one, with what it remembered.
    await expect.poll(async () => (await handle.describe()).runId, { timeout: 60_000 }).not.toBe(firstRun);
    const passes = (await handle.query<{ passes: number }>('pool')).passes;
    expect(passes).toBeGreaterThan(5);
    await recordHistory(stack.client, poolWorkflowId(stack.tenantId, 'quiet'), 'pool-continued-as-new', firstRun);
    await pools.remove('quiet');
    await recordHistory(stack.client, poolWorkflowId(stack.tenantId, 'quiet'), 'pool-deleted');
    await recordHistory(stack.client, `provision-${node!.job_id}`, 'provision-pool-node');
    await recordHistory(stack.client, `decommission-${node!.node_id}`, 'decommission-pool-node');
  });
});

describe('templates', () => {
  it('applies a new template to new nodes only, adds user_data as its own part, streams decisions, and scales in the old template first', { timeout: 150_000 }, async () => {
    const userData = '#!/bin/sh\necho "joining the cluster"\n';
    await pools.create(poolBody('tmpl', { min: 1, max: 3, template: { provider: 'local', region: 'local', plan: 'local-1', user_data: userData } }));
    // The decision stream, read from the start until the pool is gone.
    const stream = await fetch(`${stack.publicUrl}${POOLS}/tmpl/events`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const streamed = stream.text();

    let pool = await pools.waitFor('tmpl', (p) => p.nodes.ready === 1);
    expect(pool.template.user_data).toEqual({ bytes: Buffer.byteLength(userData), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(pool)).not.toContain('joining the cluster');
    const [v1] = await pools.nodes('tmpl');
    const vmDir = path.join(stack.local.vmsDir, v1!.vm_id!);
    const parts = parseUserDataParts(fs.readFileSync(path.join(vmDir, 'user-data'), 'utf8'));
    expect(parts.map((p) => p.contentType)).toEqual(['text/cloud-config', 'text/x-shellscript', 'text/x-shellscript']);
    expect(parts[2]!.body).toBe(userData);
    // The local provider keeps operator code off this host: written, logged, not run.
    await expect
      .poll(() => fs.readFileSync(path.join(vmDir, 'console.log'), 'utf8'), { timeout: 10_000 })
      .toMatch(/part 3 \(text\/x-shellscript, \d+ bytes\) not run: the local provider does not run operator code/);

    const patched = await pools.request('PATCH', `${POOLS}/tmpl`, { template: { plan: 'local-2' }, desired: 2 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ template_version: 2, template: { plan: 'local-2' }, desired: 2 });
    pool = await pools.waitFor('tmpl', (p) => p.nodes.ready === 2);
    expect(pool.capacity).toMatchObject({ vcpu: 3, memory_mb: 1536 });
    const jobs = (await stack.request('GET', '/cp/api/v1/cluster/jobs')).body.jobs as Array<{ job_id: string; plan: string }>;
    const v2 = (await pools.nodes('tmpl')).find((n) => n.node_id !== v1!.node_id)!;
    expect(jobs.find((j) => j.job_id === v2.job_id)!.plan).toBe('local-2');
    expect(jobs.find((j) => j.job_id === v1!.job_id)!.plan).toBe('local-1');

    // Both busy: scaling in picks the node made from the older template, drained first.
    setLoad([v1!.vm_id!, v2.vm_id!], { workloads: 1 });
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await pools.request('PATCH', `${POOLS}/tmpl`, { desired: 1 })).status).toBe(200);
    await pools.waitFor('tmpl', (p) => p.nodes.ready === 1 && p.nodes.draining === 0);
    expect((await pools.nodes('tmpl')).map((n) => n.node_id)).toEqual([v2.node_id]);
    const drain = (await pools.events('tmpl')).find((e) => e.kind === 'drain')!;
    expect(drain.reason).toBe(`${v1!.node_id}: scale in (desired 1): template v1`);

    await pools.remove('tmpl');
    const events = (await streamed)
      .split('\n\n')
      .filter((block) => block.includes('event:'))
      .map((block) => ({ event: /event: (\S+)/.exec(block)![1], data: JSON.parse(/data: (.*)/.exec(block)![1]!) }));
    const kinds = events.filter((e) => e.event === 'decision').map((e) => e.data.kind);
    expect(kinds).toEqual(expect.arrayContaining(['add', 'desired', 'template', 'drain', 'remove']));
    expect(events.at(-1)!.event).toBe('deleted');
    // In order, numbered, as recorded.
    const seqs = events.filter((e) => e.event === 'decision').map((e) => e.data.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
