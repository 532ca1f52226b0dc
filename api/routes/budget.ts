import { Hono } from 'hono';
import { z } from 'zod';
import { getTenant, setBudget } from '../../db/tenants.js';
import type { TenantRow } from '../../db/schema.js';
import { isTier, TIERS } from '../../db/tiers.js';
import { budgetSchema as budgetAnswer } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { jsonBody } from '../validate.js';

const budgetSchema = z
  .strictObject({
    monthly_cents: z.number().int().min(0).max(1e12).nullable().meta({ description: 'the monthly budget in cents; null removes it' }),
  })
  .meta({ id: 'BudgetRequest', examples: [{ monthly_cents: 5000 }] });

export const budgetOperations = {
  get: operation({
    method: 'get',
    path: '/cluster/budget',
    operationId: 'getBudget',
    tag: 'Budget',
    summary: "The tenant's monthly budget and what counts against it",
    description:
      "Live and in-flight nodes count at their plan's monthly price; a null budget means no limit. `tier` and `node_cap` say how many provisioned nodes the tenant may hold (`nodes_counted` of `node_cap`; null: no cap).",
    auth: 'admin',
    answers: { 200: { description: 'The budget', json: budgetAnswer } },
  }),
  set: operation({
    method: 'put',
    path: '/cluster/budget',
    operationId: 'setBudget',
    tag: 'Budget',
    summary: 'Set or remove the monthly budget',
    auth: 'admin',
    body: budgetSchema,
    answers: { 200: { description: 'The budget', json: budgetAnswer } },
  }),
};

function budgetView(tenant: TenantRow) {
  const budget = tenant.monthly_budget_cents;
  return {
    monthly_cents: budget,
    committed_cents: tenant.committed_cents,
    remaining_cents: budget === null ? null : Math.max(0, budget - tenant.committed_cents),
    nodes_counted: tenant.reserved_nodes,
    tier: tenant.tier,
    // A tier Berth does not know provisions nothing (db/admission.ts): its cap is 0.
    node_cap: isTier(tenant.tier) ? TIERS[tenant.tier].nodeCap : 0,
  };
}

/** The tenant's monthly budget: live and in-flight nodes count against it at their plan's price. */
export function budgetRoutes(deps: AppDeps) {
  return new Hono<AppEnv>()
    .get('/budget', async (c) => c.json(budgetView((await getTenant(deps.db, c.get('tenantId')))!)))
    .put('/budget', async (c) => {
      const { monthly_cents } = await jsonBody(c, budgetOperations.set.body);
      await setBudget(deps.db, c.get('tenantId'), monthly_cents);
      return c.json(budgetView((await getTenant(deps.db, c.get('tenantId')))!));
    });
}
