import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest';
import { buildUserData, REGISTRATION_ENV_PATH } from '../../activities/cloud-init.js';
import { LocalProvider } from '../../providers/local/local-provider.js';
import { ProviderError, type VmSpec } from '../../providers/types.js';

let dataDir: string;
let provider: LocalProvider;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unit-'));
  provider = new LocalProvider({ dataDir });
});

async function deleteAll(): Promise<void> {
  for (const vm of await provider.all()) await provider.delete(vm.id);
}

afterEach(deleteAll);

afterAll(async () => {
  await deleteAll();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const userData = buildUserData({
  registerUrl: 'http://127.0.0.1:9/x',
  token: 'brt_job1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd',
  tenantId: 'tenant-a',
  hostname: 'node-job1',
});

function spec(overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    name: 'berth-job1',
    region: 'local',
    plan: 'local-1',
    userData,
    labels: { 'berth.dev/job': 'job1', 'berth.dev/simulate': 'never-register' },
    ...overrides,
  };
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 50 ms until it returns true or `ms` pass. */
async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('LocalProvider', { timeout: 15_000 }, () => {
  it('creates a VM that boots its user-data, and deletes it', async () => {
    const vm = await provider.create(spec());
    expect(vm.id).toMatch(/^lvm-[a-z0-9]+$/);
    expect(vm.name).toBe('berth-job1');
    const dir = path.join(dataDir, 'local-vms', vm.id);

    // The user-data is stored as given, readable by the owner only.
    expect(fs.readFileSync(path.join(dir, 'user-data'), 'utf8')).toBe(userData);
    expect(mode(path.join(dir, 'user-data'))).toBe(0o600);

    expect((await provider.listByJob('job1')).map((v) => v.id)).toEqual([vm.id]);
    expect(await provider.listByJob('job2')).toEqual([]);
    expect((await provider.findByName('berth-job1'))?.id).toBe(vm.id);
    expect(await provider.findByName('berth-other')).toBeUndefined();

    // The VM's process group is running.
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    expect(Number.isInteger(pid) && pid > 0).toBe(true);
    expect(await waitFor(() => groupAlive(pid), 5_000)).toBe(true);

    // cloud-init wrote write_files into the VM's rootfs with their permissions.
    const envFile = path.join(dir, 'rootfs', REGISTRATION_ENV_PATH);
    expect(await waitFor(() => fs.existsSync(envFile) && fs.statSync(envFile).size > 0, 10_000)).toBe(true);
    expect(mode(envFile)).toBe(0o600);
    expect(fs.readFileSync(envFile, 'utf8')).toContain('BERTH_TENANT_ID=tenant-a\n');
    // The VM stays up after boot (its init outlives the runner).
    expect(await waitFor(() => fs.existsSync(path.join(dir, 'boot-finished')), 10_000)).toBe(true);
    expect(groupAlive(pid)).toBe(true);
    expect((await provider.get(vm.id))?.status).toBe('running');

    expect(await provider.delete(vm.id)).toBe('deleted');
    expect(fs.existsSync(dir)).toBe(false);
    expect(await waitFor(() => !groupAlive(pid), 5_000)).toBe(true);
    expect(await provider.delete(vm.id)).toBe('not_found');
    expect(await provider.findByName('berth-job1')).toBeUndefined();
  }, 30_000);

  it('rejects a second VM with the same name', async () => {
    const first = await provider.create(spec());
    const err = await provider.create(spec({ labels: { 'berth.dev/job': 'job2', 'berth.dev/simulate': 'never-register' } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code).toBe('uniqueness_error');
    // Only the first VM exists.
    expect((await provider.all()).map((v) => v.id)).toEqual([first.id]);
    expect(await provider.listByJob('job2')).toEqual([]);
  });

  it('frees the name once the VM is deleted', async () => {
    const first = await provider.create(spec());
    expect(await provider.delete(first.id)).toBe('deleted');
    const second = await provider.create(spec());
    expect(second.id).not.toBe(first.id);
    expect((await provider.findByName('berth-job1'))?.id).toBe(second.id);
  });

  it('rejects a plan the region does not offer, without retry and without a VM', async () => {
    const err = await provider.create(spec({ plan: 'local-9' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).retryable).toBe(false);
    expect((err as ProviderError).code).toBe('invalid_input');
    expect(await provider.all()).toEqual([]);
    // The name was not taken by the failed create.
    const vm = await provider.create(spec());
    expect(vm.name).toBe('berth-job1');
  });

  it('ignores stray entries in its folder that are not VMs', async () => {
    const vmsDir = path.join(dataDir, 'local-vms');
    const strayDir = path.join(vmsDir, 'lost+found');
    const strayFile = path.join(vmsDir, 'README');
    fs.mkdirSync(strayDir, { recursive: true });
    fs.writeFileSync(strayFile, 'not a VM\n');
    try {
      expect(await provider.all()).toEqual([]);
      const vm = await provider.create(spec());
      expect((await provider.all()).map((v) => v.id)).toEqual([vm.id]);
      expect((await provider.listByJob('job1')).map((v) => v.id)).toEqual([vm.id]);
      expect((await provider.findByName('berth-job1'))?.id).toBe(vm.id);
      expect(await provider.findByName('lost+found')).toBeUndefined();
      expect(await provider.get('lost+found')).toBeUndefined();
      expect(await provider.get('README')).toBeUndefined();
    } finally {
      fs.rmSync(strayDir, { recursive: true, force: true });
      fs.rmSync(strayFile, { force: true });
    }
  });

  it('answers not_found when deleting an id that is not a local VM id', async () => {
    expect(await provider.delete('i-123')).toBe('not_found');
    expect(await provider.delete('../secrets')).toBe('not_found');
    expect(await provider.get('i-123')).toBeUndefined();
  });

  it('frees the name and leaves no staging folder when a create fails midway', async () => {
    const vmsDir = path.join(dataDir, 'local-vms');
    // Not a string: writing the user-data throws after the name is taken and staging is made.
    const err = await provider.create(spec({ userData: undefined as unknown as string })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ProviderError);
    expect(fs.readdirSync(vmsDir).filter((e) => e.startsWith('.staging-'))).toEqual([]);
    expect(fs.existsSync(path.join(vmsDir, '.names', 'berth-job1'))).toBe(false);
    expect(await provider.all()).toEqual([]);
    // The same name can be taken at once, not only after the stale-lock timeout.
    const vm = await provider.create(spec());
    expect(vm.name).toBe('berth-job1');
    expect((await provider.findByName('berth-job1'))?.id).toBe(vm.id);
  });
});

describe('LocalProvider node agent', { timeout: 15_000 }, () => {
  const NODE_TOKEN = `bnt_${'x'.repeat(43)}`;
  interface Heartbeat {
    nodeId: string;
    authorization: string | undefined;
    body: string;
    at: number;
  }
  const registrations: string[] = [];
  const heartbeats: Heartbeat[] = [];
  let state = 'active';
  let server: http.Server;
  let registerUrl: string;

  // Berth's register and heartbeat routes, as far as a VM sees them.
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const heartbeat = /^\/cp\/api\/v1\/cluster\/nodes\/([a-z0-9-]+)\/heartbeat$/.exec(req.url ?? '');
        let answer: unknown = {};
        if (req.url === '/cp/api/v1/cluster/register') {
          const { hostname } = JSON.parse(body) as { hostname: string };
          registrations.push(body);
          // job3 gets the answer of an API without node tokens.
          answer = { node_id: `node-${hostname}`, job_id: hostname, ...(hostname !== 'job3' && { node_token: NODE_TOKEN }) };
        } else if (heartbeat) {
          heartbeats.push({ nodeId: heartbeat[1]!, authorization: req.headers.authorization, body, at: Date.now() });
          answer = { state };
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cp/api/v1/cluster/register`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  afterEach(() => {
    registrations.length = 0;
    heartbeats.length = 0;
    state = 'active';
  });

  const agentSpec = (job: string, extraUserData?: string) =>
    spec({
      name: `berth-${job}`,
      labels: { 'berth.dev/job': job },
      userData: buildUserData(
        { registerUrl, token: `brt_${job}_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd`, tenantId: 'tenant-a', hostname: job },
        { heartbeatIntervalS: 1, extraUserData },
      ),
    });
  const of = (nodeId: string) => heartbeats.filter((h) => h.nodeId === nodeId);

  it('registers, heartbeats the load set by setLoad every interval, drains, runs no operator code, and stops when off', async () => {
    const marker = path.join(dataDir, 'operator-code-ran');
    const vm = await provider.create(agentSpec('job1', `#!/bin/sh\ntouch ${marker}\n`));
    provider.setLoad(vm.id, { cpu: 0.9, workloads: 3 });
    const dir = path.join(dataDir, 'local-vms', vm.id);

    expect(await waitFor(() => of('node-job1').length >= 3, 10_000)).toBe(true);
    expect(registrations.map((r) => JSON.parse(r) as unknown)).toEqual([
      { token: 'brt_job1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd', hostname: 'job1', credential_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    const beats = of('node-job1');
    for (const beat of beats) {
      expect(beat.authorization).toBe(`Bearer ${NODE_TOKEN}`);
      expect(beat.body).toBe('{"cpu":0.900,"memory":0.000,"workloads":3}');
    }
    const gap = beats[2]!.at - beats[1]!.at;
    expect(gap).toBeGreaterThanOrEqual(800);
    expect(gap).toBeLessThan(3_000);
    expect(provider.agentState(vm.id)).toBe('active');

    // The operator's part is where cloud-init would put it, and did not run on this host.
    const part = path.join(dir, 'rootfs/var/lib/cloud/instance/scripts/part-003');
    expect(fs.readFileSync(part, 'utf8')).toBe(`#!/bin/sh\ntouch ${marker}\n`);
    expect(fs.existsSync(marker)).toBe(false);
    const console = fs.readFileSync(path.join(dir, 'console.log'), 'utf8');
    expect(console).toMatch(/user-data part 3 \(text\/x-shellscript, \d+ bytes\) not run: the local provider does not run operator code on this host/);
    expect(console).toContain('berth-register.sh (run), part-003 (not run)');
    expect(console).not.toContain(NODE_TOKEN);

    state = 'drain';
    expect(await waitFor(() => provider.agentState(vm.id) === 'draining', 5_000)).toBe(true);
    expect(await waitFor(() => of('node-job1').some((h) => h.body.includes('"drained":true')), 5_000)).toBe(true);

    provider.powerOff(vm.id);
    await sleep(300);
    const seen = of('node-job1').length;
    await sleep(2_500);
    expect(of('node-job1').length).toBe(seen);

    // Powered on again: the agent comes back, cloud-init does not run a second time.
    provider.powerOn(vm.id);
    expect(await waitFor(() => of('node-job1').length > seen, 5_000)).toBe(true);
    expect(registrations).toHaveLength(1);
  });

  it("stops heartbeating when its folder is removed behind Berth's back", async () => {
    const vm = await provider.create(agentSpec('job2'));
    const dir = path.join(dataDir, 'local-vms', vm.id);
    expect(await waitFor(() => of('node-job2').length >= 1, 10_000)).toBe(true);
    expect(of('node-job2')[0]!.body).toBe('{"cpu":0.000,"memory":0.000,"workloads":0}');
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));

    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(dataDir, 'local-vms', '.names', 'berth-job2'), { force: true });
    await sleep(1_500);
    const seen = of('node-job2').length;
    await sleep(2_500);
    expect(of('node-job2').length).toBe(seen);
    // Nothing of the VM is left running.
    expect(await waitFor(() => !groupAlive(pid), 3_000)).toBe(true);
  });

  it('starts no agent when the answer has no node token, and keeps the VM up', async () => {
    // An operator's cloud-config may write its own files, but not Berth's, and its runcmd does not run.
    const operator = [
      '#cloud-config',
      'write_files:',
      '  - path: etc/berth/node.env',
      '    content: "BERTH_AGENT_INTERVAL=1"',
      '  - path: /opt/app.conf',
      '    content: "hello"',
      'runcmd:',
      `  - [touch, ${path.join(dataDir, 'runcmd-ran')}]`,
      '',
    ].join('\n');
    const vm = await provider.create(
      spec({
        name: 'berth-job3',
        labels: { 'berth.dev/job': 'job3' },
        userData: buildUserData({ registerUrl, token: 'brt_job3_x', tenantId: 't', hostname: 'job3' }, { extraUserData: operator }),
      }),
    );
    const dir = path.join(dataDir, 'local-vms', vm.id);
    expect(await waitFor(() => fs.existsSync(path.join(dir, 'boot-finished')), 10_000)).toBe(true);
    expect(provider.agentState(vm.id)).toBeUndefined();
    const console = fs.readFileSync(path.join(dir, 'console.log'), 'utf8');
    expect(console).toContain('the answer has no node token');
    expect(console).toContain("write_files: etc/berth/node.env refused: the path is Berth's");
    expect(console).toMatch(/user-data part 3 \(text\/cloud-config runcmd, \d+ bytes\) not run/);
    expect(fs.existsSync(path.join(dir, 'rootfs/etc/berth/node.env'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'rootfs/opt/app.conf'), 'utf8')).toBe('hello');
    expect(fs.existsSync(path.join(dataDir, 'runcmd-ran'))).toBe(false);
    await sleep(500);
    expect((await provider.get(vm.id))?.status).toBe('running');
    expect(heartbeats).toEqual([]);
  });
});
