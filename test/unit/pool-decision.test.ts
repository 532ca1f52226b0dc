// The pool's decisions as a table: given a spec and its numbers, what is added, drained, removed, and why.
import { describe, expect, it } from 'vitest';
import { decide, failureBackoffMs, type PoolNumbers } from '../../placement/pool-decision.js';
import type { Member, PoolSpec } from '../../placement/pool-spec.js';

const NOW = 10_000_000;
const S = 1_000;
const M = 60 * S;

const spec = (over: Partial<PoolSpec> = {}): PoolSpec => ({
  min: 1,
  max: 5,
  health: { unhealthyAfterMs: 3 * M, maxUnhealthy: { percent: 40 } },
  evaluationIntervalMs: 30 * S,
  drainTimeoutMs: 5 * M,
  ...over,
});

const autoscaling = { scaleOutCpu: 0.7, scaleInCpu: 0.2, windowMs: 2 * M, cooldownMs: 3 * M, step: 1 };

let seq = 0;
/** A ready node, heard from just now, running a workload, made `age` ago. */
function ready(over: Partial<NonNullable<Member['node']>> & { age?: number; templateVersion?: number } = {}): Member {
  const id = `j${++seq}`;
  const { age = 10 * M, templateVersion = 1, ...node } = over;
  return {
    jobId: id,
    phase: 'ready',
    templateVersion,
    createdAt: NOW - age,
    node: { nodeId: `node-${id}`, status: 'ready', provider: 'local', vmId: `vm-${id}`, readyAt: NOW - age, lastHeartbeatAt: NOW - 5 * S, workloads: 1, ...node },
  };
}
const provisioning = (age = M): Member => ({ jobId: `j${++seq}`, phase: 'bootstrapping', templateVersion: 1, createdAt: NOW - age });
const silent = (over: Partial<NonNullable<Member['node']>> = {}) => ready({ lastHeartbeatAt: NOW - 4 * M, ...over });

const numbers = (over: Partial<PoolNumbers>): PoolNumbers => ({
  spec: spec(),
  desired: 1,
  templateVersion: 1,
  deleting: false,
  members: [],
  now: NOW,
  ...over,
});

describe('size', () => {
  it('starts nodes up to desired, never past max counting those being made and drained', () => {
    expect(decide(numbers({ desired: 2 })).add).toBe(2);
    const d = decide(numbers({ spec: spec({ max: 3 }), desired: 3, members: [ready(), ready({ drainRequestedAt: NOW - S })] }));
    expect(d.add).toBe(1); // 3 desired, 1 counted, but 2 exist and max is 3
  });

  it('keeps desired within [min, max]', () => {
    expect(decide(numbers({ spec: spec({ min: 2, max: 4 }), desired: 0 })).desired).toBe(2);
    expect(decide(numbers({ spec: spec({ min: 2, max: 4 }), desired: 9 })).desired).toBe(4);
  });

  it('removes the extra nodes: provisioning first, then empty, older template, newest; ready ones drain first', () => {
    const busyOld = ready({ age: 30 * M });
    const busyNew = ready({ age: 2 * M });
    const empty = ready({ workloads: 0 });
    const oldTemplate = ready({ templateVersion: 1, age: M });
    const making = provisioning();
    const d = decide(numbers({ desired: 1, templateVersion: 2, members: [busyOld, busyNew, empty, oldTemplate, making] }));
    expect(d.remove.map((r) => r.jobId)).toEqual([making.jobId]);
    expect(d.remove[0]!.nodeId).toBeUndefined(); // cancelled, it has no node yet
    // busyOld and busyNew are on template 1 too; the older template is picked before the newest, newest first.
    expect(d.drain.map((r) => r.jobId)).toEqual([empty.jobId, oldTemplate.jobId, busyNew.jobId]);
    expect(d.drain[0]!.reason).toContain('empty');
  });
});

