// The "firmware" of a local VM: a minimal cloud-init. It reads the VM's user-data, writes its
// write_files under the VM's rootfs/, runs runcmd once per instance, then leaves a sleeping init
// process behind as the VM's uptime. Absolute paths in runcmd arguments that name a written file
// are mapped into rootfs/, as if the VM had its own root filesystem.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { LocalVmMeta } from './local-provider.js';

interface WriteFile {
  path: string;
  content?: string;
  permissions?: string;
}

interface CloudConfig {
  hostname?: string;
  write_files?: WriteFile[];
  runcmd?: Array<string | string[]>;
}

const DISK_WAIT_MS = 30_000;
const vmDir = path.resolve(process.argv[2] ?? '.');
const rootfs = path.join(vmDir, 'rootfs');
const log = (line: string) => process.stdout.write(`[${new Date().toISOString()}] ${line}\n`);

function readCloudConfig(): CloudConfig {
  const text = fs.readFileSync(path.join(vmDir, 'user-data'), 'utf8');
  if (!text.startsWith('#cloud-config\n')) throw new Error('user-data is not a #cloud-config document');
  return (parse(text) ?? {}) as CloudConfig;
}

function inRootfs(file: string): string {
  const target = path.join(rootfs, path.normalize(file));
  if (!target.startsWith(rootfs + path.sep)) throw new Error(`path escapes the VM: ${file}`);
  return target;
}

function boot(): void {
  const meta = JSON.parse(fs.readFileSync(path.join(vmDir, 'meta.json'), 'utf8')) as LocalVmMeta;
  const config = readCloudConfig();
  log(`booting ${meta.name} (${meta.id}), plan ${meta.plan}`);
  if (config.hostname) fs.mkdirSync(inRootfs('/etc'), { recursive: true });
  if (config.hostname) fs.writeFileSync(inRootfs('/etc/hostname'), `${config.hostname}\n`);
  const written = new Set<string>();
  for (const file of config.write_files ?? []) {
    const target = inRootfs(file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.content ?? '', { mode: parseInt(file.permissions ?? '0644', 8) });
    fs.chmodSync(target, parseInt(file.permissions ?? '0644', 8));
    written.add(file.path);
    log(`write_files: ${file.path}`);
  }
  if (meta.labels['berth.dev/simulate'] === 'never-register') {
    log('runcmd skipped: simulating a VM whose bootstrap never calls back');
    return;
  }
  for (const cmd of config.runcmd ?? []) {
    const argv = typeof cmd === 'string' ? ['sh', '-c', cmd] : cmd.map((a) => (written.has(a) ? inRootfs(a) : a));
    log(`runcmd: ${argv.map((a) => path.basename(a)).join(' ')}`);
    const result = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit', cwd: rootfs });
    log(`runcmd exited with ${result.status ?? result.signal}`);
  }
}

/** A new VM's folder appears once its creator has finished writing it; a creator that died never does. */
function waitForDisk(): boolean {
  for (let waited = 0; waited < DISK_WAIT_MS; waited += 50) {
    if (fs.existsSync(path.join(vmDir, 'meta.json'))) return true;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  return false;
}

if (!waitForDisk()) process.exit(1);
// The pid of this process group is the VM's power state: recorded again here, in case the
// creator died between spawning this process and writing it.
fs.writeFileSync(path.join(vmDir, 'pid'), String(process.pid));

const marker = path.join(vmDir, 'boot-finished');
if (!fs.existsSync(marker)) {
  try {
    boot();
  } catch (err) {
    log(`cloud-init failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  fs.writeFileSync(marker, new Date().toISOString());
}
// The VM's init: a process that stays in this process group until the VM is deleted.
spawn('sleep', ['infinity'], { stdio: 'ignore' }).unref();
log('up');
