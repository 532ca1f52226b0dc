import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Hono } from 'hono';
import { z } from 'zod';
import { findNode, listNodes } from '../../db/nodes.js';
import { decommissionWorkflowId, type DecommissionInput } from '../../workflows/messages.js';
import type { decommissionNode } from '../../workflows/decommission.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { createNodeSchema, idempotencyKeySchema, idSchema } from '../schemas.js';
import { checkCatalogue, previewJob, submitJob } from '../submit-job.js';
import { jsonBody, parseOr400 } from '../validate.js';
import { berthWorkflowOptions } from '../workflow-options.js';
import { nodeView } from '../views.js';

const dryRunQuery = z.object({ dry_run: z.enum(['true', 'false', '1', '0']).optional().transform((v) => v === 'true' || v === '1') });
const listNodesQuery = z.strictObject({ status: z.enum(['ready', 'decommissioning', 'decommissioned']).optional() });

export function nodeRoutes(deps: AppDeps) {
  const { db } = deps;
  return new Hono<AppEnv>()
    .post('/nodes', async (c) => {
      const header = c.req.header('Idempotency-Key');
      const idempotencyKey = header === undefined ? undefined : parseOr400(idempotencyKeySchema, header, 'Idempotency-Key');
      const body = await jsonBody(c, createNodeSchema);
      const dryRun = parseOr400(dryRunQuery, c.req.query()).dry_run;
      const plan = await checkCatalogue(deps.providers, c.get('tenantId'), body);
      if (dryRun) return c.json(await previewJob(deps, c.get('tenantId'), body, plan));
      const { jobId } = await submitJob(deps, c.get('tenantId'), body, plan, idempotencyKey);
      return c.json({ job_id: jobId }, 202, { Location: `/cp/api/v1/cluster/jobs/${jobId}` });
    })
    .get('/nodes', async (c) => {
      const query = parseOr400(listNodesQuery, c.req.query());
      const rows = await listNodes(db, c.get('tenantId'), query);
      return c.json({ nodes: rows.map(nodeView) });
    })
    .delete('/nodes/:id', async (c) => {
      const nodeId = c.req.param('id');
      const node = idSchema.safeParse(nodeId).success ? await findNode(db, c.get('tenantId'), nodeId) : undefined;
      if (!node) throw apiError(404, 'node_not_found', `no node ${nodeId}`);
      const input: DecommissionInput = {
        nodeId,
        tenantId: node.tenant_id,
        jobId: node.job_id,
        provider: node.provider,
        vmId: node.vm_id,
        ...(node.pool !== null && { pool: node.pool }),
      };
      try {
        await deps.temporal.workflow.start<typeof decommissionNode>('decommissionNode', {
          ...berthWorkflowOptions({
            taskQueue: deps.taskQueue,
            workflowId: decommissionWorkflowId(nodeId),
            tenantId: node.tenant_id,
            provider: node.provider,
            phase: 'decommissioning',
            summary: `decommission ${node.hostname} (${node.provider} ${node.vm_id ?? 'no VM'}) for tenant ${node.tenant_id}`,
          }),
          args: [input],
        });
      } catch (err) {
        // Already torn down by an earlier request: deleting again is accepted, nothing to do.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
          deps.logger.error({ err, nodeId }, 'could not start the decommission workflow');
          throw apiError(503, 'temporal_unavailable', 'the node could not be decommissioned: Temporal is not reachable; retry later');
        }
      }
      return c.json({ node_id: nodeId, status: node.status === 'decommissioned' ? 'decommissioned' : 'decommissioning' }, 202);
    });
}
