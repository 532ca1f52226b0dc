import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/connect.js';
import { tenantForApiKey } from '../db/tenants.js';
import { apiError } from './errors.js';

export interface AuthVariables {
  tenantId: string;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/** Admin bearer auth: the token is looked up by its hash and sets the caller's tenant. */
export function adminAuth(options: { db: Db }): MiddlewareHandler<{ Variables: AuthVariables }> {
  if (!options?.db) throw new Error('adminAuth needs a database');
  const challenge = { 'WWW-Authenticate': 'Bearer realm="berth"' };
  return async function adminAuthHandler(c, next) {
    const match = BEARER.exec(c.req.header('Authorization') ?? '');
    if (!match) throw apiError(401, 'unauthorized', 'an admin bearer token is required', { headers: challenge });
    const tenantId = await tenantForApiKey(options.db, match[1]!);
    if (!tenantId) {
      throw apiError(401, 'unauthorized', 'the bearer token is not valid', { headers: { 'WWW-Authenticate': 'Bearer realm="berth", error="invalid_token"' } });
    }
    c.set('tenantId', tenantId);
    await next();
  };
}
