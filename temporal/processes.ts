// Long-running child processes of `npm run cluster` and the topology test: each with its log file,
// started again with the same command, killed with SIGKILL or stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { portInUse, stopProcess } from './dev-server.js';

export interface Managed {
  readonly name: string;
  readonly logFile: string;
  /** The current process; replaced by start(). */
  child: ChildProcess;
  /** Where the current process's output starts in the log file. */
  readonly logOffset: number;
  alive(): boolean;
  /** Starts it again with the same command (after a kill or a stop). */
  start(): void;
  /** kill -9, and waits until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after the grace period. */
  stop(graceMs?: number): Promise<void>;
}

export interface ManagedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Appends each pid started, so a crashed parent's children can be found (see killRecorded). */
  pidFile?: string;
}

export function startManaged(options: ManagedOptions): Managed {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  let logOffset = 0;
  const spawnOnce = () => {
    const log = fs.openSync(options.logFile, 'a');
    logOffset = fs.fstatSync(log).size;
    const child = spawn(options.command, options.args, { stdio: ['ignore', log, log], env: options.env ?? process.env, cwd: options.cwd });
    fs.closeSync(log);
    if (options.pidFile && child.pid) fs.appendFileSync(options.pidFile, `${child.pid}\n`);
    return child;
  };
  const managed: Managed = {
    name: options.name,
    logFile: options.logFile,
    child: spawnOnce(),
    get logOffset() {
      return logOffset;
    },
    alive: () => managed.child.exitCode === null && managed.child.signalCode === null,
    start() {
      if (managed.alive()) throw new Error(`${options.name} is still running`);
      managed.child = spawnOnce();
    },
    async kill() {
      if (!managed.alive()) return;
      const gone = new Promise((resolve) => managed.child.once('exit', resolve));
      managed.child.kill('SIGKILL');
      await gone;
    },
    stop: (graceMs) => stopProcess(managed.child, graceMs),
  };
  return managed;
}

/** SIGKILL to every pid a pidFile recorded that still runs (a safety net after a crashed run). */
export function killRecorded(pidFile: string): void {
  let pids: number[];
  try {
    pids = fs.readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Waits until something listens on 127.0.0.1:port; fails early if the process exits. */
export async function waitForPort(port: number, managed: Managed, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portInUse(port))) {
    if (!managed.alive()) throw new Error(`${managed.name} exited during start; see ${managed.logFile}`);
    if (Date.now() > deadline) throw new Error(`${managed.name} did not listen on port ${port} within ${timeoutMs / 1000}s; see ${managed.logFile}`);
    await sleep(200);
  }
}

/** Waits until GET url answers 2xx; fails early if the process exits. */
export async function waitForHttp(url: string, managed: Managed, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!managed.alive()) throw new Error(`${managed.name} exited during start; see ${managed.logFile}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(5_000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${managed.name} did not answer ${url} within ${timeoutMs / 1000}s; see ${managed.logFile}`);
    await sleep(300);
  }
}
