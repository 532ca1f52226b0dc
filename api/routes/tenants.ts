import { Hono } from 'hono';
import { z } from 'zod';
import { TIER_NAMES } from '../../db/tiers.js';
import { createApiKey, createTenant, DEFAULT_TENANT_ID, listTenants, TENANT_ID_PATTERN } from '../../db/tenants.js';
import { tenantCreatedSchema, tenantListSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { jsonBody } from '../validate.js';

const createTenantSchema = z
  .strictObject({
    tenant_id: z.string().regex(TENANT_ID_PATTERN, 'lowercase letters, digits and dashes, at most 63'),
    name: z.string().min(1).max(200).optional(),
    tier: z.enum(TIER_NAMES),
  })
  .meta({ id: 'TenantRequest', examples: [{ tenant_id: 'acme', tier: 'team', name: 'Acme Inc' }] });

export const tenantOperations = {
  list: operation({
    method: 'get',
    path: '/tenants',
    operationId: 'listTenants',
    tag: 'Tenants',
    summary: 'The tenants (operator only: the default tenant’s admin)',
    auth: 'admin',
    answers: { 200: { description: 'The tenants', json: tenantListSchema } },
    errors: { 403: ['operator_only'] },
  }),
  create: operation({
    method: 'post',
    path: '/tenants',
    operationId: 'createTenant',
    tag: 'Tenants',
    summary: 'A new tenant with its first admin key (operator only)',
    auth: 'admin',
    body: createTenantSchema,
    answers: { 201: { description: 'The tenant and its first key, shown once', json: tenantCreatedSchema } },
    errors: { 403: ['operator_only'], 409: ['tenant_exists'] },
  }),
};

/** Tenants are managed by the operator: the admin of the default tenant. */
export function tenantRoutes(deps: AppDeps) {
  return new Hono<AppEnv>()
    .use(async function operatorOnly(c, next) {
      if (c.get('tenantId') !== DEFAULT_TENANT_ID) throw apiError(403, 'operator_only', 'only the operator (the default tenant) manages tenants');
      await next();
    })
    .get('/', async (c) => {
      const tenants = await listTenants(deps.db);
      return c.json({ tenants: tenants.map((t) => ({ tenant_id: t.tenant_id, name: t.name, tier: t.tier, created_at: t.created_at })) });
    })
    .post('/', async (c) => {
      const body = await jsonBody(c, tenantOperations.create.body);
      if (!(await createTenant(deps.db, body.tenant_id, body.name ?? body.tenant_id, body.tier))) {
        throw apiError(409, 'tenant_exists', `tenant ${body.tenant_id} exists already`, { field: 'tenant_id' });
      }
      // The tenant's first admin key, shown once.
      const { keyId, key } = await createApiKey(deps.db, body.tenant_id, 'first admin key');
      return c.json({ tenant_id: body.tenant_id, tier: body.tier, key_id: keyId, key }, 201);
    });
}
