// `npm run cluster`: the production shape on one machine (see temporal/cluster.ts): PostgreSQL,
// a real Temporal server with its Web UI, 2 APIs and 2 workers, until Ctrl-C. Everything is kept
// under $BERTH_DATA_DIR/cluster/, so the next run carries on where this one stopped.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/index.js';
import { LocalProvider } from '../providers/local/local-provider.js';
import { TEMPORAL_HISTORY_SHARDS } from '../temporal/versions.js';
import { powerOffLocalVms, startCluster, type Cluster } from '../temporal/cluster.js';

const say = (line: string) => console.log(`berth: ${line}`);

let cluster: Cluster | undefined;
let stopping = false;

async function main(): Promise<void> {
  const config = loadConfig();
  const root = path.resolve(import.meta.dirname, '..');
  const cli =
    process.env.BERTH_TEMPORAL_CLI ||
    execFileSync('bash', [path.join(root, 'scripts/ensure-temporal-cli.sh')], { stdio: ['ignore', 'pipe', 'inherit'] })
      .toString()
      .trim();
  const dir = path.join(config.dataDir, 'cluster');
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping...');
    await cluster?.stop();
    await powerOffLocalVms(config.dataDir);
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  cluster = await startCluster({
    dir,
    dataDir: config.dataDir,
    cli,
    ports: 'template',
    taskQueue: config.temporal.taskQueue,
    say,
    env: { BERTH_DATA_DIR: config.dataDir },
  });
  for (const part of [cluster.temporal, cluster.ui?.process, ...cluster.apis.map((a) => a.process), ...cluster.workers]) {
    part?.child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`berth: ${part.name} exited (${signal ?? `code ${code}`}); see ${part.logFile}; stopping everything`);
      void stop(1);
    });
  }

  // The local VMs of the last run come back, as `npm start` brings them back.
  const local = new LocalProvider({ dataDir: config.dataDir });
  for (const vm of await local.all()) local.powerOn(vm.id);

  const { admin } = cluster;
  const token = admin.generated ? `${admin.generated}   (shown once; kept in ${admin.file})` : admin.file ? `in ${admin.file}` : 'BERTH_ADMIN_TOKEN';
  console.log(
    [
      '',
      'Berth is running in the production shape. Ctrl-C stops everything.',
      ...cluster.apis.map((api, i) => `  API ${i + 1}        ${api.url}/cp/api/v1   (console ${api.url}/)`),
      `  Workers      ${cluster.workers.length}, task queue ${config.temporal.taskQueue}; worker i gives its VMs API i as BERTH_PUBLIC_URL`,
      `  Temporal     ${cluster.temporalAddress} (on PostgreSQL; ${TEMPORAL_HISTORY_SHARDS} history shards; metrics http://127.0.0.1:${cluster.temporalPorts.metrics}/metrics)`,
      `  Temporal UI  ${cluster.ui?.url ?? '(not started)'}`,
      `  PostgreSQL   ${cluster.postgres.url()}   Berth: DATABASE_URL=${cluster.databaseUrl}`,
      `  Data         ${config.dataDir}   (cluster state in ${dir})`,
      `  Logs         ${cluster.logDir}`,
      `  Admin token  ${token}`,
      '',
    ].join('\n'),
  );
}

main().catch(async (err: unknown) => {
  console.error(`berth: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}`);
  // startCluster has stopped what it started; a failure after it stops the rest.
  stopping = true;
  await cluster?.stop();
  process.exit(1);
});
