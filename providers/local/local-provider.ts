import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomId } from '../../security/tokens.js';
import { LABEL_JOB, LABEL_MANAGED, ProviderError, type CallOptions, type Plan, type Provider, type Region, type Vm, type VmSpec } from '../types.js';

/** Label that makes a local VM misbehave on purpose, to exercise the failure paths. */
export const LABEL_SIMULATE = 'berth.dev/simulate';
export type Simulation = 'never-register' | 'slow-create';

const SLOW_CREATE_MS = 20_000;
const STALE_NAME_LOCK_MS = 30_000;

// The runner next to this file: vm-runner.ts run through tsx from the source, vm-runner.js as it is
// from the compiled build (dist/), which needs no tsx.
const COMPILED = import.meta.url.endsWith('.js');
const RUNNER = fileURLToPath(new URL(COMPILED ? './vm-runner.js' : './vm-runner.ts', import.meta.url));
// tsx exports one ESM entry; resolved to a file URL because the VM runs with its own folder as cwd.
const runnerArgs = (dir: string) => (COMPILED ? [RUNNER, dir] : ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, RUNNER, dir]);

export interface LocalVmMeta {
  id: string;
  name: string;
  region: string;
  plan: string;
  image: string | null;
  labels: Record<string, string>;
  created_at: string;
}

// Nominal prices, so budgets can be tried without a cloud account.
const ARCH = process.arch === 'arm64' ? 'arm' : 'x86';
const PLANS: Plan[] = [
  { name: 'local-1', vcpu: 1, memory_mb: 512, disk_gb: 1, arch: ARCH, price_monthly: 1, price_hourly: 0.0014, currency: 'EUR' },
  { name: 'local-2', vcpu: 2, memory_mb: 1024, disk_gb: 2, arch: ARCH, price_monthly: 2, price_hourly: 0.0028, currency: 'EUR' },
];

/**
 * VMs as child processes of this machine. Each lives in `<dataDir>/local-vms/<vm_id>/` with the
 * user-data it was given, and runs it the way cloud-init would (see vm-runner.ts). Processes are
 * detached, so like real VMs they outlive the worker that created them.
 */
export class LocalProvider implements Provider {
  readonly name = 'local' as const;
  readonly vmsDir: string;
  private readonly namesDir: string;

  constructor(options: { dataDir: string }) {
    this.vmsDir = path.join(options.dataDir, 'local-vms');
    this.namesDir = path.join(this.vmsDir, '.names');
  }

  async verify(): Promise<void> {}

  async regions(): Promise<Region[]> {
    return [{ name: 'local', description: 'this machine' }];
  }

  async plans(region: string): Promise<Plan[]> {
    return region === 'local' ? PLANS : [];
  }

  async listByJob(jobId: string): Promise<Vm[]> {
    return (await this.all()).filter((vm) => vm.labels[LABEL_JOB] === jobId);
  }

  async findByName(name: string): Promise<Vm | undefined> {
    return (await this.all()).find((vm) => vm.name === name);
  }

  async listManaged(): Promise<Vm[]> {
    return (await this.all()).filter((vm) => vm.labels[LABEL_MANAGED] === 'true');
  }

  async get(vmId: string): Promise<Vm | undefined> {
    const meta = this.readMeta(vmId);
    return meta && this.toVm(meta);
  }

