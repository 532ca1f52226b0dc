import { Hono } from 'hono';
import { z } from 'zod';
import { createApiKey, listApiKeys, revokeApiKey } from '../../db/tenants.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { jsonBody } from '../validate.js';

const createKeySchema = z.strictObject({ label: z.string().min(1).max(100).optional() });

/** The caller's tenant's admin keys. A new key is in the answer once; only its hash is kept. */
export function keyRoutes(deps: AppDeps) {
  return new Hono<AppEnv>()
    .get('/', async (c) => c.json({ keys: await listApiKeys(deps.db, c.get('tenantId')) }))
    .post('/', async (c) => {
      const { label } = await jsonBody(c, createKeySchema);
      const { keyId, key } = await createApiKey(deps.db, c.get('tenantId'), label ?? 'api');
      return c.json({ key_id: keyId, key, label: label ?? 'api' }, 201);
    })
    .delete('/:id', async (c) => {
      if (!(await revokeApiKey(deps.db, c.req.param('id'), c.get('tenantId')))) {
        throw apiError(404, 'key_not_found', `no live key ${c.req.param('id')}`);
      }
      return c.body(null, 204);
    });
}
