// The production shape on one machine (`npm run cluster`, test/cluster): PostgreSQL with Temporal's
// default and visibility stores and Berth's database, a real Temporal server (all services in one
// process, TEMPORAL_HISTORY_SHARDS shards), the namespace with Berth's search attributes, the
// Temporal Web UI, then several Berth APIs and workers.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDefaultAdmin, type DefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase } from '../db/connect.js';
import { LocalProvider } from '../providers/local/local-provider.js';
import { startBerthProcesses, type BerthProcesses } from './berth-processes.js';
import { connectTemporal } from './connect.js';
import { freePort, portInUse } from './dev-server.js';
import { startPostgres, type Postgres } from './postgres.js';
import { waitForPort, type Managed } from './processes.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { ensureTemporalServer, freeServerPorts, setupTemporalSchemas, startTemporalServer, startUiServer, TEMPLATE_PORTS, writeServerConfig, type ServerPorts } from './server.js';

export interface ClusterOptions {
  /** The cluster's own state: postgres/, temporal/ (config), ui/, logs/. Kept between runs. */
  dir: string;
  /** BERTH_DATA_DIR of every Berth process. */
  dataDir: string;
  /** The Temporal CLI (namespace create). */
  cli: string;
  /** 'template': Temporal on 7233..., UI 8233, APIs 8080, 8081...; 'free': free ports everywhere (tests). */
  ports: 'template' | 'free';
  apis?: number;
  workers?: number;
  ui?: boolean;
  taskQueue?: string;
  /** More variables for the Berth processes. */
  env?: NodeJS.ProcessEnv;
  /** fsync off: for a throwaway cluster only. */
  throwaway?: boolean;
  /** Progress lines. */
  say?: (line: string) => void;
}

