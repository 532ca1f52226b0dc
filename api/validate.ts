import type { Context } from 'hono';
import type { z } from 'zod';
import { apiError } from './errors.js';

/** The field a zod issue is about, as a dotted path (`labels.team`), or the unknown key. */
function issueField(issue: z.core.$ZodIssue, base: string | undefined): string | undefined {
  const path = [...(base === undefined ? [] : [base]), ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  return path.length > 0 ? path.join('.') : undefined;
}

function issueMessage(issue: z.core.$ZodIssue, field: string | undefined): string {
  if (issue.code === 'unrecognized_keys') return `unknown field ${field}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field} is required`;
  return field ? `${field}: ${issue.message}` : issue.message;
}

/** Parses a value with a schema; the first problem becomes a 400 naming its field (under `base`). */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, base?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issueField(issue, base);
  throw apiError(400, 'invalid_request', issueMessage(issue, field), { field });
}

/** Reads a JSON object body: 400 when it is not JSON or not an object, then validated by the schema. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw apiError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw apiError(400, 'invalid_json', 'the request body must be a JSON object');
  }
  return parseOr400(schema, body);
}
