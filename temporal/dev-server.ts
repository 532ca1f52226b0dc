import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SearchAttributeType } from '@temporalio/common';
import { BERTH_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/** How `temporal server start-dev --search-attribute` names each type. */
const CLI_TYPE: Record<SearchAttributeType, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

export interface DevServerOptions {
  /** Path of the `temporal` CLI binary (see scripts/ensure-temporal-cli.sh). */
  binary: string;
  /** SQLite file for the server's state; omitted means in memory (tests). */
  dbFile?: string | undefined;
  port?: number | undefined;
  /** Web UI port; omitted means no UI (headless). */
  uiPort?: number | undefined;
  namespace?: string | undefined;
  /** Where the server's own output goes. */
  logFile: string;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, picked by the OS. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM, then SIGKILL if the process is still there after the grace period. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Starts `temporal server start-dev` and waits until its frontend accepts connections. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--namespace', options.namespace ?? 'default');
  if (options.dbFile) {
    // WAL with synchronous=normal: writes no longer wait for a sync of the whole database file
    // (measured: 100 jobs at once 5.7 → 9.7 jobs/s). A crash of the machine may lose the last
    // transactions, never the file's consistency; a crash of the server process loses nothing.
    args.push('--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  // Hand an activity scheduled by a workflow task straight back to the worker that completes the
  // task, instead of through a poll: one matching round trip less per activity (Temporal Cloud
  // enables this too).
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
  // One machine needs one partition per task queue (the default is 4): a poll then finds the task
  // in the one partition it was written to, instead of being forwarded between partitions.
  // Measured with the search attribute settings below (README, Benchmarks): the lean baseline went
  // from about 18 to 22-26 jobs/s and 37-42 to 31-35 ms of dev server CPU per job.
  args.push('--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1', '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1');
  // Berth's search attributes exist from boot, so the server need not read them again from its
  // database at every start and upsert (the dev server's default, for attributes added while it
  // runs). ensureSearchAttributes still registers them on servers Berth does not start.
  for (const key of BERTH_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=${CLI_TYPE[key.type]}`);
  args.push('--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=false');

  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(options.binary, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });

  const deadline = Date.now() + 60_000;
  while (!(await portInUse(port))) {
    if (exited) throw new Error(`the Temporal dev server ${exited}; see ${options.logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not listen on port ${port} within 60s; see ${options.logFile}`);
    }
    await sleep(200);
  }

  return {
    address: `127.0.0.1:${port}`,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    process: child,
    stop: () => stopProcess(child),
  };
}
