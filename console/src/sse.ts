// Server-Sent Events over fetch: EventSource cannot send an Authorization header, and the admin
// key must not go into a URL. Reconnects with Last-Event-ID until the stream ends for good.
import { API } from './api.js';
import { adminKey, signOut } from './auth.js';

export interface StreamHandlers {
  onEvent(event: string, data: unknown, id: string | undefined): void;
  /** The server closed the stream after its last event (the job ended, the pool is gone). */
  onEnd?(): void;
  /** The stream broke; it is retried. */
  onError?(message: string): void;
  /** True for the event after which the server closes the stream on purpose. */
  isLast?(event: string, data: unknown): boolean;
}

export function openStream(path: string, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let lastId: string | undefined;
  let closed = false;
  let retries = 0;

  async function connect(): Promise<void> {
    const key = adminKey.get();
    if (!key) return;
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${key}` };
    if (lastId !== undefined) headers['last-event-id'] = lastId;
    let ended = false;
    try {
      const res = await fetch(`${API}${path}`, { headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
      if (res.status === 401) {
        signOut('Your admin key is no longer accepted. Sign in again.');
        return;
      }
      if (res.status === 404) {
        closed = true;
        handlers.onEnd?.();
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      retries = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let event = 'message';
      let data: string[] = [];
      let id: string | undefined;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline: number;
        while ((newline = buffer.search(/\r?\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer[newline] === '\r' ? 2 : 1));
          if (line === '') {
            if (data.length > 0) {
              if (id !== undefined) lastId = id;
              let parsed: unknown = data.join('\n');
              try {
                parsed = JSON.parse(parsed as string);
              } catch {
                // not JSON: keep the text
              }
              handlers.onEvent(event, parsed, id);
              if (handlers.isLast?.(event, parsed)) ended = true;
            }
            event = 'message';
            data = [];
            id = undefined;
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event = val;
            else if (field === 'data') data.push(val);
            else if (field === 'id') id = val;
          }
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
      handlers.onError?.(err instanceof Error ? err.message : String(err));
    }
    if (closed || controller.signal.aborted) return;
    if (ended) {
      closed = true;
      handlers.onEnd?.();
      return;
    }
    // Dropped (a restart, a proxy): try again, a little later each time.
    retries += 1;
    setTimeout(() => void connect(), Math.min(15_000, 1_000 * 2 ** Math.min(retries, 4)));
  }

  void connect();
  return () => {
    closed = true;
    controller.abort();
  };
}
