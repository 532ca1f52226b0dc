// The OpenAPI 3.1 document, generated from the operations the routes declare (api/contract.ts) and
// the zod schemas they validate with, by zod's own JSON Schema output (draft 2020-12, the dialect
// of OpenAPI 3.1). Request schemas are written as the input they accept, answers as their output.
import { z } from 'zod';
import { errorSchema } from './answers.js';
import { API_BASE, ERROR_CODES, errorAnswers, fullPath, pathPattern, type Answer, type ErrorAnswer, type HeaderDoc, type Operation } from './contract.js';
import { docsOperations } from './docs.js';
import { budgetOperations } from './routes/budget.js';
import { healthOperations } from './routes/health.js';
import { heartbeatOperations } from './routes/heartbeat.js';
import { jobOperations } from './routes/jobs.js';
import { keyOperations } from './routes/keys.js';
import { metricsOperations } from './routes/metrics.js';
import { nodeOperations } from './routes/nodes.js';
import { poolOperations } from './routes/pools.js';
import { providerOperations } from './routes/providers.js';
import { registerOperations } from './routes/register.js';
import { tenantOperations } from './routes/tenants.js';

/** Every operation the API serves, in the order the reference shows them. */
export const OPERATIONS: readonly Operation[] = [
  ...Object.values(nodeOperations),
  ...Object.values(jobOperations),
  ...Object.values(poolOperations),
  ...Object.values(providerOperations),
  ...Object.values(budgetOperations),
  ...Object.values(registerOperations),
  ...Object.values(heartbeatOperations),
  ...Object.values(keyOperations),
  ...Object.values(tenantOperations),
  ...Object.values(healthOperations),
  ...Object.values(metricsOperations),
  ...Object.values(docsOperations),
];

const patterns = OPERATIONS.map((op) => ({ op, pattern: pathPattern(op) }));

/** The operations at a path, whatever their method. */
export const operationsAt = (path: string): Operation[] => patterns.filter((p) => p.pattern.test(path)).map((p) => p.op);

type Json = Record<string, unknown>;
type Io = 'input' | 'output';

const TAGS = [
  { name: 'Nodes', description: 'Ask for nodes (one provision job each) and tear them down.' },
  { name: 'Jobs', description: 'Provision jobs: their phases, progress, events, and cancel.' },
  { name: 'Pools', description: 'Node pools: groups of identical nodes kept between a minimum and a maximum by a reconciler.' },
  { name: 'Providers', description: "Cloud accounts (tokens are checked, sealed and never shown again) and the providers' catalogues." },
  { name: 'Budget', description: "The tenant's monthly budget." },
  { name: 'Node agent', description: "What VMs call: the registration callback and the node agent's heartbeat." },
  { name: 'Keys', description: "The tenant's admin keys." },
  { name: 'Tenants', description: 'Tenants (operator only).' },
  { name: 'Health', description: 'Liveness of the API, its database and Temporal, and its metrics.' },
  { name: 'Reference', description: 'This document and its reference page.' },
];

const DESCRIPTION = `Berth adds nodes to a cluster by creating cloud VMs: each node is one durable Temporal workflow.

Every route needs \`Authorization: Bearer <admin token>\` (the \`adminBearer\` scheme) unless it says otherwise: the VM's registration callback carries its one-time token in the body, and the node agent's heartbeat authenticates with its node credential (\`nodeCredential\`).

Errors are always JSON: \`{"error":{"code":"unknown_plan","message":"...","field":"plan"}}\`. Each answer below lists its codes. A refused request creates nothing. Bodies over 64 KiB (4 KiB on the heartbeat route) are answered 413 and the connection is closed. A path that does not exist is a 404 (\`not_found\`); a method a path does not have is a 405 (\`method_not_allowed\`) with \`Allow\` listing its methods.`;

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed input',
  401: 'Not authenticated',
  402: 'Over budget',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  422: 'Refused',
  429: 'Too many failures',
  502: 'Provider error',
  503: 'Unavailable, retry later',
};

