// The "firmware" of a local VM: a minimal cloud-init. It reads the VM's user-data, writes every
// cloud-config part's write_files under the VM's rootfs/, runs Berth's registration part once per
// instance, then leaves an init process behind as the VM's uptime: the node agent's loop once the
// VM has registered, else a sleep. A local VM is a process on the Berth host, so operator code
// (another script part, any runcmd) is written where cloud-init would put it but never run.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  AGENT_PATH,
  DEFAULT_HEARTBEAT_INTERVAL_S,
  NODE_ENV_PATH,
  REGISTRATION_ENV_PATH,
  isBerthRegisterPart,
  parseUserDataParts,
  type UserDataPart,
} from '../../activities/cloud-init.js';
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

interface Script {
  name: string;
  part: number;
  type: string;
  body: string;
  berths: boolean;
}

const DISK_WAIT_MS = 30_000;
const SCRIPTS_DIR = '/var/lib/cloud/instance/scripts';
// Files Berth's own part writes and then runs or sources; an operator's part may not replace them here.
const RESERVED = [/^\/etc\/berth\//, /^\/usr\/local\/sbin\/berth-/, /^\/etc\/systemd\/system\/berth-/];
const vmDir = path.resolve(process.argv[2] ?? '.');
const rootfs = path.join(vmDir, 'rootfs');
const log = (line: string) => process.stdout.write(`[${new Date().toISOString()}] ${line}\n`);

function inRootfs(file: string): string {
  const target = path.join(rootfs, path.normalize(file));
  if (!target.startsWith(rootfs + path.sep)) throw new Error(`path escapes the VM: ${file}`);
  return target;
}

function writeFile(file: string, content: string, mode: number): void {
  const target = inRootfs(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, content, { mode });
  fs.chmodSync(target, mode);
}

/** cloud-init's runcmd as the script it would write: a list is quoted word by word. */
function runcmdScript(runcmd: Array<string | string[]>): string {
  const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
  const lines = runcmd.map((cmd) => (typeof cmd === 'string' ? cmd : cmd.map(quote).join(' ')));
  return `#!/bin/sh\n${lines.join('\n')}\n`;
}

/** Applies cloud-config parts and returns the scripts, in the order cloud-init would run them. */
function applyParts(parts: UserDataPart[]): Script[] {
  const scripts: Script[] = [];
  parts.forEach((part, i) => {
    const n = i + 1;
    if (part.contentType === 'text/x-shellscript') {
      const berths = isBerthRegisterPart(part);
      scripts.push({ name: berths ? part.filename! : `part-${String(n).padStart(3, '0')}`, part: n, type: part.contentType, body: part.body, berths });
      return;
    }
    if (part.contentType !== 'text/cloud-config') {
      log(`user-data part ${n} (${part.contentType}) ignored`);
      return;
    }
    // Like cloud-init, a part that fails is logged and the others still apply.
    try {
      const config = (parse(part.body) ?? {}) as CloudConfig;
      // Berth's part comes first; only it writes the registration env.
      const berths = n === 1 && (config.write_files ?? []).some((f) => f.path === REGISTRATION_ENV_PATH);
      if (berths && config.hostname) writeFile('/etc/hostname', `${config.hostname}\n`, 0o644);
      for (const file of config.write_files ?? []) {
        if (!berths && RESERVED.some((r) => r.test(path.posix.resolve('/', String(file.path))))) {
          log(`write_files: ${file.path} refused: the path is Berth's`);
          continue;
        }
        // No setuid or setgid bits on this host, whatever the part asks for.
        writeFile(file.path, file.content ?? '', parseInt(file.permissions ?? '0644', 8) & 0o777);
        log(`write_files: ${file.path}`);
      }
      if (config.runcmd?.length) {
        scripts.push({ name: 'runcmd', part: n, type: `${part.contentType} runcmd`, body: runcmdScript(config.runcmd), berths: false });
      }
    } catch (err) {
      log(`user-data part ${n} (${part.contentType}) failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  // cloud-init runs the instance's scripts sorted by name; runcmd is one of them.
  return scripts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function boot(): void {
  const meta = JSON.parse(fs.readFileSync(path.join(vmDir, 'meta.json'), 'utf8')) as LocalVmMeta;
  log(`booting ${meta.name} (${meta.id}), plan ${meta.plan}`);
  const scripts = applyParts(parseUserDataParts(fs.readFileSync(path.join(vmDir, 'user-data'), 'utf8')));
  log(`scripts, in the order cloud-init runs them: ${scripts.map((s) => `${s.name} (${s.berths ? 'run' : 'not run'})`).join(', ') || 'none'}`);
  for (const script of scripts) {
    const file = `${SCRIPTS_DIR}/${script.name}`;
    writeFile(file, script.body, 0o700);
    if (!script.berths) {
      const bytes = Buffer.byteLength(script.body);
      log(`user-data part ${script.part} (${script.type}, ${bytes} bytes) not run: the local provider does not run operator code on this host`);
      continue;
    }
    if (meta.labels['berth.dev/simulate'] === 'never-register') {
      log(`${script.name} skipped: simulating a VM whose bootstrap never calls back`);
      continue;
    }
    log(`running ${script.name}`);
    const result = spawnSync('sh', [inRootfs(file)], {
      stdio: 'inherit',
      cwd: rootfs,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_ROOT: rootfs, BERTH_LOCAL_VM: '1' },
    });
    log(`${script.name} exited with ${result.status ?? result.signal}`);
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

// The VM's systemd timer: one agent run per interval while the VM's folder exists. A VM whose
// folder was removed behind Berth's back is gone: it stops reporting and its process group ends.
const AGENT_LOOP = 'while [ -f "$1/meta.json" ]; do sh "$2$3" "$2$4"; sleep "$5"; done';

/**
 * The VM's init, a child in this process group that outlives the runner: the agent loop once the
 * bootstrap has written node.env, else a sleep until the VM is deleted.
 */
function startInit(): void {
  const nodeEnv = inRootfs(NODE_ENV_PATH);
  if (!fs.existsSync(nodeEnv)) {
    spawn('sleep', ['infinity'], { stdio: 'ignore' }).unref();
    return;
  }
  const interval = Number(/^BERTH_AGENT_INTERVAL=(\d+)$/m.exec(fs.readFileSync(nodeEnv, 'utf8'))?.[1]) || DEFAULT_HEARTBEAT_INTERVAL_S;
  spawn('sh', ['-c', AGENT_LOOP, 'berth-agent-loop', vmDir, rootfs, AGENT_PATH, NODE_ENV_PATH, String(interval)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    cwd: rootfs,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_ROOT: rootfs, BERTH_AGENT_LOAD_FILE: path.join(vmDir, 'load.json') },
  }).unref();
  log(`agent: a heartbeat every ${interval}s`);
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
startInit();
log('up');
