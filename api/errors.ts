import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
}

/** An HTTP error with Berth's JSON shape `{error:{code, message, field?}}`. */
export function apiError(
  status: ContentfulStatusCode,
  code: string,
  message: string,
  options: { field?: string | undefined; headers?: Record<string, string> } = {},
): HTTPException {
  const body: ApiErrorBody = { error: { code, message, ...(options.field !== undefined && { field: options.field }) } };
  const res = new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8', ...options.headers },
  });
  return new HTTPException(status, { res, message });
}

export function notFoundHandler(c: Context): Response {
  return apiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`).getResponse();
}
