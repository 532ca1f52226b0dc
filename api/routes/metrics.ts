import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { Registry } from 'prom-client';
import { operation } from '../contract.js';
import { apiError } from '../errors.js';

export const metricsOperations = {
  metrics: operation({
    method: 'get',
    path: '/metrics',
    root: true,
    operationId: 'metrics',
    tag: 'Health',
    summary: "This API process's metrics, for Prometheus",
    description:
      'Prometheus text format: requests by route, jobs by phase, nodes by status and provider, refused registrations, provider calls, catalogue cache lookups, and the process. Public like /healthz unless the server sets `BERTH_METRICS_TOKEN`, which it then asks for as a bearer token.',
    auth: 'public',
    answers: { 200: { description: 'The series, in the Prometheus text format 0.0.4', media: ['text/plain'] } },
    errors: { 401: { codes: ['unauthorized'], description: 'The server has a metrics token, and the request did not carry it' } },
  }),
};

/** `GET /metrics`: the registry as Prometheus text; behind `token` as a bearer token when one is set. */
export function metricsRoutes(registry: Registry, token: string | undefined) {
  const app = new Hono();
  if (token) {
    const refused = () => apiError(401, 'unauthorized', 'the metrics token is required', { headers: { 'WWW-Authenticate': 'Bearer realm="berth-metrics"' } }).getResponse();
    app.use('/metrics', bearerAuth({ token, noAuthenticationHeader: { message: refused }, invalidAuthenticationHeader: { message: refused }, invalidToken: { message: refused } }));
  }
  return app.get('/metrics', async (c) => {
    c.header('Content-Type', registry.contentType);
    c.header('Cache-Control', 'no-store');
    return c.body(await registry.metrics());
  });
}
