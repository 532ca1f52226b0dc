// A keep-alive client (one pooled connection, as an SDK or curl's reuse would have) keeps working
// after a body the API refuses as too large: the 413 closes the connection, so the next request
// goes on a new one instead of a socket the server drops while it discards the unread body.
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../api/app.js';
import { HEARTBEAT_MAX_BYTES } from '../../api/routes/heartbeat.js';
import { agentNode } from '../support/rows.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

interface Answer {
  status: number;
  connection: string | undefined;
  body: any;
}

/** One request on the agent, the body sent with its Content-Length as most clients do. */
function send(agent: http.Agent, method: string, route: string, body?: Buffer, authorization = `Bearer ${ADMIN_TOKEN}`): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
    const req = http.request(`${stack.publicUrl}${route}`, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: text ? JSON.parse(text) : undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const oversized = (bytes: number) => Buffer.from(JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1', hostname: 'x'.repeat(bytes) }));

it('answers the request after an oversized one on the same keep-alive connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const big = await send(agent, 'POST', '/cp/api/v1/cluster/nodes', oversized(16 * MAX_BODY_BYTES));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    expect(big.connection).toBe('close');
    const next = await send(agent, 'GET', '/cp/api/v1/cluster/jobs');
    expect(next.status).toBe(200);
    expect(next.body).toEqual({ jobs: [] });
    // Ordinary answers keep the connection open.
    expect(next.connection).toBe('keep-alive');
  } finally {
    agent.destroy();
  }
});

it('closes the connection after the heartbeat route’s own 4 KiB limit too', async () => {
  const { nodeId, credential } = await agentNode(stack.db, { tenantId: stack.tenantId });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const route = `/cp/api/v1/cluster/nodes/${nodeId}/heartbeat`;
    const report = { cpu: 0.5, memory: 0.5, workloads: 1 };
    const big = await send(agent, 'POST', route, Buffer.from(JSON.stringify({ ...report, pad: 'x'.repeat(2 * HEARTBEAT_MAX_BYTES) })), `Bearer ${credential}`);
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    expect(big.connection).toBe('close');
    const next = await send(agent, 'POST', route, Buffer.from(JSON.stringify(report)), `Bearer ${credential}`);
    expect(next.status).toBe(200);
    expect(next.body).toEqual({ state: 'active' });
  } finally {
    agent.destroy();
  }
});
