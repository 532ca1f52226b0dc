import { Client, Connection } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';

/** Connects to the Temporal frontend, retrying for a while: the server may still be starting. */
export async function connectClient(address: string, namespace: string, waitMs = 30_000): Promise<Client> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address });
      return new Client({ connection, namespace });
    } catch (err) {
      if (Date.now() > deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`cannot reach the Temporal server at ${address}: ${reason}`);
      }
      await sleep(500);
    }
  }
}
