import fs from 'node:fs';
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