describe('load', () => {
  it('scales out by step when the average is above the threshold over a covered window, once per cooldown', () => {
    const members = [ready(), ready()];
    const hot = { average: 0.83, coveredMs: 2 * M };
    const d = decide(numbers({ spec: spec({ autoscaling }), desired: 2, members, cpu: hot }));
    expect(d).toMatchObject({ desired: 3, add: 1, scaled: true });
    expect(d.events[0]).toEqual({ kind: 'scale_out', reason: 'cpu 0.83 > 0.70 over 2m: desired 2 → 3' });
    // Within the cooldown: nothing.
    expect(decide(numbers({ spec: spec({ autoscaling }), desired: 3, members, cpu: hot, lastScaleAt: NOW - M })).scaled).toBe(false);
    // A window that is mostly empty decides nothing.
    expect(decide(numbers({ spec: spec({ autoscaling }), desired: 2, members, cpu: { average: 0.9, coveredMs: 20 * S } })).desired).toBe(2);
    // Never past max.
    expect(decide(numbers({ spec: spec({ autoscaling, max: 2 }), desired: 2, members, cpu: hot })).scaled).toBe(false);
  });

  it('scales in by step when idle, never below min', () => {
    const members = [ready(), ready(), ready({ age: M })];
    const idle = { average: 0.05, coveredMs: 3 * M };
    const d = decide(numbers({ spec: spec({ autoscaling: { ...autoscaling, step: 2 }, min: 2 }), desired: 3, members, cpu: idle }));
    expect(d.desired).toBe(2);
    expect(d.drain.map((r) => r.jobId)).toEqual([members[2]!.jobId]); // the newest
    expect(decide(numbers({ spec: spec({ autoscaling, min: 3 }), desired: 3, members, cpu: idle })).scaled).toBe(false);
  });
});

describe('empty nodes', () => {
  const withEmpty = { ...autoscaling, scaleInCpu: undefined, scaleOutCpu: undefined, emptyTtlMs: 10 * M };

  it('drains a node without workloads for empty_ttl and lowers desired, if the pool stays at min', () => {
    const idle = ready({ workloads: 0, busyAt: NOW - 11 * M });
    const recent = ready({ workloads: 0, busyAt: NOW - 2 * M });
    const d = decide(numbers({ spec: spec({ autoscaling: withEmpty }), desired: 3, members: [idle, recent, ready()] }));
    expect(d.desired).toBe(2);
    expect(d.drain).toEqual([{ jobId: idle.jobId, nodeId: idle.node!.nodeId, reason: 'empty: no workloads for 10m' }]);
    expect(d.add).toBe(0);
    // At min: kept.
    expect(decide(numbers({ spec: spec({ autoscaling: withEmpty, min: 3 }), desired: 3, members: [idle, recent, ready()] })).drain).toEqual([]);
  });
});

