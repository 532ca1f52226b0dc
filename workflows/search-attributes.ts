import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes Berth sets on every job, so the Web UI can filter by them. */
export const SA_TENANT = defineSearchAttributeKey('BerthTenant', SearchAttributeType.KEYWORD);
export const SA_PROVIDER = defineSearchAttributeKey('BerthProvider', SearchAttributeType.KEYWORD);
export const SA_PHASE = defineSearchAttributeKey('BerthPhase', SearchAttributeType.KEYWORD);
/** Set on a pool's reconciler and on the jobs and decommissions it starts. */
export const SA_POOL = defineSearchAttributeKey('BerthPool', SearchAttributeType.KEYWORD);

export const BERTH_SEARCH_ATTRIBUTES = [SA_TENANT, SA_PROVIDER, SA_PHASE, SA_POOL];
