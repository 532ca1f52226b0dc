import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.js';

export function providerRoutes(deps: AppDeps) {
  return new Hono<AppEnv>().get('/providers', (c) => c.json({ providers: deps.providers.list() }));
}
