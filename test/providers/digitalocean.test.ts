import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildUserData } from '../../activities/cloud-init.js';
import { DigitalOceanProvider } from '../../providers/digitalocean/digitalocean-provider.js';
import { sshKeyFingerprint } from '../../providers/ssh-keys.js';
import { jobTag, labelsToTags, tagsToLabels } from '../../providers/digitalocean/tags.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, ProviderError, type VmSpec } from '../../providers/types.js';
import { startDigitalOceanEmulator, type DigitalOceanEmulator } from '../emulators/digitalocean.js';

// Made with `ssh-keygen -t ed25519`; the fingerprint is what `ssh-keygen -l -E md5` prints for it.
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQq/vplrLxHF2l4BAE3Qp597tMC/x4zEQ/wyyR+C+6s berth-test';
const SSH_FINGERPRINT = 'd0:c8:6e:32:29:3b:fb:f2:df:58:27:b8:70:46:1d:08';
const REGISTRATION_TOKEN = 'brt_job_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd';

/** Stands in for Berth's register endpoint: records what booted droplets post. */
let registrations: Array<{ token: string; hostname: string }>;
let registerServer: Server;
let registerUrl: string;

beforeAll(async () => {
  registrations = [];
  const app = new Hono().post('/register', async (c) => {
    registrations.push(await c.req.json());
    return c.json({ ok: true });
  });
  registerServer = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  registerUrl = `http://127.0.0.1:${(registerServer.address() as AddressInfo).port}/register`;
});

afterAll(async () => {
  registerServer.closeAllConnections();
  await new Promise((resolve) => registerServer.close(resolve));
});

let emulator: DigitalOceanEmulator;

async function start(options: Parameters<typeof startDigitalOceanEmulator>[0] = {}): Promise<DigitalOceanEmulator> {
  emulator = await startDigitalOceanEmulator({ bootDelayMs: 100, ...options });
  return emulator;
}

afterEach(async () => {
  await emulator?.close();
});

function provider(overrides: { token?: string; timeoutMs?: number } = {}): DigitalOceanProvider {
  return new DigitalOceanProvider({
    token: overrides.token ?? emulator.token,
    baseUrl: emulator.url,
    http: { backoffMs: 10, timeoutMs: overrides.timeoutMs ?? 5_000 },
    pollIntervalMs: 20,
  });
}

function spec(jobId: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    name: `berth-${jobId}`,
    region: 'nyc3',
    plan: 's-1vcpu-1gb',
    userData: buildUserData({ registerUrl, token: REGISTRATION_TOKEN, tenantId: 'tenant-a', hostname: `node-${jobId}` }),
    labels: { team: 'Data Eng/ML', [LABEL_JOB]: jobId, [LABEL_TENANT]: 'tenant-a', [LABEL_MANAGED]: 'true' },
    ...overrides,
  };
}