const idOf = (schema: z.ZodType): string | undefined => z.globalRegistry.get(schema)?.id as string | undefined;

function componentId(schema: z.ZodType, what: string): string {
  const id = idOf(schema);
  if (!id) throw new Error(`${what}: its schema needs an id, .meta({ id: 'Name' }), to be a component of the OpenAPI document`);
  return id;
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** A schema on its own (a parameter's), without the dialect header. */
function inlineSchema(schema: z.ZodType): Json {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  return json;
}

function parameters(op: Operation): Json[] {
  const out: Json[] = [];
  const add = (where: 'path' | 'query' | 'header', shape: Record<string, z.ZodType> | undefined) => {
    for (const [name, schema] of Object.entries(shape ?? {})) {
      const { description, ...json } = inlineSchema(schema);
      out.push({
        name,
        in: where,
        required: where === 'path' || !schema.safeParse(undefined).success,
        ...(description !== undefined && { description }),
        schema: json,
      });
    }
  };
  add('path', op.params?.shape);
  add('query', op.query?.shape);
  add('header', op.headers?.shape);
  add('header', op.lenientHeaders?.shape);
  return out;
}

function headerDocs(headers: Record<string, HeaderDoc> | undefined): Json | undefined {
  if (!headers) return undefined;
  return Object.fromEntries(Object.entries(headers).map(([name, h]) => [name, { description: h.description, ...(h.required && { required: true }), schema: { type: 'string' } }]));
}

function answerObject(answer: Answer, use: (schema: z.ZodType, what: string) => Json): Json {
  const content: Json = {};
  if (answer.json) content['application/json'] = { schema: use(answer.json, answer.description) };
  if (answer.events) {
    // One event, as OpenAPI 3.2 models Server-Sent Events (`{event, id, data}`, the data a JSON
    // text with its `contentSchema`); in 3.1, without `itemSchema`, a stream's `schema` describes
    // each of its events, as Schemathesis reads it.
    const events = Object.entries(answer.events).map(([event, schema]) => ({
      type: 'object',
      title: event,
      properties: {
        event: { const: event },
        id: { type: 'string' },
        data: { type: 'string', contentMediaType: 'application/json', contentSchema: use(schema, `event ${event}`) },
      },
      required: ['event', 'data'],
    }));
    const list = Object.keys(answer.events)
      .map((e) => `\`${e}\``)
      .join(', ');
    const description = `Server-Sent Events: ${list}, each with its \`data\` as one line of JSON. Comment lines (\`: keepalive\`) keep the stream open.`;
    content['text/event-stream'] = { schema: events.length === 1 ? { ...events[0], description } : { description, oneOf: events } };
  }
  for (const media of answer.media ?? []) content[media] = { schema: { type: media.endsWith('json') ? 'object' : 'string' } };
  const headers = headerDocs(answer.headers);
  return {
    description: answer.description,
    ...(headers && { headers }),
    ...(Object.keys(content).length > 0 && { content }),
    ...(answer.links && { links: answer.links }),
  };
}

function errorObject(status: number, answer: ErrorAnswer, use: (schema: z.ZodType, what: string) => Json): Json {
  const codes = [...answer.codes];
  const shaped = {
    allOf: [ref(componentId(errorSchema, 'the error shape')), { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: codes } } } } }],
  };
  const schema = answer.alsoJson ? { anyOf: [shaped, use(answer.alsoJson, `${status} answer`)] } : shaped;
  const list = codes.map((code) => `\`${code}\`: ${ERROR_CODES[code]}`).join('; ');
  const headers = headerDocs(answer.headers);
  return {
    description: `${answer.description ?? STATUS_TEXT[status] ?? 'Error'}. ${list}.`,
    ...(headers && { headers }),
    content: { 'application/json': { schema } },
  };
}

