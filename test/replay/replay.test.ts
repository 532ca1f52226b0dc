// Replays recorded histories against today's workflow code: a change that would break running
// jobs (a nondeterministic edit without patching) fails here.
import fs from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { expect, inject, it } from 'vitest';
import { HISTORIES_DIR } from '../support/histories.js';

const files = fs
  .readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

it('has recorded histories of every ending to replay', () => {
  const names = files.map((f) => f.replace(/\.json$/, ''));
  for (const expected of [
    'provision-ready',
    'provision-registration-timeout',
    'provision-cancelled-bootstrapping',
    'provision-cancelled-registering',
    'decommission',
    'sweep-orphans',
    'pool-deleted',
    'pool-continued-as-new',
    'pool-batch-scale-out',
    'provision-pool-node',
    'decommission-pool-node',
    'decommission-phase-attribute',
    'provision-ready-api-binds',
    'provision-cancelled-bootstrapping-api-binds',
    'provision-ready-phases-in-activities',
    'provision-cancelled-bootstrapping-phases-in-activities',
    'provision-ready-verify-locally',
    'provision-cancelled-verifying-verify-locally',
    'pool-partition',
  ]) {
    expect(names).toContain(expected);
  }
});

it.each(files)('replays %s', async (file) => {
  // Decoded here rather than by the SDK's JSON path: npm gives @temporalio/common and
  // @temporalio/proto separate protobufjs copies, and the SDK's converter then rejects the type.
  const json = JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8'));
  const history = proto.temporal.api.history.v1.History.fromObject(json);
  await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, file)).resolves.toBeUndefined();
});
