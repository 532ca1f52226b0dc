import { ServiceError } from '@temporalio/client';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { consoleRoutes } from '../console/server.js';
import { adminAuth } from './admin-auth.js';
import { API_BASE } from './contract.js';
import type { AppDeps, AppEnv } from './deps.js';
import { docsRoutes } from './docs.js';
import { apiError, notFoundHandler, payloadTooLarge } from './errors.js';
import { createApiMetrics } from './metrics.js';
import { operationsAt, openApiDocument } from './openapi.js';
import { requestLog } from './request-log.js';
import { budgetRoutes } from './routes/budget.js';
import { healthRoutes } from './routes/health.js';
import { heartbeatRoutes } from './routes/heartbeat.js';
import { jobRoutes } from './routes/jobs.js';
import { keyRoutes } from './routes/keys.js';
import { metricsRoutes } from './routes/metrics.js';
import { nodeRoutes } from './routes/nodes.js';
import { poolRoutes } from './routes/pools.js';
import { providerRoutes } from './routes/providers.js';
import { registerRoutes } from './routes/register.js';
import { tenantRoutes } from './routes/tenants.js';

export { API_BASE };
export const MAX_BODY_BYTES = 64 * 1024;

/** Whether the operation at this method and path takes no admin token (see api/contract.ts). */
const isPublic = (method: string, path: string) => {
  const as = (method === 'HEAD' ? 'GET' : method).toLowerCase();
  return operationsAt(path).some((op) => op.method === as && op.auth !== 'admin');
};

/** The methods a path answers (HEAD wherever GET), for 405's `Allow`; none for an unknown path. */
function allowedMethods(path: string): string[] {
  const methods = operationsAt(path).map((op) => op.method.toUpperCase());
  if (methods.includes('GET')) methods.push('HEAD');
  return [...new Set(methods)];
}

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const metrics = deps.metrics ?? createApiMetrics(deps.db);
  app.use(requestLog(deps.logger));
  app.use(metrics.middleware);
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length === 0) return notFoundHandler(c);
    return apiError(405, 'method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}; it answers ${allowed.join(', ')}`, {
      headers: { Allow: allowed.join(', ') },
    }).getResponse();
  });
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    if (err instanceof ServiceError) {
      deps.logger.error({ err, path: c.req.path }, 'Temporal call failed');
      return apiError(503, 'temporal_unavailable', 'Temporal is not reachable; retry later').getResponse();
    }
    deps.logger.error({ err, path: c.req.path }, 'unhandled error');
    return apiError(500, 'internal', 'internal error; see the server log').getResponse();
  });

  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes(metrics.registry, deps.metricsToken));

  const v1 = new Hono<AppEnv>();
  v1.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => payloadTooLarge(MAX_BODY_BYTES),
    }),
  );
  // Public routes: the VM's registration token and the node agent's credential are their own auth;
  // the OpenAPI document and its reference page need none.
  v1.use(
    '*',
    except((c) => isPublic(c.req.method, c.req.path), adminAuth({ db: deps.db })),
  );
  v1.route('/', docsRoutes(openApiDocument));
  v1.route('/cluster', registerRoutes(deps));
  v1.route('/cluster', heartbeatRoutes(deps));
  v1.route('/cluster', providerRoutes(deps));
  v1.route('/cluster', nodeRoutes(deps));
  v1.route('/cluster', jobRoutes(deps));
  v1.route('/cluster', poolRoutes(deps));
  v1.route('/cluster', budgetRoutes(deps));
  v1.route('/keys', keyRoutes(deps));
  v1.route('/tenants', tenantRoutes(deps));
  app.route(API_BASE, v1);
  // The web console at `/` (console/dist), and its config; never under /cp/api, /healthz or /metrics.
  app.route('/', consoleRoutes({ temporalUiUrl: deps.temporalUiUrl, namespace: deps.namespace }));
  return app;
}
