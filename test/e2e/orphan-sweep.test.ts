// The orphan sweep on a cloud emulator: VMs with Berth's labels whose job is unknown or over are
// deleted after the grace period; VMs of live jobs and young VMs are kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUserData } from '../../activities/cloud-init.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT } from '../../providers/types.js';
import { ORPHAN_SWEEP_SCHEDULE_ID, ensureOrphanSweep } from '../../temporal/schedules.js';
import type { SweepReport } from '../../workflows/sweep.js';
import { CLOUDS, type CloudEmulator } from '../support/clouds.js';
import { recordHistory } from '../support/histories.js';
import { startStack, type Stack } from '../support/stack.js';

const cloud = CLOUDS.find((c) => c.name === 'digitalocean')!;

describe('orphan sweep', () => {
  let emu: CloudEmulator;
  let stack: Stack;

  beforeAll(async () => {
    emu = await cloud.start({ bootMode: 'never-register', bootDelayMs: 20 });
    stack = await startStack({
      registry: { apiUrls: { digitalocean: emu.url }, http: { timeoutMs: 2_000, backoffMs: 50 }, pollIntervalMs: 20 },
      registrationTtlMs: 120_000,
    });
    expect((await stack.request('POST', '/cp/api/v1/cluster/providers/digitalocean/verify', { token: emu.token })).status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await emu?.close();
  });

  /** A VM made behind Berth's back, labelled as if a job had made it. */
  async function strayVm(jobId: string, tenantId = stack.tenantId) {
    const provider = await stack.providers.forTenant(stack.tenantId, 'digitalocean');
    const userData = buildUserData({ registerUrl: `${stack.publicUrl}/x`, token: 'brt_x', tenantId, hostname: 'stray' });
    return provider.create({
      name: `berth-${jobId}`,
      region: cloud.region,
      plan: cloud.plan,
      userData,
      labels: { [LABEL_JOB]: jobId, [LABEL_TENANT]: tenantId, [LABEL_MANAGED]: 'true' },
    });
  }

  let runs = 0;
  const sweep = async (graceMs: number, record?: string) => {
    const workflowId = `sweep-${Date.now()}-${runs++}`;
    const report = await stack.client.workflow.execute<(input: { graceMs: number }) => Promise<SweepReport>>('sweepOrphans', {
      taskQueue: stack.taskQueue,
      workflowId,
      args: [{ graceMs }],
    });
    if (record) await recordHistory(stack.client, workflowId, record);
    return report;
  };

  it('deletes VMs of unknown or ended jobs after the grace period, and keeps live ones', async () => {
    const liveJob = await stack.createNode({ provider: 'digitalocean', region: cloud.region, plan: cloud.plan });
    await stack.waitForPhase(liveJob, ['bootstrapping'], 15_000);
    const unknown = await strayVm('nosuchjob0000001');
    const endedJob = await stack.createNode({ provider: 'digitalocean', region: cloud.region, plan: cloud.plan });
    await stack.waitForPhase(endedJob, ['bootstrapping'], 15_000);
    // The job is recorded as failed while its VM survived (a compensation that could not finish).
    await stack.db.updateTable('jobs').set({ phase: 'failed' }).where('job_id', '=', endedJob).execute();
    const endedVm = emu.vms().find((vm) => vm.jobId === endedJob)!;
    const liveVm = emu.vms().find((vm) => vm.jobId === liveJob)!;

    const young = await sweep(60 * 60_000);
    expect(young.deleted).toEqual([]);
    expect(young.checked).toBeGreaterThanOrEqual(3);

    const report = await sweep(0, 'sweep-orphans');
    expect(report.deleted.map((o) => o.vmId).sort()).toEqual([unknown.id, endedVm.id].sort());
    expect(report.deleted.find((o) => o.vmId === unknown.id)?.reason).toMatch(/unknown/);
    expect(report.deleted.find((o) => o.vmId === endedVm.id)?.reason).toMatch(/failed/);
    expect(report.errors).toEqual([]);
    const left = emu.vms().map((vm) => vm.id);
    expect(left).toContain(liveVm.id);
    expect(left).not.toContain(unknown.id);
    expect(left).not.toContain(endedVm.id);
  });

  it('reports an account it cannot list instead of failing the sweep', async () => {
    await stack.providers.storeToken(stack.tenantId, 'digitalocean', 'revoked-token-1111');
    const report = await sweep(0);
    expect(report.errors).toEqual([expect.objectContaining({ provider: 'digitalocean', tenantId: stack.tenantId })]);
    expect(JSON.stringify(report)).not.toContain('revoked-token-1111');
    await stack.providers.storeToken(stack.tenantId, 'digitalocean', emu.token);
  });

  it('runs as a schedule that is created once and updated on later starts', async () => {
    await ensureOrphanSweep(stack.client, { taskQueue: stack.taskQueue, intervalMs: 15 * 60_000, graceMs: 3_600_000 });
    await ensureOrphanSweep(stack.client, { taskQueue: stack.taskQueue, intervalMs: 30 * 60_000, graceMs: 3_600_000 });
    const handle = stack.client.schedule.getHandle(ORPHAN_SWEEP_SCHEDULE_ID);
    try {
      const description = await handle.describe();
      expect(description.spec.intervals?.[0]?.every).toBe(30 * 60_000);
      expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'sweepOrphans', taskQueue: stack.taskQueue });
    } finally {
      await handle.delete();
    }
  });
});
