// Bad requests get `{error:{code, message, field?}}` with the right status, and create nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../api/app.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

const NODES = '/cp/api/v1/cluster/nodes';
const valid = { provider: 'local', region: 'local', plan: 'local-1' };

async function post(body: unknown, headers: Record<string, string> = {}) {
  return stack.request('POST', NODES, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

describe('POST /cluster/nodes refuses bad input', () => {
  it.each([
    ['not JSON', '{"provider":', 400, 'invalid_json', undefined],
    ['a JSON array', [valid], 400, 'invalid_json', undefined],
    ['no provider', { region: 'local', plan: 'local-1' }, 400, 'invalid_request', 'provider'],
    ['no plan', { provider: 'local', region: 'local' }, 400, 'invalid_request', 'plan'],
    ['a number for region', { ...valid, region: 7 }, 400, 'invalid_request', 'region'],
    ['an unknown field', { ...valid, size: 'xl' }, 400, 'invalid_request', 'size'],
    ['a bad hostname', { ...valid, hostname: 'a b;reboot' }, 400, 'invalid_request', 'hostname'],
    ['a label Berth owns', { ...valid, labels: { 'berth.dev/job': 'x' } }, 400, 'invalid_request', 'labels.berth.dev/job'],
    ['a bad label value', { ...valid, labels: { team: 'a b' } }, 400, 'invalid_request', 'labels.team'],
    ['a bad ssh key', { ...valid, ssh_key: 'not a key' }, 400, 'invalid_request', 'ssh_key'],
    ['an unknown provider', { ...valid, provider: 'aws' }, 422, 'unknown_provider', 'provider'],
    ['a provider not configured', { ...valid, provider: 'hetzner', region: 'nbg1', plan: 'cx22' }, 422, 'provider_not_configured', 'provider'],
    ['an unknown region', { ...valid, region: 'mars' }, 422, 'unknown_region', 'region'],
    ['an unknown plan', { ...valid, plan: 'local-9' }, 422, 'unknown_plan', 'plan'],
  ])('%s', async (_what, body, status, code, field) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(res.body.error.field).toBe(field);
  });

  it('names the field in the message of a missing one', async () => {
    expect((await post({ region: 'local', plan: 'local-1' })).body.error.message).toBe('provider is required');
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await post({ ...valid, hostname: 'x'.repeat(MAX_BODY_BYTES) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const res = await post(valid, { 'Idempotency-Key': 'x'.repeat(300) });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('Idempotency-Key');
  });

  it('asks for a bearer token, and refuses a wrong one', async () => {
    const none = await stack.request('POST', NODES, valid, { authorization: '' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.body.error.code).toBe('unauthorized');
    const wrong = await stack.request('GET', '/cp/api/v1/cluster/jobs', undefined, { authorization: 'Bearer berth_not_a_real_token_123' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('has created nothing: no job, no workflow, no VM', async () => {
    const jobs = await stack.db.selectFrom('jobs').select('job_id').execute();
    expect(jobs).toEqual([]);
    expect((await stack.client.workflow.count(`TaskQueue = '${stack.taskQueue}'`)).count).toBe(0);
    expect(await stack.local.all()).toEqual([]);
  });
});

describe('other routes', () => {
  it('404s unknown jobs, nodes and routes with the error shape', async () => {
    for (const [method, route, code] of [
      ['GET', '/cp/api/v1/cluster/jobs/nosuchjob', 'job_not_found'],
      ['GET', '/cp/api/v1/cluster/jobs/NOT..VALID/events', 'job_not_found'],
      ['POST', '/cp/api/v1/cluster/jobs/nosuchjob/cancel', 'job_not_found'],
      ['DELETE', '/cp/api/v1/cluster/nodes/node-nosuch', 'node_not_found'],
      ['GET', '/cp/api/v1/cluster/nope', 'not_found'],
    ] as const) {
      const res = await stack.request(method, route);
      expect(res.status, route).toBe(404);
      expect(res.body.error.code, route).toBe(code);
    }
  });

  it('validates list filters', async () => {
    const res = await stack.request('GET', '/cp/api/v1/cluster/jobs?phase=sleeping');
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('phase');
    expect((await stack.request('GET', '/cp/api/v1/cluster/jobs?phase=ready')).body).toEqual({ jobs: [] });
  });

  it('lists the providers and which are configured', async () => {
    const res = await stack.request('GET', '/cp/api/v1/cluster/providers');
    expect(res.body.providers).toEqual([
      { name: 'local', configured: true },
      { name: 'hetzner', configured: false },
      { name: 'digitalocean', configured: false },
    ]);
  });

  it('register is public but needs a token; a missing one is a 400, a bad one a 401', async () => {
    const missing = await stack.request('POST', '/cp/api/v1/cluster/register', {}, { authorization: '' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.field).toBe('token');
    const bad = await stack.request('POST', '/cp/api/v1/cluster/register', { token: 'brt_x_y' }, { authorization: '' });
    expect(bad.status).toBe(401);
  });

  it('reports health of the database and Temporal', async () => {
    const res = await stack.request('GET', '/healthz', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { database: 'ok', temporal: 'ok' } });
  });
});
