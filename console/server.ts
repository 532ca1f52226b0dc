// Serves the built web console (console/dist) at `/`, next to the API. Hashed assets are cached
// for good, index.html never, and every client-side route that is not the API gets index.html.
// Without a build, `/` answers 503 saying how to make one; the API is not affected.
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';

// console/dist beside this file; compiled, this file is dist/console/server.js, two folders further down.
export const CONSOLE_DIST = path.resolve(import.meta.dirname, import.meta.url.endsWith('.js') ? '../../console/dist' : 'dist');

export interface ConsoleOptions {
  /** The built console (default console/dist next to this file). */
  distDir?: string;
  /** Base URL of the Temporal Web UI, for links to each job's and pool's workflow. */
  temporalUiUrl?: string | undefined;
  /** The Temporal namespace the workflows run in. */
  namespace?: string | undefined;
}

/** What the console needs to know of its server and cannot ask the (authenticated) API. */
export interface ConsoleConfig {
  temporalUiUrl: string | null;
  namespace: string;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const NOT_BUILT = 'The Berth console is not built. `npm start` builds it; by hand: `node console/build.mjs`. The API under /cp/api/v1 works without it.';

function isApiPath(p: string): boolean {
  return p === '/cp/api' || p.startsWith('/cp/api/') || p === '/healthz';
}

function notBuilt(c: Context): Response {
  c.header('Cache-Control', 'no-store');
  if ((c.req.header('Accept') ?? '').includes('text/html')) {
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Berth console not built</title></head>` +
        `<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;line-height:1.5">` +
        `<h1>The Berth console is not built</h1><p><code>npm start</code> builds it. To build it by hand, run ` +
        `<code>node console/build.mjs</code> and reload this page.</p><p>The API under <code>/cp/api/v1</code> works without it.</p></body></html>`,
      503,
    );
  }
  return c.json({ error: { code: 'console_not_built', message: NOT_BUILT } }, 503);
}

export function consoleRoutes(options: ConsoleOptions = {}): Hono {
  const dist = options.distDir ?? CONSOLE_DIST;
  const config: ConsoleConfig = { temporalUiUrl: options.temporalUiUrl?.replace(/\/+$/, '') || null, namespace: options.namespace ?? 'default' };
  const asset = serveStatic({ root: dist });
  const indexHtml = serveStatic({ root: dist, path: 'index.html' });

  return new Hono()
    .get('/console-config.json', (c) => {
      c.header('Cache-Control', 'no-cache');
      return c.json(config);
    })
    .get('*', async (c, next) => {
      const p = c.req.path;
      if (isApiPath(p)) return next();
      if (!fs.existsSync(path.join(dist, 'index.html'))) return notBuilt(c);
      if (p.startsWith('/assets/')) {
        // Content-hashed file names: a missing one is a 404, never the page.
        c.header('Cache-Control', IMMUTABLE);
        const found = await asset(c, async () => {});
        if (found) return found;
        c.header('Cache-Control', 'no-store');
        return c.text('not found', 404);
      }
      if (p !== '/' && p !== '/index.html' && path.extname(p) !== '') {
        // favicon and other unhashed files at the root.
        c.header('Cache-Control', 'public, max-age=3600');
        const found = await asset(c, async () => {});
        if (found) return found;
        c.header('Cache-Control', 'no-store');
        return c.text('not found', 404);
      }
      // The page itself, for `/` and every client-side route: always revalidated.
      c.header('Cache-Control', 'no-cache');
      c.header('X-Content-Type-Options', 'nosniff');
      c.header('Referrer-Policy', 'no-referrer');
      return (await indexHtml(c, async () => {})) ?? notBuilt(c);
    });
}
