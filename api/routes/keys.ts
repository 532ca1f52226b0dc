import { Hono } from 'hono';
import { z } from 'zod';
import { createApiKey, listApiKeys, revokeApiKey } from '../../db/tenants.js';
import { keyCreatedSchema, keyListSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { jsonBody } from '../validate.js';

const createKeySchema = z.strictObject({ label: z.string().min(1).max(100).optional() }).meta({ id: 'KeyRequest', examples: [{ label: 'ci' }] });

export const keyOperations = {
  list: operation({
    method: 'get',
    path: '/keys',
    operationId: 'listKeys',
    tag: 'Keys',
    summary: "The tenant's admin keys (never the keys themselves)",
    auth: 'admin',
    answers: { 200: { description: 'The keys', json: keyListSchema } },
  }),
  create: operation({
    method: 'post',
    path: '/keys',
    operationId: 'createKey',
    tag: 'Keys',
    summary: 'A new admin key for the tenant, shown once',
    description: 'Only the hash of the key is stored.',
    auth: 'admin',
    body: createKeySchema,
    answers: {
      201: {
        description: 'The key',
        json: keyCreatedSchema,
        links: { revoke: { operationId: 'revokeKey', parameters: { id: '$response.body#/key_id' }, description: 'revoke the key' } },
      },
    },
  }),
  revoke: operation({
    method: 'delete',
    path: '/keys/{id}',
    operationId: 'revokeKey',
    tag: 'Keys',
    summary: 'Revoke an admin key: it stops working at once',
    auth: 'admin',
    params: z.object({ id: z.string() }),
    answers: { 204: { description: 'Revoked' } },
    errors: { 404: ['key_not_found'] },
  }),
};

/** The caller's tenant's admin keys. A new key is in the answer once; only its hash is kept. */
export function keyRoutes(deps: AppDeps) {
  return new Hono<AppEnv>()
    .get('/', async (c) => c.json({ keys: await listApiKeys(deps.db, c.get('tenantId')) }))
    .post('/', async (c) => {
      const { label } = await jsonBody(c, keyOperations.create.body);
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
