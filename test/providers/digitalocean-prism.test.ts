import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildUserData } from '../../activities/cloud-init.js';
import { DigitalOceanProvider } from '../../providers/digitalocean/digitalocean-provider.js';
import { jobTag } from '../../providers/digitalocean/tags.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, type VmSpec } from '../../providers/types.js';
import { specFile } from '../support/specs.js';

/**
 * The adapter against Prism serving DigitalOcean's official OpenAPI spec: every request the
 * adapter makes must validate against it, and every (example) answer must parse. Prism answers
 * an invalid request in DigitalOcean's error format, with the violations in an `sl-violations`
 * header the adapter never sees, so requests go through a small recording proxy that collects them.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const specLookup = specFile('digitalocean.openapi.json');
const specPath = specLookup.path ?? '';
const haveSpec = specLookup.path !== undefined;
if (!haveSpec) console.warn(`digitalocean-prism.test: skipped, no spec at ${specLookup.searched.join(', ')} (set BERTH_SPECS_DIR)`);

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQq/vplrLxHF2l4BAE3Qp597tMC/x4zEQ/wyyR+C+6s berth-test';
const FIREWALL = 'bb4b2611-3d72-467b-8602-280330ecd65c';
const VPC = '760e09ef-dc84-11e8-981e-3cfdfeaae000';

interface Violation {
  location: string[];
  message: string;
}
interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  violations: Violation[];
}

/** What the proxy does besides forwarding. */
const proxyMode = {
  /** Prism's example create action stays "in-progress"; this reports it completed instead. */
  completeActions: false,
  /** Answers key lookups 404 (without asking Prism), so the adapter uploads the key. */
  keysMissing: false,
};
let seen: Seen[] = [];
let prism: ChildProcess | undefined;
let prismOutput = '';
let proxy: Server | undefined;
let proxyUrl = '';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Until Prism answers HTTP (it reads the 3.6 MB spec first). */
async function waitForPrism(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (prism?.exitCode !== null) throw new Error(`prism exited (${prism?.exitCode}): ${prismOutput}`);
    try {
      await fetch(`${url}/v2/account`, { signal: AbortSignal.timeout(1_000) });
      return;
    } catch {
      await sleep(250);
    }
  }
  throw new Error(`prism did not listen within ${ms} ms: ${prismOutput}`);
}

function startProxy(target: string): Promise<Server> {
  const app = new Hono().all('*', async (c) => {
    const url = new URL(c.req.url);
    const record = (status: number, violations: Violation[]) =>
      seen.push({ method: c.req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), status, violations });
    if (proxyMode.keysMissing && c.req.method === 'GET' && url.pathname.startsWith('/v2/account/keys/')) {
      record(404, []);
      return c.json({ id: 'not_found', message: 'The resource you were accessing could not be found.' }, 404);
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) {
      const value = c.req.header(name);
      if (value) headers[name] = value;
    }
    const res = await fetch(`${target}${url.pathname}${url.search}`, {
      method: c.req.method,
      headers,
      body: ['GET', 'HEAD', 'DELETE'].includes(c.req.method) ? undefined : await c.req.text(),
    });
    let text = await res.text();
    record(res.status, JSON.parse(res.headers.get('sl-violations') ?? '[]') as Violation[]);
    if (proxyMode.completeActions && url.pathname.startsWith('/v2/actions/') && res.status === 200) {
      const body = JSON.parse(text) as { action: { status: string } };
      body.action.status = 'completed';
      text = JSON.stringify(body);
    }
    const out = new Headers({ 'content-type': res.headers.get('content-type') ?? 'application/json' });
    return new Response(res.status === 204 ? null : text, { status: res.status, headers: out });
  });
  return new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
}

/** Every request so far validated against the spec. */
function expectValid(): void {
  const invalid = seen.filter((s) => s.violations.some((v) => v.location[0] === 'request'));
  expect(invalid, JSON.stringify(invalid, null, 2)).toEqual([]);
}

function provider(pollIntervalMs = 10): DigitalOceanProvider {
  return new DigitalOceanProvider({ token: 'prism-token', baseUrl: proxyUrl, http: { timeoutMs: 10_000, backoffMs: 10 }, pollIntervalMs });
}

const spec = (overrides: Partial<VmSpec> = {}): VmSpec => ({
  name: 'berth-job-1',
  region: 'nyc3',
  plan: 's-1vcpu-1gb',
  userData: buildUserData({ registerUrl: 'https://berth.example/cp/api/v1/cluster/register', token: 'brt_job-1_abc', tenantId: 'tenant-a', hostname: 'node-1' }),
  labels: { env: 'prod', [LABEL_JOB]: 'job-1', [LABEL_TENANT]: 'tenant-a', [LABEL_MANAGED]: 'true' },
  ...overrides,
});

