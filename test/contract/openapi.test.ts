// The OpenAPI document: it validates and lints clean, it lists exactly the app's routes, it is
// served with its reference page (no token, nothing from elsewhere), and every operation's real
// answers keep it. The contract check itself refuses what the document does not allow.
import { compileErrors, validate } from '@readme/openapi-parser';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, fullPath } from '../../api/contract.js';
import { OPERATIONS, buildOpenApiDocument, openApiDocument } from '../../api/openapi.js';
import { CLOUDS, type CloudEmulator } from '../support/clouds.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';
import { contractProblems, expectMatchesContract, parseEvents } from './contract.js';

const doc = openApiDocument() as Record<string, any>;
const API = '/cp/api/v1';
const isApiPath = (path: string) => path === '/healthz' || path === '/metrics' || path.startsWith('/cp/api/');

/** `METHOD /path/{param}` of every operation in the document. */
function documentedRoutes(): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe('the OpenAPI document', () => {
  it('validates against the OpenAPI 3.1 schema, with the parser’s own rules (unique operationIds, path parameters)', async () => {
    const result = await validate(structuredClone(doc) as any, { resolve: { external: false } });
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
  });

  it("passes Redocly's linter with its recommended rules", async () => {
    const config = await createConfig({
      extends: ['recommended'],
      rules: {
        // Berth declares no licence.
        'info-license': 'off',
        // /healthz, the document and its page take no input and cannot answer a 4xx.
        'operation-4xx-response': 'off',
      },
    });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    const lines = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(lines).toEqual([]);
  });

  it('lists exactly the routes the app serves, no more and none missing', async () => {
    const stack = await startStack({ worker: false });
    try {
      const served = [
        ...new Set(stack.app.routes.filter((r) => r.method !== 'ALL' && isApiPath(r.path)).map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`)),
      ].sort();
      expect(documentedRoutes()).toEqual(served);
      expect(served.length).toBe(OPERATIONS.length);
    } finally {
      await stack.stop();
    }
  });

  it('documents every status with what it carries: 2xx answers, and errors in the error shape with their codes', () => {
    const codes = new Set(Object.keys(ERROR_CODES));
    for (const op of OPERATIONS) {
      const responses = doc.paths[fullPath(op)][op.method].responses as Record<string, any>;
      const where = `${op.method.toUpperCase()} ${fullPath(op)}`;
      expect(
        Object.keys(responses).some((s) => s.startsWith('2')),
        where,
      ).toBe(true);
      if (op.auth === 'admin') expect(responses['401'], where).toBeDefined();
      if (op.body) {
        expect(responses['400'], where).toBeDefined();
        expect(responses['413'], where).toBeDefined();
        expect(doc.paths[fullPath(op)][op.method].requestBody.required, where).toBe(true);
      }
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 400) continue;
        if (op.operationId === 'health') continue; // 503: the health answer, naming the check that failed
        const schema = response.content['application/json'].schema;
        const shaped = schema.allOf ?? schema.anyOf[0].allOf;
        expect(shaped[0], `${where} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
        const listed = shaped[1].properties.error.properties.code.enum as string[];
        expect(listed.length, `${where} ${status}`).toBeGreaterThan(0);
        for (const code of listed) expect(codes.has(code), `${where} ${status} ${code}`).toBe(true);
      }
    }
  });

  it('describes both auth schemes and which routes need none', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminBearer', 'nodeCredential']);
    expect(doc.paths[`${API}/cluster/nodes/{id}/heartbeat`].post.security).toEqual([{ nodeCredential: [] }]);
    expect(doc.paths[`${API}/cluster/register`].post.security).toEqual([]);
    expect(doc.components.schemas.Registration.required).toContain('token');
    expect(doc.paths[`${API}/cluster/nodes`].post.security).toEqual([{ adminBearer: [] }]);
  });

  it('is built from the same schema objects the routes validate with, the same each time', () => {
    expect(buildOpenApiDocument()).toEqual(doc);
    // The request body of POST /cluster/nodes is the route's schema: its strictness and patterns.
    const nodeRequest = doc.components.schemas.NodeRequest;
    expect(nodeRequest.additionalProperties).toBe(false);
    expect(nodeRequest.required).toEqual(['provider', 'region', 'plan']);
    expect(nodeRequest.properties.hostname.pattern).toBe('^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$');
  });
});

