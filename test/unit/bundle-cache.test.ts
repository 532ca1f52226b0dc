import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cachedWorkflowBundle } from '../../worker/bundle-cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bundle-'));
// A bundle of some older workflow code, left by an earlier version.
fs.writeFileSync(path.join(dir, 'workflow-bundle-0123456789abcdef.js'), '// old');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('bundles the workflows once and reuses the bundle on the next start', async () => {
  const first = await cachedWorkflowBundle(dir);
  expect(first.cached).toBe(false);
  const code = fs.readFileSync(first.codePath, 'utf8');
  for (const workflow of ['provisionNode', 'decommissionNode', 'sweepOrphans']) expect(code).toContain(workflow);
  const mtime = fs.statSync(first.codePath).mtimeMs;

  const second = await cachedWorkflowBundle(dir);
  expect(second).toEqual({ codePath: first.codePath, cached: true });
  expect(fs.statSync(second.codePath).mtimeMs).toBe(mtime);
  expect(fs.readdirSync(dir)).toEqual([path.basename(first.codePath)]);
});

it('keys the bundle on every project module the workflows import, not only workflows/', async () => {
  const { bundledSources } = await import('../../worker/bundle-cache.js');
  const sources = bundledSources().map((f) => path.relative(process.cwd(), f));
  expect(sources).toContain('workflows/provision.ts');
  // The pool reconciler decides with the pure functions of placement/: a change there changes the bundle.
  expect(sources).toContain('placement/pool-decision.ts');
  // Activities are imported for their types only and are not in the bundle.
  expect(sources).not.toContain('activities/index.ts');
});
