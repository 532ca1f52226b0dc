import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { countSlotHoldingJobs } from '../../db/jobs.js';
import { isCloud } from '../../providers/registry.js';
import { PROVIDER_NAMES, ProviderError, type ProviderName } from '../../providers/types.js';
import { planListSchema, providerListSchema, regionListSchema, tokenRefusedSchema, tokenVerifiedSchema } from '../answers.js';
import { operation, type ErrorAnswer, type ErrorCode } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { providerApiError, viaProvider } from '../provider-errors.js';
import { jsonBody, parseOr400 } from '../validate.js';

const tokenSchema = z
  .string()
  .trim()
  .min(8, 'is too short to be a provider token')
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII');
const verifySchema = z.strictObject({ token: tokenSchema.meta({ description: "the provider's API token" }) }).meta({ id: 'ProviderToken' });
const queryToken = tokenSchema.optional().meta({ description: 'a token to use instead of the stored one (prefer the X-Provider-Token header); never logged' });
const plansQuery = z.object({ region: z.string().min(1).max(64), token: queryToken });
const regionsQuery = z.object({ token: queryToken });
const catalogueHeaders = z.object({
  'X-Provider-Token': tokenSchema.optional().meta({ description: 'a token to look at the catalogue with before one is stored (a wizard); never stored' }),
});
const providerParams = z.object({ name: z.enum(PROVIDER_NAMES) });

const catalogueErrors = {
  404: ['unknown_provider'],
  422: ['provider_not_configured', 'provider_token_invalid'],
  502: ['provider_error'],
  503: { codes: ['provider_unavailable'], headers: { 'Retry-After': { description: 'seconds to wait' } } },
} as const satisfies Record<number, ErrorAnswer | readonly ErrorCode[]>;

export const providerOperations = {
  list: operation({
    method: 'get',
    path: '/cluster/providers',
    operationId: 'listProviders',
    tag: 'Providers',
    summary: 'The providers, and which are configured',
    description: 'A cloud is configured once the tenant has stored a verified token; `local` always is.',
    auth: 'admin',
    answers: { 200: { description: 'The providers', json: providerListSchema } },
  }),
  verify: operation({
    method: 'post',
    path: '/cluster/providers/{name}/verify',
    operationId: 'verifyProviderToken',
    tag: 'Providers',
    summary: 'Check a cloud token with the provider and store it sealed for the tenant',
    auth: 'admin',
    params: providerParams,
    body: verifySchema,
    answers: {
      200: {
        description: 'The token works and is stored',
        json: tokenVerifiedSchema,
        links: { forget: { operationId: 'forgetProviderToken', parameters: { name: '$request.path.name' }, description: 'forget the stored token' } },
      },
    },
    errors: {
      404: ['unknown_provider'],
      422: { codes: ['no_token_needed'], description: 'The provider refused the token (`valid: false`, nothing stored), or needs none', alsoJson: tokenRefusedSchema },
      503: catalogueErrors[503],
    },
  }),
  forget: operation({
    method: 'delete',
    path: '/cluster/providers/{name}',
    operationId: 'forgetProviderToken',
    tag: 'Providers',
    summary: "Forget the tenant's stored token for a cloud",
    auth: 'admin',
    params: providerParams,
    answers: { 204: { description: 'Forgotten' } },
    errors: { 404: ['unknown_provider', 'credential_not_found'], 409: ['credential_in_use'] },
  }),
  regions: operation({
    method: 'get',
    path: '/cluster/providers/{name}/regions',
    operationId: 'listRegions',
    tag: 'Providers',
    summary: "The provider's regions",
    auth: 'admin',
    params: providerParams,
    query: regionsQuery,
    headers: catalogueHeaders,
    answers: { 200: { description: 'The regions', json: regionListSchema } },
    errors: catalogueErrors,
  }),
  plans: operation({
    method: 'get',
    path: '/cluster/providers/{name}/plans',
    operationId: 'listPlans',
    tag: 'Providers',
    summary: "The provider's plans in a region, with indicative prices",
    auth: 'admin',
    params: providerParams,
    query: plansQuery,
    headers: catalogueHeaders,
    answers: { 200: { description: 'The plans', json: planListSchema } },
    errors: catalogueErrors,
  }),
};

