import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { jobHostname } from '../../db/jobs.js';
import { setNodeCredential } from '../../db/node-agent.js';
import { consumeRegistrationToken, releaseRegistrationToken } from '../../db/registration-tokens.js';
import { newSecretToken, sha256Hex } from '../../security/tokens.js';
import { provisionWorkflowId, registerUpdate, vmName, type NodeFacts } from '../../workflows/messages.js';
import type { AppDeps } from '../deps.js';
import { apiError } from '../errors.js';
import { FailureLimiter } from '../failure-limiter.js';
import { registeredSchema } from '../answers.js';
import { operation } from '../contract.js';
import { registerSchema } from '../schemas.js';
import { jsonBody } from '../validate.js';

const retryAfter = { 'Retry-After': { description: 'seconds to wait', required: true } };

export const registerOperations = {
  register: operation({
    method: 'post',
    path: '/cluster/register',
    operationId: 'register',
    tag: 'Node agent',
    summary: "The VM's callback: its one-time registration token and facts",
    description:
      'Public: the registration token in the body is the credential. It is consumed atomically (single use, not expired, not revoked); the node\'s facts go to the job, which binds the node. The answer carries the node agent\'s credential, shown once. An address with too many failed registrations waits (429).',
    auth: 'public',
    body: registerSchema,
    answers: { 200: { description: 'The node is bound', json: registeredSchema } },
    errors: {
      401: ['invalid_token'],
      409: ['job_not_waiting'],
      429: { codes: ['too_many_attempts'], headers: retryAfter },
      503: { codes: ['registration_not_delivered'], headers: retryAfter },
    },
  }),
};

/**
 * The VM's callback (public: the one-time token is the credential). The token is consumed here and
 * never reaches Temporal; the workflow only receives the node's facts and answers with its id.
 */
export function registerRoutes(deps: AppDeps) {
  const { db } = deps;
  const deliveryTimeoutMs = deps.deliveryTimeoutMs ?? 60_000;
  const limit = deps.registrationFailureLimit ?? { max: 20, windowMs: 5 * 60_000 };
  const failures = new FailureLimiter(limit.max, limit.windowMs);
  return new Hono().post('/register', async (c) => {
    // Guessing tokens is slowed down per address; a blocked address waits even with a good token.
    const client = clientAddress(c);
    const wait = failures.retryAfter(client);
    if (wait > 0) {
      throw apiError(429, 'too_many_attempts', 'too many failed registrations from this address; retry later', { headers: { 'Retry-After': String(wait) } });
    }
    const { token, hostname, ...extra } = await jsonBody(c, registerOperations.register.body);
    const claim = await consumeRegistrationToken(db, token);
    // One answer for unknown, used, revoked and expired tokens.
    if (!claim) {
      failures.fail(client);
      throw apiError(401, 'invalid_token', 'the registration token is not valid', { field: 'token' });
    }

    const facts: NodeFacts = { ...extra, hostname: hostname ?? (await jobHostname(db, claim.jobId)) ?? vmName(claim.jobId) };
    let nodeId: string;
    try {
      // Bounded, so the VM hears back before its own timeout even when no worker is running.
      const handle = deps.temporal.workflow.getHandle(provisionWorkflowId(claim.jobId));
      const result = await deps.temporal.withDeadline(Date.now() + deliveryTimeoutMs, () =>
        handle.executeUpdate(registerUpdate, { args: [facts] }),
      );
      nodeId = result.nodeId;
    } catch (err) {
      // The workflow itself said no (it is not waiting for a VM): the token stays used.
      if (err instanceof WorkflowUpdateFailedError) {
        throw apiError(409, 'job_not_waiting', `the job is not waiting for this node: ${err.cause?.message ?? 'it has ended'}`);
      }
      // Anything else is ambiguous (Temporal unreachable, the update lost in a worker crash): hand
      // the token back so the VM's retry can deliver again; a repeat gets the same answer.
      await releaseRegistrationToken(db, claim);
      if (!(await jobStillRunning(deps, claim.jobId))) throw apiError(409, 'job_not_waiting', 'the job is not waiting for this node: it has ended');
      deps.logger.warn({ err, jobId: claim.jobId }, 'could not deliver a registration to its job; the VM will retry');
      throw apiError(503, 'registration_not_delivered', 'the registration could not be delivered yet; retry later', { headers: { 'Retry-After': '5' } });
    }
    // The agent's credential is made here and only its hash is stored: it never reaches Temporal,
    // and a repeated delivery replaces it, so only the latest answer's credential works.
    const nodeToken = newSecretToken('bnt');
    if (!(await setNodeCredential(db, { nodeId, tenantId: claim.tenantId, hash: sha256Hex(nodeToken) }))) {
      throw apiError(409, 'job_not_waiting', 'the job is not waiting for this node: the node is no longer ready');
    }
    return c.json({ node_id: nodeId, job_id: claim.jobId, node_token: nodeToken }, 200);
  });
}

/** The caller's address, the key of the failure limiters. */
export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // not served by @hono/node-server (e.g. app.request() in tests)
  }
}

/** True unless Temporal says the job's workflow has closed (or never existed). */
async function jobStillRunning(deps: AppDeps, jobId: string): Promise<boolean> {
  try {
    const handle = deps.temporal.workflow.getHandle(provisionWorkflowId(jobId));
    const { status } = await deps.temporal.withDeadline(Date.now() + 5_000, () => handle.describe());
    return status.name === 'RUNNING';
  } catch (err) {
    return !(err instanceof WorkflowNotFoundError);
  }
}