describe('the contract check', () => {
  const json = { 'content-type': 'application/json' };

  it('accepts what the document allows', () => {
    expectMatchesContract('GET', `${API}/cluster/jobs/abc`, 404, { error: { code: 'job_not_found', message: 'no job abc' } });
    expectMatchesContract('GET', `${API}/nope?x=1`, 404, { error: { code: 'not_found', message: 'no route' } });
    expectMatchesContract('POST', `${API}/cluster/jobs/abc/cancel`, 204, undefined, {});
  });

  it('refuses an undocumented status, an undocumented code, a body off its schema, a missing header', () => {
    expect(() => expectMatchesContract('GET', `${API}/cluster/jobs/abc`, 418, { error: { code: 'teapot', message: '' } })).toThrow(/not documented/);
    expect(() => expectMatchesContract('GET', `${API}/cluster/jobs/abc`, 404, { error: { code: 'node_not_found', message: '' } })).toThrow(/code/);
    expect(() => expectMatchesContract('GET', `${API}/cluster/jobs/abc`, 404, { error: 'job_not_found' })).toThrow(/does not match/);
    expect(() => expectMatchesContract('GET', `${API}/cluster/jobs`, 200, { jobs: [{ job_id: 'a' }] })).toThrow(/does not match/);
    expect(() =>
      expectMatchesContract('GET', `${API}/cluster/budget`, 200, { monthly_cents: null, committed_cents: 0, remaining_cents: null, nodes_counted: 0, extra: 1 }),
    ).toThrow(/additional/);
    const problems = contractProblems({ method: 'POST', path: `${API}/cluster/nodes`, status: 202, text: JSON.stringify({ job_id: 'x' }), headers: new Headers(json) });
    expect(problems.join()).toMatch(/Location header is missing/);
    expect(() => expectMatchesContract('POST', `${API}/cluster/jobs/abc/cancel`, 204, 'text', { 'content-type': 'text/plain' })).toThrow(/without a body/);
  });

  it('checks each event of a stream', () => {
    const stream = (data: unknown) =>
      contractProblems({
        method: 'GET',
        path: `${API}/cluster/jobs/abc/events`,
        status: 200,
        text: `: keepalive\n\nevent: phase\nid: 0\ndata: ${JSON.stringify(data)}\n\n`,
        headers: new Headers({ 'content-type': 'text/event-stream' }),
      });
    expect(stream({ job_id: 'abc', phase: 'queued', at: '2026-01-01T00:00:00.000Z' })).toEqual([]);
    expect(stream({ job_id: 'abc', phase: 'sleeping', at: '2026-01-01T00:00:00.000Z' }).join()).toMatch(/data of event phase does not match/);
    const unknown = contractProblems({
      method: 'GET',
      path: `${API}/cluster/jobs/abc/events`,
      status: 200,
      text: 'event: progress\ndata: {}\n\n',
      headers: new Headers({ 'content-type': 'text/event-stream' }),
    });
    expect(unknown.join()).toMatch(/event progress does not match/);
  });
});

