// `npm start`: the embedded default. Starts (or reuses) Temporal, prepares the database and the
// admin token, then runs the worker and the API as child processes until Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { ensureDefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase } from '../db/connect.js';
import { LocalProvider } from '../providers/local/local-provider.js';
import { connectTemporal } from '../temporal/connect.js';
import { portInUse, startDevServer, stopProcess, type DevServer } from '../temporal/dev-server.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';

const say = (line: string) => console.log(`berth: ${line}`);

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error('the API exited during start; see its log above');
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
  return spawn(process.execPath, ['--import', 'tsx', entry], { stdio: 'inherit', env });
}

async function main(config: Config): Promise<void> {
  const root = path.resolve(import.meta.dirname, '..');
  let devServer: DevServer | undefined;
  const children: ChildProcess[] = [];
  const local = new LocalProvider({ dataDir: config.dataDir });
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping...');
    await Promise.all(children.map((child) => stopProcess(child)));
    // Local VMs are processes of this machine: power them off, keep their disks for the next start.
    for (const vm of await local.all()) local.powerOff(vm.id);
    await devServer?.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  let address = config.temporal.address;
  if (!address) {
    const binary = process.env.BERTH_TEMPORAL_CLI;
    if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set; run `npm start`, which builds the Temporal CLI');
    if (await portInUse(7233)) {
      throw new Error('port 7233 is in use: stop the other Temporal server, or use it with TEMPORAL_ADDRESS=127.0.0.1:7233 npm start');
    }
    say('starting the Temporal dev server...');
    devServer = await startDevServer({
      binary,
      dbFile: path.join(config.dataDir, 'temporal.db'),
      port: 7233,
      uiPort: config.temporal.uiPort,
      namespace: config.temporal.namespace,
      logFile: path.join(config.dataDir, 'logs', 'temporal.log'),
    });
    address = devServer.address;
    devServer.process.once('exit', () => {
      if (!stopping) {
        console.error(`berth: the Temporal dev server exited; see ${path.join(config.dataDir, 'logs', 'temporal.log')}`);
        void stopAll(1);
      }
    });
  }

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
    ...(devServer?.uiUrl && { BERTH_TEMPORAL_UI_URL: devServer.uiUrl }),
  };
  const worker = spawnPart(path.join(root, 'worker', 'main.ts'), env);
  const api = spawnPart(path.join(root, 'api', 'main.ts'), env);
  children.push(worker, api);
  for (const [name, child] of [['worker', worker], ['API', api]] as const) {
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`berth: the ${name} exited (${signal ?? `code ${code}`}); stopping everything`);
      void stopAll(1);
    });
  }

  const apiUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  await waitForHealth(`${apiUrl}/healthz`, api);

  const lines = [
    '',
    'Berth is running. Ctrl-C stops everything.',
    `  Console      ${apiUrl}/`,
    `  API          ${apiUrl}/cp/api/v1   (reference: ${apiUrl}/cp/api/v1/docs)`,
    `  Temporal UI  ${devServer?.uiUrl ?? `(using the Temporal server at ${address})`}`,
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
