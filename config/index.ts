import path from 'node:path';
import ms from 'ms';
import { z } from 'zod';

/** Everything Berth reads from its environment, parsed once and validated. */
export interface Config {
  port: number;
  /** Interface the API listens on. */
  host: string;
  dataDir: string;
  /** Bearer token of the default tenant's admin; undefined means "generate one under dataDir". */
  adminToken: string | undefined;
  registrationTtlMs: number;
  publicUrl: string;
  databaseUrl: string | undefined;
  logLevel: string;
  /** BERTH_MASTER_KEY (+ _PREVIOUS); unset: a key file under dataDir. */
  masterKey: string | undefined;
  previousMasterKeys: string | undefined;
  /** Base URLs of the cloud APIs; tests point them at emulators. */
  hetznerApiUrl: string | undefined;
  digitaloceanApiUrl: string | undefined;
  /** How often the orphan sweep runs, and how old an orphan VM must be before it is deleted. */
  orphanSweepIntervalMs: number;
  orphanGraceMs: number;
  /** How often a node's agent reports its load (BERTH_HEARTBEAT_INTERVAL). */
  heartbeatIntervalMs: number;
  /** Bearer token `GET /metrics` asks for (BERTH_METRICS_TOKEN); unset: the route is public like /healthz. */
  metricsToken: string | undefined;
  /** Port of the worker's Prometheus exporter (BERTH_WORKER_METRICS_PORT); unset: no exporter. */
  workerMetricsPort: number | undefined;
  temporal: {
    address: string | undefined;
    /** gRPC port of the dev server `npm start` runs when address is unset (BERTH_TEMPORAL_PORT). */
    port: number;
    namespace: string;
    uiPort: number;
    taskQueue: string;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses "5s", "2m", "30m", "1h" (or plain milliseconds) into milliseconds. */
export function parseDuration(value: string): number | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const parsed = /^\d+$/.test(trimmed) ? Number(trimmed) : ms(trimmed as ms.StringValue);
  return typeof parsed === 'number' && Number.isFinite(parsed) && parsed > 0 ? parsed : undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Registration windows from one second to a week: shorter cannot boot a VM, longer is a forgotten VM. */
const MIN_TTL_MS = 1_000;
const MAX_TTL_MS = 7 * 24 * 3_600_000;

const duration = (name: string, fallback: number, min: number, max = Infinity) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const parsed = parseDuration(v);
      if (parsed === undefined || parsed < min) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a duration of at least ${ms(min)} such as 15m or 1h, got "${v}"` });
        return z.NEVER;
      }
      if (parsed > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a duration from ${ms(min)} to ${ms(max)}, got "${v}"` });
        return z.NEVER;
      }
      return parsed;
    });

const httpUrl = (name: string) => optionalString.refine((v) => v === undefined || isHttpUrl(v), { message: `${name} must be an http(s) URL` });

const port = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a port number (1-65535), got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const envSchema = z.object({
  BERTH_PORT: port('BERTH_PORT', 8080),
  BERTH_HOST: optionalString,
  BERTH_DATA_DIR: optionalString,
  BERTH_ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'BERTH_ADMIN_TOKEN must be at least 16 characters',
  }),
  BERTH_REGISTRATION_TTL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 30 * 60_000;
      const parsed = parseDuration(v);
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: `BERTH_REGISTRATION_TTL must be a duration such as 5s, 2m or 30m, got "${v}"` });
        return z.NEVER;
      }
      if (parsed < MIN_TTL_MS || parsed > MAX_TTL_MS) {
        ctx.addIssue({ code: 'custom', message: `BERTH_REGISTRATION_TTL must be between 1s and 7d, got "${v}"` });
        return z.NEVER;
      }
      return parsed;
    }),
  BERTH_PUBLIC_URL: httpUrl('BERTH_PUBLIC_URL'),
  BERTH_MASTER_KEY: optionalString.refine((v) => v === undefined || /^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=?)$/.test(v), {
    message: 'BERTH_MASTER_KEY must be 32 bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)',
  }),
  BERTH_MASTER_KEY_PREVIOUS: optionalString,
  BERTH_HETZNER_API_URL: httpUrl('BERTH_HETZNER_API_URL'),
  BERTH_DIGITALOCEAN_API_URL: httpUrl('BERTH_DIGITALOCEAN_API_URL'),
  BERTH_ORPHAN_SWEEP_INTERVAL: duration('BERTH_ORPHAN_SWEEP_INTERVAL', 15 * 60_000, 60_000),
  BERTH_ORPHAN_GRACE: duration('BERTH_ORPHAN_GRACE', 60 * 60_000, 60_000),
  // Whole seconds reach the VM's timer; at most 5m, so a dead node is noticed in minutes.
  BERTH_HEARTBEAT_INTERVAL: duration('BERTH_HEARTBEAT_INTERVAL', 15_000, 1_000, 5 * 60_000).refine((v) => v % 1_000 === 0, {
    message: 'BERTH_HEARTBEAT_INTERVAL must be whole seconds',
  }),
  BERTH_METRICS_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'BERTH_METRICS_TOKEN must be at least 16 characters',
  }),
  BERTH_WORKER_METRICS_PORT: port('BERTH_WORKER_METRICS_PORT', 0).transform((v) => (v === 0 ? undefined : v)),
  BERTH_LOG_LEVEL: optionalString.pipe(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  BERTH_TASK_QUEUE: optionalString,
  DATABASE_URL: optionalString,
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: optionalString,
  TEMPORAL_UI_PORT: port('TEMPORAL_UI_PORT', 8233),
  BERTH_TEMPORAL_PORT: port('BERTH_TEMPORAL_PORT', 7233),
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0] ?? '')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.BERTH_PORT,
    host: e.BERTH_HOST ?? '127.0.0.1',
    dataDir: path.resolve(e.BERTH_DATA_DIR ?? './data'),
    adminToken: e.BERTH_ADMIN_TOKEN,
    registrationTtlMs: e.BERTH_REGISTRATION_TTL,
    publicUrl: (e.BERTH_PUBLIC_URL ?? `http://127.0.0.1:${e.BERTH_PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    logLevel: e.BERTH_LOG_LEVEL,
    masterKey: e.BERTH_MASTER_KEY,
    previousMasterKeys: e.BERTH_MASTER_KEY_PREVIOUS,
    hetznerApiUrl: e.BERTH_HETZNER_API_URL,
    digitaloceanApiUrl: e.BERTH_DIGITALOCEAN_API_URL,
    orphanSweepIntervalMs: e.BERTH_ORPHAN_SWEEP_INTERVAL,
    orphanGraceMs: e.BERTH_ORPHAN_GRACE,
    heartbeatIntervalMs: e.BERTH_HEARTBEAT_INTERVAL,
    metricsToken: e.BERTH_METRICS_TOKEN,
    workerMetricsPort: e.BERTH_WORKER_METRICS_PORT,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      port: e.BERTH_TEMPORAL_PORT,
      namespace: e.TEMPORAL_NAMESPACE ?? 'default',
      uiPort: e.TEMPORAL_UI_PORT,
      taskQueue: e.BERTH_TASK_QUEUE ?? 'berth-provision',
    },
  };
}
