import { serve } from '@hono/node-server';
import { Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config/index.js';
import { createLogger } from '../config/logger.js';
import { ensureDefaultAdmin } from '../db/bootstrap.js';
import { migrate, openDatabase } from '../db/connect.js';
import { registryFromConfig } from '../providers/from-config.js';
import { connectTemporal } from '../temporal/connect.js';
import { ensureOrphanSweep } from '../temporal/schedules.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { createApp } from './app.js';
import { createApiMetrics } from './metrics.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'berth-api');
  const db = openDatabase(config);
  await migrate(db);
  const admin = await ensureDefaultAdmin(db, config.dataDir, config.adminToken);
  if (admin.generated) logger.warn({ file: admin.file }, 'generated an admin token for the default tenant; it is stored in that file');
  const connection = await connectTemporal(config.temporal.address ?? '127.0.0.1:7233');
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  try {
    await ensureSearchAttributes(connection, config.temporal.namespace);
  } catch (err) {
    // A hosted namespace may not let us register them; an operator adds them once by hand.
    logger.warn({ err }, 'could not register the Berth search attributes (BerthTenant, BerthProvider, BerthPhase: Keyword)');
  }
  try {
    await ensureOrphanSweep(temporal, {
      taskQueue: config.temporal.taskQueue,
      intervalMs: config.orphanSweepIntervalMs,
      graceMs: config.orphanGraceMs,
    });
  } catch (err) {
    logger.warn({ err }, 'could not create or update the orphan sweep schedule; VMs left behind will not be swept');
  }
  const metrics = createApiMetrics(db);
  const app = createApp({
    db,
    temporal,
    providers: registryFromConfig(config, db, metrics.providers),
    taskQueue: config.temporal.taskQueue,
    registrationTtlMs: config.registrationTtlMs,
    logger,
    // Set by `npm start` when it runs the dev server; set it by hand for a Temporal UI of your own.
    ...(process.env.BERTH_TEMPORAL_UI_URL && { temporalUiUrl: process.env.BERTH_TEMPORAL_UI_URL }),
    namespace: config.temporal.namespace,
    metrics,
    metricsToken: config.metricsToken,
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    logger.info({ url: `http://${info.address}:${info.port}` }, 'API listening');
  });
  server.on('error', (err) => {
    logger.error({ err }, `cannot listen on ${config.host}:${config.port}`);
    process.exit(1);
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    // Open SSE streams would hold close() forever; exit once in-flight requests had a moment.
    setTimeout(() => process.exit(0), 2_000).unref();
    void Promise.all([connection.close(), db.destroy()]);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
