import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Hono } from 'hono';
import { z } from 'zod';
import { findNode, findNodeWithJob, listNodes } from '../../db/nodes.js';
import { decommissionWorkflowId, type DecommissionInput } from '../../workflows/messages.js';
import type { decommissionNode } from '../../workflows/decommission.js';
import { jobCreatedSchema, nodeDeletedSchema, nodeDetailSchema, nodeListSchema, previewSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { createNodeSchema, idempotencyKeySchema, idSchema } from '../schemas.js';
import { CATALOGUE_ERRORS, checkCatalogue, previewJob, submitJob } from '../submit-job.js';
import { jsonBody, parseOr400 } from '../validate.js';
import { berthWorkflowOptions } from '../workflow-options.js';
import { nodeDetailView, nodeView } from '../views.js';

const dryRunQuery = z.object({
  dry_run: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1')
    .meta({ description: '`true`: answer what would be created and what it would cost, and create nothing' }),
});
const listNodesQuery = z.strictObject({ status: z.enum(['ready', 'decommissioning', 'decommissioned']).optional() });
const idempotencyHeaders = z.object({
  'Idempotency-Key': idempotencyKeySchema.optional().meta({ description: 'a retry with the same key returns the same job; the same key with a different body is a 422' }),
});

export const nodeOperations = {
  create: operation({
    method: 'post',
    path: '/cluster/nodes',
    operationId: 'createNode',
    tag: 'Nodes',
    summary: 'Ask for a node: a job that creates the VM and waits for it to register',
    description:
      'The provider, region and plan are checked against the catalogue before anything is made; the job is admitted (tier, cap, budget) in the same transaction that records it. `?dry_run=true` answers what would be created and what it would cost, and creates nothing.',
    auth: 'admin',
    headers: idempotencyHeaders,
    query: dryRunQuery,
    body: createNodeSchema,
    answers: {
      202: {
        description: 'The job is recorded and started',
        json: jobCreatedSchema,
        headers: { Location: { description: 'the job: /cp/api/v1/cluster/jobs/{job_id}', required: true } },
        links: {
          job: { operationId: 'getJob', parameters: { id: '$response.body#/job_id' }, description: 'the job' },
          events: { operationId: 'jobEvents', parameters: { id: '$response.body#/job_id' }, description: "the job's phases as they happen" },
          cancel: { operationId: 'cancelJob', parameters: { id: '$response.body#/job_id' }, description: 'cancel the job' },
        },
      },
      200: { description: 'With `dry_run=true`: what would be created; nothing is', json: previewSchema },
    },
    errors: {
      ...CATALOGUE_ERRORS,
      402: ['budget_exceeded'],
      403: ['plan_required'],
      409: ['node_cap_reached'],
      422: [...CATALOGUE_ERRORS[422], 'idempotency_key_reused'],
      503: { codes: [...CATALOGUE_ERRORS[503].codes, 'temporal_unavailable'], headers: CATALOGUE_ERRORS[503].headers },
    },
  }),
  list: operation({
    method: 'get',
    path: '/cluster/nodes',
    operationId: 'listNodes',
    tag: 'Nodes',
    summary: 'List nodes',
    description: 'Newest first; each with the region, plan and monthly price of the job that made it (null for a node registered by hand).',
    auth: 'admin',
    query: listNodesQuery,
    answers: { 200: { description: 'The nodes', json: nodeListSchema } },
  }),
  get: operation({
    method: 'get',
    path: '/cluster/nodes/{id}',
    operationId: 'getNode',
    tag: 'Nodes',
    summary: "A node: as listed, plus the facts its VM reported at registration and its agent's latest report",
    description: "Another tenant's node is as absent as one that never existed. The node's credential is never shown.",
    auth: 'admin',
    params: z.object({ id: idSchema }),
    answers: {
      200: {
        description: 'The node',
        json: nodeDetailSchema,
        links: { deleteNode: { operationId: 'deleteNode', parameters: { id: '$response.body#/node_id' }, description: 'tear the node down' } },
      },
    },
    errors: { 404: ['node_not_found'] },
  }),
  delete: operation({
    method: 'delete',
    path: '/cluster/nodes/{id}',
    operationId: 'deleteNode',
    tag: 'Nodes',
    summary: 'Tear a node down: its VM is deleted and its credential revoked, as its own workflow',
    description: 'Deleting a node again is accepted and changes nothing.',
    auth: 'admin',
    params: z.object({ id: idSchema }),
    answers: { 202: { description: 'The decommission runs (or has run)', json: nodeDeletedSchema } },
    errors: { 404: ['node_not_found'], 503: ['temporal_unavailable'] },
  }),
};

export function nodeRoutes(deps: AppDeps) {
  const { db } = deps;
  return new Hono<AppEnv>()
    .post('/nodes', async (c) => {
      const header = c.req.header('Idempotency-Key');
      const idempotencyKey = header === undefined ? undefined : parseOr400(nodeOperations.create.headers.shape['Idempotency-Key'], header, 'Idempotency-Key');
      const body = await jsonBody(c, nodeOperations.create.body);
      const dryRun = parseOr400(nodeOperations.create.query, c.req.query()).dry_run;
      const plan = await checkCatalogue(deps.providers, c.get('tenantId'), body);
      if (dryRun) return c.json(await previewJob(deps, c.get('tenantId'), body, plan));
      const { jobId } = await submitJob(deps, c.get('tenantId'), body, plan, idempotencyKey);
      return c.json({ job_id: jobId }, 202, { Location: `/cp/api/v1/cluster/jobs/${jobId}` });
    })
    .get('/nodes', async (c) => {
      const query = parseOr400(nodeOperations.list.query, c.req.query());
      const rows = await listNodes(db, c.get('tenantId'), query);
      return c.json({ nodes: rows.map(nodeView) });
    })
    .get('/nodes/:id', async (c) => {
      const nodeId = c.req.param('id');
      const node = idSchema.safeParse(nodeId).success ? await findNodeWithJob(db, c.get('tenantId'), nodeId) : undefined;
      if (!node) throw apiError(404, 'node_not_found', `no node ${nodeId}`);
      return c.json(nodeDetailView(node));
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
          deps.logger.error({ err, node_id: nodeId, job_id: node.job_id, tenant_id: node.tenant_id }, 'could not start the decommission workflow');
          throw apiError(503, 'temporal_unavailable', 'the node could not be decommissioned: Temporal is not reachable; retry later');
        }
      }
      return c.json({ node_id: nodeId, status: node.status === 'decommissioned' ? 'decommissioned' : 'decommissioning' }, 202);
    });
}
