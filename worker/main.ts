import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { createLogger } from '../config/logger.js';
import { migrate, openDatabase } from '../db/connect.js';
import { jobTenant } from '../db/jobs.js';
import { registryFromConfig } from '../providers/from-config.js';
import { registrationKey } from '../security/key-files.js';
import { cachedWorkflowBundle } from './bundle-cache.js';
import { createWorker } from './create-worker.js';
import { jobLogFields } from './job-log.js';
import { meterProviderObservers, prometheusTelemetry } from './metrics.js';

const SDK_LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'berth-worker');
  const db = openDatabase(config);
  // The SDK's own messages go through the same JSON logger, a job's with its job_id and tenant_id.
  const sdkLevel = SDK_LEVELS[config.logLevel] ?? 'INFO';
  const withJobFields = jobLogFields((jobId) => jobTenant(db, jobId));
  Runtime.install({
    logger: new DefaultLogger(sdkLevel === 'INFO' ? 'WARN' : sdkLevel, (entry) => {
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      withJobFields(entry.meta, (fields) => logger[level]({ ...entry.meta, ...fields }, entry.message));
    }),
    // The SDK's Prometheus exporter, which also serves Berth's worker series (worker/metrics.ts).
    ...(config.workerMetricsPort !== undefined && { telemetryOptions: prometheusTelemetry(config.host, config.workerMetricsPort) }),
  });
  if (config.workerMetricsPort !== undefined) logger.info({ url: `http://${config.host}:${config.workerMetricsPort}/metrics` }, 'worker metrics');

  const address = config.temporal.address ?? '127.0.0.1:7233';
  await migrate(db);
  const connection = await NativeConnection.connect({ address });
  const started = performance.now();
  const bundle = await cachedWorkflowBundle(path.join(config.dataDir, 'cache'));
  logger.info({ cached: bundle.cached, ms: Math.round(performance.now() - started) }, 'workflow bundle ready');
  const worker = await createWorker({
    connection,
    workflowBundle: { codePath: bundle.codePath },
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({
      db,
      providers: registryFromConfig(config, db, meterProviderObservers(Runtime.instance().metricMeter)),
      publicUrl: config.publicUrl,
      registrationKey: registrationKey(config.dataDir),
      registrationTtlMs: config.registrationTtlMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
    }),
  });
  // Ctrl-C reaches every process of the terminal's group, then `npm start` sends SIGTERM: stop once.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    worker.shutdown();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, stop);
  logger.info({ address, taskQueue: config.temporal.taskQueue }, 'worker started');
  await worker.run();
  await connection.close();
  await db.destroy();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
