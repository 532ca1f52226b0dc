// The small pieces behind the metrics and the job log fields: endpoint templates (bounded labels),
// and the worker's log bridge (job lines get job_id and tenant_id, in order, one lookup per job).
import { describe, expect, it } from 'vitest';
import { routeTemplate } from '../../api/metrics.js';
import { endpointTemplate } from '../../providers/http.js';
import { jobLogFields, jobOfWorkflow } from '../../worker/job-log.js';

describe('label templates', () => {
  it('replaces every id in a provider path, keeping the words', () => {
    expect(endpointTemplate('/servers/4711')).toBe('/servers/{id}');
    expect(endpointTemplate('/actions/12/')).toBe('/actions/{id}/');
    expect(endpointTemplate('/v2/droplets/123456')).toBe('/v2/droplets/{id}');
    expect(endpointTemplate('/v2/account/keys/3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa')).toBe('/v2/account/keys/{id}');
    expect(endpointTemplate('/v2/firewalls/bb4b2611-3d72-467b-8602-280330ecd65c/droplets')).toBe('/v2/firewalls/{id}/droplets');
    expect(endpointTemplate('/server_types')).toBe('/server_types');
  });

  it("names a request's route by its template, never its path", () => {
    const all = { method: 'ALL', path: '/*' };
    expect(routeTemplate([all, { method: 'ALL', path: '/cp/api/v1/*' }, { method: 'GET', path: '/cp/api/v1/cluster/jobs/:id' }, { method: 'GET', path: '/*' }])).toBe(
      '/cp/api/v1/cluster/jobs/:id',
    );
    // Only middleware and the console's catch-all: no route of the API.
    expect(routeTemplate([all, { method: 'GET', path: '/*' }])).toBe('unmatched');
  });
});

describe("the worker's job log fields", () => {
  it('knows the job of a provision and a decommission workflow, and of nothing else', () => {
    expect(jobOfWorkflow('provision-abc123')).toBe('abc123');
    expect(jobOfWorkflow('decommission-node-abc123')).toBe('abc123');
    expect(jobOfWorkflow('pool-default-web')).toBeUndefined();
    expect(jobOfWorkflow('berth-orphan-sweep')).toBeUndefined();
    expect(jobOfWorkflow(undefined)).toBeUndefined();
  });

  it('adds job_id and tenant_id to a job line, looks the tenant up once, and keeps the lines in order', async () => {
    const lookups: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const write = jobLogFields(async (jobId) => {
      lookups.push(jobId);
      await gate;
      return jobId === 'j1' ? 'acme' : undefined;
    });
    const out: string[] = [];
    const emit = (name: string) => (fields: object) => out.push(`${name} ${JSON.stringify(fields)}`);
    write({ workflowId: 'provision-j1' }, emit('a'));
    write({ message: 'not a job' }, emit('b'));
    write({ workflowId: 'decommission-node-j1' }, emit('c'));
    expect(out).toEqual([]); // waiting for j1's tenant: the lines after it wait too
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(out).toEqual(['a {"job_id":"j1","tenant_id":"acme"}', 'b {}', 'c {"job_id":"j1","tenant_id":"acme"}']);
    write({ workflowId: 'provision-j1' }, emit('d'));
    expect(out.at(-1)).toBe('d {"job_id":"j1","tenant_id":"acme"}'); // known: at once
    write({ workflowId: 'provision-gone' }, emit('e'));
    await new Promise((r) => setTimeout(r, 10));
    expect(out.at(-1)).toBe('e {"job_id":"gone"}');
    write({ workflowId: 'provision-gone' }, emit('f'));
    expect(out.at(-1)).toBe('f {"job_id":"gone"}');
    expect(lookups).toEqual(['j1', 'gone']);
  });
});