describe.skipIf(!haveSpec)('DigitalOceanProvider against Prism (the official spec)', { timeout: 30_000 }, () => {
  beforeAll(async () => {
    const port = await freePort();
    prism = spawn(path.join(repoRoot, 'node_modules/.bin/prism'), ['mock', '-p', String(port), '-h', '127.0.0.1', specPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Drained (Prism logs every request), keeping the tail for error messages.
    const keep = (chunk: Buffer) => (prismOutput = (prismOutput + chunk.toString()).slice(-4_000));
    prism.stdout?.on('data', keep);
    prism.stderr?.on('data', keep);
    await waitForPrism(`http://127.0.0.1:${port}`, 110_000);
    proxy = await startProxy(`http://127.0.0.1:${port}`);
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    proxy?.closeAllConnections();
    if (proxy) await new Promise((resolve) => proxy!.close(resolve));
    if (prism && prism.exitCode === null) {
      const exited = new Promise((resolve) => prism!.once('exit', resolve));
      prism.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (prism.exitCode === null && prism.signalCode === null) prism.kill('SIGKILL');
    }
  });

  beforeEach(() => {
    seen = [];
    proxyMode.completeActions = false;
    proxyMode.keysMissing = false;
  });

  it('verify', async () => {
    await provider().verify();
    expect(seen.map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual(['GET /v2/account 200']);
    expectValid();
  });

  it('regions', async () => {
    expect(await provider().regions()).toContainEqual({ name: 'nyc3', description: 'New York 3' });
    expectValid();
  });

  it('plans, stopping when "next" does not move forward', async () => {
    const plans = await provider().plans('nyc3');
    // The example page links to page 2 forever; one size, read once.
    expect(plans).toEqual([{ name: 's-1vcpu-1gb', vcpu: 1, memory_mb: 1024, disk_gb: 25, arch: 'x86', price_monthly: 5, price_hourly: 0.00743999984115362, currency: 'USD' }]);
    expect(seen.map((s) => s.query.page)).toEqual(['1', '2']);
    expect(await provider().plans('xyz9')).toEqual([]);
    expectValid();
  });

  it('listByJob, findByName, listManaged', async () => {
    const p = provider();
    // The examples carry other tags, so nothing is Berth's.
    expect(await p.listByJob('job-1')).toEqual([]);
    expect(await p.listManaged()).toEqual([]);
    expect(await p.findByName('berth-job-1')).toBeUndefined();
    expect(await p.findByName('example.com')).toMatchObject({ id: '3164444', name: 'example.com', status: 'active', createdAt: '2020-07-21T18:37:44Z' });
    expect(seen.map((s) => s.query.tag_name ?? s.query.name)).toEqual(['berth-job:job-1', 'berth-managed', 'berth-job-1', 'example.com']);
    expectValid();
  });

  it('create with an SSH key, a VPC, a firewall and IPv6', async () => {
    proxyMode.completeActions = true;
    const vm = await provider().create(spec({ sshKey: SSH_KEY, network: VPC, firewall: FIREWALL, ipv6: true }));
    expect(vm).toMatchObject({ id: '3164444', status: 'active' });
    expect(seen.map((s) => `${s.method} ${s.path.replace(/[0-9a-f]{2}(:[0-9a-f]{2}){15}/, '<fingerprint>')}`)).toEqual([
      'GET /v2/account/keys/<fingerprint>',
      'POST /v2/droplets',
      'GET /v2/actions/7515',
      `POST /v2/firewalls/${FIREWALL}/droplets`,
      'GET /v2/droplets/3164444',
    ]);
    expectValid();
  });

  it('create uploading a new SSH key, without public networking', async () => {
    proxyMode.completeActions = true;
    proxyMode.keysMissing = true;
    await provider().create(spec({ sshKey: SSH_KEY, publicIpv4: false, network: VPC }));
    expect(seen.filter((s) => s.method === 'POST').map((s) => `${s.path} ${s.status}`)).toEqual(['/v2/account/keys 201', '/v2/droplets 202']);
    expectValid();
  });

  it('create polls an action that stays in progress until the caller aborts', async () => {
    const controller = new AbortController();
    let settled = false;
    const created = provider(5).create(spec(), { signal: controller.signal });
    created.catch(() => {}).finally(() => (settled = true));
    while (!settled && seen.filter((s) => s.path.startsWith('/v2/actions/')).length < 3) await sleep(10);
    controller.abort();
    await expect(created).rejects.toThrow(/abort/i);
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/v2/droplets', status: 202 });
    expectValid();
  });

  it('delete and deleteByTag', async () => {
    const p = provider();
    expect(await p.delete('3164444')).toBe('deleted');
    await p.deleteByTag(jobTag('job-1'));
    expect(seen.map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual(['DELETE /v2/droplets/3164444 204', 'DELETE /v2/droplets 204']);
    expectValid();
  });
});