const PRICE_NOTE = "indicative prices from the provider's catalogue, without taxes where the provider says so; the provider's invoice is authoritative";

function providerParam(c: Context<AppEnv>): ProviderName {
  const name = c.req.param('name') ?? '';
  const parsed = providerParams.shape.name.safeParse(name);
  if (!parsed.success) throw apiError(404, 'unknown_provider', `no provider ${name}; expected hetzner, digitalocean or local`);
  return parsed.data;
}

/** Provider accounts and catalogues, per tenant. Tokens come in, are sealed, and never go out. */
export function providerRoutes(deps: AppDeps) {
  const { db, providers } = deps;

  /**
   * A token from the X-Provider-Token header (or the older ?token=), else the stored one; with the
   * field a refusal names.
   */
  async function catalogueProvider(c: Context<AppEnv>, name: ProviderName, queryToken: string | undefined) {
    const header = c.req.header('X-Provider-Token');
    const token = header !== undefined ? parseOr400(catalogueHeaders.shape['X-Provider-Token'], header, 'X-Provider-Token') : queryToken;
    if (token !== undefined && !providers.isTokenless(name)) {
      return { provider: providers.withToken(name, token), field: header !== undefined ? 'X-Provider-Token' : 'token' };
    }
    return { provider: await viaProvider(() => providers.forTenant(c.get('tenantId'), name), 'provider'), field: 'provider' };
  }

  return new Hono<AppEnv>()
    .get('/providers', async (c) => c.json({ providers: await providers.list(c.get('tenantId')) }))
    .post('/providers/:name/verify', async (c) => {
      const name = providerParam(c);
      const { token } = await jsonBody(c, providerOperations.verify.body);
      if (!isCloud(name) || providers.isTokenless(name)) throw apiError(422, 'no_token_needed', `${name} needs no token`, { field: 'provider' });
      try {
        await providers.withToken(name, token).verify();
      } catch (err) {
        // A busy provider proves nothing either way: 503, retry. A refusal: its reason, nothing stored.
        if (!(err instanceof ProviderError) || err.retryable) throw providerApiError(err, 'token');
        return c.json({ valid: false, provider: name, error: { code: 'invalid_token', message: err.message, field: 'token' } }, 422);
      }
      const stored = await providers.storeToken(c.get('tenantId'), name, token);
      deps.logger.info({ tenantId: c.get('tenantId'), provider: name, fingerprint: stored.fingerprint }, 'provider token verified and stored');
      return c.json({ valid: true, provider: name, fingerprint: stored.fingerprint });
    })
    .delete('/providers/:name', async (c) => {
      const name = providerParam(c);
      const tenantId = c.get('tenantId');
      const inUse = await countSlotHoldingJobs(db, tenantId, name);
      if (inUse > 0) {
        throw apiError(409, 'credential_in_use', `${inUse} ${name} job(s) or node(s) still need this token to be torn down; delete them first`);
      }
      if (!(await providers.forgetToken(tenantId, name))) throw apiError(404, 'credential_not_found', `no ${name} token is stored`);
      return c.body(null, 204);
    })
    .get('/providers/:name/regions', async (c) => {
      const name = providerParam(c);
      const query = parseOr400(providerOperations.regions.query, c.req.query());
      const { provider, field } = await catalogueProvider(c, name, query.token);
      return c.json({ provider: name, regions: await viaProvider(() => provider.regions(), field) });
    })
    .get('/providers/:name/plans', async (c) => {
      const name = providerParam(c);
      const query = parseOr400(providerOperations.plans.query, c.req.query());
      const { provider, field } = await catalogueProvider(c, name, query.token);
      const plans = await viaProvider(() => provider.plans(query.region), field);
      return c.json({ provider: name, region: query.region, indicative: true, note: PRICE_NOTE, plans });
    });
}
