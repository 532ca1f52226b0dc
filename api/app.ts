import { ServiceError } from '@temporalio/client';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { consoleRoutes } from '../console/server.js';
import { adminAuth } from './admin-auth.js';
import type { AppDeps, AppEnv } from './deps.js';
import { apiError, notFoundHandler, payloadTooLarge } from './errors.js';
import { requestLog } from './request-log.js';
import { budgetRoutes } from './routes/budget.js';
import { healthRoutes } from './routes/health.js';
import { heartbeatRoutes } from './routes/heartbeat.js';
import { jobRoutes } from './routes/jobs.js';
import { keyRoutes } from './routes/keys.js';
import { nodeRoutes } from './routes/nodes.js';
import { poolRoutes } from './routes/pools.js';
import { providerRoutes } from './routes/providers.js';
import { registerRoutes } from './routes/register.js';
import { tenantRoutes } from './routes/tenants.js';

export const API_BASE = '/cp/api/v1';
export const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use(requestLog(deps.logger));
  app.notFound(notFoundHandler);
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

  const v1 = new Hono<AppEnv>();
  v1.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => payloadTooLarge(MAX_BODY_BYTES),
    }),
  );
  // Public routes: the VM's registration token and the node agent's credential are their own auth.
  const publicPaths = [`${API_BASE}/cluster/register`, `${API_BASE}/cluster/nodes/:id/heartbeat`];
  v1.use('*', except(publicPaths, adminAuth({ db: deps.db })));
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
  // The web console at `/` (console/dist), and its config; never under /cp/api or /healthz.
  app.route('/', consoleRoutes({ temporalUiUrl: deps.temporalUiUrl, namespace: deps.namespace }));
  return app;
}
