// The API's ceiling: a bare Hono route on the same server stack, answering a job-sized JSON body.
// POST answers the same, so the harness's own cost of a submit and a callback can be measured.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const body = { job_id: 'x', phase: 'bootstrapping', provider: 'local', region: 'local', plan: 'local-1', progress: [] };
const app = new Hono()
  .get('/bare', (c) => c.json(body))
  .post('/bare', async (c) => {
    await c.req.text();
    return c.json(body, 202);
  });
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' });
