// The API over HTTP with fetch: JSON requests, errors turned into one readable line, and
// Server-Sent Events read as they come (reconnecting with Last-Event-ID when a stream drops).
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, CliError, NetworkError, UnauthorizedError } from './errors.js';
import type { Target } from './config.js';

export const API_BASE = '/cp/api/v1';
const REQUEST_TIMEOUT_MS = 60_000;
/** How long a dropped event stream is retried before giving up. */
const RECONNECT_FOR_MS = 60_000;
/** What the API accepts after `Bearer ` (api/admin-auth.ts). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]+$/;

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export function checkToken(token: string): void {
  // Never quote it: a token in the wrong variable is still a secret.
  if (!TOKEN_PATTERN.test(token))
    throw new CliError('the token has characters a Berth token cannot have (letters, digits and ._~+/=- only); check BERTH_TOKEN or run `berth login` again');
}

export class Client {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(target: Target) {
    this.url = target.url;
    this.#token = target.token;
  }

  async get<T = unknown>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { ...(query && { query }) });
  }

  /** One call; the parsed JSON answer (undefined for an empty one), or a CliError. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.#send(method, path, options, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.#networkError(err);
    }
    if (!res.ok) throw this.#failure(res, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${this.url} answered ${method} ${path} with something that is not JSON; is it a Berth API?`);
    }
  }

  /**
   * The events of an SSE route, as they come. A stream that drops is opened again where it
   * stopped (Last-Event-ID); the caller ends it by leaving its loop or with `signal`.
   */
  async *events(path: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
    let lastEventId: string | undefined;
    let failingSince: number | undefined;
    for (;;) {
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        let res: Response;
        try {
          res = await this.#send('GET', path, { headers: { accept: 'text/event-stream', ...(lastEventId !== undefined && { 'Last-Event-ID': lastEventId }) } }, controller.signal);
        } catch (err) {
          // The first connection fails at once; a reconnection keeps trying for a while.
          if (signal?.aborted || failingSince === undefined || Date.now() - failingSince > RECONNECT_FOR_MS) throw err;
          await sleep(1_000, undefined, { signal });
          continue;
        }
        if (!res.ok) throw this.#failure(res, await res.text());
        if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new CliError(`${this.url} did not answer ${path} with an event stream`);
        failingSince = undefined;
        try {
          for await (const event of parseSse(res.body!)) {
            if (event.id !== undefined) lastEventId = event.id;
            yield event;
          }
        } catch (err) {
          if (signal?.aborted) throw err;
          // The connection broke mid-stream: open it again below.
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
        controller.abort();
      }
      // The stream ended without the caller leaving: the server went away. Reconnect for a while.
      failingSince ??= Date.now();
      await sleep(1_000, undefined, { signal });
    }
  }

  async #send(method: string, path: string, options: RequestOptions, signal: AbortSignal): Promise<Response> {
    if (!this.#token) {
      throw new CliError('no admin token: run `berth login` (or set BERTH_TOKEN); `npm start` printed one and keeps it in data/secrets/admin-token');
    }
    checkToken(this.#token);
    const url = new URL(`${this.url}${API_BASE}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    try {
      return await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(options.body !== undefined && { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
        signal,
      });
    } catch (err) {
      throw this.#networkError(err);
    }
  }

  #failure(res: Response, text: string): CliError {
    if (res.status === 401) {
      return new UnauthorizedError(`the token is refused by ${this.url} (401 unauthorized); run \`berth login\` with a valid admin key, or set BERTH_TOKEN`);
    }
    let body: { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      // not the API's error shape
    }
    const error = body?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const retry = res.status === 503 && res.headers.get('retry-after');
      const message = retry && !/retry/i.test(error.message) ? `${error.message}; retry in ${retry}s` : error.message;
      return new ApiError(res.status, error.code, message, typeof error.field === 'string' ? error.field : undefined);
    }
    return new CliError(`${this.url} answered ${res.status} ${res.statusText}; is it a Berth API?`);
  }

  #networkError(err: unknown): Error {
    if (err instanceof CliError) return err;
    const e = err as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
    if (e?.name === 'TimeoutError') return new NetworkError(`${this.url} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`);
    if (e?.name === 'AbortError') return e; // stopped on purpose (Ctrl-C)
    const cause = e?.cause;
    const code: string | undefined = cause?.code ?? cause?.errors?.[0]?.code;
    if (code === 'ECONNREFUSED') {
      return new NetworkError(
        `cannot connect to ${this.url}: connection refused; is Berth running there? (\`npm start\` starts it; BERTH_URL or \`berth login --url\` points elsewhere)`,
      );
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new NetworkError(`cannot connect to ${this.url}: its host name does not resolve`);
    return new NetworkError(`cannot reach ${this.url}: ${cause?.message ?? e?.message ?? String(err)}`);
  }
}

/** Server-Sent Events from a response body: `event`, `data` (lines joined), `id`; comments skipped. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n'), ...(id !== undefined && { id }) };
        event = 'message';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }
}
