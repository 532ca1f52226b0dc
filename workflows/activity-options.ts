import type { RetryPolicy } from '@temporalio/workflow';

/** Activities retry forever with backoff unless they throw a non-retryable failure. */
export const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' };
