import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { BERTH_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/**
 * Registers Berth's search attributes on the namespace so the Web UI can filter jobs by them.
 * Adds only the missing ones, so it is safe to run on every start.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = BERTH_SEARCH_ATTRIBUTES.filter((key) => !(key.name in customAttributes));
  if (missing.length === 0) return;
  const searchAttributes = Object.fromEntries(missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]));
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
}
