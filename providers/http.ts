import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from './types.js';

/** What a provider's error body says, in its own words. */
export interface ProviderFault {
  code: string;
  message: string;
}

/** One exchange with a provider's API; each attempt of a retried call is one (so 429s show). */
export interface ProviderCall {
  provider: string;
  method: string;
  /** The path with its ids as `{id}` (`/servers/{id}`): a bounded label, never a raw URL. */
  endpoint: string;
  /** The HTTP status, or `error` when no answer came (timeout, network, cancel). */
  status: string;
  seconds: number;
}

/** Told of every provider call: the API and the worker count them in their metrics. */
export type ProviderCallObserver = (call: ProviderCall) => void;

export interface HttpClientOptions {
  /** For messages: "hetzner", "digitalocean". */
  provider: string;
  baseUrl: string;
  token: string;
  /** Reads the provider's error body; `undefined` when it is not in the provider's format. */
  parseError: (body: unknown) => ProviderFault | undefined;
  /** Per request (default 30 s). A POST that runs out of time is ambiguous: it may have happened. */
  timeoutMs?: number;
  /** Attempts for one call on 429, and on 5xx or network errors for safe methods (default 5). */
  maxAttempts?: number;
  /** Longest single wait on a rate limit (default 60 s); beyond it the caller's retry takes over. */
  maxWaitMs?: number;
  /** First backoff after a 5xx or network error (default 500 ms), doubled each time. */
  backoffMs?: number;
  observer?: ProviderCallObserver | undefined;
}

/** What every cloud adapter is built with. */
export interface CloudProviderOptions {
  token: string;
  /** The API root the spec's paths go under; default: the provider's public API. */
  baseUrl?: string | undefined;
  /** Client settings; tests shorten timeouts. */
  http?: Partial<Pick<HttpClientOptions, 'timeoutMs' | 'maxAttempts' | 'maxWaitMs' | 'backoffMs' | 'observer'>> | undefined;
  /** First wait between polls of an action (default 1 s), growing to 10 s. */
  pollIntervalMs?: number | undefined;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  signal?: AbortSignal | undefined;
}

/** 429 and 5xx happen before or instead of the work; a safe method can always be sent again. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'DELETE']);

/**
 * A JSON client for one provider account: bearer auth, a timeout per request, waits out rate
 * limits as the provider asks (`Retry-After`, `RateLimit-Reset`), retries safe methods on 5xx and
 * network errors with backoff, and turns every failure into a ProviderError that says whether
 * retrying can help. The token never appears in an error.
 */
export class ProviderHttpClient {
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxWaitMs: number;
  private readonly backoffMs: number;

  constructor(private readonly options: HttpClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
    this.backoffMs = options.backoffMs ?? 500;
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, options);
  }

  delete<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, options);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const endpoint = endpointTemplate(path);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.maxAttempts;
      const started = performance.now();
      const observe = (status: string) => this.observe({ provider: this.options.provider, method, endpoint, status, seconds: (performance.now() - started) / 1000 });
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(options.body !== undefined && { 'content-type': 'application/json' }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: this.signal(options.signal),
        });
      } catch (err) {
        observe('error');
        if (options.signal?.aborted) throw err;
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        const what = timedOut ? `no answer within ${this.timeoutMs} ms` : `could not reach the API (${causeOf(err)})`;
        if (last || !SAFE_METHODS.has(method)) throw this.error(`${method} ${path}: ${what}`, timedOut ? 'timeout' : 'network_error', true);
        await this.pause(this.backoff(attempt), options.signal);
        continue;
      }

      const text = await res.text();
      observe(String(res.status));
      const body = text === '' ? undefined : parseJson(text);
      if (res.ok) return body as T;

      const fault = this.options.parseError(body);
      const message = fault?.message ?? `HTTP ${res.status}${text ? `: ${text.slice(0, 500)}` : ''}`;
      if (res.status === 429) {
        const waitMs = rateLimitWait(res.headers);
        if (last || waitMs > this.maxWaitMs) {
          throw this.error(`${method} ${path}: rate limited: ${message}`, fault?.code ?? 'rate_limited', true, waitMs);
        }
        await this.pause(waitMs, options.signal);
        continue;
      }
      if (res.status >= 500) {
        if (last || !SAFE_METHODS.has(method)) throw this.error(`${method} ${path}: ${message}`, fault?.code ?? 'server_error', true);
        await this.pause(this.backoff(attempt), options.signal);
        continue;
      }
      // Providers also answer 403 for things other than the token (Hetzner: a type sold out).
      if (res.status === 401 || (res.status === 403 && (fault === undefined || fault.code === 'forbidden'))) {
        throw this.error(`the ${this.options.provider} token was refused: ${message}`, fault?.code ?? 'unauthorized', false, undefined, res.status);
      }
      throw this.error(`${method} ${path}: ${message}`, fault?.code ?? (res.status === 404 ? 'not_found' : 'invalid_input'), false, undefined, res.status);
    }
  }

  private observe(call: ProviderCall): void {
    try {
      this.options.observer?.(call);
    } catch {
      // Counting a call must never fail it.
    }
  }

  private url(path: string, query: RequestOptions['query']): string {
    const url = new URL(this.options.baseUrl.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url.toString();
  }

  private signal(caller: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return caller ? AbortSignal.any([caller, timeout]) : timeout;
  }

  private backoff(attempt: number): number {
    const base = this.backoffMs * 2 ** (attempt - 1);
    return base / 2 + Math.random() * (base / 2);
  }

  private pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return sleep(ms, undefined, { signal });
  }

  private error(message: string, code: string, retryable: boolean, retryAfterMs?: number, status?: number): ProviderError {
    const safe = message.split(this.options.token).join('[token]');
    return new ProviderError(`${this.options.provider}: ${safe}`, code, retryable, retryAfterMs, status);
  }
}

/**
 * The path with every segment that is not a plain word (`servers`, `ssh_keys`, `v2`) as `{id}`:
 * server and action numbers, droplet ids, key fingerprints, firewall uuids.
 */
export function endpointTemplate(path: string): string {
  return path
    .split('/')
    .map((segment) => (segment === '' || /^[a-z_]+$/.test(segment) || /^v\d+$/.test(segment) ? segment : '{id}'))
    .join('/');
}

/** `Retry-After` (seconds) wins; else `RateLimit-Reset` (Unix time); else one second. */
export function rateLimitWait(headers: Headers, now = Date.now()): number {
  const retryAfter = Number(headers.get('retry-after'));
  if (headers.has('retry-after') && Number.isFinite(retryAfter)) return Math.max(0, retryAfter * 1000);
  const reset = Number(headers.get('ratelimit-reset'));
  if (headers.has('ratelimit-reset') && Number.isFinite(reset)) return Math.max(0, reset * 1000 - now);
  return 1000;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
