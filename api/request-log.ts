import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';

/** One log line per request. Only the path is logged: query strings and bodies may carry secrets. */
export function requestLog(logger: Logger): MiddlewareHandler {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    await next();
    logger.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) },
      'request',
    );
  };
}
