import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Hono } from 'hono';
import { consumeRegistrationToken, releaseRegistrationToken } from '../../db/registration-tokens.js';
import { vmName } from '../../activities/index.js';
import { provisionWorkflowId, registerUpdate, type NodeFacts } from '../../workflows/messages.js';
import type { AppDeps } from '../deps.js';
import { apiError } from '../errors.js';
import { registerSchema } from '../schemas.js';
import { jsonBody } from '../validate.js';

/**
 * The VM's callback (public: the one-time token is the credential). The token is consumed here and
 * never reaches Temporal; the workflow only receives the node's facts and answers with its id.
 */
export function registerRoutes(deps: AppDeps) {
  const { db } = deps;
  return new Hono().post('/register', async (c) => {
    const { token, hostname, ...extra } = await jsonBody(c, registerSchema);
    const claim = await consumeRegistrationToken(db, token);
    // One answer for unknown, used, revoked and expired tokens.
    if (!claim) throw apiError(401, 'invalid_token', 'the registration token is not valid', { field: 'token' });

    const job = await db.selectFrom('jobs').select('hostname').where('job_id', '=', claim.jobId).executeTakeFirst();
    const facts: NodeFacts = { ...extra, hostname: hostname ?? job?.hostname ?? vmName(claim.jobId) };
    try {
      const result = await deps.temporal.workflow.getHandle(provisionWorkflowId(claim.jobId)).executeUpdate(registerUpdate, { args: [facts] });
      return c.json({ node_id: result.nodeId, job_id: claim.jobId }, 200);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        const reason = err instanceof WorkflowUpdateFailedError && err.cause ? err.cause.message : 'the job has ended';
        throw apiError(409, 'job_not_waiting', `the job is not waiting for this node: ${reason}`);
      }
      // Temporal could not be reached: hand the token back so the VM's retry can succeed.
      await releaseRegistrationToken(db, claim);
      deps.logger.error({ err, jobId: claim.jobId }, 'could not deliver a registration to its job');
      throw apiError(503, 'temporal_unavailable', 'the registration could not be delivered; retry later', { headers: { 'Retry-After': '5' } });
    }
  });
}
