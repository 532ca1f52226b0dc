// `npm start`: the embedded default. Starts (or reuses) Temporal, prepares the database and the
// admin token, then runs the worker and the API as child processes until Ctrl-C. Once Berth is up,
// a child that exits, and the dev server, are started again with back-off (temporal/supervisor.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { ensureDefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase } from '../db/connect.js';
import { LocalProvider } from '../providers/local/local-provider.js';
import { connectTemporal } from '../temporal/connect.js';
import { portInUse, startDevServer } from '../temporal/dev-server.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { supervise, type Supervised } from '../temporal/supervisor.js';

const say = (line: string) => console.log(`berth: ${line}`);
const warn = (line: string) => console.error(`berth: ${line}`);
// Run from the source through tsx (`npm start`), or compiled as dist/scripts/start.js: the
// children are then dist/worker/main.js and dist/api/main.js, run without tsx.
const COMPILED = import.meta.url.endsWith('.js');

async function waitForHealth(url: string, api: Supervised): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!api.child) throw new Error('the API exited during start; see its log above');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  throw new Error(`the API did not become healthy at ${url} within 60s`);
}

function spawnPart(entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const file = `${entry}${COMPILED ? '.js' : '.ts'}`;
  return spawn(process.execPath, COMPILED ? [file] : ['--import', 'tsx', file], { stdio: 'inherit', env });
}

async function main(config: Config): Promise<void> {
  const root = path.resolve(import.meta.dirname, '..');
  let devServer: Supervised | undefined;
  const parts: Supervised[] = [];
  const local = new LocalProvider({ dataDir: config.dataDir });
  let stopping = false;
  let up = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping...');
    // Also cancels a restart that is waiting.
    await Promise.all(parts.map((part) => part.stop()));
    // Local VMs are processes of this machine: power them off, keep their disks for the next start.
    for (const vm of await local.all()) local.powerOff(vm.id);
    await devServer?.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  // Before Berth is up, an exit is a fault to show, not to retry (a port in use, a bad database).
  const restartOnceUp = (name: string) => (exit: string) => {
    if (up || stopping) return true;
    warn(`the ${name} exited during start (${exit}); stopping everything`);
    void stopAll(1);
    return false;
  };

  let address = config.temporal.address;
  if (!address) {
    const binary = process.env.BERTH_TEMPORAL_CLI;
    if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set: run `npm start`, which builds the Temporal CLI, or set it or TEMPORAL_ADDRESS');
    const port = config.temporal.port;
    if (await portInUse(port)) {
      throw new Error(`port ${port} is in use: stop the other Temporal server, or use it with TEMPORAL_ADDRESS=127.0.0.1:${port} npm start`);
    }
    say('starting the Temporal dev server...');
    const logFile = path.join(config.dataDir, 'logs', 'temporal.log');
    // Started again on the same port and database file: the worker and the API reconnect to it.
    devServer = await supervise({
      name: 'Temporal dev server',
      say: warn,
      shouldRestart: restartOnceUp(`Temporal dev server (its log: ${logFile})`),
      start: async () =>
        (
          await startDevServer({
            binary,
            dbFile: path.join(config.dataDir, 'temporal.db'),
            port,
            uiPort: config.temporal.uiPort,
            namespace: config.temporal.namespace,
            logFile,
          })
        ).process,
    });
    address = `127.0.0.1:${port}`;
  }
  const uiUrl = devServer && `http://127.0.0.1:${config.temporal.uiPort}`;

  const connection = await connectTemporal(address);
  await ensureSearchAttributes(connection, config.temporal.namespace);
  await connection.close();

  const db = openDatabase(config);
  await migrate(db);
  const admin = await ensureDefaultAdmin(db, config.dataDir, config.adminToken);
  await db.destroy();

  for (const vm of await local.all()) local.powerOn(vm.id);

  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    BERTH_DATA_DIR: config.dataDir,
    // The console links each job and pool to the dev server's Web UI.
    ...(uiUrl && { BERTH_TEMPORAL_UI_URL: uiUrl }),
  };
  const entries = { worker: 'worker/main', API: 'api/main' };
  for (const [name, entry] of Object.entries(entries)) {
    parts.push(await supervise({ name, say: warn, shouldRestart: restartOnceUp(name), start: () => spawnPart(path.join(root, entry), env) }));
  }

  const apiUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  await waitForHealth(`${apiUrl}/healthz`, parts[1]!);
  up = true;

  const lines = [
    '',
    'Berth is running. Ctrl-C stops everything.',
    `  Console      ${apiUrl}/`,
    `  API          ${apiUrl}/cp/api/v1   (reference: ${apiUrl}/cp/api/v1/docs)`,
    `  Temporal UI  ${uiUrl ?? `(using the Temporal server at ${address})`}`,
    `  Data         ${config.dataDir}`,
  ];
  if (admin.generated) lines.push(`  Admin token  ${admin.generated}   (shown once; kept in ${admin.file})`);
  else if (admin.file) lines.push(`  Admin token  in ${admin.file}`);
  else lines.push('  Admin token  BERTH_ADMIN_TOKEN');
  lines.push(
    '',
    'Add a node:',
    `  curl -s -X POST ${apiUrl}/cp/api/v1/cluster/nodes -H "Authorization: Bearer $TOKEN" \\`,
    `       -H 'content-type: application/json' -d '{"provider":"local","region":"local","plan":"local-1"}'`,
    'Use Hetzner Cloud or DigitalOcean: store a token once (see README, "Real clouds"):',
    `  curl -s -X POST ${apiUrl}/cp/api/v1/cluster/providers/hetzner/verify -H "Authorization: Bearer $TOKEN" \\`,
    `       -H 'content-type: application/json' -d '{"token":"<your API token>"}'`,
    '',
  );
  console.log(lines.join('\n'));
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? `berth: ${err.message}` : err);
  process.exit(1);
}
main(config).catch((err: unknown) => {
  console.error(`berth: ${err instanceof Error ? err.message : String(err)}`);
  process.kill(process.pid, 'SIGTERM');
});
