// The console's build: `node console/build.mjs` (run by scripts/prepare.sh when the sources
// changed). For front-end work, `npx vite --config console/vite.config.ts` serves it with hot
// reload and sends /cp/api and the config to a running Berth (BERTH_API, default :8080).
import path from 'node:path';
import { defineConfig } from 'vite';

const root = path.resolve(import.meta.dirname);
const api = process.env.BERTH_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  base: '/',
  publicDir: path.join(root, 'public'),
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    // One small app: no inline polyfill script, so the page's CSP can forbid inline scripts.
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/cp/api': api, '/console-config.json': api, '/healthz': api },
  },
});
