import { Connection } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';

/** Connects to the Temporal frontend, retrying for a while: the server may still be starting. */
export async function connectTemporal(address: string, waitMs = 30_000): Promise<Connection> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await Connection.connect({ address });
    } catch (err) {
      if (Date.now() > deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`cannot reach the Temporal server at ${address}: ${reason}`, { cause: err });
      }
      await sleep(500);
    }
  }
}