describe('served', () => {
  let stack: Stack;
  let emu: CloudEmulator;
  const hetzner = CLOUDS.find((c) => c.name === 'hetzner')!;

  beforeAll(async () => {
    emu = await hetzner.start({ bootDelayMs: 50 });
    stack = await startStack({
      registrationTtlMs: 30_000,
      registry: { apiUrls: { hetzner: emu.url }, http: { timeoutMs: 1_000, backoffMs: 50, maxWaitMs: 5_000 }, pollIntervalMs: 50 },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await emu?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.publicUrl}${path}`, { headers });

  it('serves the document without a token, as built', async () => {
    const res = await get(`${API}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(doc);
  });

  it('serves the reference page and its assets without a token, and nothing from elsewhere', async () => {
    const page = await get(`${API}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/https?:/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((a) => !a.startsWith('data:'));
    expect(assets.sort()).toEqual(['docs/init.js', 'docs/swagger-ui-bundle.js', 'docs/swagger-ui.css']);
    for (const asset of assets) {
      const res = await get(`${API}/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect((await res.text()).length, asset).toBeGreaterThan(asset === 'docs/init.js' ? 100 : 100_000);
    }
    expect((await get(`${API}/docs/missing.js`)).status).toBe(404);
  });

  it('answers a method a path does not have 405 with Allow, and an unknown path 404', async () => {
    const put = await stack.request('PUT', `${API}/cluster/nodes`, {});
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST, GET, HEAD');
    expect(put.body.error.code).toBe('method_not_allowed');
    const trace = await stack.request('DELETE', `${API}/cluster/jobs/abc`);
    expect([trace.status, trace.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await stack.request('GET', `${API}/cluster/nope`)).body.error.code).toBe('not_found');
    expect((await stack.request('GET', `${API}/cluster/nodes/`)).status).toBe(404);
    // Without a token, the admin routes ask for one first.
    expect((await stack.request('PUT', `${API}/cluster/nodes`, {}, { authorization: '' })).status).toBe(401);
  });

  it('asks for the admin token on every admin route, and on no public one', async () => {
    for (const op of OPERATIONS) {
      const path = fullPath(op).replace(/\{[^}]+\}/g, 'x');
      const res = await fetch(`${stack.publicUrl}${path}`, { method: op.method.toUpperCase(), ...(op.body && { body: '{}', headers: { 'content-type': 'application/json' } }) });
      const body: any = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
      if (op.auth === 'admin') {
        expect(res.status, `${op.method} ${path}`).toBe(401);
        expect(body.error.code).toBe('unauthorized');
      } else {
        expect(body?.error?.code, `${op.method} ${path}`).not.toBe('unauthorized');
      }
    }
  });

  it('answers every operation within its contract, each with a success', async () => {
    const r = stack.request;
    const ok = (res: { status: number; body: unknown }, status: number) => expect(res.status, JSON.stringify(res.body)).toBe(status);
    ok(await r('GET', '/healthz', undefined, { authorization: '' }), 200);
    // Prometheus text, not JSON: fetched as Prometheus would (the contract check sees it all the same).
    expect((await fetch(`${stack.publicUrl}/metrics`)).status).toBe(200);

    // Providers, with a cloud emulator for the token.
    ok(await r('GET', `${API}/cluster/providers`), 200);
    ok(await r('GET', `${API}/cluster/providers/local/regions`), 200);
    ok(await r('GET', `${API}/cluster/providers/local/plans?region=local`), 200);
    ok(await r('GET', `${API}/cluster/providers/hetzner/regions`, undefined, { 'X-Provider-Token': emu.token }), 200);
    ok(await r('POST', `${API}/cluster/providers/hetzner/verify`, { token: 'not-the-right-token' }), 422);
    ok(await r('POST', `${API}/cluster/providers/hetzner/verify`, { token: emu.token }), 200);
    ok(await r('DELETE', `${API}/cluster/providers/hetzner`), 204);

    // Budget, keys, tenants.
    ok(await r('GET', `${API}/cluster/budget`), 200);
    ok(await r('PUT', `${API}/cluster/budget`, { monthly_cents: 100_000 }), 200);
    ok(await r('PUT', `${API}/cluster/budget`, { monthly_cents: null }), 200);
    const key = await r('POST', `${API}/keys`, { label: 'contract' });
    ok(key, 201);
    ok(await r('GET', `${API}/keys`), 200);
    ok(await r('DELETE', `${API}/keys/${key.body.key_id}`), 204);
    ok(await r('GET', `${API}/tenants`), 200);
    ok(await r('POST', `${API}/tenants`, { tenant_id: 'contract', tier: 'team' }), 201);

    // A node: dry run, the job and its events (the VM's registration and its agent's heartbeats
    // are answered by the same server, and checked too), then its deletion.
    const node = { provider: 'local', region: 'local', plan: 'local-1', hostname: 'contract-1' };
    ok(await r('POST', `${API}/cluster/nodes?dry_run=true`, node), 200);
    const created = await r('POST', `${API}/cluster/nodes`, node, { 'Idempotency-Key': 'contract-1' });
    ok(created, 202);
    const jobId = created.body.job_id;
    const events = await fetch(`${stack.publicUrl}${API}/cluster/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(events.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(parseEvents(await events.text()).at(-1)?.event).toBe('phase');
    const job = await stack.waitForPhase(jobId, ['ready']);
    ok(await r('GET', `${API}/cluster/jobs/${jobId}`), 200);
    ok(await r('GET', `${API}/cluster/jobs?limit=5`), 200);
    ok(await r('GET', `${API}/cluster/nodes?status=ready`), 200);
    const deadline = Date.now() + 15_000;
    while (!stack.contract!.seen.has('heartbeat 200') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    ok(await r('GET', `${API}/cluster/nodes/${job.node_id}`), 200);
    ok(await r('GET', `${API}/cluster/nodes/node-nope`), 404);
    ok(await r('DELETE', `${API}/cluster/nodes/${job.node_id}`), 202);

    // A job cancelled while its VM never calls back.
    const waiting = await stack.createNode({ labels: { 'berth.dev/simulate': 'never-register' } });
    await stack.waitForPhase(waiting, ['bootstrapping']);
    ok(await r('POST', `${API}/cluster/jobs/${waiting}/cancel`), 204);

    // A pool of none, changed, deleted, and its decisions until it is gone.
    const pool = { name: 'contract', template: { provider: 'local', region: 'local', plan: 'local-1' }, min: 0, max: 1, evaluation_interval: '1s' };
    ok(await r('POST', `${API}/cluster/pools`, pool), 201);
    ok(await r('GET', `${API}/cluster/pools`), 200);
    ok(await r('PATCH', `${API}/cluster/pools/contract`, { autoscaling: { scale_out_cpu: 0.8, scale_in_cpu: 0.2, window: '30s' }, drain_timeout: '1m' }), 200);
    ok(await r('GET', `${API}/cluster/pools/contract`), 200);
    ok(await r('DELETE', `${API}/cluster/pools/contract`), 202);
    const decisions = await fetch(`${stack.publicUrl}${API}/cluster/pools/contract/events`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(20_000),
    });
    expect(parseEvents(await decisions.text()).at(-1)?.event).toBe('deleted');

    // The reference page and the document, fetched like a browser would.
    for (const path of ['openapi.json', 'docs', 'docs/init.js']) expect((await fetch(`${stack.publicUrl}${API}/${path}`)).status).toBe(200);

    await stack.waitForPhase(waiting, ['cancelled']);
    const seen = stack.contract!.seen;
    const withoutSuccess = OPERATIONS.filter((op) => ![...seen].some((s) => s.startsWith(`${op.operationId} 2`))).map((op) => op.operationId);
    expect(withoutSuccess).toEqual([]);
    expect(stack.contract!.take()).toEqual([]);
  }, 90_000);
});