  async create(spec: VmSpec, options?: CallOptions): Promise<Vm> {
    if (!(await this.plans(spec.region)).some((p) => p.name === spec.plan)) {
      throw new ProviderError(`plan ${spec.plan} is not offered in region ${spec.region}`, 'invalid_input', false);
    }
    const id = `lvm-${randomId(10)}`;
    this.lockName(spec.name, id);
    const meta: LocalVmMeta = {
      id,
      name: spec.name,
      region: spec.region,
      plan: spec.plan,
      image: spec.image ?? null,
      labels: spec.labels,
      created_at: new Date().toISOString(),
    };
    const staging = path.join(this.vmsDir, `.staging-${id}`);
    try {
      fs.mkdirSync(path.join(staging, 'rootfs'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(staging, 'user-data'), spec.userData, { mode: 0o600 });
      fs.writeFileSync(path.join(staging, 'meta.json'), JSON.stringify(meta, null, 2));
      // Powered on before it becomes visible, so a creator killed at any point never leaves a
      // listed VM that was not started: the runner waits for its folder to appear.
      this.startRunner(staging, this.dir(id));
      fs.renameSync(staging, this.dir(id));
    } catch (err) {
      // Nothing was made: free the name so a retry can take it.
      fs.rmSync(staging, { recursive: true, force: true });
      fs.rmSync(path.join(this.namesDir, spec.name), { force: true });
      throw err;
    }
    if (spec.labels[LABEL_SIMULATE] === 'slow-create') {
      // A create call that answers late, as a cloud API under load does.
      await sleep(SLOW_CREATE_MS, undefined, { signal: options?.signal });
    }
    return this.toVm(meta);
  }

  /** Everything is set at create. */
  async adopt(vm: Vm): Promise<Vm> {
    return vm;
  }

  async delete(vmId: string): Promise<'deleted' | 'not_found'> {
    const meta = this.readMeta(vmId);
    if (!meta) return 'not_found';
    this.powerOff(vmId);
    fs.rmSync(this.dir(vmId), { recursive: true, force: true });
    const lock = path.join(this.namesDir, meta.name);
    if (readText(lock) === vmId) fs.rmSync(lock, { force: true });
    return 'deleted';
  }

  /** Starts the VM's process unless it is running; cloud-init inside runs only on first boot. */
  powerOn(vmId: string): void {
    if (this.pid(vmId) !== undefined) return;
    this.startRunner(this.dir(vmId), this.dir(vmId));
  }

  /**
   * Spawns the VM's runner as its own process group, for the VM that will live in `dir`; its
   * console log and pid are written in `from`, the folder as it is now.
   */
  private startRunner(from: string, dir: string): void {
    const console = fs.openSync(path.join(from, 'console.log'), 'a');
    try {
      const child = spawn(process.execPath, runnerArgs(dir), {
        cwd: this.vmsDir,
        detached: true,
        stdio: ['ignore', console, console],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      child.unref();
      // Written now so a delete right after sees it; the runner writes it again on start.
      fs.writeFileSync(path.join(from, 'pid'), String(child.pid));
    } finally {
      fs.closeSync(console);
    }
  }

  /** Stops the VM's process group (its bootstrap too), leaving its disk in place. */
  powerOff(vmId: string): void {
    const pid = this.pid(vmId);
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    fs.rmSync(path.join(this.dir(vmId), 'pid'), { force: true });
  }

  /** The load the VM's agent reports from its next heartbeat on (a missing value counts as 0). */
  setLoad(vmId: string, load: { cpu?: number; memory?: number; workloads?: number }): void {
    const file = path.join(this.dir(vmId), 'load.json');
    // Renamed into place, so the agent never reads a half-written file.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(load));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** What the VM's agent last heard from Berth; undefined before it has registered with a node token. */
  agentState(vmId: string): 'draining' | 'active' | undefined {
    const state = path.join(this.dir(vmId), 'rootfs', 'etc', 'berth');
    if (fs.existsSync(path.join(state, 'draining'))) return 'draining';
    return fs.existsSync(path.join(state, 'node.env')) ? 'active' : undefined;
  }

  /** Every local VM, e.g. to stop them all when `npm start` exits. */
  async all(): Promise<Vm[]> {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.vmsDir);
    } catch {
      return [];
    }
    return entries
      .filter((e) => !e.startsWith('.'))
      .map((e) => this.readMeta(e))
      .filter((m): m is LocalVmMeta => m !== undefined)
      .map((m) => this.toVm(m));
  }

  private toVm(meta: LocalVmMeta): Vm {
    return { id: meta.id, name: meta.name, labels: meta.labels, status: this.pid(meta.id) ? 'running' : 'off', createdAt: meta.created_at };
  }

  private dir(vmId: string): string {
    if (!isVmId(vmId)) throw new ProviderError(`not a local VM id: ${vmId}`, 'invalid_input', false);
    return path.join(this.vmsDir, vmId);
  }

  /** An id that is not a local VM's (another folder, another cloud's id) simply does not exist. */
  private readMeta(vmId: string): LocalVmMeta | undefined {
    if (!isVmId(vmId)) return undefined;
    const text = readText(path.join(this.dir(vmId), 'meta.json'));
    return text ? (JSON.parse(text) as LocalVmMeta) : undefined;
  }

  private pid(vmId: string): number | undefined {
    const pid = Number(readText(path.join(this.dir(vmId), 'pid')));
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      // The VM is its process group: the runner exits after boot and leaves its init behind.
      process.kill(-pid, 0);
      return pid;
    } catch (err) {
      // EPERM: the group exists but belongs to someone else; still alive.
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
    }
  }

  /** Names are unique, as on Hetzner: a second create with the same name is a uniqueness_error. */
  private lockName(name: string, id: string): void {
    fs.mkdirSync(this.namesDir, { recursive: true });
    const lock = path.join(this.namesDir, name);
    try {
      fs.writeFileSync(lock, id, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readText(lock);
    const stale = !owner || !this.readMeta(owner);
    if (stale && Date.now() - fs.statSync(lock).mtimeMs > STALE_NAME_LOCK_MS) {
      // A create that died between taking the name and writing the VM.
      fs.writeFileSync(lock, id);
      return;
    }
    throw new ProviderError(`a VM named ${name} already exists`, 'uniqueness_error', false);
  }
}

const isVmId = (value: string) => /^lvm-[a-z0-9]+$/.test(value);

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
