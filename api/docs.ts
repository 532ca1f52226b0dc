// The OpenAPI document and its reference page (Swagger UI, served from the swagger-ui-dist
// package: nothing is loaded from elsewhere, and the page's Content-Security-Policy says so).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { z } from 'zod';
import { operation } from './contract.js';
import { apiError } from './errors.js';

/** Where swagger-ui-dist is installed, looked up when the page is first asked for. */
const swaggerUiDir = () => path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The page's own start-up script: a file, so the page needs no inline script. */
const INIT_JS = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: new URL('openapi.json', window.location.href).href,
    dom_id: '#reference',
    deepLinking: true,
    validatorUrl: null,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

const ASSETS = {
  'swagger-ui.css': { type: 'text/css; charset=utf-8', file: 'swagger-ui.css' },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', file: 'swagger-ui-bundle.js' },
  'init.js': { type: 'text/javascript; charset=utf-8', text: INIT_JS },
} as const;
type AssetName = keyof typeof ASSETS;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Berth API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`;

// Nothing but this server: no CDN, no fonts or scripts from elsewhere, no validator badge.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const docsOperations = {
  document: operation({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'Reference',
    summary: 'This OpenAPI 3.1 document',
    auth: 'public',
    answers: { 200: { description: 'The document', media: ['application/json'] } },
  }),
  page: operation({
    method: 'get',
    path: '/docs',
    operationId: 'referencePage',
    tag: 'Reference',
    summary: 'The reference page for this document (Swagger UI)',
    auth: 'public',
    answers: { 200: { description: 'The page', media: ['text/html'] } },
  }),
  asset: operation({
    method: 'get',
    path: '/docs/{asset}',
    operationId: 'referencePageAsset',
    tag: 'Reference',
    summary: "The reference page's scripts and style sheet",
    auth: 'public',
    params: z.object({ asset: z.enum(Object.keys(ASSETS) as [AssetName, ...AssetName[]]) }),
    answers: { 200: { description: 'The file', media: ['text/javascript', 'text/css'] } },
    errors: { 404: ['not_found'] },
  }),
};

/** Serves the document (built on first use by `document`) and the page. */
export function docsRoutes(document: () => Record<string, unknown>) {
  const files = new Map<AssetName, string>();
  const read = (name: AssetName): string => {
    const asset = ASSETS[name];
    if ('text' in asset) return asset.text;
    let text = files.get(name);
    if (text === undefined) {
      text = fs.readFileSync(path.join(swaggerUiDir(), asset.file), 'utf8');
      files.set(name, text);
    }
    return text;
  };

  return new Hono()
    .get('/openapi.json', (c) => {
      c.header('Cache-Control', 'no-cache');
      return c.json(document());
    })
    .get('/docs', (c) => {
      c.header('Content-Security-Policy', CSP);
      c.header('Cache-Control', 'no-cache');
      return c.html(PAGE);
    })
    .get('/docs/:asset', (c) => {
      const parsed = docsOperations.asset.params.shape.asset.safeParse(c.req.param('asset'));
      if (!parsed.success) throw apiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`);
      c.header('Content-Type', ASSETS[parsed.data].type);
      c.header('Cache-Control', 'public, max-age=3600');
      return c.body(read(parsed.data));
    });
}
