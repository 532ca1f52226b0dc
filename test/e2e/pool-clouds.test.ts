// Node pools on each cloud emulator: the reconciler's provision jobs make real (emulated) servers
// whose user-data registers and then heartbeats like the node agent. The pool keeps min, grows
// with desired, replaces a server deleted behind its back and one whose agent went silent, scales
// out on the load the agents report, and leaves nothing behind when it is deleted; neither the
// provider token nor a node credential gets into Temporal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTenant } from '../../db/tenants.js';
import { deriveRegistrationToken, sha256Hex } from '../../security/tokens.js';
import { poolWorkflowId, provisionWorkflowId } from '../../workflows/messages.js';
import { CLOUDS, type Cloud, type CloudEmulator } from '../support/clouds.js';
import { poolBody, poolHelpers, POOLS } from '../support/pools.js';
import { historyText, startStack, type Stack } from '../support/stack.js';

const registry = (name: string, url: string) => ({
  apiUrls: { [name]: url },
  http: { timeoutMs: 1_000, backoffMs: 50, maxWaitMs: 5_000 },
  pollIntervalMs: 50,
});

// The emulated VMs' agents run in this process and call Berth with the global fetch: what they
// send on a heartbeat is the credential they got at registration (node id → credential), and
// every credential Berth issued is in a registration answer (node id → each one it was given).
const credentials = new Map<string, string>();
const issued = new Map<string, string[]>();
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const heartbeat = /\/nodes\/([a-z0-9-]+)\/heartbeat$/.exec(url);
    const auth = heartbeat && new Headers(init?.headers).get('authorization');
    if (heartbeat && auth) credentials.set(heartbeat[1]!, auth.replace(/^Bearer /, ''));
    const res = await realFetch(input, init);
    if (url.endsWith('/cluster/register') && res.ok) {
      const { node_id: nodeId, node_token: token } = (await res.clone().json()) as { node_id: string; node_token: string };
      issued.set(nodeId, [...(issued.get(nodeId) ?? []), token]);
    }
    return res;
  }) as typeof fetch;
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(CLOUDS)('a pool on $name', (cloud: Cloud) => {
  // Unique on the shared Temporal server: the reconciler's workflow id is made of tenant and name.
  const name = `clouds-${cloud.name}`;
  let emu: CloudEmulator;
  let stack: Stack;
  let pools: ReturnType<typeof poolHelpers>;
  /** The pool's servers in the emulator. */
  const poolVms = () => emu.vms().filter((vm) => vm.pool === name);
  /** The pool's ready nodes once each shows its VM (a VM that called back before its create returned is bound first and gets its VM id a moment later). */
  const readyNodes = async () => {
    let nodes = await pools.nodes(name);
    for (let i = 0; i < 50 && nodes.some((n) => !n.vm_id); i++) {
      await sleep(100);
      nodes = await pools.nodes(name);
    }
    return nodes;
  };
  /** The pool's first decision to remove this node (unhealthy only lasts until the next pass: too short to poll for). */
  const removalOf = async (nodeId: string, timeout = 20_000) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const events = await pools.events(name);
      const removal = events.find((e) => e.kind === 'remove' && e.reason.startsWith(`${nodeId}:`));
      if (removal) return removal;
      if (Date.now() > deadline) throw new Error(`${nodeId} was not removed in ${timeout}ms; decisions:\n${events.map((e) => `${e.kind}: ${e.reason}`).join('\n')}`);
      await sleep(250);
    }
  };
  /** Settled: every member ready and heartbeating, nothing being made or removed. */
  const settled = (n: number) => (p: any) => p.nodes.ready === n && p.nodes.provisioning === 0 && p.nodes.unhealthy === 0 && p.nodes.draining === 0;

  beforeAll(async () => {
    emu = await cloud.start({ bootDelayMs: 100 });
    stack = await startStack({ registry: registry(cloud.name, emu.url), registrationTtlMs: 60_000 });
    pools = poolHelpers(stack);
    const res = await stack.request('POST', `/cp/api/v1/cluster/providers/${cloud.name}/verify`, { token: emu.token });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await emu?.close();
  });

  it('keeps min ready nodes, their servers labelled with the pool', { timeout: 60_000 }, async () => {
    await pools.create(
      poolBody(name, {
        template: { provider: cloud.name, region: cloud.region, plan: cloud.plan },
        min: 2,
        max: 5,
        health: { unhealthy_after: '4s' },
        // A cooldown longer than the test: a load decision happens once.
        autoscaling: { scale_out_cpu: 0.7, window: '3s', cooldown: '10m', step: 1 },
      }),
    );
    await pools.waitFor(name, settled(2), 45_000);
    const nodes = await readyNodes();
    expect(nodes).toHaveLength(2);
    expect(
      poolVms()
        .map((vm) => vm.id)
        .sort(),
    ).toEqual(nodes.map((n) => n.vm_id).sort());
    expect(emu.vms()).toHaveLength(2);
    for (const node of nodes) {
      const vm = poolVms().find((v) => v.id === node.vm_id)!;
      expect(vm).toMatchObject({ jobId: node.job_id, pool: name });
      expect(node.provider).toBe(cloud.name);
    }
    // What the agents send is the credential Berth holds the hash of.
    await expect.poll(() => nodes.every((n) => credentials.has(n.node_id!)), { timeout: 10_000 }).toBe(true);
    for (const node of nodes) {
      const row = await stack.db.selectFrom('nodes').select('agent_token_hash').where('node_id', '=', node.node_id!).executeTakeFirstOrThrow();
      expect(row.agent_token_hash).toBe(sha256Hex(credentials.get(node.node_id!)!));
    }
  });

  it('adds one when desired goes to 3', { timeout: 60_000 }, async () => {
    const patched = await pools.request('PATCH', `${POOLS}/${name}`, { desired: 3 });
    expect(patched.status).toBe(200);
    await pools.waitFor(name, (p) => p.desired === 3 && settled(3)(p), 45_000);
    expect(poolVms()).toHaveLength(3);
    expect((await pools.events(name)).map((e) => `${e.kind}: ${e.reason}`)).toContain('desired: desired set to 3 (was 2)');
  });

  it('replaces a node whose server was deleted behind its back', { timeout: 60_000 }, async () => {
    const [gone] = await readyNodes();
    emu.agents.deleteOutOfBand(gone!.vm_id!);
    expect((await removalOf(gone!.node_id!)).reason).toBe(`${gone!.node_id}: replace: its VM no longer exists at the provider`);
    await pools.waitFor(name, settled(3), 45_000);
    const nodes = await readyNodes();
    expect(nodes.map((n) => n.node_id)).not.toContain(gone!.node_id);
    expect(
      poolVms()
        .map((vm) => vm.id)
        .sort(),
    ).toEqual(nodes.map((n) => n.vm_id).sort());
    expect((await pools.events(name)).map((e) => e.reason)).toContainEqual(expect.stringContaining('its VM no longer exists at the provider'));
    await expect
      .poll(async () => (await stack.db.selectFrom('nodes').select('status').where('node_id', '=', gone!.node_id!).executeTakeFirst())?.status, { timeout: 20_000 })
      .toBe('decommissioned');
  });

  it('replaces a node whose agent stopped, the new node first', { timeout: 60_000 }, async () => {
    const before = await readyNodes();
    const [silent] = before;
    const seqBefore = Math.max(0, ...(await pools.events(name)).map((e) => e.seq));
    emu.agents.stopAgent(silent!.vm_id!);
    const removed = await removalOf(silent!.node_id!);
    await pools.waitFor(name, settled(3), 45_000);
    const after = await readyNodes();
    expect(after.map((n) => n.node_id)).not.toContain(silent!.node_id);
    await expect.poll(() => emu.vms().map((vm) => vm.id), { timeout: 20_000 }).not.toContain(silent!.vm_id);
    expect(
      poolVms()
        .map((vm) => vm.id)
        .sort(),
    ).toEqual(after.map((n) => n.vm_id).sort());

    const events = await pools.events(name);
    expect(removed.reason).toBe(`${silent!.node_id}: replace: no heartbeat for 4s`);
    const [replacement] = after.filter((n) => !before.some((b) => b.node_id === n.node_id));
    expect(Date.parse(replacement!.created_at!)).toBeLessThanOrEqual(Date.parse(removed.at));
    expect(events.some((e) => e.kind === 'add' && /replacing 1\)$/.test(e.reason) && e.seq > seqBefore && e.seq < removed.seq)).toBe(true);
  });

  it('scales out by one on the load its agents report, once per cooldown', { timeout: 60_000 }, async () => {
    const busy = await readyNodes();
    for (const node of busy) emu.agents.setLoad(node.vm_id!, { cpu: 0.9, workloads: 2 });
    await pools.waitFor(name, (p) => p.desired === 4, 20_000);
    await pools.waitFor(name, settled(4), 45_000);
    // The new node is busy too: still no second scale-out within the cooldown.
    for (const node of await readyNodes()) emu.agents.setLoad(node.vm_id!, { cpu: 0.9, workloads: 2 });
    await sleep(5_000);
    expect((await pools.get(name)).desired).toBe(4);
    const outs = (await pools.events(name)).filter((e) => e.kind === 'scale_out');
    expect(outs.map((e) => e.reason)).toEqual([expect.stringMatching(/^cpu 0\.9\d > 0\.70 over 3s: desired 3 → 4$/)]);
    expect(poolVms()).toHaveLength(4);
  });

  it('deletes the pool: no server, no live node, no reserved slot left', { timeout: 90_000 }, async () => {
    await pools.remove(name, 60_000);
    await expect.poll(() => emu.vms(), { timeout: 20_000 }).toEqual([]);
    const live = await stack.db.selectFrom('nodes').select(['node_id', 'status']).where('pool', '=', name).where('status', '!=', 'decommissioned').execute();
    expect(live).toEqual([]);
    const jobs = await stack.db.selectFrom('jobs').select(['job_id', 'phase', 'holds_slot']).where('pool', '=', name).execute();
    expect(jobs.length).toBeGreaterThanOrEqual(6);
    for (const job of jobs) expect(job).toMatchObject({ phase: expect.stringMatching(/^(decommissioned|cancelled|failed)$/), holds_slot: 0 });
    expect(await getTenant(stack.db, stack.tenantId)).toMatchObject({ reserved_nodes: 0, committed_cents: 0 });
  });

  it("keeps the provider token and the node credentials out of the pool's history", { timeout: 60_000 }, async () => {
    const jobs = await stack.db.selectFrom('jobs').select('job_id').where('pool', '=', name).execute();
    // Nodes whose job recorded them ready: a VM that called back while the pool's deletion cancelled
    // its job was bound and unbound at once, answered 409, and was given no credential.
    const nodes = await stack.db
      .selectFrom('nodes')
      .select('node_id')
      .where('pool', '=', name)
      .where((eb) => eb.exists(eb.selectFrom('job_progress').select('job_id').whereRef('job_progress.job_id', '=', 'nodes.job_id').where('job_progress.phase', '=', 'ready')))
      .execute();
    // Every such node was answered with a credential (one whose VM was deleted at once included).
    expect(nodes.filter((n) => !issued.has(n.node_id))).toEqual([]);
    expect(nodes.length).toBeGreaterThanOrEqual(6);
    const nodeCredentials = nodes.flatMap((n) => issued.get(n.node_id)!);
    const secrets = [emu.token, ...nodeCredentials, ...jobs.map((j) => deriveRegistrationToken(stack.registrationKey, stack.tenantId, j.job_id))];

    const history = await historyText(stack.client, poolWorkflowId(stack.tenantId, name));
    expect(history).toContain(name);
    for (const secret of secrets) expect(history).not.toContain(secret);
    for (const job of jobs) {
      const text = await historyText(stack.client, provisionWorkflowId(job.job_id));
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});
