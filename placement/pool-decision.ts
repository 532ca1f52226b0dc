// A pool's scaling decision from its numbers: pure, deterministic, no I/O, so the reconciler
// workflow can run it and the tests can check it as a table.
import type { Condition, Member, MemberState, PoolSpec } from './pool-spec.js';

export interface PoolNumbers {
  spec: PoolSpec;
  desired: number;
  templateVersion: number;
  deleting: boolean;
  members: Member[];
  /** Average CPU of the ready nodes over the window, and how much of the window the samples cover. */
  cpu?: { average: number; coveredMs: number } | undefined;
  /** Member jobs that failed since the pool last had a node become ready. */
  failures?: { count: number; lastAt: number; lastError: string } | undefined;
  /** When the last load or empty-node action was taken (cooldown). */
  lastScaleAt?: number | undefined;
  now: number;
  /** False for reconciler runs from before nodes going silent counted against max_unhealthy. */
  countGoingSilent?: boolean | undefined;
}

export interface Removal {
  jobId: string;
  /** Absent: the job has no node yet and is cancelled instead. */
  nodeId?: string | undefined;
  reason: string;
}

export interface PoolEvent {
  kind: string;
  reason: string;
}

export interface Counts {
  ready: number;
  provisioning: number;
  draining: number;
  unhealthy: number;
}

export interface Decision {
  desired: number;
  /** New nodes to start. */
  add: number;
  addReason: string;
  /** Ready nodes to ask to drain. */
  drain: Removal[];
  /** Members to decommission (or cancel) now. */
  remove: Removal[];
  /** True when a load or empty-node action was taken: the cooldown starts now. */
  scaled: boolean;
  events: PoolEvent[];
  conditions: Condition[];
  counts: Counts;
}

const FAILURE_BACKOFF_MS = 10_000;
const MAX_FAILURE_BACKOFF_MS = 10 * 60_000;

/** How long to wait after `count` failed member jobs in a row before trying again. */
export function failureBackoffMs(count: number): number {
  return Math.min(MAX_FAILURE_BACKOFF_MS, FAILURE_BACKOFF_MS * 2 ** Math.max(0, count - 1));
}

/** 120000 → "2m", 90000 → "1m30s", 500 → "500ms". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

const nodeCount = (n: number) => `${n} node${n === 1 ? '' : 's'}`;

/** How long a node has been silent: since its last heartbeat, or since it was bound if none came yet. */
const silentFor = (node: NonNullable<Member['node']>, now: number) => now - (node.lastHeartbeatAt ?? node.readyAt);

/** Where a member stands, as the pool sees it now. */
export function memberState(member: Member, spec: PoolSpec, now: number): MemberState {
  const node = member.node;
  if (member.phase === 'decommissioning' || node?.status === 'decommissioning') return 'removing';
  if (!node) return 'provisioning';
  if (member.vmGone) return 'lost';
  if (node.drainRequestedAt !== undefined) return 'draining';
  return silentFor(node, now) > spec.health.unhealthyAfterMs ? 'unhealthy' : 'ready';
}

export function countMembers(members: Member[], spec: PoolSpec, now: number): Counts {
  const counts: Counts = { ready: 0, provisioning: 0, draining: 0, unhealthy: 0 };
  for (const member of members) {
    const state = memberState(member, spec, now);
    if (state === 'ready') counts.ready++;
    else if (state === 'provisioning') counts.provisioning++;
    else if (state === 'unhealthy' || state === 'lost') counts.unhealthy++;
    else counts.draining++;
  }
  return counts;
}

function tooManyUnhealthy(unhealthy: number, size: number, max: PoolSpec['health']['maxUnhealthy']): boolean {
  if (unhealthy === 0) return false;
  return 'percent' in max ? unhealthy * 100 > max.percent * size : unhealthy > max.count;
}

const idleSince = (m: Member) => m.node!.busyAt ?? m.node!.readyAt;

/**
 * Decides, in this order: load (scale out or in by `step`, once per cooldown), empty nodes, health
 * (replace the unhealthy, the new node first, unless too many are unhealthy at once), the size
 * (start nodes up to desired, never past max counting those being made; pick the extra ones to
 * remove), and drains that have finished or timed out.
 */
