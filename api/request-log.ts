import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { API_BASE } from './contract.js';
import type { AppEnv } from './deps.js';

const JOB_PATH = new RegExp(`^${API_BASE}/cluster/jobs/([^/]+)`);

/**
 * One log line per request. Only the path is logged: query strings and bodies may carry secrets.
 * A job's routes add its `job_id`, and an authenticated caller its `tenant_id`, as every job line does.
 */
export function requestLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    await next();
    const jobId = JOB_PATH.exec(c.req.path)?.[1];
    const tenantId = c.get('tenantId');
    logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        ...(jobId !== undefined && { job_id: jobId }),
        ...(tenantId !== undefined && { tenant_id: tenantId }),
      },
      'request',
    );
  };
}
