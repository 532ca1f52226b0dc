// A pool's spec and what the reconciler reads about its members: plain data, shared by the API, the
// activities and the (deterministic) pool workflow, so nothing here may import I/O.

export interface Autoscaling {
  /** Average CPU (0..1) of the pool's ready nodes above which it grows, below which it shrinks. */
  scaleOutCpu?: number | undefined;
  scaleInCpu?: number | undefined;
  windowMs: number;
  cooldownMs: number;
  step: number;
  /** A ready node that ran no workload this long is removed (above min). */
  emptyTtlMs?: number | undefined;
}

/** At most this share (percent) or number of the pool may be unhealthy before replacing stops. */
export type MaxUnhealthy = { percent: number } | { count: number };

export interface PoolSpec {
  min: number;
  max: number;
  autoscaling?: Autoscaling | undefined;
  health: { unhealthyAfterMs: number; maxUnhealthy: MaxUnhealthy };
  evaluationIntervalMs: number;
  drainTimeoutMs: number;
}

export const DEFAULT_HEALTH = { unhealthyAfterMs: 3 * 60_000, maxUnhealthy: { percent: 40 } } as const;
export const DEFAULT_EVALUATION_INTERVAL_MS = 30_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_AUTOSCALING = { windowMs: 2 * 60_000, cooldownMs: 3 * 60_000, step: 1 } as const;
/** CPU samples are kept this long: the longest window a pool may use. */
export const MAX_WINDOW_MS = 60 * 60_000;

/** One job the pool made that has not ended, with its node once it has one. Times are epoch ms. */
export interface Member {
  jobId: string;
  /** The job's phase (queued … ready, decommissioning). */
  phase: string;
  templateVersion: number;
  createdAt: number;
  node?:
    | {
        nodeId: string;
        /** ready | decommissioning */
        status: string;
        provider: string;
        vmId: string | null;
        readyAt: number;
        lastHeartbeatAt?: number | undefined;
        workloads?: number | undefined;
        busyAt?: number | undefined;
        drainRequestedAt?: number | undefined;
        drainedAt?: number | undefined;
      }
    | undefined;
  /** The provider no longer has this member's VM (deleted behind Berth's back). */
  vmGone?: boolean | undefined;
}

export type MemberState = 'provisioning' | 'ready' | 'unhealthy' | 'lost' | 'draining' | 'removing';

export interface Condition {
  type: 'ScaleOutBlocked' | 'TooManyUnhealthy';
  reason: string;
  message: string;
}

export interface LastAction {
  at: string;
  kind: string;
  reason: string;
}

/** What the reconciler last recorded; the API shows it next to the live counts. */
export interface PoolStatus {
  conditions: Condition[];
  lastAction?: LastAction | undefined;
}