export function decide(input: PoolNumbers): Decision {
  const { spec, now, deleting } = input;
  const events: PoolEvent[] = [];
  const conditions: Condition[] = [];
  const drain: Removal[] = [];
  const remove: Removal[] = [];
  const byState = new Map<MemberState, Member[]>();
  for (const member of input.members) {
    const state = memberState(member, spec, now);
    byState.set(state, [...(byState.get(state) ?? []), member]);
  }
  const inState = (state: MemberState) => byState.get(state) ?? [];
  const ready = [...inState('ready')];
  const provisioning = inState('provisioning');
  const unhealthy = inState('unhealthy');
  const total = input.members.length;

  let desired = deleting ? 0 : Math.min(spec.max, Math.max(spec.min, input.desired));
  let scaled = false;
  const auto = spec.autoscaling;
  const cooled = input.lastScaleAt === undefined || now - input.lastScaleAt >= (auto?.cooldownMs ?? 0);

  // 1. Load.
  if (!deleting && auto && cooled && input.cpu && ready.length > 0 && input.cpu.coveredMs >= auto.windowMs * 0.75) {
    const cpu = input.cpu.average;
    const over = `over ${formatMs(auto.windowMs)}`;
    if (auto.scaleOutCpu !== undefined && cpu > auto.scaleOutCpu && desired < spec.max) {
      const next = Math.min(spec.max, desired + auto.step);
      events.push({ kind: 'scale_out', reason: `cpu ${cpu.toFixed(2)} > ${auto.scaleOutCpu.toFixed(2)} ${over}: desired ${desired} → ${next}` });
      desired = next;
      scaled = true;
    } else if (auto.scaleInCpu !== undefined && cpu < auto.scaleInCpu && desired > spec.min) {
      const next = Math.max(spec.min, desired - auto.step);
      events.push({ kind: 'scale_in', reason: `cpu ${cpu.toFixed(2)} < ${auto.scaleInCpu.toFixed(2)} ${over}: desired ${desired} → ${next}` });
      desired = next;
      scaled = true;
    }
  }

  // 2. Empty nodes, longest idle first, as long as the pool stays at or above min.
  if (!deleting && !scaled && auto?.emptyTtlMs !== undefined && cooled) {
    const ttl = auto.emptyTtlMs;
    const empty = ready
      .filter((m) => (m.node!.workloads ?? 0) === 0 && now - idleSince(m) >= ttl)
      .sort((a, b) => idleSince(a) - idleSince(b))
      .slice(0, Math.max(0, desired - spec.min));
    for (const member of empty) {
      drain.push({ jobId: member.jobId, nodeId: member.node!.nodeId, reason: `empty: no workloads for ${formatMs(ttl)}` });
      ready.splice(ready.indexOf(member), 1);
    }
    if (empty.length > 0) {
      events.push({ kind: 'scale_in_empty', reason: `${nodeCount(empty.length)} without workloads for ${formatMs(ttl)}: desired ${desired} → ${desired - empty.length}` });
      desired -= empty.length;
      scaled = true;
    }
  }

  // 3. Health. A VM that is gone is replaced whatever the count: a partition does not delete VMs.
  for (const member of inState('lost')) {
    remove.push({ jobId: member.jobId, nodeId: member.node!.nodeId, reason: 'replace: its VM no longer exists at the provider' });
  }
  const size = ready.length + unhealthy.length + drain.length;
  // Nodes cut off together fell silent at their own last heartbeats, up to an interval apart: the
  // first crosses unhealthy_after alone. Counting the ready ones silent for half of it with the
  // unhealthy keeps a partition from being replaced one node at a time.
  const goingSilent = unhealthy.length === 0 || input.countGoingSilent === false ? 0 : ready.filter((m) => silentFor(m.node!, now) > spec.health.unhealthyAfterMs / 2).length;
  const partitioned = !deleting && tooManyUnhealthy(unhealthy.length + goingSilent, size, spec.health.maxUnhealthy);
  if (partitioned) {
    const limit = 'percent' in spec.health.maxUnhealthy ? `${spec.health.maxUnhealthy.percent}%` : String(spec.health.maxUnhealthy.count);
    const also = goingSilent > 0 ? ` and ${goingSilent} more for ${formatMs(spec.health.unhealthyAfterMs / 2)}` : '';
    conditions.push({
      type: 'TooManyUnhealthy',
      reason: 'too_many_unhealthy',
      message: `${unhealthy.length} of ${size} nodes sent no heartbeat for ${formatMs(spec.health.unhealthyAfterMs)}${also} (more than ${limit}); none is replaced until fewer are`,
    });
  }

  // 4. Size. Unhealthy nodes are not counted (so they get a replacement) unless too many are.
  let counted = ready.length + provisioning.length + (partitioned ? unhealthy.length : 0);
  if (!partitioned) {
    // The replacement first; without room for it under max, the unreachable node goes first.
    const roomForSurge = total < spec.max;
    if (unhealthy.length > 0 && (deleting || ready.length >= desired || !roomForSurge)) {
      for (const member of unhealthy) {
        remove.push({ jobId: member.jobId, nodeId: member.node!.nodeId, reason: `replace: no heartbeat for ${formatMs(spec.health.unhealthyAfterMs)}` });
      }
    }
  }

  if (counted > desired) {
    // Scale-in picks: still provisioning, unhealthy, empty, older template, newest.
    const byNewest = (a: Member, b: Member) => b.createdAt - a.createdAt;
    const candidates: Array<{ member: Member; why: string }> = [
      ...[...provisioning].sort(byNewest).map((member) => ({ member, why: 'still provisioning' })),
      ...(partitioned ? unhealthy.map((member) => ({ member, why: 'unhealthy' })) : []),
      ...ready
        .filter((m) => (m.node!.workloads ?? 0) === 0)
        .sort(byNewest)
        .map((member) => ({ member, why: 'empty' })),
      ...ready
        .filter((m) => (m.node!.workloads ?? 0) > 0 && m.templateVersion < input.templateVersion)
        .sort((a, b) => a.templateVersion - b.templateVersion || byNewest(a, b))
        .map((member) => ({ member, why: `template v${member.templateVersion}` })),
      ...ready
        .filter((m) => (m.node!.workloads ?? 0) > 0 && m.templateVersion >= input.templateVersion)
        .sort(byNewest)
        .map((member) => ({ member, why: 'newest' })),
    ];
    const why = deleting ? 'the pool is being deleted' : `desired ${desired}`;
    for (const { member, why: pick } of candidates.slice(0, counted - desired)) {
      const reason = `scale in (${why}): ${pick}`;
      if (!member.node) remove.push({ jobId: member.jobId, reason });
      else if (memberState(member, spec, now) === 'unhealthy') remove.push({ jobId: member.jobId, nodeId: member.node.nodeId, reason });
      else drain.push({ jobId: member.jobId, nodeId: member.node.nodeId, reason });
    }
    counted = desired;
  }

  let add = 0;
  let addReason = '';
  if (counted < desired) {
    add = Math.max(0, Math.min(desired - counted, spec.max - total));
    const failures = input.failures;
    if (add > 0 && failures && failures.count > 0 && now < failures.lastAt + failureBackoffMs(failures.count)) {
      conditions.push({
        type: 'ScaleOutBlocked',
        reason: 'provision_failed',
        message: `${failures.count} node${failures.count === 1 ? '' : 's'} in a row failed (last: ${failures.lastError}); next try in ${formatMs(failures.lastAt + failureBackoffMs(failures.count) - now)}`,
      });
      add = 0;
    }
    const replacing = unhealthy.length + inState('lost').length;
    addReason = `${ready.length} ready, ${provisioning.length} provisioning, desired ${desired}${replacing > 0 && !partitioned ? `, replacing ${replacing}` : ''}`;
  }

  // 5. Drains that are done: the node said so, the drain timed out, or the node stopped answering.
  for (const member of inState('draining')) {
    const node = member.node!;
    const silent = silentFor(node, now);
    let reason: string | undefined;
    if (node.drainedAt !== undefined) reason = 'drained';
    else if (now - node.drainRequestedAt! >= spec.drainTimeoutMs) reason = `drain timed out after ${formatMs(spec.drainTimeoutMs)}`;
    else if (silent > spec.health.unhealthyAfterMs) reason = `unreachable while draining (no heartbeat for ${formatMs(silent)})`;
    if (reason) remove.push({ jobId: member.jobId, nodeId: node.nodeId, reason });
  }

  return {
    desired,
    add,
    addReason,
    drain,
    remove,
    scaled,
    events,
    conditions,
    counts: countMembers(input.members, spec, now),
  };
}
