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

/**
 * 413 for a body over `maxBytes`, answered before the body is read. It closes the connection: the
 * server would otherwise have to discard the unread rest of the body and may drop the socket while
 * doing so, under a keep-alive client's next request.
 */
export function payloadTooLarge(maxBytes: number): Response {
  return apiError(413, 'payload_too_large', `the request body is larger than ${maxBytes} bytes`, { headers: { Connection: 'close' } }).getResponse();
}