export interface Cluster extends BerthProcesses {
  postgres: Postgres;
  databaseUrl: string;
  temporal: Managed;
  temporalAddress: string;
  temporalPorts: ServerPorts;
  /** Starts the Temporal server again (after a kill), until its frontend listens. */
  restartTemporal(): Promise<void>;
  ui: { process: Managed; url: string } | undefined;
  admin: DefaultAdmin;
  logDir: string;
  /** Stops every process; PostgreSQL's data and the local VMs' disks stay. */
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const say = options.say ?? (() => {});
  const free = options.ports === 'free';
  const logDir = path.join(options.dir, 'logs');
  const pidFile = path.join(options.dir, 'pids');
  fs.mkdirSync(logDir, { recursive: true });
  const started: Managed[] = [];
  let postgres: Postgres | undefined;
  try {
    const binaries = ensureTemporalServer();
    const temporalPorts = free ? await freeServerPorts() : TEMPLATE_PORTS;
    if (await portInUse(temporalPorts.frontend)) throw new Error(`port ${temporalPorts.frontend} is in use: stop the other Temporal server first`);
    const pgPort = free || (await portInUse(5433)) ? await freePort() : 5433;

    say(`starting PostgreSQL on port ${pgPort}...`);
    postgres = await startPostgres({ dir: path.join(options.dir, 'postgres'), port: pgPort, user: 'postgres', settings: options.throwaway ? ['fsync=off'] : [] });
    say('creating or updating the Temporal schemas (default and visibility stores)...');
    await setupTemporalSchemas(binaries, postgres);
    await postgres.createDatabase('berth');
    const databaseUrl = postgres.url('berth');

    const temporalRoot = path.join(options.dir, 'temporal');
    writeServerConfig({ binaries, postgres, ports: temporalPorts, root: temporalRoot });
    const serverOptions = { binary: binaries.server, root: temporalRoot, port: temporalPorts.frontend, logFile: path.join(logDir, 'temporal.log'), pidFile };
    say('starting the Temporal server...');
    const temporal = await startTemporalServer(serverOptions);
    started.push(temporal);
    const temporalAddress = `127.0.0.1:${temporalPorts.frontend}`;
    await ensureNamespace(options.cli, temporalAddress, 'default');

    let ui: Cluster['ui'];
    if (options.ui !== false) {
      const port = free || (await portInUse(8233)) ? await freePort() : 8233;
      const uiServer = await startUiServer({ binary: binaries.uiServer, root: path.join(options.dir, 'ui'), temporalAddress, port, logFile: path.join(logDir, 'ui.log'), pidFile });
      started.push(uiServer);
      ui = { process: uiServer, url: `http://127.0.0.1:${port}` };
    }

    // Berth's schema and the default tenant's admin once, before several processes start together.
    const db = openDatabase({ dataDir: options.dataDir, databaseUrl });
    await migrate(db);
    const admin = await ensureDefaultAdmin(db, options.dataDir, options.env?.BERTH_ADMIN_TOKEN || process.env.BERTH_ADMIN_TOKEN || undefined);
    await db.destroy();

    const apiCount = options.apis ?? 2;
    const apiPorts: number[] = [];
    for (let i = 0; i < apiCount; i++) apiPorts.push(free || (await portInUse(8080 + i)) ? await freePort() : 8080 + i);
    say(`starting ${apiCount} APIs and ${options.workers ?? 2} workers...`);
    const berth = await startBerthProcesses({
      dataDir: options.dataDir,
      temporalAddress,
      databaseUrl,
      taskQueue: options.taskQueue ?? 'berth-provision',
      apiPorts,
      workers: options.workers ?? 2,
      logDir,
      pidFile,
      env: options.env ?? {},
      temporalUiUrl: ui?.url,
    });
    started.push(...berth.apis.map((a) => a.process), ...berth.workers);

    const pg = postgres;
    return {
      ...berth,
      postgres: pg,
      databaseUrl,
      temporal,
      temporalAddress,
      temporalPorts,
      async restartTemporal() {
        temporal.start();
        await waitForPort(temporalPorts.frontend, temporal, 120_000);
      },
      ui,
      admin,
      logDir,
      async stop() {
        await stopAll([...berth.apis.map((a) => a.process), ...berth.workers], [ui?.process, temporal]);
        pg.stop();
      },
    };
  } catch (err) {
    await stopAll(started, []);
    postgres?.stop();
    throw err;
  }
}

/** Berth's processes first, then the Temporal UI and server. */
async function stopAll(berth: Managed[], temporal: Array<Managed | undefined>): Promise<void> {
  await Promise.all(berth.map((p) => p.stop()));
  for (const p of temporal) await p?.stop();
}

/** `temporal operator namespace create` unless the namespace exists, then Berth's search attributes. */
export async function ensureNamespace(cli: string, address: string, namespace: string): Promise<void> {
  const run = (...args: string[]) => execFileSync(cli, ['operator', 'namespace', ...args, '--address', address, '--namespace', namespace], { stdio: 'pipe' });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      try {
        run('describe');
      } catch {
        run('create');
      }
      break;
    } catch (err) {
      // The frontend listens before the server is fully up.
      if (Date.now() > deadline) throw new Error(`could not create the namespace ${namespace}: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`, { cause: err });
      await sleep(1_000);
    }
  }
  const connection = await connectTemporal(address);
  try {
    // A new namespace reaches the frontend's cache within seconds: retry until it is known.
    for (;;) {
      try {
        await ensureSearchAttributes(connection, namespace);
        await connection.workflowService.countWorkflowExecutions({ namespace, query: 'BerthProvider = "local"' });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(1_000);
      }
    }
  } finally {
    await connection.close();
  }
}

/** Powers off every local VM of the data dir (their disks stay), as `npm start` does on exit. */
export async function powerOffLocalVms(dataDir: string): Promise<void> {
  const local = new LocalProvider({ dataDir });
  for (const vm of await local.all()) local.powerOff(vm.id);
}