describe('health', () => {
  it('replaces a silent node: the new node first, then the old one goes', () => {
    const sick = silent();
    const first = decide(numbers({ desired: 3, members: [ready(), ready(), sick] }));
    expect(first.add).toBe(1);
    expect(first.remove).toEqual([]);
    expect(first.counts.unhealthy).toBe(1);
    // The replacement is ready: now the silent one is removed (no drain: it cannot answer).
    const second = decide(numbers({ desired: 3, members: [ready(), ready(), ready({ age: S }), sick] }));
    expect(second.remove).toEqual([{ jobId: sick.jobId, nodeId: sick.node!.nodeId, reason: 'replace: no heartbeat for 3m' }]);
    expect(second.add).toBe(0);
  });

  it('without room under max, removes the silent node first', () => {
    const sick = silent();
    const d = decide(numbers({ spec: spec({ max: 3 }), desired: 3, members: [ready(), ready(), sick] }));
    expect(d.add).toBe(0);
    expect(d.remove.map((r) => r.jobId)).toEqual([sick.jobId]);
  });

  it('counts the nodes going silent with the silent one: a partition is not replaced one node at a time', () => {
    // Cut off together, their last heartbeats were a moment apart: one is past 3m, two past 1m30s.
    const members = [ready(), silent(), ready({ lastHeartbeatAt: NOW - 100 * S }), ready({ lastHeartbeatAt: NOW - 170 * S })];
    const d = decide(numbers({ desired: 4, members }));
    expect(d.add).toBe(0);
    expect(d.remove).toEqual([]);
    expect(d.conditions).toEqual([
      expect.objectContaining({
        type: 'TooManyUnhealthy',
        message: '1 of 4 nodes sent no heartbeat for 3m and 2 more for 1m30s (more than 40%); none is replaced until fewer are',
      }),
    ]);
    // One quiet for less than half the threshold is not counted: the silent one is replaced.
    const calm = decide(numbers({ desired: 4, members: [ready(), silent(), ready({ lastHeartbeatAt: NOW - 80 * S }), ready()] }));
    expect(calm.conditions).toEqual([]);
    expect(calm.add).toBe(1);
  });

  it('replaces none and says so when more than max_unhealthy are silent at once', () => {
    const members = [ready(), silent(), silent(), silent()];
    const d = decide(numbers({ desired: 4, members }));
    expect(d.add).toBe(0);
    expect(d.remove).toEqual([]);
    expect(d.conditions).toEqual([expect.objectContaining({ type: 'TooManyUnhealthy', reason: 'too_many_unhealthy' })]);
    // A count works as well as a share.
    expect(decide(numbers({ spec: spec({ health: { unhealthyAfterMs: 3 * M, maxUnhealthy: { count: 3 } } }), desired: 4, members })).conditions).toEqual([]);
  });

  it('replaces a node whose VM is gone whatever the count', () => {
    const gone = { ...silent(), vmGone: true };
    const members = [silent(), silent(), gone];
    const d = decide(numbers({ desired: 3, members }));
    expect(d.remove.map((r) => r.jobId)).toContain(gone.jobId);
    expect(d.remove.find((r) => r.jobId === gone.jobId)!.reason).toContain('VM no longer exists');
  });
});

describe('drains', () => {
  it('removes a node once it drained, its drain timed out, or it went silent; waits otherwise', () => {
    const drained = ready({ drainRequestedAt: NOW - 10 * S, drainedAt: NOW - 5 * S });
    const slow = ready({ drainRequestedAt: NOW - 6 * M });
    const waiting = ready({ drainRequestedAt: NOW - 10 * S });
    const d = decide(numbers({ desired: 1, members: [ready(), drained, slow, waiting] }));
    expect(d.remove.map((r) => [r.jobId, r.reason])).toEqual([
      [drained.jobId, 'drained'],
      [slow.jobId, 'drain timed out after 5m'],
    ]);
  });
});

describe('deleting', () => {
  it('cancels jobs, drains ready nodes and removes silent ones, and starts nothing', () => {
    const making = provisioning();
    const up = ready();
    const sick = silent();
    const d = decide(numbers({ spec: spec({ min: 2 }), desired: 3, deleting: true, members: [making, up, sick] }));
    expect(d.desired).toBe(0);
    expect(d.add).toBe(0);
    expect(d.drain.map((r) => r.jobId)).toEqual([up.jobId]);
    expect(d.remove.map((r) => r.jobId).sort()).toEqual([making.jobId, sick.jobId].sort());
  });
});

describe('failed nodes', () => {
  it('backs off after member jobs failed in a row, then tries again', () => {
    const failures = { count: 3, lastAt: NOW - 5 * S, lastError: 'the VM did not call back within 30m' };
    const blocked = decide(numbers({ desired: 2, failures }));
    expect(blocked.add).toBe(0);
    expect(blocked.conditions[0]).toMatchObject({ type: 'ScaleOutBlocked', reason: 'provision_failed' });
    expect(blocked.conditions[0]!.message).toContain('did not call back');
    const later = decide(numbers({ desired: 2, failures: { ...failures, lastAt: NOW - failureBackoffMs(3) } }));
    expect(later.add).toBe(2);
    expect(failureBackoffMs(1)).toBeLessThan(failureBackoffMs(2));
    expect(failureBackoffMs(50)).toBe(10 * M);
  });
});
