import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { countSlotHoldingJobs } from '../../db/jobs.js';
import { isCloud, isProviderName } from '../../providers/registry.js';
import type { ProviderName } from '../../providers/types.js';
import { ProviderError } from '../../providers/types.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { providerApiError, viaProvider } from '../provider-errors.js';
import { jsonBody, parseOr400 } from '../validate.js';

const tokenSchema = z.string().trim().min(8, 'is too short to be a provider token').max(512).regex(/^[\x21-\x7e]+$/, 'must be visible ASCII');
const verifySchema = z.strictObject({ token: tokenSchema });
const plansQuery = z.object({ region: z.string().min(1).max(64), token: tokenSchema.optional() });
const regionsQuery = z.object({ token: tokenSchema.optional() });

const PRICE_NOTE = "indicative prices from the provider's catalogue, without taxes where the provider says so; the provider's invoice is authoritative";

function providerParam(c: Context<AppEnv>): ProviderName {
  const name = c.req.param('name') ?? '';
  if (!isProviderName(name)) throw apiError(404, 'unknown_provider', `no provider ${name}; expected hetzner, digitalocean or local`);
  return name;
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
    const token = header !== undefined ? parseOr400(tokenSchema, header, 'X-Provider-Token') : queryToken;
    if (token !== undefined && !providers.isTokenless(name)) {
      return { provider: providers.withToken(name, token), field: header !== undefined ? 'X-Provider-Token' : 'token' };
    }
    return { provider: await viaProvider(() => providers.forTenant(c.get('tenantId'), name), 'provider'), field: 'provider' };
  }

  return new Hono<AppEnv>()
    .get('/providers', async (c) => c.json({ providers: await providers.list(c.get('tenantId')) }))
    .post('/providers/:name/verify', async (c) => {
      const name = providerParam(c);
      const { token } = await jsonBody(c, verifySchema);
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
      const query = parseOr400(regionsQuery, c.req.query());
      const { provider, field } = await catalogueProvider(c, name, query.token);
      return c.json({ provider: name, regions: await viaProvider(() => provider.regions(), field) });
    })
    .get('/providers/:name/plans', async (c) => {
      const name = providerParam(c);
      const query = parseOr400(plansQuery, c.req.query());
      const { provider, field } = await catalogueProvider(c, name, query.token);
      const plans = await viaProvider(() => provider.plans(query.region), field);
      return c.json({ provider: name, region: query.region, indicative: true, note: PRICE_NOTE, plans });
    });
}
