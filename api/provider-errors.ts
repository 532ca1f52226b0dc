import { ProviderError } from '../providers/types.js';
import { apiError } from './errors.js';

const AUTH_CODES = new Set(['unauthorized', 'forbidden', 'token_readonly']);

const isAuthFailure = (err: ProviderError) => AUTH_CODES.has(err.code) || err.status === 401;

/**
 * A provider call the API made on the operator's behalf failed: a refused token names the field
 * it came from, a busy or unreachable provider is a 503 to retry, anything else a 502.
 */
export function providerApiError(err: unknown, tokenField: string, providerField = 'provider') {
  if (!(err instanceof ProviderError)) return err;
  if (err.code === 'no_credentials') return apiError(422, 'provider_not_configured', err.message, { field: providerField });
  if (isAuthFailure(err)) return apiError(422, 'provider_token_invalid', err.message, { field: tokenField });
  if (err.retryable) {
    const seconds = String(Math.max(1, Math.ceil((err.retryAfterMs ?? 5_000) / 1000)));
    return apiError(503, 'provider_unavailable', `${err.message}; retry later`, { headers: { 'Retry-After': seconds } });
  }
  return apiError(502, 'provider_error', err.message);
}

/** Runs a provider call for the API, mapping its failure. */
export async function viaProvider<T>(call: () => Promise<T>, tokenField = 'token', providerField = 'provider'): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw providerApiError(err, tokenField, providerField);
  }
}
