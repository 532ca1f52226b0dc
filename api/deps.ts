import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Db } from '../db/connect.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { AuthVariables } from './admin-auth.js';
import type { ApiMetrics } from './metrics.js';

/** What the API needs from the rest of Berth; tests pass their own. */
export interface AppDeps {
  db: Db;
  temporal: Client;
  providers: ProviderRegistry;
  taskQueue: string;
  registrationTtlMs: number;
  logger: Logger;
  /** How long a VM's callback may wait for its workflow before it is told to retry (default 60s). */
  deliveryTimeoutMs?: number;
  /** Failed registrations allowed per client address and window (default 20 per 5 minutes). */
  registrationFailureLimit?: { max: number; windowMs: number };
  /** Failed heartbeat credentials allowed per client address and window (default 20 per 5 minutes). */
  heartbeatFailureLimit?: { max: number; windowMs: number };
  /** How often the SSE stream looks for phase changes. */
  eventPollMs?: number;
  /** History length after which a pool's reconciler continues as new (tests lower it). */
  poolMaxHistoryEvents?: number;
  /** Base URL of the Temporal Web UI, for the console's links to workflows (none: no links). */
  temporalUiUrl?: string;
  /** The Temporal namespace, for the same links (default `default`). */
  namespace?: string;
  /**
   * This process's Prometheus series, served at `GET /metrics` (default: a registry of the app's own).
   * Pass one to read it in a test, or to share it with the provider registry (its provider calls).
   */
  metrics?: ApiMetrics;
  /** Bearer token `GET /metrics` asks for (BERTH_METRICS_TOKEN); none: it is public. */
  metricsToken?: string | undefined;
}

export type AppEnv = { Variables: AuthVariables };
