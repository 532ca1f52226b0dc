// The worker's metrics, all on one port: the SDK's Prometheus exporter serves Temporal's own
// series, and Berth's (provider calls, catalogue lookups, the activities' counters) are made on the
// SDK's metric meter so that they come out of the same exporter.
import type { MetricMeter } from '@temporalio/common';
import type { ActivityInterceptorsFactory, TelemetryOptions } from '@temporalio/worker';
import type { ProviderObservers } from '../providers/from-config.js';

/**
 * The exporter on `host:port`, named as Prometheus names things and as the API's series are:
 * counters end in `_total`, durations are in seconds and end in `_seconds`.
 */
export function prometheusTelemetry(host: string, port: number): TelemetryOptions {
  const bindAddress = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { metrics: { prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } } };
}

/** Provider calls and catalogue lookups on the meter; the names match the API's (see api/metrics.ts). */
export function meterProviderObservers(meter: MetricMeter): Required<ProviderObservers> {
  const requests = meter.createCounter('berth_provider_requests', '', "Calls to a cloud provider's API (each retry counts), by provider, method, endpoint template and status");
  const duration = meter.createHistogram(
    'berth_provider_request_duration',
    'float',
    'seconds',
    "Time a cloud provider's API took to answer, by provider, method and endpoint template",
  );
  const lookups = meter.createCounter(
    'berth_catalogue_cache_lookups',
    '',
    'Lookups of regions, plans and recent token checks (verify) in the catalogue cache, by provider, kind and result (hit, miss)',
  );
  return {
    providerCall: ({ provider, method, endpoint, status, seconds }) => {
      requests.add(1, { provider, method, endpoint, status });
      duration.record(seconds, { provider, method, endpoint });
    },
    catalogue: ({ provider, kind, hit }) => lookups.add(1, { provider, kind, result: hit ? 'hit' : 'miss' }),
  };
}

/** The activity meter's own tags in the SDK's spelling (`activity_type`, not `activityType`), like its series. */
export const snakeCaseMetricTags: ActivityInterceptorsFactory = () => ({
  outbound: {
    getMetricTags(input, next) {
      const { taskQueue, activityType, ...rest } = next(input);
      return { ...rest, ...(taskQueue !== undefined && { task_queue: taskQueue }), ...(activityType !== undefined && { activity_type: activityType }) };
    },
  },
});
