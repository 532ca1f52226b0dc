// A real Temporal server (not the dev server) on PostgreSQL: the binaries and schema files of
// scripts/ensure-temporal-server.sh, the schemas of the default and visibility stores, a config
// generated from the module's own development-postgres12.yaml, and the server with all its
// services in one process.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Postgres } from './postgres.js';
import { startManaged, waitForPort, type Managed } from './processes.js';
import { TEMPORAL_HISTORY_SHARDS } from './versions.js';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface TemporalBinaries {
  server: string;
  sqlTool: string;
  uiServer: string;
  /** go.temporal.io/server@<version> in the Go module cache: schema/ and config/. */
  moduleDir: string;
}

/** Runs scripts/ensure-temporal-server.sh: builds what is missing (minutes, once), then the paths. */
export function ensureTemporalServer(): TemporalBinaries {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/ensure-temporal-server.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [server, sqlTool, uiServer, moduleDir] = out.toString().trim().split('\n');
  if (!server || !sqlTool || !uiServer || !moduleDir) throw new Error('scripts/ensure-temporal-server.sh printed no paths');
  return { server, sqlTool, uiServer, moduleDir };
}

/** The server's ports: the template's (7233-7235, 7239, 6933-6939, 7243), or free ones. */
export interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  /** Prometheus metrics of the server. */
  metrics: number;
}

export const TEMPLATE_PORTS: ServerPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
  metrics: 8000,
};

/**
 * Free ports for every service. Below 32768: the SQL stores keep membership ports as a smallint,
 * and the OS hands out its ephemeral ports above it.
 */
export async function freeServerPorts(): Promise<ServerPorts> {
  const ports = {} as ServerPorts;
  const taken = new Set<number>();
  for (const key of Object.keys(TEMPLATE_PORTS) as Array<keyof ServerPorts>) {
    for (;;) {
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      if (taken.has(port) || !(await canListen(port))) continue;
      taken.add(port);
      ports[key] = port;
      break;
    }
  }
  return ports;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export const TEMPORAL_DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

/**
 * The default and the visibility store: create-database and setup-schema -v 0.0 the first time,
 * then update-schema to the newest versioned schema of the module (a no-op when it is there).
 */
export async function setupTemporalSchemas(binaries: TemporalBinaries, postgres: Postgres): Promise<void> {
  const schemas = path.join(binaries.moduleDir, 'schema/postgresql/v12');
  for (const [store, database] of Object.entries(TEMPORAL_DATABASES)) {
    const tool = (...args: string[]) =>
      execFileSync(binaries.sqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', postgres.user, '--db', database, ...args], {
        stdio: 'pipe',
      });
    if (!(await postgres.hasDatabase(database))) {
      tool('create-database');
      tool('setup-schema', '-v', '0.0');
    }
    tool('update-schema', '-d', path.join(schemas, store, 'versioned'));
  }
}

export interface ServerConfigOptions {
  binaries: TemporalBinaries;
  postgres: Postgres;
  ports: ServerPorts;
  /** Where config/ is written: the server's --root. */
  root: string;
  logLevel?: string;
}

/** Writes <root>/config/development.yaml and the dynamic config, from the module's templates. */
export function writeServerConfig(options: ServerConfigOptions): void {
  const { ports, postgres, root } = options;
  const templates = path.join(options.binaries.moduleDir, 'config');
  const config = parse(fs.readFileSync(path.join(templates, 'development-postgres12.yaml'), 'utf8'));
  config.log.level = options.logLevel ?? 'warn';
  config.persistence.numHistoryShards = TEMPORAL_HISTORY_SHARDS;
  for (const store of Object.values(config.persistence.datastores) as Array<{ sql: Record<string, unknown> }>) {
    Object.assign(store.sql, { connectAddr: `127.0.0.1:${postgres.port}`, user: postgres.user, password: '' });
  }
  // pprof off; the metrics on their own port.
  config.global.pprof.port = 0;
  config.global.metrics.prometheus.listenAddress = `127.0.0.1:${ports.metrics}`;
  const rpc = config.services;
  Object.assign(rpc.frontend.rpc, { grpcPort: ports.frontend, membershipPort: ports.frontendMembership, httpPort: ports.frontendHttp });
  Object.assign(rpc.history.rpc, { grpcPort: ports.history, membershipPort: ports.historyMembership });
  Object.assign(rpc.matching.rpc, { grpcPort: ports.matching, membershipPort: ports.matchingMembership });
  Object.assign(rpc.worker.rpc, { grpcPort: ports.worker, membershipPort: ports.workerMembership });
  config.clusterMetadata.clusterInformation.active.rpcAddress = `127.0.0.1:${ports.frontend}`;

  const dynamic = parse(fs.readFileSync(path.join(templates, 'dynamicconfig/development-sql.yaml'), 'utf8'));
  // As the dev server of `npm start` runs (temporal/dev-server.ts): an activity scheduled by a
  // workflow task goes straight back to the worker that completed the task.
  dynamic['system.enableActivityEagerExecution'] = [{ value: true }];
  dynamic['component.nexusoperations.callback.endpoint.template'] = [{ value: `http://127.0.0.1:${ports.frontendHttp}/namespaces/{{.NamespaceName}}/nexus/callback` }];
  const dynamicFile = path.join(root, 'config', 'dynamicconfig.yaml');
  config.dynamicConfigClient.filepath = dynamicFile;

  fs.mkdirSync(path.dirname(dynamicFile), { recursive: true });
  fs.writeFileSync(dynamicFile, stringify(dynamic));
  fs.writeFileSync(path.join(root, 'config', 'development.yaml'), stringify(config));
}

/** `server --root <root> --config config --env development --allow-no-auth start`, until the frontend listens. */
export async function startTemporalServer(options: { binary: string; root: string; port: number; logFile: string; pidFile?: string }): Promise<Managed> {
  const server = startManaged({
    name: 'the Temporal server',
    command: options.binary,
    args: ['--root', options.root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
    logFile: options.logFile,
    cwd: options.root,
    ...(options.pidFile && { pidFile: options.pidFile }),
  });
  await waitForPort(options.port, server, 120_000);
  return server;
}

/** The Web UI server (github.com/temporalio/ui-server), pointed at the frontend. */
export async function startUiServer(options: { binary: string; root: string; temporalAddress: string; port: number; logFile: string; pidFile?: string }): Promise<Managed> {
  const config = {
    temporalGrpcAddress: options.temporalAddress,
    host: '127.0.0.1',
    port: options.port,
    enableUi: true,
    defaultNamespace: 'default',
    cors: { allowOrigins: [], unsafeAllowAllOrigins: false, cookieInsecure: true },
  };
  fs.mkdirSync(path.join(options.root, 'config'), { recursive: true });
  fs.writeFileSync(path.join(options.root, 'config', 'development.yaml'), stringify(config));
  const ui = startManaged({
    name: 'the Temporal UI server',
    command: options.binary,
    args: ['--root', options.root, '--config', 'config', '--env', 'development', 'start'],
    logFile: options.logFile,
    cwd: options.root,
    ...(options.pidFile && { pidFile: options.pidFile }),
  });
  await waitForPort(options.port, ui);
  return ui;
}
