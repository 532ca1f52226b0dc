// The API's contract, as data: every route declares its operation here (method, path, auth, the
// zod schemas it validates with, every status it can answer and the error codes of each), and the
// route handlers validate with those very schema objects. `api/openapi.ts` turns the operations
// into the OpenAPI document; a test checks that the document and the app have the same routes.
import type { z } from 'zod';

export const API_BASE = '/cp/api/v1';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call: `admin` (the tenant's admin bearer token), `node` (the node agent's credential as a
 * bearer token), `public` (no Authorization; the register route's token is in its body).
 */
export type Auth = 'admin' | 'node' | 'public';

/** Every error code the API answers with, and what it means. */
export const ERROR_CODES = {
  invalid_json: 'the body is not JSON, or not a JSON object',
  invalid_request: 'a field, query parameter or header is missing, unknown or malformed; `field` names it',
  unauthorized: 'no admin bearer token, or not a valid one',
  invalid_token: 'the registration token is unknown, used, revoked or expired (one answer for all)',
  invalid_credentials: 'the node credential is not valid for this node (one answer for every case)',
  plan_required: "the tenant's tier cannot provision",
  operator_only: 'only the operator (the default tenant) manages tenants',
  budget_exceeded: "the node's monthly price would exceed the tenant's budget",
  not_found: 'no such route',
  method_not_allowed: 'the route has no such method; `Allow` lists its methods',
  job_not_found: 'no such job for this tenant',
  node_not_found: 'no such node for this tenant',
  pool_not_found: 'no such pool for this tenant',
  key_not_found: 'no such live key for this tenant',
  unknown_provider: 'no such provider',
  credential_not_found: 'no token is stored for this provider',
  node_cap_reached: "the tenant's tier allows no more nodes",
  job_finished: 'the job has already ended',
  job_not_waiting: 'the job is not waiting for this node (it ended, or the node is no longer ready)',
  credential_in_use: 'jobs or nodes on this provider still need its token to be torn down',
  pool_exists: 'a pool of this name exists (or is still being deleted)',
  pool_deleting: 'the pool is being deleted',
  pool_changed: 'the pool changed while this request was made: read it again and retry',
  tenant_exists: 'a tenant of this id exists',
  payload_too_large: 'the body is larger than the route accepts; the connection is closed after the answer',
  unknown_region: 'the provider has no such region',
  unknown_plan: 'the provider offers no such plan in the region',
  unsupported_option: 'the provider cannot combine these options',
  provider_not_configured: 'no token is stored for this cloud: verify one first',
  provider_token_invalid: 'the provider refused the token (the field says which one)',
  idempotency_key_reused: 'this Idempotency-Key was used for a different request',
  no_token_needed: 'this provider needs no token',
  invalid_user_data: 'user_data is neither a cloud-config nor a script',
  user_data_too_large: "with Berth's own parts the user-data is larger than the provider accepts",
  too_many_attempts: 'too many failures from this address; retry after Retry-After seconds',
  provider_error: 'the provider answered with an error',
  provider_unavailable: 'the provider is busy or unreachable; retry after Retry-After seconds',
  temporal_unavailable: 'Temporal is not reachable; retry later',
  registration_not_delivered: 'the registration could not be handed to its job yet; retry after Retry-After seconds',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A response header the answer carries. */
export interface HeaderDoc {
  description: string;
  /** Present on every answer of this status. */
  required?: boolean;
}

/** A successful (or non-error) answer. */
export interface Answer {
  description: string;
  /** A JSON body, validated in the tests against every real answer. */
  json?: z.ZodType;
  /** Server-Sent Events: event name → the schema of its `data` (JSON). */
  events?: Record<string, z.ZodType>;
  /** Another media type (HTML, CSS, JavaScript), not described further. */
  media?: string[];
  headers?: Record<string, HeaderDoc>;
  /** Operations this answer leads to, with their parameters as runtime expressions (`$response.body#/job_id`). */
  links?: Record<string, Link>;
}

export interface Link {
  operationId: string;
  parameters: Record<string, string>;
  description: string;
}

/** An error status: the codes it comes with (`{error:{code, message, field?}}`). */
export interface ErrorAnswer {
  codes: readonly ErrorCode[];
  description?: string;
  headers?: Record<string, HeaderDoc>;
  /** A body other than the error shape that this status may also carry (e.g. a refused token). */
  alsoJson?: z.ZodType;
}

export interface Operation {
  method: HttpMethod;
  /** OpenAPI style (`/cluster/jobs/{id}`), under API_BASE unless `root`. */
  path: string;
  /** The path is at the server's root (`/healthz`), not under API_BASE. */
  root?: boolean;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  /** Path parameters. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the route validates (Authorization apart): a bad one is a 400. */
  headers?: z.ZodObject;
  /** Request headers the route reads but never refuses (a bad value is ignored). */
  lenientHeaders?: z.ZodObject;
  /** The JSON body. */
  body?: z.ZodType;
  /** The body limit when it is not the API's 64 KiB. */
  maxBodyBytes?: number;
  /** Non-error answers by status. */
  answers: Record<number, Answer>;
  /**
   * Error statuses and their codes. 400 (bad input), 401 (auth) and 413 (a body over the limit) are
   * added from `auth`, `body`, `query`, `headers`; list them only for other codes.
   */
  errors?: Record<number, ErrorAnswer | readonly ErrorCode[]>;
}

/** Declares an operation; the literal type is kept, so routes read `op.body` with its type. */
export const operation = <const O extends Operation>(op: O): O => op;

/** The operation's path as the app serves it. */
export const fullPath = (op: Operation): string => (op.root ? op.path : `${API_BASE}${op.path}`);

/** A matcher of the paths an operation serves (`{id}` is one path segment). */
export const pathPattern = (op: Operation): RegExp =>
  new RegExp(
    `^${fullPath(op)
      .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
      .replace(/\{[^}]+\}/g, '[^/]+')}$`,
  );

/** Every error status the operation can answer, the added ones included, with their codes. */
export function errorAnswers(op: Operation): Record<number, ErrorAnswer> {
  const out: Record<number, ErrorAnswer> = {};
  const add = (status: number, codes: readonly ErrorCode[], extra: Omit<ErrorAnswer, 'codes'> = {}) => {
    const current = out[status];
    out[status] = { ...extra, ...current, codes: [...new Set([...(current?.codes ?? []), ...codes])] };
  };
  const validates = op.body !== undefined || op.query !== undefined || op.headers !== undefined;
  if (validates) add(400, op.body !== undefined ? ['invalid_json', 'invalid_request'] : ['invalid_request']);
  if (op.auth === 'admin') {
    add(401, ['unauthorized'], { headers: { 'WWW-Authenticate': { description: 'Bearer realm="berth"', required: true } } });
  }
  if (op.body !== undefined) add(413, ['payload_too_large'], { headers: { Connection: { description: 'close', required: true } } });
  for (const [status, answer] of Object.entries(op.errors ?? {})) {
    const full = Array.isArray(answer) ? { codes: answer as readonly ErrorCode[] } : (answer as ErrorAnswer);
    const { codes, ...extra } = full;
    add(Number(status), codes, extra);
  }
  return out;
}