/** The ProviderError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !check()) await sleep(20);
  return check();
}

const calls = (method: string, path: string | RegExp) => emulator.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));

describe('DigitalOcean tags', () => {
  it("round-trips Berth's labels and writes user labels in a lossy, non-Berth form", () => {
    const tags = labelsToTags({ [LABEL_JOB]: 'job-1', [LABEL_TENANT]: 'acme-2', [LABEL_MANAGED]: 'true', 'team/name': 'Data Eng', empty: '', 'berth-job': 'evil' });
    expect(tags).toEqual(['berth-job:job-1', 'berth-tenant:acme-2', 'berth-managed', 'team_name:Data_Eng', 'empty', 'user-berth-job:evil']);
    expect(tagsToLabels(tags)).toEqual({ [LABEL_JOB]: 'job-1', [LABEL_TENANT]: 'acme-2', [LABEL_MANAGED]: 'true' });
    // DigitalOcean keeps a tag's first spelling, which may differ in case.
    expect(tagsToLabels(['BERTH-JOB:job-1', 'Berth-Managed'])).toEqual({ [LABEL_JOB]: 'job-1', [LABEL_MANAGED]: 'true' });
    expect(labelsToTags({ k: 'x'.repeat(400) })[0]).toHaveLength(255);
  });

  it('refuses Berth labels that could not be read back exactly', () => {
    expect(() => labelsToTags({ [LABEL_JOB]: 'Job_1' })).toThrow(ProviderError);
    expect(() => labelsToTags({ [LABEL_TENANT]: 'a b' })).toThrow(ProviderError);
    expect(() => labelsToTags({ [LABEL_MANAGED]: 'yes' })).toThrow(ProviderError);
    expect(() => jobTag('x'.repeat(250))).toThrow(ProviderError);
  });

  it('computes the MD5 fingerprint ssh-keygen prints, and refuses what is not a public key', () => {
    expect(sshKeyFingerprint(SSH_KEY, 'digitalocean')).toBe(SSH_FINGERPRINT);
    expect(() => sshKeyFingerprint('ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIQq', 'digitalocean')).toThrow(ProviderError);
    expect(() => sshKeyFingerprint('not a key', 'digitalocean')).toThrow(ProviderError);
  });
});

describe('DigitalOceanProvider against the emulator', { timeout: 20_000 }, () => {
  it('verifies the token; a bad one is final and never shows in the error', async () => {
    await start();
    await provider().verify();
    expect(calls('GET', '/v2/account')).toHaveLength(1);

    const err = await failure(provider({ token: 'dop_v1_secret-wrong-token' }).verify());
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('unauthorized');
    expect(err.message).toContain('Unable to authenticate you.');
    expect(err.message).not.toContain('dop_v1_secret-wrong-token');
    // Not retried: one more request only.
    expect(calls('GET', '/v2/account')).toHaveLength(2);
  });

  it('refuses a locked account with its status message, accepts one with a warning', async () => {
    await start();
    emulator.setAccountStatus('locked', 'Your account is locked pending payment.');
    const err = await failure(provider().verify());
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('account_locked');
    expect(err.message).toContain('Your account is locked pending payment.');

    emulator.setAccountStatus('warning', 'Your balance is overdue.');
    await expect(provider().verify()).resolves.toBeUndefined();
  });

  it('lists available regions only', async () => {
    await start();
    expect(await provider().regions()).toEqual([
      { name: 'nyc3', description: 'New York 3' },
      { name: 'fra1', description: 'Frankfurt 1' },
      { name: 'ams3', description: 'Amsterdam 3' },
    ]);
    expect(calls('GET', '/v2/regions')[0]?.query).toMatchObject({ per_page: '200', page: '1' });
  });

  it('offers the sizes available in a region, with USD prices', async () => {
    await start();
    const p = provider();
    const nyc = await p.plans('nyc3');
    expect(nyc.map((plan) => plan.name)).toEqual(['s-1vcpu-1gb', 's-2vcpu-4gb', 's-4vcpu-8gb']);
    expect(nyc[1]).toEqual({ name: 's-2vcpu-4gb', vcpu: 2, memory_mb: 4096, disk_gb: 80, arch: 'x86', price_monthly: 24, price_hourly: 0.03571, currency: 'USD' });
    // s-2vcpu-4gb is not sold in fra1; s-1vcpu-512mb-10gb lists fra1 but is unavailable.
    expect((await p.plans('fra1')).map((plan) => plan.name)).toEqual(['s-1vcpu-1gb', 's-4vcpu-8gb']);
    expect(await p.plans('xyz9')).toEqual([]);
  });

  it('follows pagination to the last page', async () => {
    await start({ maxPerPage: 1 });
    const plans = await provider().plans('nyc3');
    expect(plans.map((plan) => plan.name)).toEqual(['s-1vcpu-1gb', 's-2vcpu-4gb', 's-4vcpu-8gb']);
    expect(calls('GET', '/v2/sizes').map((r) => r.query.page)).toEqual(['1', '2', '3', '4']);
  });

  it('creates an active droplet that boots, carries its tags, and is found by job, name and managed tag', async () => {
    await start();
    const p = provider();
    const vm = await p.create(spec('job-a'));
    expect(vm).toMatchObject({ name: 'berth-job-a', status: 'active', labels: { [LABEL_JOB]: 'job-a', [LABEL_TENANT]: 'tenant-a', [LABEL_MANAGED]: 'true' } });
    expect(vm.id).toMatch(/^[0-9]+$/);
    expect(Date.parse(vm.createdAt!)).not.toBeNaN();
    // Waited for the create action before answering.
    expect(calls('GET', /^\/v2\/actions\/[0-9]+$/).length).toBeGreaterThan(0);

    const [droplet] = emulator.droplets();
    expect(droplet).toMatchObject({ id: Number(vm.id), size_slug: 's-1vcpu-1gb', status: 'active', image: { slug: 'ubuntu-24-04-x64' } });
    expect(droplet!.tags).toEqual(['team:Data_Eng_ML', 'berth-job:job-a', 'berth-tenant:tenant-a', 'berth-managed']);
    expect(droplet!.user_data).toBe(spec('job-a').userData);
    expect(droplet!.features).toContain('ipv6');
    expect(droplet!.networks.v4.map((n) => n.type)).toContain('public');

    expect(await waitFor(() => registrations.some((r) => r.hostname === 'node-job-a'), 3_000)).toBe(true);
    expect(registrations.find((r) => r.hostname === 'node-job-a')?.token).toBe(REGISTRATION_TOKEN);

    await p.create(spec('job-b', { labels: { [LABEL_JOB]: 'job-b' } }));
    expect((await p.listByJob('job-a')).map((v) => v.id)).toEqual([vm.id]);
    expect(calls('GET', '/v2/droplets').at(-1)?.query.tag_name).toBe('berth-job:job-a');
    expect(await p.listByJob('job-c')).toEqual([]);
    expect((await p.findByName('berth-job-a'))?.id).toBe(vm.id);
    expect(await p.findByName('berth-nope')).toBeUndefined();
    expect((await p.listManaged()).map((v) => v.id)).toEqual([vm.id]);
  });

  it('does not boot-register in never-register mode', async () => {
    await start({ bootMode: 'never-register' });
    const before = registrations.length;
    const vm = await provider().create(spec('job-quiet'));
    expect(vm.status).toBe('active');
    await sleep(300);
    expect(registrations.length).toBe(before);
  });

  it("deletes a droplet, then reports it not found; another cloud's id does not exist", async () => {
    await start();
    const p = provider();
    const vm = await p.create(spec('job-del'));
    expect(await p.delete(vm.id)).toBe('deleted');
    expect(emulator.droplets()).toEqual([]);
    expect(await p.delete(vm.id)).toBe('not_found');
    const count = emulator.requests.length;
    expect(await p.delete('lvm-abc123')).toBe('not_found');
    expect(emulator.requests.length).toBe(count);
  });

  it("deletes a job's droplets by tag, and refuses the managed tag", async () => {
    await start();
    const p = provider();
    await p.create(spec('job-x'));
    const other = await p.create(spec('job-y'));
    await p.deleteByTag(jobTag('job-x'));
    expect(emulator.droplets().map((d) => String(d.id))).toEqual([other.id]);
    expect(calls('DELETE', '/v2/droplets')[0]?.query).toEqual({ tag_name: 'berth-job:job-x' });
    const err = await failure(p.deleteByTag('berth-managed'));
    expect(err.code).toBe('invalid_input');
    expect(emulator.droplets()).toHaveLength(1);
  });

  it('uploads an SSH key once and reuses it by fingerprint', async () => {
    await start();
    const p = provider();
    await p.create(spec('job-k1', { sshKey: SSH_KEY }));
    await p.create(spec('job-k2', { sshKey: `${SSH_KEY}\n` }));
    const keys = emulator.sshKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ fingerprint: SSH_FINGERPRINT, name: 'berth-d0c86e32293bfbf2', public_key: SSH_KEY });
    expect(calls('POST', '/v2/account/keys')).toHaveLength(1);
    expect(calls('GET', `/v2/account/keys/${SSH_FINGERPRINT}`)).toHaveLength(2);
    expect(emulator.droplets().map((d) => d.ssh_keys)).toEqual([[keys[0]!.id], [keys[0]!.id]]);
  });

  it('attaches the firewall once the droplet is active, and places it in the VPC', async () => {
    await start();
    const vm = await provider().create(spec('job-fw', { firewall: emulator.firewallId, network: emulator.vpcId }));
    expect(emulator.firewallDropletIds()).toEqual([Number(vm.id)]);
    const attach = emulator.requests.findIndex((r) => r.method === 'POST' && r.path === `/v2/firewalls/${emulator.firewallId}/droplets`);
    const lastPoll = emulator.requests.map((r) => r.path.startsWith('/v2/actions/')).lastIndexOf(true);
    expect(attach).toBeGreaterThan(lastPoll);
    expect(emulator.droplets()[0]?.vpc_uuid).toBe(emulator.vpcId);

    const err = await failure(provider().create(spec('job-fw2', { firewall: '00000000-0000-4000-8000-000000000000' })));
    expect(err).toMatchObject({ code: 'not_found', retryable: false });
  });

  it('creates without public networking (and so without IPv6) when publicIpv4 is false', async () => {
    await start();
    await provider().create(spec('job-priv', { publicIpv4: false, network: emulator.vpcId }));
    const [droplet] = emulator.droplets();
    expect(droplet).toMatchObject({ public_networking: false });
    expect(droplet!.features).not.toContain('ipv6');
    expect(droplet!.networks.v4.map((n) => n.type)).toEqual(['private']);

    const count = emulator.requests.length;
    const err = await failure(provider().create(spec('job-priv2', { publicIpv4: false, ipv6: true })));
    expect(err).toMatchObject({ code: 'invalid_input', retryable: false });
    expect(emulator.requests.length).toBe(count);
  });

  it('waits out a 429 burst as Retry-After asks, then succeeds', async () => {
    await start();
    emulator.faults.rateLimitNext(3, 1);
    const started = Date.now();
    expect(await provider().regions()).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    const times = calls('GET', '/v2/regions').map((r) => r.at);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(950);
  });

  it('retries a GET that met a 503, but not a create', async () => {
    await start();
    emulator.faults.serverErrorNext(2);
    expect(await provider().plans('nyc3')).toHaveLength(3);
    expect(calls('GET', '/v2/sizes')).toHaveLength(3);

    emulator.faults.serverErrorNext(1);
    const err = await failure(provider().create(spec('job-503')));
    expect(err.retryable).toBe(true);
    expect(calls('POST', '/v2/droplets')).toHaveLength(1);
  });

  it('a create that times out is retryable, and the droplet it made is found by its job', async () => {
    await start();
    emulator.faults.hangCreateAfterCommit(3_000);
    const p = provider({ timeoutMs: 300 });
    const err = await failure(p.create(spec('job-hang')));
    expect(err).toMatchObject({ code: 'timeout', retryable: true });
    expect(emulator.droplets()).toHaveLength(1);
    const found = await p.listByJob('job-hang');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: 'berth-job-hang', labels: { [LABEL_JOB]: 'job-hang' } });
  });

  it('reports a sold-out size as resource_unavailable, other refusals as invalid_input', async () => {
    await start();
    const p = provider();
    emulator.faults.soldOut('s-1vcpu-1gb', 'nyc3');
    const soldOut = await failure(p.create(spec('job-so')));
    expect(soldOut).toMatchObject({ code: 'resource_unavailable', retryable: false, status: 422 });
    expect(soldOut.message).toContain('Size is not available in this region.');
    // Sold out in one region only.
    await expect(p.create(spec('job-so', { region: 'ams3' }))).resolves.toMatchObject({ status: 'active' });

    const notHere = await failure(p.create(spec('job-so2', { plan: 's-2vcpu-4gb', region: 'fra1' })));
    expect(notHere.code).toBe('resource_unavailable');
    const unknown = await failure(p.create(spec('job-so3', { plan: 'm-999' })));
    expect(unknown).toMatchObject({ code: 'invalid_input', retryable: false });
  });

  it('refuses user_data over 64 KiB (counted in bytes) before any request', async () => {
    await start();
    const p = provider();
    const err = await failure(p.create(spec('job-big', { userData: 'é'.repeat(32_769) })));
    expect(err).toMatchObject({ code: 'invalid_input', retryable: false });
    expect(err.message).toContain('65538 bytes');
    expect(emulator.requests).toEqual([]);
    // Exactly 64 KiB is accepted.
    await expect(p.create(spec('job-max', { userData: 'x'.repeat(65_536) }))).resolves.toMatchObject({ status: 'active' });
  });

  it('fails for good when the create action errors', async () => {
    await start();
    emulator.faults.failNextCreateAction();
    const err = await failure(provider().create(spec('job-err')));
    expect(err).toMatchObject({ code: 'create_failed', retryable: false });
  });

  it("stops waiting for the create action when the caller's signal aborts", async () => {
    await start({ bootDelayMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await expect(provider().create(spec('job-abort'), { signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
