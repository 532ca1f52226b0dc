import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildUserData } from '../../activities/cloud-init.js';
import { HetznerProvider } from '../../providers/hetzner/hetzner-provider.js';
import { sshKeyFingerprint } from '../../providers/ssh-keys.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, ProviderError, type VmSpec } from '../../providers/types.js';
import { startHetznerEmulator, type HetznerEmulator, type HetznerEmulatorOptions } from '../emulators/hetzner.js';

// Generated for these tests; fingerprints as `ssh-keygen -l -E md5` prints them.
const KEY_1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyI3iGMVVK0AhWOpjTMBY+ARMoXnKrzWx8hxMe2mVNh ops@berth';
const KEY_1_MD5 = 'ea:e5:1a:71:28:d6:90:15:8c:2b:8a:59:fb:98:83:87';
const KEY_2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDbMNVKE9obxSlRh7WogHg3GVN2u/HMxxn67clKSs2RY second';
const KEY_2_MD5 = 'a9:db:5f:45:e3:48:52:6e:a3:5a:47:6f:fb:a6:22:65';

const emulators: HetznerEmulator[] = [];
async function emulator(options: HetznerEmulatorOptions = {}): Promise<HetznerEmulator> {
  const e = await startHetznerEmulator({ bootMode: 'never-register', bootDelayMs: 50, ...options });
  emulators.push(e);
  return e;
}
afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()));
});

function adapter(e: HetznerEmulator, http: ConstructorParameters<typeof HetznerProvider>[0]['http'] = {}, token = e.token) {
  return new HetznerProvider({ token, baseUrl: e.url, pollIntervalMs: 10, http: { backoffMs: 10, timeoutMs: 5_000, ...http } });
}

