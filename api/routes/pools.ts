import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sql } from 'kysely';
import { z } from 'zod';
import { buildUserData, USER_DATA_LIMITS, userDataBytes, userDataKind } from '../../activities/cloud-init.js';
import { getPool, getTemplate, listPools, poolEventsSince, type Pool, type PoolTemplate } from '../../db/pools.js';
import { isProviderName } from '../../providers/registry.js';
import type { Plan } from '../../providers/types.js';
import { poolPokeSignal, poolWorkflowId, type PoolWorkflowInput } from '../../workflows/messages.js';
import type { poolReconciler } from '../../workflows/pool.js';
import { SA_POOL, SA_TENANT } from '../../workflows/search-attributes.js';
import { poolDecisionEventSchema, poolDeletedEventSchema, poolDeletionSchema, poolListSchema, poolSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { apiError } from '../errors.js';
import { createPoolSchema, patchPoolSchema, poolNameSchema, specFromBody, type TemplateBody } from '../pool-schemas.js';
import { checkSpec, mergeSpec, poolView } from '../pool-views.js';
import { lastEventIdHeaders } from '../schemas.js';
import { CATALOGUE_ERRORS, checkCatalogue } from '../submit-job.js';
import { jsonBody } from '../validate.js';

const poolParams = z.object({ name: poolNameSchema });
const TEMPLATE_ERRORS = [...CATALOGUE_ERRORS[422], 'invalid_user_data', 'user_data_too_large'] as const;

export const poolOperations = {
  create: operation({
    method: 'post',
    path: '/cluster/pools',
    operationId: 'createPool',
    tag: 'Pools',
    summary: 'Create a node pool: a reconciler keeps it between min and max',
    description:
      'Bad input is refused naming the field, with nothing stored: `min > max` (`min`), `desired` outside `[min, max]` (`desired`), `scale_in_cpu >= scale_out_cpu` (`autoscaling.scale_in_cpu`), an unknown provider, region or plan (`template.*`), user-data that is neither a cloud-config nor a script or too large for the provider (`template.user_data`).',
    auth: 'admin',
    body: createPoolSchema,
    answers: {
      201: {
        description: 'The pool',
        json: poolSchema,
        headers: { Location: { description: 'the pool: /cp/api/v1/cluster/pools/{name}', required: true } },
        links: {
          pool: { operationId: 'getPool', parameters: { name: '$response.body#/name' }, description: 'the pool' },
          update: { operationId: 'updatePool', parameters: { name: '$response.body#/name' }, description: 'change the pool' },
          events: { operationId: 'poolEvents', parameters: { name: '$response.body#/name' }, description: "the pool's decisions" },
          delete: { operationId: 'deletePool', parameters: { name: '$response.body#/name' }, description: 'delete the pool' },
        },
      },
    },
    errors: {
      409: ['pool_exists'],
      422: TEMPLATE_ERRORS,
      502: CATALOGUE_ERRORS[502],
      503: { codes: [...CATALOGUE_ERRORS[503].codes, 'temporal_unavailable'], headers: CATALOGUE_ERRORS[503].headers },
    },
  }),
  list: operation({
    method: 'get',
    path: '/cluster/pools',
    operationId: 'listPools',
    tag: 'Pools',
    summary: "The tenant's pools",
    auth: 'admin',
    answers: { 200: { description: 'The pools', json: poolListSchema } },
  }),
  get: operation({
    method: 'get',
    path: '/cluster/pools/{name}',
    operationId: 'getPool',
    tag: 'Pools',
    summary: 'A pool: its spec, live counts, capacity, CPU average, last action and conditions',
    auth: 'admin',
    params: poolParams,
    answers: { 200: { description: 'The pool', json: poolSchema } },
    errors: { 404: ['pool_not_found'] },
  }),
  update: operation({
    method: 'patch',
    path: '/cluster/pools/{name}',
    operationId: 'updatePool',
    tag: 'Pools',
    summary: "Change any field of a pool's spec",
    description:
      '`desired`, `min` and `max` take effect at once (a `min` above `desired` raises `desired`), `autoscaling` merges (`null` turns it off), and a `template` change is merged over the current template and recorded as a new `template_version`.',
    auth: 'admin',
    params: poolParams,
    body: patchPoolSchema,
    answers: { 200: { description: 'The pool', json: poolSchema } },
    errors: {
      404: ['pool_not_found'],
      409: ['pool_deleting', 'pool_changed'],
      422: TEMPLATE_ERRORS,
      502: CATALOGUE_ERRORS[502],
      503: CATALOGUE_ERRORS[503],
    },
  }),
  delete: operation({
    method: 'delete',
    path: '/cluster/pools/{name}',
    operationId: 'deletePool',
    tag: 'Pools',
    summary: 'Delete a pool: every node is drained and removed, then the pool',
    description: 'Repeating it is the same delete.',
    auth: 'admin',
    params: poolParams,
    answers: { 202: { description: 'The pool is being deleted', json: poolDeletionSchema } },
    errors: { 404: ['pool_not_found'] },
  }),
  events: operation({
    method: 'get',
    path: '/cluster/pools/{name}/events',
    operationId: 'poolEvents',
    tag: 'Pools',
    summary: "A pool's decisions as Server-Sent Events",
    description:
      'One `decision` event per decision recorded (the event id is its sequence number), from the first one or after `Last-Event-ID`; `deleted` once the pool is gone, and the stream ends. A comment line keeps the stream alive every 15 s.',
    auth: 'admin',
    params: poolParams,
    lenientHeaders: lastEventIdHeaders,
    answers: { 200: { description: 'The event stream', events: { decision: poolDecisionEventSchema, deleted: poolDeletedEventSchema } } },
    errors: { 404: ['pool_not_found'] },
  }),
};

const KEEPALIVE_MS = 15_000;
/** How long a create waits for the reconciler of a deleted pool of the same name to finish. */
const NAME_RELEASE_WAIT_MS = 5_000;
/** How long a request waits for Temporal before it answers anyway. */
const TEMPORAL_DEADLINE_MS = 5_000;

export function poolRoutes(deps: AppDeps) {
  const { db } = deps;

  /** The caller's pool, or 404 (another tenant's pool does not exist for this one). */
  async function findPool(tenantId: string, name: string): Promise<Pool> {
    const pool = poolNameSchema.safeParse(name).success ? await getPool(db, tenantId, name) : undefined;
    if (!pool) throw apiError(404, 'pool_not_found', `no pool ${name}`);
    return pool;
  }

  /** Catalogue and user-data checks of a template: 422 naming the field, before anything is stored. */
  async function checkTemplate(tenantId: string, template: TemplateBody): Promise<Plan> {
    const plan = await checkCatalogue(deps.providers, tenantId, template, 'template.');
    if (template.user_data !== undefined) {
      if (!userDataKind(template.user_data)) {
        throw apiError(422, 'invalid_user_data', 'user_data must be a cloud-config document (#cloud-config) or a script (#!)', { field: 'template.user_data' });
      }
      // Measured as the VM will get it: Berth's own parts included.
      const sample = buildUserData(
        { registerUrl: `https://${'x'.repeat(64)}.example/cp/api/v1/cluster/register`, token: `brt_${'x'.repeat(16)}_${'x'.repeat(43)}`, tenantId, hostname: 'x'.repeat(49) },
        { workloadCommand: template.workload_command, extraUserData: template.user_data },
      );
      const limit = isProviderName(template.provider) ? USER_DATA_LIMITS[template.provider] : 0;
      if (userDataBytes(sample) > limit) {
        throw apiError(422, 'user_data_too_large', `with Berth's bootstrap the user-data would be ${userDataBytes(sample)} bytes; ${template.provider} accepts at most ${limit}`, {
          field: 'template.user_data',
        });
      }
    }
    return plan;
  }

  const storedTemplate = ({ user_data: _userData, ...template }: TemplateBody): PoolTemplate => template;

  /** Wakes the reconciler, starting it again if it is not running (e.g. terminated by hand). */
  async function poke(tenantId: string, name: string): Promise<void> {
    try {
      await deps.temporal.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, () =>
        deps.temporal.workflow.signalWithStart<typeof poolReconciler, []>('poolReconciler', {
          ...reconcilerOptions(tenantId, name),
          signal: poolPokeSignal,
          signalArgs: [],
        }),
      );
    } catch (err) {
      // The change is stored; the reconciler's next timer pass applies it.
      deps.logger.warn({ err, pool: name, tenantId }, 'could not wake the pool reconciler');
    }
  }

  function reconcilerOptions(tenantId: string, name: string) {
    const args: [PoolWorkflowInput] = [{ tenantId, name, ...(deps.poolMaxHistoryEvents !== undefined && { maxHistoryEvents: deps.poolMaxHistoryEvents }) }];
    return {
      taskQueue: deps.taskQueue,
      workflowId: poolWorkflowId(tenantId, name),
      args,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
      typedSearchAttributes: [
        { key: SA_TENANT, value: tenantId },
        { key: SA_POOL, value: name },
      ],
      staticSummary: `node pool ${name} of tenant ${tenantId}`,
    };
  }

  async function view(pool: Pool) {
    return poolView(db, pool);
  }

  return new Hono<AppEnv>()
    .post('/pools', async (c) => {
      const tenantId = c.get('tenantId');
      const body = await jsonBody(c, poolOperations.create.body);
      const spec = specFromBody(body);
      const desired = body.desired ?? body.min;
      checkSpec(spec, desired, body.desired !== undefined);
      const plan = await checkTemplate(tenantId, body.template);
      const now = new Date().toISOString();
      const created = await db.transaction().execute(async (trx) => {
        const result = await trx
          .insertInto('pools')
          .values({
            tenant_id: tenantId,
            name: body.name,
            spec: JSON.stringify(spec),
            desired,
            template_version: 1,
            generation: 1,
            status: '{"conditions":[]}',
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
          .executeTakeFirst();
        if (Number(result.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
        await trx
          .insertInto('pool_templates')
          .values({
            tenant_id: tenantId,
            pool: body.name,
            version: 1,
            template: JSON.stringify(storedTemplate(body.template)),
            plan: JSON.stringify(plan),
            user_data: body.template.user_data ?? null,
            created_at: now,
          })
          .execute();
        return true;
      });
      if (!created) throw apiError(409, 'pool_exists', `a pool named ${body.name} exists`, { field: 'name' });

      const deadline = Date.now() + NAME_RELEASE_WAIT_MS;
      for (;;) {
        try {
          // Bounded: a start that times out after all is harmless, a reconciler without its pool row ends at once.
          await deps.temporal.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, () =>
            deps.temporal.workflow.start<typeof poolReconciler>('poolReconciler', { ...reconcilerOptions(tenantId, body.name), workflowIdConflictPolicy: 'FAIL' }),
          );
          break;
        } catch (err) {
          // The reconciler of a deleted pool of this name is finishing: wait for it.
          if (err instanceof WorkflowExecutionAlreadyStartedError && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 250));
            continue;
          }
          await db.transaction().execute(async (trx) => {
            await trx.deleteFrom('pool_templates').where('tenant_id', '=', tenantId).where('pool', '=', body.name).execute();
            await trx.deleteFrom('pools').where('tenant_id', '=', tenantId).where('name', '=', body.name).execute();
          });
          if (err instanceof WorkflowExecutionAlreadyStartedError)
            throw apiError(409, 'pool_exists', `a pool named ${body.name} is still being deleted; retry shortly`, { field: 'name' });
          deps.logger.error({ err, pool: body.name }, 'could not start the pool reconciler');
          throw apiError(503, 'temporal_unavailable', 'the pool could not be created: Temporal is not reachable; retry later', { headers: { 'Retry-After': '5' } });
        }
      }
      return c.json(await view((await getPool(db, tenantId, body.name))!), 201, { Location: `/cp/api/v1/cluster/pools/${body.name}` });
    })
    .get('/pools', async (c) => {
      const pools = await listPools(db, c.get('tenantId'));
      return c.json({ pools: await Promise.all(pools.map(view)) });
    })
    .get('/pools/:name', async (c) => {
      return c.json(await view(await findPool(c.get('tenantId'), c.req.param('name'))));
    })
    .patch('/pools/:name', async (c) => {
      const tenantId = c.get('tenantId');
      const pool = await findPool(tenantId, c.req.param('name'));
      const body = await jsonBody(c, poolOperations.update.body);
      if (pool.deleting) throw apiError(409, 'pool_deleting', `pool ${pool.name} is being deleted`);
      const spec = mergeSpec(pool.spec, body);
      const desired = body.desired ?? Math.min(spec.max, Math.max(spec.min, pool.desired));
      checkSpec(spec, desired, body.desired !== undefined);

      let template: { body: TemplateBody; plan: Plan } | undefined;
      if (body.template !== undefined) {
        const current = (await getTemplate(db, tenantId, pool.name, pool.templateVersion))!;
        const merged = { ...current.template, ...(current.userData !== null && { user_data: current.userData }), ...body.template } as TemplateBody;
        template = { body: merged, plan: await checkTemplate(tenantId, merged) };
      }
      const version = template ? pool.templateVersion + 1 : pool.templateVersion;
      const now = new Date().toISOString();
      const updated = await db.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('pools')
          .set({ spec: JSON.stringify(spec), desired, template_version: version, generation: sql`generation + 1`, updated_at: now })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', pool.name)
          .where('generation', '=', pool.generation)
          .where('deleting_at', 'is', null)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return false;
        if (template) {
          await trx
            .insertInto('pool_templates')
            .values({
              tenant_id: tenantId,
              pool: pool.name,
              version,
              template: JSON.stringify(storedTemplate(template.body)),
              plan: JSON.stringify(template.plan),
              user_data: template.body.user_data ?? null,
              created_at: now,
            })
            .execute();
        }
        return true;
      });
      if (!updated) throw apiError(409, 'pool_changed', `pool ${pool.name} changed while this request was made; read it again and retry`);
      await poke(tenantId, pool.name);
      return c.json(await view((await getPool(db, tenantId, pool.name))!));
    })
    .delete('/pools/:name', async (c) => {
      const tenantId = c.get('tenantId');
      const pool = await findPool(tenantId, c.req.param('name'));
      await db
        .updateTable('pools')
        .set({ deleting_at: new Date().toISOString(), generation: sql`generation + 1` })
        .where('tenant_id', '=', tenantId)
        .where('name', '=', pool.name)
        .where('deleting_at', 'is', null)
        .execute();
      await poke(tenantId, pool.name);
      return c.json({ name: pool.name, state: 'deleting' }, 202);
    })
    .get('/pools/:name/events', async (c) => {
      const tenantId = c.get('tenantId');
      const pool = await findPool(tenantId, c.req.param('name'));
      const lastId = Number(c.req.header('Last-Event-ID'));
      let seen = Number.isInteger(lastId) ? lastId : 0;
      const pollMs = deps.eventPollMs ?? 250;
      return streamSSE(c, async (stream) => {
        let lastWrite = Date.now();
        while (!stream.aborted) {
          for (const event of await poolEventsSince(db, tenantId, pool.name, seen)) {
            seen = event.seq;
            await stream.writeSSE({ event: 'decision', id: String(event.seq), data: JSON.stringify({ pool: pool.name, ...event }) });
            lastWrite = Date.now();
          }
          if (!(await getPool(db, tenantId, pool.name))) {
            await stream.writeSSE({ event: 'deleted', data: JSON.stringify({ pool: pool.name }) });
            return;
          }
          if (Date.now() - lastWrite > KEEPALIVE_MS) {
            await stream.write(': keepalive\n\n');
            lastWrite = Date.now();
          }
          await stream.sleep(pollMs);
        }
      });
    });
}