function security(op: Operation): Json[] {
  if (op.auth === 'admin') return [{ adminBearer: [] }];
  if (op.auth === 'node') return [{ nodeCredential: [] }];
  return [];
}

/**
 * Components from zod's JSON Schema output: request schemas as input, answers as output, each with
 * every component it refers to.
 */
function components(used: Map<string, Io>): Record<string, Json> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const generate = (io: Io) => z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', io, unrepresentable: 'any', uri }).schemas as Record<string, Json>;
  const all = { input: generate('input'), output: generate('output') };
  const chosen = new Map<string, Io>();
  const out: Record<string, Json> = {};
  const visit = (id: string, io: Io) => {
    const previous = chosen.get(id);
    if (previous !== undefined) {
      if (previous !== io && JSON.stringify(all[previous][id]) !== JSON.stringify(all[io][id])) {
        throw new Error(`schema ${id} is used both as a request and as an answer, and reads differently as each: give them two ids`);
      }
      return;
    }
    chosen.set(id, io);
    const { $schema: _dialect, $id: _id, ...json } = all[io][id]!;
    out[id] = json;
    JSON.stringify(json, (key, value: unknown) => {
      if (key === '$ref' && typeof value === 'string' && value.startsWith(uri(''))) visit(value.slice(uri('').length), io);
      return value;
    });
  };
  for (const [id, io] of used) visit(id, io);
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((id) => [id, out[id]!]),
  );
}

/** Builds the document; `openApiDocument()` keeps the one built. */
export function buildOpenApiDocument(): Json {
  const used = new Map<string, Io>();
  const use = (io: Io) => (schema: z.ZodType, what: string) => {
    const id = componentId(schema, what);
    used.set(id, used.get(id) === 'input' ? 'input' : io);
    return ref(id);
  };
  used.set(componentId(errorSchema, 'the error shape'), 'output');

  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  for (const op of OPERATIONS) {
    if (operationIds.has(op.operationId)) throw new Error(`operationId ${op.operationId} is used twice`);
    operationIds.add(op.operationId);
    const responses: Record<string, Json> = {};
    for (const [status, answer] of Object.entries(op.answers)) responses[status] = answerObject(answer, use('output'));
    for (const [status, answer] of Object.entries(errorAnswers(op))) responses[status] = errorObject(Number(status), answer, use('output'));
    const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
    const params = parameters(op);
    const limit = op.body !== undefined ? ` The body may be at most ${(op.maxBodyBytes ?? 64 * 1024) / 1024} KiB.` : '';
    const description = `${op.description ?? ''}${limit}`.trim();
    const path = fullPath(op);
    paths[path] ??= {};
    paths[path][op.method] = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(description && { description }),
      security: security(op),
      ...(params.length > 0 && { parameters: params }),
      ...(op.body !== undefined && {
        requestBody: { required: true, content: { 'application/json': { schema: use('input')(op.body, `${op.operationId} body`) } } },
      }),
      responses: sorted,
    };
  }

  return {
    openapi: '3.1.0',
    info: { title: 'Berth API', version: '1', description: DESCRIPTION },
    servers: [{ url: '/', description: `this Berth (the API is under ${API_BASE})` }],
    tags: TAGS,
    security: [{ adminBearer: [] }],
    paths,
    components: {
      schemas: components(used),
      securitySchemes: {
        adminBearer: {
          type: 'http',
          scheme: 'bearer',
          description: "A tenant's admin token: `npm start` prints the default tenant's; `POST /keys` makes more.",
        },
        nodeCredential: {
          type: 'http',
          scheme: 'bearer',
          description: "The node agent's credential (`node_token` in the registration answer), for its own node's heartbeat route only.",
        },
      },
    },
  };
}

let built: Json | undefined;

/** The document (built once). */
export function openApiDocument(): Json {
  built ??= buildOpenApiDocument();
  return built;
}
