// Checks real answers against the OpenAPI document: the status must be documented for the route,
// the content type one of its media types, required headers present, and a JSON body (or each
// Server-Sent Event's data) valid against its schema. The shared stack (test/support/stack.ts)
// runs every answer it serves through this, so every suite checks the contract as it goes.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';
import { fullPath, pathPattern, type Operation } from '../../api/contract.js';
import { OPERATIONS, openApiDocument } from '../../api/openapi.js';

// ajv-formats is CommonJS: its function is the module, and its `default` too.
const addFormats = ((ajvFormats as any).default?.default ?? (ajvFormats as any).default ?? ajvFormats) as (ajv: Ajv2020) => unknown;

type Json = Record<string, any>;

const DOC_ID = 'https://berth.invalid/openapi.json';
const document = openApiDocument() as Json;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...document, $id: DOC_ID });

const compiled = new Map<string, ValidateFunction>();
const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

function validatorAt(path: string[]): ValidateFunction {
  const ref = `${DOC_ID}#/${pointer(...path)}`;
  let validate = compiled.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    compiled.set(ref, validate);
  }
  return validate;
}

const matchers = OPERATIONS.map((op) => ({
  op,
  params: (op.path.match(/\{/g) ?? []).length,
  regex: pathPattern(op),
}));

/** The operation that serves this method and path (a static path wins over a parameter). */
export function findOperation(method: string, path: string): Operation | undefined {
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  const candidates = matchers.filter((x) => x.op.method === m && x.regex.test(path)).sort((a, b) => a.params - b.params);
  return candidates[0]?.op;
}

const isApiPath = (path: string) => path === '/healthz' || path === '/metrics' || path.startsWith('/cp/api/');

/**
 * What an unknown route answers: 404 (405 with `Allow` for a known path), or 401 before that
 * without a token, or 413 for a huge body.
 */
const UNKNOWN_ROUTE_CODES: Record<number, string[]> = {
  404: ['not_found'],
  405: ['method_not_allowed'],
  401: ['unauthorized'],
  413: ['payload_too_large'],
};

const errorValidator = () => validatorAt(['components', 'schemas', 'Error']);

function formatErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`)
    .join('; ');
}

export interface Answer {
  method: string;
  /** The request path, with or without a query string. */
  path: string;
  status: number;
  /** The body as text ('' for none). */
  text: string;
  headers: Headers;
}

/** Parses a Server-Sent Events text into its events (comments and retry lines apart). */
export function parseEvents(text: string): { event: string; data: string; id?: string }[] {
  const events: { event: string; data: string; id?: string }[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (data.length > 0) events.push({ event, data: data.join('\n'), ...(id !== undefined && { id }) });
  }
  return events;
}

/** The problems with one answer; empty when it keeps the contract. */
export function contractProblems(answer: Answer): string[] {
  const path = answer.path.split('?')[0]!;
  if (!isApiPath(path)) return [];
  const what = `${answer.method} ${path} → ${answer.status}`;
  const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const head = answer.method.toUpperCase() === 'HEAD';
  const op = findOperation(answer.method, path);

  if (!op) {
    const codes = UNKNOWN_ROUTE_CODES[answer.status];
    if (!codes) return [`${what}: no operation serves this route, and ${answer.status} is not what an unknown route answers`];
    const known = matchers.filter((x) => x.regex.test(path));
    if (answer.status === 405 && known.length === 0) return [`${what}: 405 for a path no operation serves`];
    if (answer.status === 404 && known.length > 0) return [`${what}: 404 for a path that exists (a method it lacks is a 405)`];
    if (answer.status === 405 && !answer.headers.get('allow')) return [`${what}: a 405 without Allow`];
    if (head) return [];
    return errorBodyProblems(what, answer.text, mediaType, codes);
  }

  const template = fullPath(op);
  const response = document.paths[template]?.[op.method]?.responses?.[String(answer.status)] as Json | undefined;
  if (!response) {
    const documented = Object.keys(document.paths[template][op.method].responses).join(', ');
    return [`${what}: status ${answer.status} is not documented for ${op.method.toUpperCase()} ${template} (documented: ${documented}); body: ${answer.text.slice(0, 300)}`];
  }

  const problems: string[] = [];
  for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
    if (header.required && !answer.headers.has(name)) problems.push(`${what}: the ${name} header is missing`);
  }
  if (head) return problems;

  const content = (response.content ?? {}) as Json;
  if (Object.keys(content).length === 0) {
    if (answer.text !== '') problems.push(`${what}: documented without a body, but has one: ${answer.text.slice(0, 200)}`);
    return problems;
  }
  if (!(mediaType in content)) {
    problems.push(`${what}: content type ${mediaType || '(none)'} is not one of ${Object.keys(content).join(', ')}`);
    return problems;
  }
  const base = ['paths', template, op.method, 'responses', String(answer.status), 'content', mediaType];
  if (mediaType === 'application/json') {
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return [...problems, `${what}: the body is not JSON: ${answer.text.slice(0, 200)}`];
    }
    const validate = validatorAt([...base, 'schema']);
    if (!validate(body)) problems.push(`${what}: the body does not match the document: ${formatErrors(validate)}; body: ${answer.text.slice(0, 500)}`);
  } else if (mediaType === 'text/event-stream') {
    problems.push(...eventProblems(what, answer.text, base));
  }
  return problems;
}

function errorBodyProblems(what: string, text: string, mediaType: string, codes: string[]): string[] {
  if (mediaType !== 'application/json') return [`${what}: an error must be JSON, got ${mediaType || '(none)'}`];
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return [`${what}: the body is not JSON: ${text.slice(0, 200)}`];
  }
  const validate = errorValidator();
  if (!validate(body)) return [`${what}: not in the error shape: ${formatErrors(validate)}`];
  const code = (body as { error: { code: string } }).error.code;
  if (!codes.includes(code)) return [`${what}: error code ${code} is not one of ${codes.join(', ')}`];
  return [];
}

/**
 * Each event of a stream against the stream's schema (one event: `{event, id?, data}`), and its
 * data, parsed, against the `contentSchema` of the event of that name.
 */
export function eventProblems(what: string, text: string, base: string[]): string[] {
  const problems: string[] = [];
  const schema = base.reduce<Json>((node, key) => node?.[key], document).schema as Json;
  const branches: Json[] = schema.oneOf ?? [schema];
  for (const event of parseEvents(text)) {
    const validate = validatorAt([...base, 'schema']);
    const valid = validate(event as unknown);
    if (!valid) {
      problems.push(`${what}: event ${event.event} does not match the document: ${formatErrors(validate)}; event: ${JSON.stringify(event).slice(0, 300)}`);
      continue;
    }
    const index = branches.findIndex((b) => b.properties?.event?.const === event.event);
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      problems.push(`${what}: the data of event ${event.event} is not JSON: ${event.data.slice(0, 200)}`);
      continue;
    }
    const path = [...base, 'schema', ...(schema.oneOf ? ['oneOf', String(index)] : []), 'properties', 'data', 'contentSchema'];
    const validateData = validatorAt(path);
    if (!validateData(data))
      problems.push(`${what}: the data of event ${event.event} does not match the document: ${formatErrors(validateData)}; data: ${event.data.slice(0, 300)}`);
  }
  return problems;
}

/**
 * Fails unless the answer keeps the contract. `body` is the parsed JSON (or the text, for other
 * media types); `headers` defaults to a JSON content type.
 */
export function expectMatchesContract(method: string, path: string, status: number, body: unknown, headers?: Headers | Record<string, string>): void {
  const h = headers instanceof Headers ? headers : new Headers(headers ?? (body === undefined ? {} : { 'content-type': 'application/json' }));
  const text = body === undefined ? '' : typeof body === 'string' && !(h.get('content-type') ?? '').includes('json') ? body : JSON.stringify(body);
  const problems = contractProblems({ method, path, status, text, headers: h });
  if (problems.length > 0) throw new Error(`The answer breaks the API contract:\n- ${problems.join('\n- ')}`);
}

/** The request header that ties a stack request to what the observer saw of its answer. */
export const TRACE_HEADER = 'x-berth-contract-trace';

/**
 * Watches every answer a server gives: JSON bodies are checked as they are sent, event streams
 * event by event as they pass (a client that stops reading stops the stream, as without the
 * watch). Problems are kept, with the trace header of the request that had them.
 */
export class ContractObserver {
  readonly problems: { trace: string | undefined; problem: string; reported: boolean }[] = [];
  /** Every `operationId status` answered, e.g. `createNode 202`. */
  readonly seen = new Set<string>();
  /** Set to keep every answer (a stream's without its body). */
  record = false;
  readonly answers: { method: string; path: string; status: number; text: string }[] = [];

  private note(trace: string | undefined, problems: string[]) {
    for (const problem of problems) this.problems.push({ trace, problem, reported: false });
  }

  async observe(req: Request, res: Response): Promise<Response> {
    const url = new URL(req.url);
    if (!isApiPath(url.pathname)) return res;
    const trace = req.headers.get(TRACE_HEADER) ?? undefined;
    const op = findOperation(req.method, url.pathname);
    if (op) this.seen.add(`${op.operationId} ${res.status}`);
    const answer = { method: req.method, path: url.pathname, status: res.status, headers: res.headers };
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (mediaType === 'text/event-stream' && res.body) {
      // Checked as the events pass: each complete event when it arrives.
      const decoder = new TextDecoder();
      let pending = '';
      const first = contractProblems({ ...answer, text: '' });
      this.note(trace, first);
      if (this.record) this.answers.push({ method: req.method, path: url.pathname, status: res.status, text: '' });
      const base = op ? ['paths', fullPath(op), op.method, 'responses', String(res.status), 'content', 'text/event-stream'] : undefined;
      const watch = new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          pending += decoder.decode(chunk, { stream: true });
          const end = pending.lastIndexOf('\n\n');
          if (end !== -1 && base && first.length === 0) {
            this.note(trace, eventProblems(`${req.method} ${url.pathname} → ${res.status}`, pending.slice(0, end + 2), base));
            pending = pending.slice(end + 2);
          }
          controller.enqueue(chunk);
        },
      });
      return new Response(res.body.pipeThrough(watch), { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    const text = res.body ? await res.clone().text() : '';
    this.note(trace, contractProblems({ ...answer, text }));
    if (this.record) this.answers.push({ method: req.method, path: url.pathname, status: res.status, text });
    return res;
  }

  /** Problems of the request with this trace not yet reported; they are reported now. */
  take(trace?: string): string[] {
    const found = this.problems.filter((p) => !p.reported && (trace === undefined || p.trace === trace));
    for (const p of found) p.reported = true;
    return found.map((p) => p.problem);
  }
}
