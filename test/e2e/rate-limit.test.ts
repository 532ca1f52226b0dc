// A provider that rate limits the list before the create, asking for longer than the 10 s heartbeat
// timeout (Retry-After: 15, on the DigitalOcean emulator). Whether the HTTP client waits it out
// itself (its own bound is longer) or hands the wait to Temporal (the bound is shorter), the job
// runs one attempt at a time: no heartbeat timeout, one create request, exactly one droplet.
//
// 15 s rather than the 30 s: it is already longer than the heartbeat timeout (10 s) and
// than the 5 s client bound of the second case, which is what both cases need, and it halves the
// test's wall time.
import type { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { jobTag } from '../../providers/digitalocean/tags.js';
import { provisionWorkflowId } from '../../workflows/messages.js';
import { startDigitalOceanEmulator } from '../emulators/digitalocean.js';
import { startStack } from '../support/stack.js';

const RETRY_AFTER_S = 15;

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

describe.concurrent('a 429 with a Retry-After longer than the heartbeat timeout, on the list before create', () => {
  it.each([
    // The production default: the client waits up to 60 s itself, so the activity must heartbeat meanwhile.
    { case: 'the client waits it out, heartbeating', maxWaitMs: 60_000, attempts: 1 },
    // The client gives up at once; Temporal must wait as the provider asked before the next attempt.
    { case: 'Temporal waits it out as the next retry delay', maxWaitMs: 5_000, attempts: 2 },
  ])('$case', { timeout: 120_000 }, async ({ maxWaitMs, attempts }) => {
    const emu = await startDigitalOceanEmulator({ bootDelayMs: 100 });
    let injected = false;
    const stack = await startStack({
      registry: { apiUrls: { digitalocean: emu.url }, http: { timeoutMs: 5_000, backoffMs: 50, maxWaitMs }, pollIntervalMs: 50 },
      activities: (real) => ({
        // The first request of the first attempt is the list by the job's tag: that one gets the 429.
        async createVm(input) {
          if (!injected) {
            injected = true;
            emu.faults.rateLimitNext(1, RETRY_AFTER_S);
          }
          return real.createVm(input);
        },
      }),
    });
    try {
      const verified = await stack.request('POST', '/cp/api/v1/cluster/providers/digitalocean/verify', { token: emu.token });
      expect(verified.status).toBe(200);
      const jobId = await stack.createNode({ provider: 'digitalocean', region: 'fra1', plan: 's-1vcpu-1gb' });
      const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 90_000);
      expect(job.phase).toBe('ready');

      // The history: no timeout of any kind, and createVm ended on the expected attempt.
      const history = await stack.client.workflow.getHandle(provisionWorkflowId(jobId)).fetchHistory();
      const events: HistoryEvent[] = history.events ?? [];
      expect(JSON.stringify(events)).not.toMatch(/timeoutFailureInfo|TimedOut/);
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createVm')!;
      const started = events.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled.eventId))!;
      expect(started.activityTaskStartedEventAttributes!.attempt).toBe(attempts);
      if (attempts > 1) {
        expect(started.activityTaskStartedEventAttributes!.lastFailure?.applicationFailureInfo?.type).toBe('too_many_requests');
      }

      // One attempt at a time: the list is sent again only once the provider's wait is over.
      const tag = jobTag(jobId).toLowerCase();
      const lists = emu.requests.filter((r) => r.method === 'GET' && r.path === '/v2/droplets' && r.query.tag_name?.toLowerCase() === tag);
      expect(lists).toHaveLength(2);
      expect(lists[1]!.at - lists[0]!.at).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 250);
      expect(emu.requests.filter((r) => r.method === 'POST' && r.path === '/v2/droplets')).toHaveLength(1);
      expect(emu.droplets().filter((d) => d.tags.some((t) => t.toLowerCase() === tag))).toHaveLength(1);
    } finally {
      await stack.stop();
      await emu.close();
    }
  });
});
