// The API process's Prometheus series, in a registry of its own (tests build several apps in one
// process). Labels are bounded: route templates, methods, statuses, error codes, providers, phases;
// never a tenant, job id, hostname or token.
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/connect.js';
import { jobsByPhase, nodesByStatusAndProvider } from '../db/metrics.js';
import type { ProviderObservers } from '../providers/from-config.js';
import { PHASES } from '../workflows/phases.js';
import { API_BASE } from './contract.js';

export interface ApiMetrics {
  registry: Registry;
  /** Count the registry's provider calls and catalogue lookups (see registryFromConfig). */
  providers: Required<ProviderObservers>;
  /** Counts and times every request by route template, method and status. */
  middleware: MiddlewareHandler;
}

const REGISTER_ROUTE = `${API_BASE}/cluster/register`;

/** The template of the route that served the request (`/cp/api/v1/cluster/jobs/:id`); `unmatched` for none. */
export function routeTemplate(routes: { method: string; path: string }[]): string {
  // Middleware is registered for ALL methods; the console's catch-all ends in `*`.
  return routes.find((r) => r.method !== 'ALL' && !r.path.endsWith('*'))?.path ?? 'unmatched';
}

export function createApiMetrics(db: Db): ApiMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (to the first byte for event streams), by route template and method',
    labelNames: ['route', 'method'] as const,
    registers,
  });
  const registrationFailures = new Counter({
    name: 'berth_registration_failures_total',
    help: 'Refused VM registrations (POST /cluster/register), by the error code answered',
    labelNames: ['code'] as const,
    registers,
  });
  const providerRequests = new Counter({
    name: 'berth_provider_requests_total',
    help: "Calls to a cloud provider's API (each retry counts), by provider, method, endpoint template and status",
    labelNames: ['provider', 'method', 'endpoint', 'status'] as const,
    registers,
  });
  const providerDuration = new Histogram({
    name: 'berth_provider_request_duration_seconds',
    help: "Time a cloud provider's API took to answer, by provider, method and endpoint template",
    labelNames: ['provider', 'method', 'endpoint'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const catalogueLookups = new Counter({
    name: 'berth_catalogue_cache_lookups_total',
    help: 'Lookups of regions, plans and recent token checks (verify) in the catalogue cache, by provider, kind and result (hit, miss)',
    labelNames: ['provider', 'kind', 'result'] as const,
    registers,
  });

  // Read from the database at scrape time. An unreachable database leaves them out (/healthz says why).
  new Gauge({
    name: 'berth_jobs',
    help: 'Provision jobs by phase, every tenant together',
    labelNames: ['phase'] as const,
    registers,
    async collect() {
      const rows = await jobsByPhase(db).catch(() => undefined);
      this.reset();
      if (!rows) return;
      for (const phase of PHASES) this.set({ phase }, 0);
      for (const row of rows) this.set(row.labels, row.count);
    },
  });
  new Gauge({
    name: 'berth_nodes',
    help: 'Nodes by status and provider, every tenant together',
    labelNames: ['status', 'provider'] as const,
    registers,
    async collect() {
      const rows = await nodesByStatusAndProvider(db).catch(() => undefined);
      this.reset();
      for (const row of rows ?? []) this.set(row.labels, row.count);
    },
  });

  const middleware: MiddlewareHandler = async function metricsHandler(c, next) {
    const started = performance.now();
    await next();
    const route = routeTemplate(matchedRoutes(c));
    const status = c.res.status;
    requests.inc({ route, method: c.req.method, status: String(status) });
    duration.observe({ route, method: c.req.method }, (performance.now() - started) / 1000);
    if (route === REGISTER_ROUTE && status >= 400) registrationFailures.inc({ code: await errorCode(c.res) });
  };

  return {
    registry,
    middleware,
    providers: {
      providerCall: ({ provider, method, endpoint, status, seconds }) => {
        providerRequests.inc({ provider, method, endpoint, status });
        providerDuration.observe({ provider, method, endpoint }, seconds);
      },
      catalogue: ({ provider, kind, hit }) => catalogueLookups.inc({ provider, kind, result: hit ? 'hit' : 'miss' }),
    },
  };
}

/** The `error.code` of an error answer (a code of api/contract.ts's list); `unknown` for another body. */
async function errorCode(res: Response): Promise<string> {
  try {
    const body = (await res.clone().json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' && /^[a-z_]{1,40}$/.test(body.error.code) ? body.error.code : 'unknown';
  } catch {
    return 'unknown';
  }
}
