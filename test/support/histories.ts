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
  const handle = client.workflow.getHandle(workflowId, runId);
  // Only a closed run's history is whole: its last workflow task may still be running.
  for (let waited = 0; (await handle.describe()).status.name === 'RUNNING'; waited += 100) {
    if (waited > 30_000) throw new Error(`${workflowId} is still running; record it once it has ended`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  // The history message serialises to the protobuf JSON form that runReplayHistory reads back.
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}
