import { Context } from '@temporalio/activity';

/** How often a running activity heartbeats; the SDK sends at most one per 80% of the heartbeat timeout. */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Wraps an activity so it heartbeats for its whole run: a provider call may wait a long time (a
 * rate limit the HTTP client waits out, a slow create), and without heartbeats the heartbeat
 * timeout would start a second attempt beside the first. Heartbeats also carry cancellation to
 * the activity. A local activity cannot heartbeat (it has no heartbeat timeout): it just runs.
 */
export function heartbeating<A extends unknown[], R>(activity: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const ctx = Context.current();
    if (ctx.info.isLocal) return activity(...args);
    ctx.heartbeat();
    const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      return await activity(...args);
    } finally {
      clearInterval(timer);
    }
  };
}
