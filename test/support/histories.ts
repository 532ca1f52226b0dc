import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';

export const HISTORIES_DIR = path.resolve(import.meta.dirname, '../histories');

/**
 * With BERTH_RECORD_HISTORIES=1, saves a finished workflow's history for the replay test. Recorded
 * files are frozen: re-record only to add a case, never to make a changed workflow pass.
 */
export async function recordHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (process.env.BERTH_RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  // The history message serialises to the protobuf JSON form that runReplayHistory reads back.
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}