let seq = 0;
function spec(overrides: Partial<VmSpec> = {}): VmSpec {
  const job = `job${++seq}x${Date.now().toString(36)}`;
  return {
    name: `berth-${job}`,
    region: 'fsn1',
    plan: 'cx22',
    userData: '#cloud-config\n{}\n',
    labels: { [LABEL_JOB]: job, [LABEL_TENANT]: 'acme', [LABEL_MANAGED]: 'true', team: 'infra' },
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const count = (e: HetznerEmulator, method: string, path: string) => e.requests.filter((r) => r.method === method && r.path === path).length;

describe('HetznerProvider against the emulator', () => {
  let e: HetznerEmulator;
  let provider: HetznerProvider;
  beforeAll(async () => {
    e = await emulator();
    provider = adapter(e);
  });

  describe('token and catalogue', () => {
    it('verifies a good token with one cheap read', async () => {
      await provider.verify();
      expect(e.requests.at(-1)).toMatchObject({ method: 'GET', path: '/locations', query: { per_page: '1' } });
    });

    it('refuses a bad token for good, without showing it', async () => {
      const secret = 'hcloud-secret-0123456789abcdef';
      const err = await rejection(adapter(e, {}, secret).verify());
      expect(err).toMatchObject({ code: 'unauthorized', retryable: false });
      expect(err.message).not.toContain(secret);
    });

    it('lists regions from the locations', async () => {
      const regions = await provider.regions();
      expect(regions.map((r) => r.name)).toEqual(['fsn1', 'nbg1', 'hel1', 'ash']);
      expect(regions[0]).toEqual({ name: 'fsn1', description: 'Falkenstein DC Park 1' });
    });

    it('offers the types priced in the region, at the net price, and not the deprecated ones', async () => {
      const fsn1 = await provider.plans('fsn1');
      expect(fsn1.map((p) => p.name)).toEqual(['cx22', 'cpx11', 'cpx31', 'cax11']);
      const cx22 = fsn1.find((p) => p.name === 'cx22');
      expect(cx22).toMatchObject({ vcpu: 2, memory_mb: 4096, disk_gb: 40, arch: 'x86', price_monthly: 3.79, currency: 'EUR' });
      expect(cx22?.price_hourly).toBeCloseTo(3.79 / 730, 6);
      expect(fsn1.find((p) => p.name === 'cax11')?.arch).toBe('arm');

      // cax11 and cx22 have no price in ash; cpx11 costs more there.
      const ash = await provider.plans('ash');
      expect(ash.map((p) => p.name)).toEqual(['cpx11', 'cpx31']);
      expect(ash[0]?.price_monthly).toBe(4.99);
      // cpx11 is deprecated in hel1 only (per-location deprecation).
      expect((await provider.plans('hel1')).map((p) => p.name)).toEqual(['cx22', 'cpx31', 'cax11']);
      expect(await provider.plans('atlantis')).toEqual([]);
    });
  });

  describe('create, find, delete', () => {
    it('creates a running server whose labels round-trip, and finds it by job, name and managed label', async () => {
      const s = spec();
      const vm = await provider.create(s);
      expect(vm).toMatchObject({ name: s.name, status: 'running', labels: s.labels });
      expect(vm.id).toMatch(/^\d+$/);
      expect(Date.parse(vm.createdAt ?? '')).not.toBeNaN();

      // It waited for the create and power-on actions rather than returning at once.
      const server = e.servers().find((x) => String(x.id) === vm.id);
      expect(server).toMatchObject({ status: 'running', serverType: 'cx22', location: 'fsn1', image: 'ubuntu-24.04', userData: s.userData });
      expect(server).toMatchObject({ publicIpv4: true, publicIpv6: true, networks: [], firewalls: [] });
      expect(e.requests.some((r) => r.method === 'GET' && r.path.startsWith('/actions/'))).toBe(true);

      const job = s.labels[LABEL_JOB] ?? '';
      expect(await provider.listByJob(job)).toEqual([{ ...vm, status: 'running' }]);
      expect(e.requests.at(-1)?.query.label_selector).toBe(`${LABEL_JOB}==${job}`);
      expect(await provider.listByJob(`${job}-other`)).toEqual([]);
      expect((await provider.findByName(s.name))?.id).toBe(vm.id);
      expect(await provider.findByName(`${s.name}-other`)).toBeUndefined();
      expect((await provider.listManaged()).map((v) => v.id)).toContain(vm.id);
    });

    it('passes network, firewall and public IP options through', async () => {
      const vm = await provider.create(spec({ region: 'nbg1', plan: 'cpx31', image: 'debian-12', network: '4711', firewall: '38', publicIpv4: false, ipv6: true }));
      const server = e.servers().find((x) => String(x.id) === vm.id);
      expect(server).toMatchObject({ location: 'nbg1', image: 'debian-12', networks: [4711], firewalls: [38], publicIpv4: false, publicIpv6: true });
    });

    it('deletes, then reports not_found', async () => {
      const vm = await provider.create(spec());
      expect(await provider.delete(vm.id)).toBe('deleted');
      expect(e.servers().some((x) => String(x.id) === vm.id)).toBe(false);
      expect(await provider.delete(vm.id)).toBe('not_found');

      const before = e.requests.length;
      expect(await provider.delete('lvm-abc123')).toBe('not_found');
      expect(e.requests.length).toBe(before);
    });

    it('creates the SSH key once and reuses it by fingerprint', async () => {
      expect(sshKeyFingerprint(KEY_1, 'hetzner')).toBe(KEY_1_MD5);
      expect(sshKeyFingerprint(KEY_2, 'hetzner')).toBe(KEY_2_MD5);

      const a = await provider.create(spec({ sshKey: KEY_1 }));
      const b = await provider.create(spec({ sshKey: KEY_1 }));
      const keys = e.sshKeys().filter((k) => k.fingerprint === KEY_1_MD5);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ name: 'berth-eae51a7128d69015', labels: { [LABEL_MANAGED]: 'true' } });
      expect(count(e, 'POST', '/ssh_keys')).toBe(1);
      expect(e.requests.some((r) => r.path === '/ssh_keys' && r.query.fingerprint === KEY_1_MD5)).toBe(true);
      for (const vm of [a, b]) expect(e.servers().find((x) => String(x.id) === vm.id)?.sshKeys).toEqual([keys[0]?.id]);
    });

    it('refuses a malformed SSH key before any request', async () => {
      const before = e.requests.length;
      const err = await rejection(provider.create(spec({ sshKey: 'ssh-ed25519 not-base64!' })));
      expect(err).toMatchObject({ code: 'invalid_input', retryable: false });
      expect(e.requests.length).toBe(before);
    });

    it('refuses user_data over 32 KiB before any request, and takes exactly 32 KiB', async () => {
      const before = e.requests.length;
      const err = await rejection(provider.create(spec({ userData: 'x'.repeat(32 * 1024 + 1) })));
      expect(err).toMatchObject({ code: 'invalid_input', retryable: false });
      expect(e.requests.length).toBe(before);
      // Bytes, not characters.
      await rejection(provider.create(spec({ userData: 'é'.repeat(16 * 1024 + 1) })));
      expect(e.requests.length).toBe(before);

      const vm = await provider.create(spec({ userData: 'x'.repeat(32 * 1024) }));
      expect(vm.status).toBe('running');
    });
  });

  describe('errors', () => {
    it('maps a taken name to uniqueness_error, and findByName shows whose it is', async () => {
      const first = spec();
      await provider.create(first);
      const err = await rejection(provider.create(spec({ name: first.name })));
      expect(err).toMatchObject({ code: 'uniqueness_error', retryable: false, status: 409 });
      expect((await provider.findByName(first.name))?.labels[LABEL_JOB]).toBe(first.labels[LABEL_JOB]);
    });

    it('reports a sold-out type as resource_unavailable, not retryable, naming type and location', async () => {
      e.faults.soldOut('cpx31', 'hel1');
      const err = await rejection(provider.create(spec({ plan: 'cpx31', region: 'hel1' })));
      expect(err).toMatchObject({ code: 'resource_unavailable', retryable: false });
      expect(err.message).toMatch(/cpx31 is unavailable in location hel1/);
      expect(err.message).not.toMatch(/token/);
      // Other locations still have it.
      expect((await provider.create(spec({ plan: 'cpx31', region: 'nbg1' }))).status).toBe('running');
    });

    it('reports a placement failure as placement_error, not retryable', async () => {
      e.faults.soldOut('cax11', 'nbg1', 'placement_error');
      const err = await rejection(provider.create(spec({ plan: 'cax11', region: 'nbg1' })));
      expect(err).toMatchObject({ code: 'placement_error', retryable: false });
      expect(err.message).toMatch(/cax11/);
    });

    it('reports an unknown type or a type not offered in the location as invalid_input', async () => {
      expect(await rejection(provider.create(spec({ plan: 'cx99' })))).toMatchObject({ code: 'invalid_input', retryable: false, status: 400 });
      expect(await rejection(provider.create(spec({ plan: 'cax11', region: 'ash' })))).toMatchObject({ code: 'invalid_input', retryable: false });
    });

    it('says a read-only token is read-only on the first write', async () => {
      const ro = await emulator();
      ro.faults.readOnlyToken();
      const p = adapter(ro);
      await p.verify();
      const err = await rejection(p.create(spec()));
      expect(err).toMatchObject({ code: 'token_readonly', retryable: false });
      expect(err.message).toMatch(/read-only/);
      expect(ro.servers()).toHaveLength(0);
    });

    it('waits out a 429 burst as RateLimit-Reset says, then succeeds', async () => {
      e.faults.rateLimitNext(3, 1);
      const before = count(e, 'GET', '/locations');
      const started = performance.now();
      await provider.verify();
      const elapsed = performance.now() - started;
      expect(count(e, 'GET', '/locations') - before).toBe(4);
      // Each 429 says "reset in ~1 s" (Unix seconds, rounded up), so three of them cost at least 3 s.
      expect(elapsed).toBeGreaterThanOrEqual(2_900);
      expect(elapsed).toBeLessThan(8_000);
    });

    it('gives up on a rate limit longer than it may wait, with a retryable error that says how long', async () => {
      e.faults.rateLimitNext(1, 30);
      const err = await rejection(adapter(e, { maxWaitMs: 1_000 }).verify());
      expect(err).toMatchObject({ code: 'rate_limit_exceeded', retryable: true });
      expect(err.retryAfterMs).toBeGreaterThan(28_000);
      expect(err.retryAfterMs).toBeLessThanOrEqual(31_000);
    });

    it('retries a GET that got 503', async () => {
      e.faults.serverErrorNext(2);
      const before = count(e, 'GET', '/locations');
      expect(await provider.regions()).toHaveLength(4);
      expect(count(e, 'GET', '/locations') - before).toBe(3);
    });

    it('does not resend a POST that got 503, and says a retry may help', async () => {
      e.faults.serverErrorNext(1);
      const before = count(e, 'POST', '/servers');
      const err = await rejection(provider.create(spec()));
      expect(err).toMatchObject({ retryable: true });
      expect(count(e, 'POST', '/servers') - before).toBe(1);
    });

    it('times out a hanging create with a retryable error, yet the server exists and listByJob finds it', async () => {
      const s = spec();
      e.faults.hangCreateAfterCommit(3_000);
      const err = await rejection(adapter(e, { timeoutMs: 300 }).create(s));
      expect(err).toMatchObject({ code: 'timeout', retryable: true });
      const found = await provider.listByJob(s.labels[LABEL_JOB] ?? '');
      expect(found).toHaveLength(1);
      expect(found[0]?.name).toBe(s.name);
      // The retry's create would then collide on the name: what the activity adopts on.
      expect(await rejection(provider.create(s))).toMatchObject({ code: 'uniqueness_error' });
    });

    it('stops waiting for the actions when the caller aborts', async () => {
      const slow = await emulator({ bootDelayMs: 30_000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = performance.now();
      await expect(adapter(slow).create(spec(), { signal: controller.signal })).rejects.toThrow(/abort/i);
      expect(performance.now() - started).toBeLessThan(2_000);
    });
  });

  it('follows pagination across every page of managed servers', async () => {
    const many = await emulator();
    const headers = { authorization: `Bearer ${many.token}`, 'content-type': 'application/json' };
    await Promise.all(
      Array.from({ length: 55 }, (_, i) =>
        fetch(`${many.url}/servers`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: `vm-${i}`, server_type: 'cx22', image: 'ubuntu-24.04', labels: { [LABEL_MANAGED]: i < 53 ? 'true' : 'false' } }),
        }).then((r) => expect(r.status).toBe(201)),
      ),
    );
    const managed = await adapter(many).listManaged();
    expect(managed).toHaveLength(53);
    expect(new Set(managed.map((v) => v.id)).size).toBe(53);
    const pages = many.requests.filter((r) => r.method === 'GET' && r.path === '/servers').map((r) => r.query.page);
    expect(pages).toEqual(['1', '2']);
  });
});

