import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { checkNodeCredential, recordHeartbeat, type CredentialedNode } from '../../db/node-agent.js';
import type { AppDeps } from '../deps.js';
import { apiError, payloadTooLarge } from '../errors.js';
import { FailureLimiter } from '../failure-limiter.js';
import { heartbeatAnswerSchema } from '../answers.js';
import { operation } from '../contract.js';
import { idSchema } from '../schemas.js';
import { jsonBody } from '../validate.js';
import { clientAddress } from './register.js';

export const HEARTBEAT_MAX_BYTES = 4 * 1024;

const heartbeatSchema = z
  .strictObject({
    cpu: z.number().min(0).max(1).meta({ description: 'CPU use since the last report, 0 to 1' }),
    memory: z.number().min(0).max(1).meta({ description: 'memory in use, 0 to 1' }),
    workloads: z.number().int().min(0).max(100_000).meta({ description: 'how many workloads run on the node' }),
    drained: z.boolean().optional().meta({ description: 'true once the node has moved its work away after a `drain`' }),
  })
  .meta({ id: 'Heartbeat', examples: [{ cpu: 0.42, memory: 0.61, workloads: 3 }] });

export const heartbeatOperations = {
  heartbeat: operation({
    method: 'post',
    path: '/cluster/nodes/{id}/heartbeat',
    operationId: 'heartbeat',
    tag: 'Node agent',
    summary: "The node agent's report: load and workloads; answers whether to drain",
    description:
      "Authenticated with the node credential from the registration answer, before the body is read. A wrong credential, another node's id, an unknown or decommissioned node: one uniform 401; an address with 20 failures in 5 minutes gets 429. Bodies over 4 KiB get 413. Nothing is recorded for any refusal.",
    auth: 'node',
    params: z.object({ id: idSchema }),
    body: heartbeatSchema,
    maxBodyBytes: HEARTBEAT_MAX_BYTES,
    answers: { 200: { description: 'Recorded; whether the node should keep running workloads or drain', json: heartbeatAnswerSchema } },
    errors: {
      401: { codes: ['invalid_credentials'], headers: { 'WWW-Authenticate': { description: 'Bearer', required: true } } },
      429: { codes: ['too_many_attempts'], headers: { 'Retry-After': { description: 'seconds to wait', required: true } } },
    },
  }),
};

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,256})$/;

type HeartbeatEnv = { Variables: { node: CredentialedNode } };

/**
 * The node agent's report (public for admin auth: the node credential handed out at registration
 * is the bearer). Answers whether the node should keep running workloads or drain.
 */
export function heartbeatRoutes(deps: AppDeps) {
  const limit = deps.heartbeatFailureLimit ?? { max: 20, windowMs: 5 * 60_000 };
  const failures = new FailureLimiter(limit.max, limit.windowMs);
  // One answer for every bad credential, so a caller learns nothing about node ids or states.
  const invalidCredentials = () => apiError(401, 'invalid_credentials', 'the node credential is not valid', { headers: { 'WWW-Authenticate': 'Bearer' } });

  // Runs before the body is read: an unauthenticated caller costs one hash and one indexed read,
  // and anything it sends (oversized bodies too) is answered 401 and counted as a failure.
  const authenticate: MiddlewareHandler<HeartbeatEnv> = async (c, next) => {
    const client = clientAddress(c);
    const wait = failures.retryAfter(client);
    if (wait > 0) {
      throw apiError(429, 'too_many_attempts', 'too many failed heartbeats from this address; retry later', { headers: { 'Retry-After': String(wait) } });
    }
    const credential = BEARER.exec(c.req.header('Authorization') ?? '')?.[1];
    const node = credential ? await checkNodeCredential(deps.db, c.req.param('id') ?? '', credential) : undefined;
    if (!node) {
      failures.fail(client);
      throw invalidCredentials();
    }
    c.set('node', node);
    await next();
  };

  const smallBody = bodyLimit({
    maxSize: HEARTBEAT_MAX_BYTES,
    onError: () => payloadTooLarge(HEARTBEAT_MAX_BYTES),
  });

  return new Hono<HeartbeatEnv>().post('/nodes/:id/heartbeat', authenticate, smallBody, async (c) => {
    const body = await jsonBody(c, heartbeatOperations.heartbeat.body);
    const result = await recordHeartbeat(deps.db, { nodeId: c.get('node').node_id, at: new Date(), ...body });
    // The node stopped being ready since its credential was checked: the credential no longer holds.
    if (!result) {
      failures.fail(clientAddress(c));
      throw invalidCredentials();
    }
    return c.json(result, 200);
  });
}
