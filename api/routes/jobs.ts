import { WorkflowNotFoundError } from '@temporalio/client';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { findJob as findJobRow, jobOutcome, jobProgressSince, listJobs } from '../../db/jobs.js';
import { FINAL_PHASES, isPhase } from '../../workflows/phases.js';
import { provisionWorkflowId } from '../../workflows/messages.js';
import { jobDetailSchema, jobListSchema, jobPhaseEventSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { idSchema, lastEventIdHeaders, listJobsQuerySchema } from '../schemas.js';
import { parseOr400 } from '../validate.js';
import { compact, jobView } from '../views.js';

const jobParams = z.object({ id: idSchema });

export const jobOperations = {
  list: operation({
    method: 'get',
    path: '/cluster/jobs',
    operationId: 'listJobs',
    tag: 'Jobs',
    summary: 'List jobs, newest first',
    auth: 'admin',
    query: listJobsQuerySchema,
    answers: { 200: { description: 'The jobs', json: jobListSchema } },
  }),
  get: operation({
    method: 'get',
    path: '/cluster/jobs/{id}',
    operationId: 'getJob',
    tag: 'Jobs',
    summary: 'A job: its phase, VM, node, error and progress',
    auth: 'admin',
    params: jobParams,
    answers: {
      200: {
        description: 'The job',
        json: jobDetailSchema,
        links: { deleteNode: { operationId: 'deleteNode', parameters: { id: '$response.body#/node_id' }, description: "tear the job's node down, once it has one" } },
      },
    },
    errors: { 404: ['job_not_found'] },
  }),
  events: operation({
    method: 'get',
    path: '/cluster/jobs/{id}/events',
    operationId: 'jobEvents',
    tag: 'Jobs',
    summary: "A job's phases as Server-Sent Events",
    description:
      'One `phase` event per phase reached (the event id is its position), from the first one or after `Last-Event-ID`; the stream ends after a final phase (ready, failed, cancelled, decommissioned). A comment line keeps the stream alive every 15 s.',
    auth: 'admin',
    params: jobParams,
    lenientHeaders: lastEventIdHeaders,
    answers: { 200: { description: 'The event stream', events: { phase: jobPhaseEventSchema } } },
    errors: { 404: ['job_not_found'] },
  }),
  cancel: operation({
    method: 'post',
    path: '/cluster/jobs/{id}/cancel',
    operationId: 'cancelJob',
    tag: 'Jobs',
    summary: 'Cancel a job: its VM is torn down',
    auth: 'admin',
    params: jobParams,
    answers: { 204: { description: 'Cancelled; the job ends `cancelled` once its VM is deleted' } },
    errors: { 404: ['job_not_found'], 409: ['job_finished'], 503: ['temporal_unavailable'] },
  }),
};

const KEEPALIVE_MS = 15_000;

/** A provision job has ended when it is ready or torn down; only then does its event stream close. */
const isFinal = (phase: string) => isPhase(phase) && FINAL_PHASES.has(phase);

export function jobRoutes(deps: AppDeps) {
  const { db } = deps;
  const pollMs = deps.eventPollMs ?? 250;

  /** The caller's job, or 404: another tenant's job is as invisible as one that never existed. */
  async function findJob(tenantId: string, jobId: string) {
    const job = idSchema.safeParse(jobId).success ? await findJobRow(db, tenantId, jobId) : undefined;
    if (!job) throw apiError(404, 'job_not_found', `no job ${jobId}`);
    return job;
  }

  return new Hono<AppEnv>()
    .get('/jobs', async (c) => {
      const query = parseOr400(jobOperations.list.query, c.req.query());
      const rows = await listJobs(db, c.get('tenantId'), query);
      return c.json({ jobs: rows.map(jobView) });
    })
    .get('/jobs/:id', async (c) => {
      const job = await findJob(c.get('tenantId'), c.req.param('id'));
      const progress = await jobProgressSince(db, job.job_id, -1);
      return c.json({ ...jobView(job), progress: progress.map(({ phase, at }) => ({ phase, at })) });
    })
    .get('/jobs/:id/events', async (c) => {
      const job = await findJob(c.get('tenantId'), c.req.param('id'));
      // A reconnecting client says where it was; the event id is the phase's position.
      const lastId = Number(c.req.header('Last-Event-ID'));
      let seen = Number.isInteger(lastId) ? lastId : -1;
      return streamSSE(c, async (stream) => {
        let lastWrite = Date.now();
        while (!stream.aborted) {
          for (const step of await jobProgressSince(db, job.job_id, seen)) {
            seen = step.seq;
            const final = isFinal(step.phase);
            // The last event also says how the job ended.
            const outcome = final ? await jobOutcome(db, job.job_id) : undefined;
            const data = { job_id: job.job_id, phase: step.phase, at: step.at, ...compact(outcome ?? {}) };
            await stream.writeSSE({ event: 'phase', id: String(step.seq), data: JSON.stringify(data) });
            lastWrite = Date.now();
            if (final) return;
          }
          // A comment now and then keeps proxies from closing a stream that waits for a booting VM.
          if (Date.now() - lastWrite > KEEPALIVE_MS) {
            await stream.write(': keepalive\n\n');
            lastWrite = Date.now();
          }
          await stream.sleep(pollMs);
        }
      });
    })
    .post('/jobs/:id/cancel', async (c) => {
      const job = await findJob(c.get('tenantId'), c.req.param('id'));
      if (isFinal(job.phase)) throw apiError(409, 'job_finished', `job ${job.job_id} has already ended (${job.phase})`);
      try {
        await deps.temporal.workflow.getHandle(provisionWorkflowId(job.job_id)).cancel();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw apiError(409, 'job_finished', `job ${job.job_id} has already ended`);
        throw err;
      }
      return c.body(null, 204);
    });
}
