import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { jobOutcome } from '../../db/jobs.js';
import { unbindJobNode } from '../../db/nodes.js';
import { registerNode } from '../../db/registration.js';
import { completeRegistrationToken, releaseRegistrationToken } from '../../db/registration-tokens.js';
import { newSecretToken, sha256Hex } from '../../security/tokens.js';
import { provisionWorkflowId, registerUpdate } from '../../workflows/messages.js';
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
      "Public: the registration token in the body is the credential. It is consumed atomically (single use, not expired, not revoked); the node's facts go to the job, which binds the node. The answer carries the node agent's credential, shown once, unless the VM made its own and sent its digest (`credential_sha256`): then a repeat of a registration whose answer was lost is answered again. An address with too many failed registrations waits (429).",
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
  // A claim lapses once its delivery can no longer be running (the API that made it died).
  const leaseMs = deliveryTimeoutMs + Math.min(deliveryTimeoutMs, 5_000);
  const limit = deps.registrationFailureLimit ?? { max: 20, windowMs: 5 * 60_000 };
  const failures = new FailureLimiter(limit.max, limit.windowMs);
  return new Hono().post('/register', async (c) => {
    // Guessing tokens is slowed down per address; a blocked address waits even with a good token.
    const client = clientAddress(c);
    const wait = failures.retryAfter(client);
    if (wait > 0) {
      throw apiError(429, 'too_many_attempts', 'too many failed registrations from this address; retry later', { headers: { 'Retry-After': String(wait) } });
    }
    const { token, hostname, credential_sha256: vmCredential, ...extra } = await jsonBody(c, registerOperations.register.body);
    // The agent's credential is the VM's own (it sent the digest) or made here; only its digest is
    // stored, with the node, in the transaction that consumes the token: the node is never ready
    // without it, and it never reaches Temporal. A repeat replaces it: only the latest one works.
    const nodeToken = vmCredential ? undefined : newSecretToken('bnt');
    const credentialHash = vmCredential ?? sha256Hex(nodeToken!);
    const registration = await registerNode(db, { token, facts: { ...extra, hostname }, credentialHash, vmCredential: vmCredential !== undefined, leaseMs });
    const answer = (jobId: string, nodeId: string) =>
      c.json(nodeToken ? { node_id: nodeId, job_id: jobId, node_token: nodeToken } : { node_id: nodeId, job_id: jobId, credential_sha256: credentialHash }, 200);
    // One answer for unknown, used, revoked and expired tokens.
    if (registration.outcome === 'invalid') {
      failures.fail(client);
      throw apiError(401, 'invalid_token', 'the registration token is not valid', { field: 'token' });
    }
    if (registration.outcome === 'held') throw notDelivered(registration.retryAfterS);
    if (registration.outcome === 'answered') return answer(registration.jobId, registration.nodeId);
    if (registration.outcome === 'not_waiting') throw jobNotWaiting('it has ended');

    const { claim, nodeId, facts } = registration;
    // Delivered even when the job row already says ready: a worker records 'ready' inside the task
    // that takes the update, so a worker that died there leaves the row ahead of its workflow, and
    // the update lost. A repeat to a workflow that has it is answered with the same node; one that
    // has ended ready with this node is answered below, from the job's outcome.
    try {
      // Bounded, so the VM hears back before its own timeout even when no worker is running.
      const handle = deps.temporal.workflow.getHandle(provisionWorkflowId(claim.jobId));
      await deps.temporal.withDeadline(Date.now() + deliveryTimeoutMs, () => handle.executeUpdate(registerUpdate, { args: [facts, { nodeId }] }));
    } catch (err) {
      // The workflow itself said no: the job is ending. Its compensation unbinds the node; so does
      // this, for runs from before the API bound nodes. The token stays claimed until it is revoked.
      if (err instanceof WorkflowUpdateFailedError) {
        await unbindJobNode(db, claim.jobId);
        throw jobNotWaiting(err.cause?.message ?? 'it has ended');
      }
      // Anything else is ambiguous (Temporal unreachable, the update lost in a worker crash).
      if (!(await jobStillRunning(deps, claim.jobId))) {
        // It ended ready with this node (it took an earlier delivery), or without: then no node.
        if ((await jobOutcome(db, claim.jobId))?.node_id === nodeId) {
          await completeRegistrationToken(db, claim);
          return answer(claim.jobId, nodeId);
        }
        await unbindJobNode(db, claim.jobId);
        throw jobNotWaiting('it has ended');
      }
      // Hand the token back so the VM's retry can deliver again; a repeat gets the same node.
      await releaseRegistrationToken(db, claim);
      deps.logger.warn({ err, job_id: claim.jobId, tenant_id: claim.tenantId }, 'could not deliver a registration to its job; the VM will retry');
      throw notDelivered(5);
    }
    await completeRegistrationToken(db, claim);
    return answer(claim.jobId, nodeId);
  });
}

const jobNotWaiting = (why: string) => apiError(409, 'job_not_waiting', `the job is not waiting for this node: ${why}`);
const notDelivered = (retryAfterS: number) =>
  apiError(503, 'registration_not_delivered', 'the registration could not be delivered yet; retry later', { headers: { 'Retry-After': String(retryAfterS) } });

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