describe('Hetzner emulator', () => {
  let registrations: Array<{ token: string; hostname: string }>;
  let registrar: Server;
  let registerUrl: string;
  beforeAll(async () => {
    registrations = [];
    registrar = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        registrations.push(JSON.parse(body) as { token: string; hostname: string });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"node_id":"n1"}');
      });
    });
    await new Promise<void>((resolve) => registrar.listen(0, '127.0.0.1', resolve));
    registerUrl = `http://127.0.0.1:${(registrar.address() as AddressInfo).port}/cp/api/v1/cluster/register`;
  });
  afterEach(() => {
    registrations.length = 0;
  });
  afterAll(async () => {
    await new Promise((resolve) => registrar.close(resolve));
  });

  const userData = (token: string) => buildUserData({ registerUrl, token, tenantId: 'acme', hostname: 'node-1' });

  it('boots a running server by posting its registration token', async () => {
    const e = await emulator({ bootMode: 'register' });
    const vm = await adapter(e).create(spec({ userData: userData('tok-123') }));
    await expect.poll(() => registrations, { timeout: 5_000 }).toEqual([{ token: 'tok-123', hostname: 'node-1' }]);
    await expect.poll(() => e.servers().find((s) => String(s.id) === vm.id)?.boot).toBe(200);
  });

  it('never registers in never-register mode', async () => {
    const e = await emulator({ bootMode: 'never-register' });
    await adapter(e).create(spec({ userData: userData('tok-456') }));
    await new Promise((r) => setTimeout(r, 300));
    expect(registrations).toEqual([]);
  });

  it('answers in Hetzner error format and filters by label selector terms', async () => {
    const e = await emulator();
    const get = (path: string, token = e.token) => fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const denied = await get('/servers', 'wrong');
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect(e.requests.at(-1)).toEqual({ method: 'GET', path: '/servers', query: {} });

    const missing = await get('/servers/999999');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });

    const p = adapter(e);
    await p.create(spec({ name: 'a', labels: { env: 'prod', tier: 'web' } }));
    await p.create(spec({ name: 'b', labels: { env: 'prod', tier: 'db' } }));
    await p.create(spec({ name: 'c', labels: { env: 'dev' } }));
    const names = async (selector: string) => {
      const res = await get(`/servers?${new URLSearchParams({ label_selector: selector })}`);
      return ((await res.json()) as { servers: Array<{ name: string }> }).servers.map((s) => s.name).sort();
    };
    expect(await names('env==prod')).toEqual(['a', 'b']);
    expect(await names('env=prod,tier=db')).toEqual(['b']);
    expect(await names('env!=prod')).toEqual(['c']);
    expect(await names('tier')).toEqual(['a', 'b']);
    expect(await names('!tier')).toEqual(['c']);
  });
});
