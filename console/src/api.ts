// The API client: same origin, the admin key as a bearer token, errors as ApiError with the
// API's code, message and field. A 401 on any call signs the user out with a reason.
import { adminKey, signOut } from './auth.js';
import type { ConsoleConfig } from './types.js';

export const API = '/cp/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** The key to try instead of the stored one (sign-in). */
  key?: string;
  /** A refusal of this call is an answer in its own right, not an expired session. */
  allow401?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const key = options.key ?? adminKey.get();
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (key) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${API}${path}`, {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      cache: 'no-store',
      credentials: 'omit',
      signal: options.signal ?? null,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Berth did not answer. Check that it is running, then try again.');
  }
  const text = await res.text();
  let body: { error?: { code?: unknown; message?: unknown; field?: string } } | undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (res.ok) return body as T;
  if (res.status === 401 && !options.allow401 && options.key === undefined) {
    signOut('Your admin key is no longer accepted. Sign in again.');
  }
  const error = body?.error;
  if (error && typeof error === 'object') {
    throw new ApiError(res.status, String(error.code ?? 'error'), String(error.message ?? `HTTP ${res.status}`), error.field, body);
  }
  if (res.status === 503) throw new ApiError(503, 'unavailable', 'Berth is busy or a service it needs is down. Try again in a moment.', undefined, body);
  throw new ApiError(res.status, 'http_error', `The request failed (HTTP ${res.status}).`, undefined, body);
}

export const get = <T>(path: string, options?: RequestOptions) => request<T>('GET', path, options);
export const post = <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('POST', path, { ...options, body });

/** A message for a person: the API's own words, or what happened. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

let config: Promise<ConsoleConfig> | undefined;
/** Where the Temporal Web UI is (public, served next to the console). */
export function consoleConfig(): Promise<ConsoleConfig> {
  config ??= fetch('/console-config.json', { cache: 'no-store' })
    .then((r) => (r.ok ? (r.json() as Promise<ConsoleConfig>) : { temporalUiUrl: null, namespace: 'default' }))
    .catch(() => ({ temporalUiUrl: null, namespace: 'default' }));
  return config;
}

export function workflowUrl(config: ConsoleConfig | null, workflowId: string): string | null {
  if (!config?.temporalUiUrl) return null;
  return `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export const provisionWorkflowId = (jobId: string) => `provision-${jobId}`;
